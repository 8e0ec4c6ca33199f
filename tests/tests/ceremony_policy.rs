//! The ceremony operator's policy of docs/CEREMONIES.md on OpenBao's authenticated paths: a token that holds
//! exactly it (read, update and delete on `sys/rotate/root/*` and `sys/generate-root-token/*`, no sudo, not even the
//! default policy) runs a verified rekey and a root-token generation through the library's ceremonies on both
//! clients; with one capability taken away, the request that needs it is refused with `PermissionDenied`.

use serde_json::json;
use vault_key_core::ceremony::TokenProtection;
use vault_key_core::ceremony::{
    Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase,
};
use vault_key_core::ops::generate_root::{StartRootTokenGeneration, TokenKind};
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::{Dialect, KeyShare, Refusal};
use vault_key_tests::server::Server;

/// The policy docs/CEREMONIES.md gives, for the paths of an unseal-key rekey and a root-token generation.
const OPERATOR_POLICY: &str = r#"
path "sys/rotate/root/*" {
  capabilities = ["read", "update", "delete"]
}
path "sys/generate-root-token/*" {
  capabilities = ["read", "update", "delete"]
}
"#;

/// A token holding only `policy` (written under `name`).
fn token_with(server: &Server, name: &str, policy: &str) -> String {
    let reply = server
        .call(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            Some(server.root_token()),
            Some(&json!({ "policy": policy })),
        )
        .expect("write the policy");
    assert!((200..300).contains(&reply.status), "{}", reply.body);
    let reply = server
        .call(
            "POST",
            "/v1/auth/token/create",
            Some(server.root_token()),
            Some(&json!({ "policies": [name], "no_default_policy": true })),
        )
        .expect("create the token");
    assert!((200..300).contains(&reply.status), "{}", reply.body);
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    body["auth"]["client_token"]
        .as_str()
        .expect("a token")
        .to_string()
}

fn ureq_client(server: &Server, token: &str) -> vault_key_ureq::Client {
    vault_key_ureq::Client::builder()
        .address(server.address())
        .token(token.to_string())
        .dialect(Dialect::OpenBao)
        .build()
        .expect("client")
}

fn hyper_client(server: &Server, token: &str) -> vault_key_hyper::Client {
    vault_key_hyper::Client::builder()
        .address(server.address())
        .token(token.to_string())
        .dialect(Dialect::OpenBao)
        .build()
        .expect("client")
}

fn shares(keys: &[String]) -> Vec<KeyShare> {
    keys.iter().map(KeyShare::new).collect()
}

#[test]
fn the_operator_policy_is_enough_for_both_ceremonies_on_both_clients() {
    let server = Server::builder().start().expect("start an OpenBao server");
    let token = token_with(&server, "ceremony-operator", OPERATOR_POLICY);
    let mut current: Vec<KeyShare> = shares(&server.keys());

    // ureq: a rekey with verification, then a root token with the new shares.
    let client = ureq_client(&server, &token);
    let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
    let next = client
        .drive_rekey(&mut rekey, current.clone())
        .expect("rekey under the operator policy");
    assert!(
        matches!(next, Next::NeedVerificationShares { .. }),
        "{next:?}"
    );
    let new: Vec<KeyShare> = rekey.result().expect("new shares").keys.clone();
    let next = client
        .drive_rekey_verification(&mut rekey, new[..2].to_vec())
        .expect("verification under the operator policy");
    assert!(next.is_finished() && rekey.phase() == RekeyPhase::Done);
    current = new;
    let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
    let next = client
        .drive_root_token(&mut generation, current.clone())
        .expect("root token under the operator policy");
    assert!(next.is_finished() && generation.phase() == RootTokenPhase::Done);
    assert!(generation.decode_token().is_ok());

    // hyper: the same two ceremonies, with the shares ureq's rekey made.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = hyper_client(&server, &token);
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2));
        let next = client
            .drive_rekey(&mut rekey, current.clone())
            .await
            .expect("rekey under the operator policy");
        assert!(
            matches!(next, Next::NeedVerificationShares { .. }),
            "{next:?}"
        );
        let new: Vec<KeyShare> = rekey.result().expect("new shares").keys.clone();
        let next = client
            .drive_rekey_verification(&mut rekey, new[..2].to_vec())
            .await
            .expect("verification under the operator policy");
        assert!(next.is_finished() && rekey.phase() == RekeyPhase::Done);
        let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
        let next = client
            .drive_root_token(&mut generation, new.clone())
            .await
            .expect("root token under the operator policy");
        assert!(next.is_finished() && generation.phase() == RootTokenPhase::Done);
    });
}

fn refused(result: Result<impl std::fmt::Debug, impl std::fmt::Display + HasRefusal>, what: &str) {
    match result {
        Ok(value) => panic!("{what}: allowed ({value:?})"),
        Err(e) => assert!(e.is_permission_denied(), "{what}: {e}"),
    }
}

/// Whether an error is the server's 403.
trait HasRefusal {
    fn is_permission_denied(&self) -> bool;
}

impl<E> HasRefusal for vault_key_core::ExecuteError<E> {
    fn is_permission_denied(&self) -> bool {
        matches!(self.refusal(), Some(Refusal::PermissionDenied))
    }
}

#[test]
fn one_capability_less_is_a_permission_refusal() {
    let server = Server::builder().start().expect("start an OpenBao server");
    let root = ureq_client(&server, server.root_token());
    let without = |capability: &str| {
        let policy = OPERATOR_POLICY
            .replace(&format!("\"{capability}\", "), "")
            .replace(&format!(", \"{capability}\""), "");
        assert!(!policy.contains(capability), "{policy}");
        ureq_client(
            &server,
            &token_with(&server, &format!("operator-without-{capability}"), &policy),
        )
    };

    // No `update`: nothing can be started or sent.
    let client = without("update");
    refused(
        client.start_rekey(StartRekey::new(3, 2)),
        "rekey start without update",
    );
    refused(
        client.start_root_token_generation(StartRootTokenGeneration::new()),
        "root-token start without update",
    );

    // No `read`: progress cannot be read, so a ceremony cannot be resumed or settled.
    let client = without("read");
    refused(
        client.read_rekey_progress(KeyKind::Unseal),
        "rekey progress without read",
    );
    refused(
        client.read_root_generation_progress(),
        "root-token progress without read",
    );

    // No `delete`: a started ceremony cannot be cancelled by this token.
    let client = without("delete");
    let started = client
        .start_rekey(StartRekey::new(3, 2))
        .expect("start with update");
    let nonce = started.nonce.clone().expect("nonce");
    refused(
        client.cancel_rekey(KeyKind::Unseal, Some(&nonce)),
        "rekey cancel without delete",
    );
    client
        .start_root_token_generation(StartRootTokenGeneration::new())
        .expect("root-token start with update");
    refused(
        client.cancel_root_generation(),
        "root-token cancel without delete",
    );
    // Both are still there for a token that may cancel them.
    assert!(
        root.read_rekey_progress(KeyKind::Unseal)
            .expect("read")
            .started
    );
    root.cancel_rekey(KeyKind::Unseal, Some(&nonce))
        .expect("cancel with the root token");
    root.cancel_root_generation()
        .expect("cancel with the root token");
}
