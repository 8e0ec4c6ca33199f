//! TLS material for a server: a throwaway CA and a certificate for loopback.

use super::*;

/// Certificate files of a TLS server.
#[derive(Debug)]
pub(super) struct TlsFiles {
    pub(super) ca_pem: String,
    pub(super) ca_path: PathBuf,
    pub(super) cert_path: PathBuf,
    pub(super) key_path: PathBuf,
    /// A client certificate the CA signed, when the listener requires one.
    pub(super) client: Option<ClientFiles>,
}

/// A client certificate and its key, as files and as PEM.
#[derive(Debug)]
pub(super) struct ClientFiles {
    pub(super) cert_pem: String,
    pub(super) key_pem: String,
    pub(super) cert_path: PathBuf,
    pub(super) key_path: PathBuf,
}

/// Generates a CA and a server certificate signed by it for 127.0.0.1 and localhost (and, with `client`, a client
/// certificate it signed), and writes them as PEM files.
pub(super) fn write_tls_material(dir: &Path, client: bool) -> Result<TlsFiles, HarnessError> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let tls_err =
        |e: rcgen::Error| HarnessError::new(format!("cannot generate test certificates: {e}"));

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vault-key test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(tls_err)?)
        .map_err(tls_err)?;

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(tls_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(tls_err)?;
    let cert = params.signed_by(&key, &ca).map_err(tls_err)?;

    let client = if client {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "vault-key ceremony operator");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &ca).map_err(tls_err)?;
        let files = ClientFiles {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_path: dir.join("client-cert.pem"),
            key_path: dir.join("client-key.pem"),
        };
        for (path, contents) in [
            (&files.cert_path, &files.cert_pem),
            (&files.key_path, &files.key_pem),
        ] {
            fs::write(path, contents)
                .map_err(|e| HarnessError::new(format!("cannot write {}: {e}", path.display())))?;
        }
        Some(files)
    } else {
        None
    };
    let files = TlsFiles {
        ca_pem: ca.pem(),
        ca_path: dir.join("ca.pem"),
        cert_path: dir.join("server-cert.pem"),
        key_path: dir.join("server-key.pem"),
        client,
    };
    // The chain the server presents: its own certificate followed by the CA.
    let chain = format!("{}{}", cert.pem(), files.ca_pem);
    for (path, contents) in [
        (&files.ca_path, files.ca_pem.as_str()),
        (&files.cert_path, chain.as_str()),
        (&files.key_path, key.serialize_pem().as_str()),
    ] {
        fs::write(path, contents)
            .map_err(|e| HarnessError::new(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(files)
}
