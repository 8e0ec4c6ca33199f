//! Each transport's event per exchange (feature `tracing`): method, path, status and how long
//! it took, or how far a failed exchange got; never the token or a header.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use vault_key_core::ops::seal::ReadSealStatus;
use vault_key_core::transport::config::ClientBuilder;
use vault_key_tests::faults::{Fault, FaultServer};

const TOKEN: &str = "s.TracedTokenSecret9Kq";

const SEAL_STATUS: &str = r#"{"type":"shamir","initialized":true,"sealed":false,"t":3,"n":5,"progress":0,"nonce":"","version":"2.7.2","build_date":"","migration":false,"recovery_seal":false,"storage_type":"raft"}"#;

/// The events of target `vault_key` as text, one line each: level, message and fields.
#[derive(Default, Clone)]
struct Recorded(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Recorded {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "vault_key"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn builder<C>(address: &str) -> ClientBuilder<C> {
    ClientBuilder::new().address(address).token(TOKEN)
}

/// The events one seal-status read through each client makes: on the fault server (which
/// answers once, then is gone) and then on a port nobody listens on.
fn events_of(client: &str) -> Vec<String> {
    let server = FaultServer::start(vec![Fault::json(200, SEAL_STATUS)]);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let recorded = Recorded::default();
    tracing::subscriber::with_default(recorded.clone(), || {
        for address in [server.address(), closed] {
            match client {
                "ureq" => {
                    let client: vault_key_ureq::Client = builder(&address).build().unwrap();
                    let _ = client.execute(&ReadSealStatus);
                }
                _ => {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let client: vault_key_hyper::Client = builder(&address).build().unwrap();
                        let _ = client.execute(&ReadSealStatus).await;
                    });
                }
            }
        }
    });
    let events = recorded.0.lock().unwrap().clone();
    events
}

#[test]
fn each_exchange_is_an_event_with_its_status_and_duration() {
    for client in ["ureq", "hyper"] {
        let events = events_of(client);
        let exchanged: Vec<_> = events.iter().filter(|e| e.contains("exchange")).collect();
        assert_eq!(exchanged.len(), 2, "{client}: {events:#?}");
        let ok = exchanged[0];
        for field in [
            "message=exchanged",
            "method=GET",
            "path=/v1/sys/seal-status",
            "status=200",
            "micros=",
        ] {
            assert!(ok.contains(field), "{client}: {field} missing from {ok}");
        }
        let failed = exchanged[1];
        for field in [
            "message=exchange failed",
            "kind=Connect",
            "delivery=\"not sent\"",
            "micros=",
        ] {
            assert!(
                failed.contains(field),
                "{client}: {field} missing from {failed}"
            );
        }
        for event in &events {
            assert!(!event.contains(TOKEN), "{client}: the token in {event}");
        }
    }
}
