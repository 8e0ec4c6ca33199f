//! Both transports over HTTPS against a real OpenBao server with its own CA: the CA given as a
//! file, in memory or through `VAULT_CACERT` is trusted; without it the handshake fails; the
//! explicit opt-out accepts the server anyway.

use std::time::Duration;

use vault_key_core::ops::encryption_key::{GetEncryptionKeyStatus, KeyStatus};
use vault_key_core::transport::config::{ClientBuilder, FromClientConfig};
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::ExecuteError;
use vault_key_core::Refusal;
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

/// The variables a test hands the builder, as the process environment would.
fn vars(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn a_listener_that_requires_client_certificates() {
    let server = Server::builder()
        .client_certificates(true)
        .start()
        .expect("start an OpenBao server requiring client certificates");
    let address = server.address();
    let token = server.root_token().to_string();
    let ca_path = server.ca_path().expect("CA file").to_path_buf();
    let cert_path = server
        .client_cert_path()
        .expect("client certificate")
        .to_path_buf();
    let key_path = server.client_key_path().expect("client key").to_path_buf();
    let (cert_pem, key_pem) = server.client_pem().expect("client PEM");
    let trusted = || {
        ClientBuilder::new()
            .address(address.clone())
            .token(token.clone())
            .ca_certificate_file(ca_path.clone())
            .system_roots(false)
    };

    // The certificate as files, as PEM text, and through both families of variables.
    for builder in [
        trusted().client_certificate_files(&cert_path, &key_path),
        trusted().client_certificate_pem(cert_pem, key_pem.as_bytes().to_vec()),
        ClientBuilder::new().env(vars(vec![
            ("VAULT_ADDR", address.clone()),
            ("VAULT_TOKEN", token.clone()),
            ("VAULT_CACERT", ca_path.display().to_string()),
            ("VAULT_CLIENT_CERT", cert_path.display().to_string()),
            ("VAULT_CLIENT_KEY", key_path.display().to_string()),
        ])),
        ClientBuilder::new().env(vars(vec![
            ("BAO_ADDR", address.clone()),
            ("BAO_TOKEN", token.clone()),
            ("BAO_CACERT", ca_path.display().to_string()),
            ("BAO_CLIENT_CERT_BYTES", cert_pem.to_string()),
            ("BAO_CLIENT_KEY_BYTES", key_pem.to_string()),
        ])),
    ] {
        for result in key_status(builder) {
            let status = result.expect("accepted with the client certificate");
            assert!(status.term >= 1);
        }
    }

    // Without it the server ends the handshake, and the error says what is missing.
    for result in key_status(trusted()) {
        let err = result.expect_err("refused without a client certificate");
        assert_eq!(err.transport_kind(), Some(TransportErrorKind::Tls), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("client certificate") && message.contains("VAULT_CLIENT_CERT"),
            "{message}"
        );
    }

    // A certificate whose key is missing is a settings error before anything is sent.
    for result in key_status(trusted().client_certificate_files(&cert_path, "/nonexistent/key.pem"))
    {
        let err = result.expect_err("no key file");
        assert_eq!(
            err.transport_kind(),
            Some(TransportErrorKind::Config),
            "{err}"
        );
        assert!(err.to_string().contains("/nonexistent/key.pem"), "{err}");
    }
}

#[test]
fn server_name_ca_directory_skip_verify_and_the_token_file() {
    let server = Server::builder()
        .tls(true)
        .start()
        .expect("start an OpenBao server with TLS");
    let address = server.address();
    let token = server.root_token().to_string();
    let ca_path = server.ca_path().expect("CA file").to_path_buf();
    let ca_pem = server.ca_pem().expect("CA PEM").to_string();
    let scratch = std::env::temp_dir().join(format!("vault-key-tls-env-{}", std::process::id()));
    let ca_dir = scratch.join("cas");
    std::fs::create_dir_all(ca_dir.join("nested")).expect("CA directory");
    std::fs::write(ca_dir.join("nested").join("vault-ca.pem"), &ca_pem).expect("CA copy");
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::write(home.join(".vault-token"), format!("{token}\n")).expect("token file");

    // The certificate names 127.0.0.1 and localhost: the name checked is the one configured,
    // not the address's host.
    let with_name = |name: &str| {
        ClientBuilder::new().env(vars(vec![
            ("VAULT_ADDR", address.clone()),
            ("VAULT_TOKEN", token.clone()),
            ("VAULT_CACERT", ca_path.display().to_string()),
            ("VAULT_TLS_SERVER_NAME", name.to_string()),
        ]))
    };
    for result in key_status(with_name("localhost")) {
        result.expect("the certificate names localhost");
    }
    for result in key_status(with_name("vault.elsewhere.example")) {
        assert!(tls_failure(&result), "{result:?}");
    }

    // A directory of CA files (searched below it too), as VAULT_CAPATH names one.
    for result in key_status(
        ClientBuilder::new()
            .env(vars(vec![
                ("VAULT_ADDR", address.clone()),
                ("VAULT_TOKEN", token.clone()),
                ("VAULT_CAPATH", ca_dir.display().to_string()),
            ]))
            .system_roots(false),
    ) {
        result.expect("trusted through VAULT_CAPATH");
    }

    // VAULT_SKIP_VERIFY is honoured, and the settings say so.
    let skipping = ClientBuilder::new().env(vars(vec![
        ("VAULT_ADDR", address.clone()),
        ("VAULT_TOKEN", token.clone()),
        ("VAULT_SKIP_VERIFY", "true".to_string()),
    ]));
    let config = skipping.config().expect("valid settings");
    assert_eq!(config.warnings().len(), 1, "{config:?}");
    assert!(format!("{config:?}").contains("VAULT_SKIP_VERIFY"));
    for result in key_status(skipping) {
        result.expect("verification skipped by VAULT_SKIP_VERIFY");
    }

    // No token variable: the CLI's ~/.vault-token is read (a token-less read of the key status
    // would be refused with 403).
    let from_home = ClientBuilder::new()
        .env(vars(vec![
            ("VAULT_ADDR", address.clone()),
            ("VAULT_CACERT", ca_path.display().to_string()),
            ("HOME", home.display().to_string()),
        ]))
        .token_file_reader(|path| std::fs::read(path));
    for result in key_status(from_home) {
        result.expect("authenticated by the token in ~/.vault-token");
    }
    let no_token = ClientBuilder::new().env(vars(vec![
        ("VAULT_ADDR", address.clone()),
        ("VAULT_CACERT", ca_path.display().to_string()),
        ("HOME", scratch.join("nobody").display().to_string()),
    ]));
    for result in key_status(no_token.token_file_reader(|path| std::fs::read(path))) {
        let err = result.expect_err("no token anywhere");
        assert!(
            matches!(err.refusal(), Some(Refusal::PermissionDenied)),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
