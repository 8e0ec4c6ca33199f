//! The client's own certificate, for servers that require one (a listener with
//! `tls_require_and_verify_client_cert`): where the certificate chain and key are, and their
//! DER once read. The key is a secret: it is held in zeroizing memory and never printed.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::transport::{TransportError, TransportErrorKind};

/// Where a client certificate chain and its private key are.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCertificate {
    /// PEM files, read by the transport when the client is built.
    Files {
        /// The certificate, optionally followed by the intermediates that signed it.
        certificate: PathBuf,
        /// The private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
        key: PathBuf,
    },
    /// PEM text held in memory.
    Pem {
        /// The certificate, optionally followed by its intermediates.
        certificate: Vec<u8>,
        /// The private key, wiped when dropped.
        key: Zeroizing<Vec<u8>>,
    },
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCertificate::Files { certificate, key } => f
                .debug_struct("Files")
                .field("certificate", certificate)
                .field("key", key)
                .finish(),
            ClientCertificate::Pem { certificate, .. } => f
                .debug_struct("Pem")
                .field(
                    "certificate",
                    &format_args!("<{} bytes>", certificate.len()),
                )
                .field("key", &format_args!("<redacted>"))
                .finish(),
        }
    }
}

/// The encoding of a private key's DER, as TLS stacks name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// `PRIVATE KEY`: PKCS#8, any algorithm.
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1.
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1.
    Sec1,
}

