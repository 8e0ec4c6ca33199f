//! The client configuration's text inputs: durations, PEM bundles and the environment.

#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use vault_key_core::ops::encryption_key::parse_go_duration;
use vault_key_core::transport::config::{pem_certificates, ClientConfig};
use vault_key_fuzz::{check_differential, replaced};

const NAMES: [&str; 10] = [
    "BAO_ADDR",
    "VAULT_ADDR",
    "BAO_TOKEN",
    "VAULT_TOKEN",
    "BAO_NAMESPACE",
    "VAULT_NAMESPACE",
    "BAO_CACERT",
    "VAULT_CACERT",
    "BAO_CLIENT_TIMEOUT",
    "VAULT_CLIENT_TIMEOUT",
];

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let text: &str = u.arbitrary()?;
    let _ = parse_go_duration(text);
    if let Some(certificates) = pem_certificates(text.as_bytes()) {
        assert!(certificates.iter().all(|der| !der.is_empty()));
    }
    let mut values = Vec::new();
    for name in NAMES {
        if u.arbitrary()? {
            values.push((name, u.arbitrary::<String>()?));
        }
    }
    let header = if u.arbitrary()? {
        Some((u.arbitrary::<String>()?, u.arbitrary::<String>()?))
    } else {
        None
    };
    // The same settings with every token replaced: the control for `check_differential`.
    let controls: Vec<(&str, String)> = values
        .iter()
        .map(|(name, value)| match name.ends_with("_TOKEN") {
            true => (*name, replaced(value)),
            false => (*name, value.clone()),
        })
        .collect();
    let shown = |values: &[(&str, String)]| {
        let mut builder = ClientConfig::builder().env(|name| {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        });
        if let Some((name, value)) = &header {
            builder = builder.header(name.clone(), value.clone());
        }
        match builder.config() {
            Ok(config) => format!("{config:?}"),
            Err(error) => format!("{error} {error:?}"),
        }
    };
    let (text, control) = (shown(&values), shown(&controls));
    for (name, value) in &values {
        if name.ends_with("_TOKEN") {
            check_differential(value, &text, &control);
        }
    }
    Ok(())
}
