//! Every event the core emits (feature `tracing`) while whole ceremonies run against the
//! server model: a rekey with verification, a root-token generation with the server's OTP,
//! an answer lost on the way (settled by a read) and a redirect. Each kind of event shows
//! up, and none holds a share, a token or an OTP; and `drive_reporting` hands over the
//! progress after every answer.

#![cfg(feature = "tracing")]

use bytes::Bytes;
use http::{Request, Response};
use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use vault_key_core::ceremony::{
    drive, drive_reporting, Next, Progress, RekeyCeremony, RekeyPhase, RootTokenCeremony,
    RootTokenPhase, TokenProtection,
};
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::transport::redirect::{FollowRedirects, RedirectError, RedirectPolicy};
use vault_key_core::{Dialect, HttpClient, KeyShare, Target, Token};
use vault_key_model::Server;

/// Every event of target `vault_key`, as text: its message and fields.
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

const TOKEN: &str = "s.OperatorTokenSecret7Xq2";

fn target() -> Target {
    Target::new("http://127.0.0.1:8200")
        .unwrap()
        .with_token(Token::new(TOKEN))
        .with_dialect(Dialect::OpenBao)
}

/// The model as an HTTP stack; `cut` loses the answer to that request (counted from 1)
/// after the server acted on it.
fn stack<'s>(
    server: &'s RefCell<Server>,
    sent: &'s Cell<usize>,
    cut: usize,
) -> impl Fn(Request<Bytes>) -> Result<Response<Bytes>, &'static str> + 's {
    move |request| {
        let reply = server.borrow_mut().handle(&request);
        sent.set(sent.get() + 1);
        if sent.get() == cut {
            return Err("the connection broke off");
        }
        Ok(Response::builder()
            .status(reply.status)
            .body(Bytes::from(reply.body))
            .unwrap())
    }
}

#[test]
fn events_of_whole_ceremonies_name_every_step_and_no_secret() {
    let recorded = Recorded::default();
    let server = RefCell::new(Server::new(11));
    let sent = Cell::new(0);
    let mut reports: Vec<Progress> = Vec::new();
    tracing::subscriber::with_default(recorded.clone(), || {
        // A rekey with verification; the answer to its first share is lost (the server
        // counted it), so the next request is a read.
        let client = stack(&server, &sent, 2);
        let current: Vec<KeyShare> = server
            .borrow()
            .current_shares(KeyKind::Unseal)
            .iter()
            .map(|s| KeyShare::new(s.as_str()))
            .collect();
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        rekey.submit_shares(current.clone()).unwrap();
        assert!(
            drive(&client, &target(), &mut rekey).is_err(),
            "the lost answer"
        );
        assert_eq!(rekey.phase(), RekeyPhase::OutcomeUnknown);
        let next = drive_reporting(&client, &target(), &mut rekey, |p| reports.push(p)).unwrap();
        assert_eq!(rekey.phase(), RekeyPhase::Verifying, "{next:?}");
        let new = rekey.result().expect("the new shares").keys.clone();
        rekey.submit_verification_shares(new.clone()).unwrap();
        let done = drive_reporting(&client, &target(), &mut rekey, |p| reports.push(p)).unwrap();
        assert!(matches!(done, Next::Finished), "{done:?}");
        assert_eq!(rekey.phase(), RekeyPhase::Done);

        // A root token with the server's OTP, from the new shares.
        let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
        generation.submit_shares(new).unwrap();
        let generated = drive(&client, &target(), &mut generation).unwrap();
        assert!(matches!(generated, Next::Finished), "{generated:?}");
        assert_eq!(generation.phase(), RootTokenPhase::Done);
        server
            .borrow_mut()
            .add_secret(generation.otp().expect("the OTP").expose());
        server
            .borrow_mut()
            .add_secret(generation.decode_token().expect("the token").expose());

        // A redirect to another host the first one does not name: asked, then refused.
        let redirecting = |request: Request<Bytes>| {
            let response = if request.uri().path() == "/v1/sys/leader" {
                Response::new(Bytes::from_static(b"{\"ha_enabled\":true}"))
            } else {
                Response::builder()
                    .status(307)
                    .header(
                        "location",
                        "http://elsewhere:8200/v1/sys/rotate/root/update",
                    )
                    .body(Bytes::new())
                    .unwrap()
            };
            Ok::<_, RedirectError>(response)
        };
        let follow = FollowRedirects::new(redirecting, RedirectPolicy::default());
        let request = Request::put("http://127.0.0.1:8200/v1/sys/rotate/root/update")
            .header("x-vault-token", TOKEN)
            .body(Bytes::from(format!(
                "{{\"key\":\"{}\"}}",
                current[0].expose()
            )))
            .unwrap();
        assert!(follow.send(request).is_err());
    });

    let events = recorded.0.lock().unwrap().clone();
    let all = events.join("\n");
    for expected in [
        "message=request method=PUT path=/v1/sys/rotate/root/init",
        "message=answer method=PUT path=/v1/sys/rotate/root/init status=200",
        "message=no whole answer method=PUT path=/v1/sys/rotate/root/update delivery=\"unknown\"",
        "INFO message=outcome unknown: the progress is read before anything is sent again",
        "INFO message=outcome settled by the read",
        "message=ceremony step phase=Verifying",
        "message=ceremony step phase=Done",
        "path=/v1/sys/generate-root-token/update status=200",
        "message=redirect to another host: asking which node leads",
        "message=redirect refused",
    ] {
        assert!(
            all.contains(expected),
            "no event like {expected:?} in:\n{all}"
        );
    }
    let mut secrets = server.borrow().secrets().to_vec();
    secrets.push(TOKEN.to_string());
    assert!(secrets.len() > 8, "{secrets:?}");
    for secret in &secrets {
        assert!(
            !all.contains(secret.as_str()),
            "an event holds {secret:?}:\n{all}"
        );
    }

    // Progress after every answer: the read, the second share, then the verification.
    assert!(reports.len() >= 4, "{reports:?}");
    assert!(
        reports.iter().any(|p| p.verifying && p.counted == 1),
        "{reports:?}"
    );
    let last = reports.last().unwrap();
    assert!(last.finished, "{reports:?}");
}