/// A client certificate chain and its private key, decoded: what a TLS stack takes.
pub struct ClientIdentity {
    /// The certificate first, then its intermediates, as DER.
    pub chain: Vec<Vec<u8>>,
    /// How [`key`](Self::key) is encoded.
    pub key_format: KeyFormat,
    /// The private key's DER, wiped when dropped.
    pub key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field(
                "chain",
                &format_args!("<{} certificates>", self.chain.len()),
            )
            .field("key_format", &self.key_format)
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

impl ClientCertificate {
    /// Reads (through `read_file`) and decodes the chain and key. Fails with
    /// [`TransportErrorKind::Config`] when a file cannot be read, holds no certificate, or no
    /// single private key; the error names the file, never the key's bytes.
    pub fn load(
        &self,
        read_file: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<ClientIdentity, TransportError> {
        let config_error =
            |message: String| TransportError::new(TransportErrorKind::Config, message);
        let (chain_pem, key_pem, chain_name, key_name) = match self {
            ClientCertificate::Files { certificate, key } => {
                let read = |path: &PathBuf, what: &str| {
                    read_file(path).map(Zeroizing::new).map_err(|e| {
                        config_error(format!("cannot read client {what} {}: {e}", path.display()))
                    })
                };
                (
                    read(certificate, "certificate")?,
                    read(key, "key")?,
                    certificate.display().to_string(),
                    key.display().to_string(),
                )
            }
            ClientCertificate::Pem { certificate, key } => (
                Zeroizing::new(certificate.clone()),
                key.clone(),
                "the client certificate given".to_string(),
                "the client key given".to_string(),
            ),
        };
        let chain: Vec<Vec<u8>> = pem_blocks(&chain_pem)
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der.to_vec())
            .collect();
        if chain.is_empty() {
            return Err(config_error(format!("no PEM certificate in {chain_name}")));
        }
        let mut keys = pem_blocks(&key_pem).into_iter().filter_map(|(label, der)| {
            let format = match label.as_str() {
                "PRIVATE KEY" => KeyFormat::Pkcs8,
                "RSA PRIVATE KEY" => KeyFormat::Pkcs1,
                "EC PRIVATE KEY" => KeyFormat::Sec1,
                _ => return None,
            };
            Some((format, der))
        });
        let (key_format, key) = match (keys.next(), keys.next()) {
            (Some(key), None) => key,
            (None, _) => {
                return Err(config_error(format!(
                "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in {key_name}"
            )))
            }
            (Some(_), Some(_)) => {
                return Err(config_error(format!(
                    "more than one private key in {key_name}"
                )))
            }
        };
        Ok(ClientIdentity {
            chain,
            key_format,
            key,
        })
    }
}

/// Every well-formed PEM block in `pem`: its label and its decoded bytes, each in zeroizing
/// memory (a key's base64 text is as secret as its DER). A block whose base64 does not decode
/// is skipped.
fn pem_blocks(pem: &[u8]) -> Vec<(String, Zeroizing<Vec<u8>>)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const DASHES: &[u8] = b"-----";
    let find = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    };
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = find(rest, BEGIN) {
        let after_begin = &rest[start + BEGIN.len()..];
        let Some(label_end) = find(after_begin, DASHES) else {
            break;
        };
        let label = String::from_utf8_lossy(&after_begin[..label_end]).into_owned();
        let body_start = &after_begin[label_end + DASHES.len()..];
        let end_marker = [b"-----END ".as_slice(), label.as_bytes(), DASHES].concat();
        let Some(body_end) = find(body_start, &end_marker) else {
            break;
        };
        let mut text = Zeroizing::new(Vec::with_capacity(body_end));
        text.extend(
            body_start[..body_end]
                .iter()
                .filter(|b| !b.is_ascii_whitespace()),
        );
        let mut der = Zeroizing::new(Vec::with_capacity(text.len()));
        if base64::engine::general_purpose::STANDARD
            .decode_vec(&*text, &mut der)
            .is_ok()
            && !der.is_empty()
        {
            blocks.push((label, der));
        }
        rest = &body_start[body_end + end_marker.len()..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERTS: &str = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0\n-----END EC PRIVATE KEY-----\n";

    #[test]
    fn chain_and_key_from_pem() {
        let identity = ClientCertificate::Pem {
            certificate: CERTS.into(),
            key: Zeroizing::new(KEY.into()),
        }
        .load(|_| panic!("nothing to read"))
        .unwrap();
        assert_eq!(identity.chain, vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(identity.key_format, KeyFormat::Sec1);
        assert_eq!(identity.key.as_slice(), b"secret");
        let printed = format!("{identity:?}");
        assert!(!printed.contains("115"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    #[test]
    fn files_are_read_and_named_in_errors() {
        let files = ClientCertificate::Files {
            certificate: "/etc/client.pem".into(),
            key: "/etc/client-key.pem".into(),
        };
        let pkcs8 = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----";
        let identity = files
            .load(|path| {
                Ok(match path.to_str().unwrap() {
                    "/etc/client.pem" => CERTS.into(),
                    _ => pkcs8.into(),
                })
            })
            .unwrap();
        assert_eq!(identity.key_format, KeyFormat::Pkcs8);
        let missing = files
            .load(|path| match path.to_str().unwrap() {
                "/etc/client.pem" => Ok(CERTS.into()),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            })
            .unwrap_err();
        assert_eq!(missing.kind(), TransportErrorKind::Config);
        assert!(
            missing.to_string().contains("/etc/client-key.pem"),
            "{missing}"
        );
        let no_key = files.load(|_| Ok(CERTS.into())).unwrap_err();
        assert!(
            no_key.to_string().contains("no PEM private key"),
            "{no_key}"
        );
        let no_cert = files.load(|_| Ok(pkcs8.into())).unwrap_err();
        assert!(
            no_cert.to_string().contains("no PEM certificate"),
            "{no_cert}"
        );
        let two = files
            .load(|path| {
                Ok(match path.to_str().unwrap() {
                    "/etc/client.pem" => CERTS.into(),
                    _ => format!("{pkcs8}\n{KEY}").into(),
                })
            })
            .unwrap_err();
        assert!(two.to_string().contains("more than one"), "{two}");
    }

    #[test]
    fn debug_hides_an_in_memory_key() {
        let pem = ClientCertificate::Pem {
            certificate: CERTS.into(),
            key: Zeroizing::new(b"-----BEGIN PRIVATE KEY-----\nhidden\n".to_vec()),
        };
        let printed = format!("{pem:?}");
        assert!(!printed.contains("hidden"), "{printed}");
    }
}
