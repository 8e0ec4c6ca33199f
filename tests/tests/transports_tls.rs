//! Both transports over HTTPS against a real OpenBao server with its own CA: the CA given as a
//! file, in memory or through `VAULT_CACERT` is trusted; without it the handshake fails; the
//! explicit opt-out accepts the server anyway.

use std::time::Duration;

use vault_key_core::ops::encryption_key::{GetEncryptionKeyStatus, KeyStatus};
use vault_key_core::transport::config::{ClientBuilder, FromClientConfig};
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::ExecuteError;
use vault_key_tests::server::Server;

type Error = ExecuteError<TransportError>;

/// Reads the key status over both transports, each built from the settings of `builder`.
fn key_status(builder: ClientBuilder) -> [Result<KeyStatus, Error>; 2] {
    let config = builder
        .timeout(Duration::from_secs(30))
        .config()
        .expect("valid settings");
    let ureq = vault_key_ureq::Client::from_config(config.clone())
        .and_then(|client| client.execute(&GetEncryptionKeyStatus));
    let hyper = tokio::runtime::Runtime::new()
        .expect("tokio runtime")
        .block_on(async {
            let client = vault_key_hyper::Client::from_config(config)?;
            client.get_encryption_key_status().await
        });
    [ureq, hyper]
}

fn tls_failure(result: &Result<KeyStatus, Error>) -> bool {
    matches!(result, Err(e) if e.transport_kind() == Some(TransportErrorKind::Tls))
}

#[test]
fn https_trusts_the_configured_ca_and_nothing_else() {
    let server = Server::builder()
        .tls(true)
        .start()
        .expect("start an OpenBao server with TLS");
    let address = server.address();
    let token = server.root_token().to_string();
    let ca_pem = server.ca_pem().expect("CA PEM").to_string();
    let ca_path = server.ca_path().expect("CA file").to_path_buf();
    assert!(address.starts_with("https://"));

    // The CA as a file, only it trusted.
    for result in key_status(
        ClientBuilder::new()
            .address(address.clone())
            .token(token.clone())
            .ca_certificate_file(ca_path.clone())
            .system_roots(false),
    ) {
        let status = result.expect("trusted by CA file");
        assert!(status.term >= 1);
    }

    // The CA in memory, added to the system's roots; and `localhost`, also on the certificate.
    let localhost = address.replace("127.0.0.1", "localhost");
    for result in key_status(
        ClientBuilder::new()
            .address(localhost.clone())
            .token(token.clone())
            .ca_certificate_pem(ca_pem.clone()),
    ) {
        result.expect("trusted by CA PEM");
    }

    // The environment, as the Vault CLI reads it.
    let env = |name: &str| match name {
        "VAULT_ADDR" => Some(address.clone()),
        "VAULT_TOKEN" => Some(token.clone()),
        "VAULT_CACERT" => Some(ca_path.display().to_string()),
        _ => None,
    };
    for result in key_status(ClientBuilder::new().env(env)) {
        result.expect("trusted by VAULT_CACERT");
    }

    // The system's roots alone do not know this CA.
    for result in key_status(
        ClientBuilder::new()
            .address(address.clone())
            .token(token.clone()),
    ) {
        assert!(tls_failure(&result), "{result:?}");
    }

    // Only with the explicit opt-out is an unknown certificate accepted.
    for result in key_status(
        ClientBuilder::new()
            .address(address.clone())
            .token(token.clone())
            .danger_accept_invalid_certs(true),
    ) {
        result.expect("verification skipped");
    }
}

#[test]
fn unreadable_ca_file_is_a_config_error() {
    for result in key_status(
        ClientBuilder::new()
            .address("https://127.0.0.1:8200")
            .ca_certificate_file("/nonexistent/ca.pem"),
    ) {
        let err = result.unwrap_err();
        assert_eq!(
            err.transport_kind(),
            Some(TransportErrorKind::Config),
            "{err}"
        );
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
