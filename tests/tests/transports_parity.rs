//! Parity: the ureq and hyper clients, given the same scripted server, send the same requests
//! and return the same results (values, refusals, decode errors and transport error kinds)
//! across the whole method list.

use std::fmt::Debug;
use std::time::Duration;

use vault_key_core::ops::encryption_key::ConfigureRotation;
use vault_key_core::ops::generate_root::StartRootTokenGeneration;
use vault_key_core::ops::rekey::{KeyKind, RekeyUpdate, StartRekey};
use vault_key_core::ops::seal::{Initialize, ReadSealStatus};
use vault_key_core::transport::{TransportError, TransportErrorKind};
use vault_key_core::{EncodedToken, ExecuteError, KeyShare, Otp};
use vault_key_tests::faults::{Fault, FaultServer, RecordedRequest};

type Error = ExecuteError<TransportError>;

const TOKEN: &str = "s.parity-token";

fn ok(body: &str) -> Fault {
    Fault::json(200, body)
}

fn refuse(status: u16, message: &str) -> Fault {
    Fault::json(status, &format!(r#"{{"errors":["{message}"]}}"#))
}

const SEAL_STATUS: &str = r#"{"type":"shamir","initialized":true,"sealed":false,"t":3,"n":5,"progress":0,"nonce":"","version":"2.7.2","build_date":"","commit_date":"2026-01-01T00:00:00Z","migration":false,"recovery_seal":false,"storage_type":"raft","cluster_name":"c1","cluster_id":"id-1"}"#;

/// The server's answers, in the order the scenario's requests arrive.
fn script() -> Vec<Fault> {
    vec![
        // read_seal_status, with_detected_dialect
        ok(SEAL_STATUS),
        ok(SEAL_STATUS),
        // start_rekey
        ok(
            r#"{"request_id":"r","data":{"nonce":"n-1","started":true,"t":2,"n":3,"progress":0,"required":3,"pgp_fingerprints":null,"backup":false,"verification_required":true,"verification_nonce":""}}"#,
        ),
        // rekey_multi: progress, then the new shares
        ok(
            r#"{"data":{"nonce":"n-1","started":true,"t":2,"n":3,"progress":1,"required":3,"verification_required":true}}"#,
        ),
        ok(
            r#"{"data":{"nonce":"n-1","complete":true,"keys":["0a","0b","0c"],"keys_base64":["Cg==","Cw==","DA=="],"pgp_fingerprints":null,"backup":false,"verification_required":true,"verification_nonce":"v-1"}}"#,
        ),
        // read_rekey_verify_progress
        ok(r#"{"data":{"nonce":"v-1","started":true,"t":2,"n":3,"progress":0}}"#),
        // rekey_verify with a wrong nonce
        refuse(
            400,
            r#"incorrect nonce supplied; nonce for rotation is \"v-1\""#,
        ),
        // rekey_verify_multi: progress, then complete
        ok(r#"{"data":{"nonce":"v-1","started":true,"t":2,"n":3,"progress":1}}"#),
        ok(r#"{"data":{"nonce":"v-1","complete":true}}"#),
        // read_backup_keys, delete_backup_keys
        refuse(400, "no backed-up keys found"),
        Fault::empty(204),
        // get_encryption_key_status, rotate_encryption_key
        ok(
            r#"{"data":{"term":3,"install_time":"2026-11-29T23:27:57Z","encryptions":12},"term":3}"#,
        ),
        Fault::empty(204),
        // read_rotate_config, configure_rotation, rotate_root_key
        ok(r#"{"data":{"enabled":true,"max_operations":3865470566,"interval":0}}"#),
        Fault::empty(204),
        Fault::empty(204),
        // cancel_rekey
        Fault::empty(204),
        // start_root_token_generation, generate_root (sealed), cancel_root_generation
        ok(
            r#"{"data":{"started":true,"nonce":"g-1","progress":0,"required":3,"complete":false,"encoded_token":"","otp":"abcdefghijklmnopqrstuvwxyz","otp_length":26}}"#,
        ),
        refuse(503, "Vault is sealed"),
        Fault::empty(204),
        // decode_token: not JSON
        ok("definitely not json"),
        // read_init_status: plain-text 500
        Fault::Respond {
            status: 500,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"internal boom".to_vec(),
        },
        // unseal_multi: progress, then unsealed
        ok(
            r#"{"type":"shamir","initialized":true,"sealed":true,"t":2,"n":3,"progress":1,"nonce":"u-1","version":"2.7.2"}"#,
        ),
        ok(
            r#"{"type":"shamir","initialized":true,"sealed":false,"t":2,"n":3,"progress":0,"version":"2.7.2"}"#,
        ),
        // reset_unseal, seal (refused)
        ok(
            r#"{"type":"shamir","initialized":true,"sealed":true,"t":2,"n":3,"progress":0,"version":"2.7.2"}"#,
        ),
        refuse(403, "permission denied"),
        // read_rekey_progress (recovery) through a relative 307
        Fault::Redirect {
            status: 307,
            location: "init?hop=1".into(),
        },
        ok(r#"{"data":{"nonce":"","started":false,"t":0,"n":0,"progress":0,"required":1}}"#),
        // read_recovery_token_generation_progress: not found
        refuse(404, "unsupported path"),
        // read_rekey_progress: truncated; get_encryption_key_status: garbage
        Fault::Truncate {
            status: 200,
            declared_len: 500,
            body: br#"{"data":{"nonce":"n"#.to_vec(),
        },
        Fault::Garbage(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
        // execute(ReadSealStatus): too large for the 64 KiB limit
        Fault::Huge {
            status: 200,
            len: 1 << 20,
        },
        // read_seal_status: a 303 to a GET is followed
        Fault::Redirect {
            status: 303,
            location: "/v1/sys/seal-status".into(),
        },
        ok(SEAL_STATUS),
    ]
}

/// One line per call: the value or the error, with transport errors reduced to their kind
/// (their text comes from the HTTP stack).
fn show<T: Debug>(name: &str, result: &Result<T, Error>) -> String {
    match result {
        Ok(value) => format!("{name}: ok {value:?}"),
        Err(ExecuteError::Core(e)) => format!("{name}: core {e:?}"),
        Err(ExecuteError::Transport(e)) => {
            assert!(!e.to_string().contains(TOKEN));
            format!("{name}: transport {:?}", e.kind())
        }
        Err(e) => format!("{name}: other {e}"),
    }
}

fn shares(names: &[&str]) -> Vec<KeyShare> {
    names.iter().map(|n| KeyShare::new(*n)).collect()
}

/// The scenario, written once for both clients: `$await` is `.await` for hyper and nothing
/// for ureq.
macro_rules! scenario {
    ($client:ident, $out:ident, $($await:tt)*) => {{
        let r = $client.read_seal_status() $($await)*;
        $out.push(show("read_seal_status", &r));
        let $client = $client.with_detected_dialect() $($await)* .expect("detect dialect");
        $out.push(format!("dialect {:?}", $client.target().dialect()));

        let r = $client.start_rekey(StartRekey::new(3, 2).require_verification(true)) $($await)*;
        $out.push(show("start_rekey", &r));
        let r = $client.rekey_multi(shares(&["s1", "s2", "s3"]), "n-1", KeyKind::Unseal) $($await)*;
        $out.push(show("rekey_multi", &r));
        if let Ok(RekeyUpdate::Complete(result)) = &r {
            let keys: Vec<&str> = result.keys.iter().map(|k| k.expose()).collect();
            $out.push(format!("new keys {keys:?}"));
        }
        let r = $client.read_rekey_verify_progress(KeyKind::Unseal) $($await)*;
        $out.push(show("read_rekey_verify_progress", &r));
        let r = $client.rekey_verify(KeyShare::new("0a"), "wrong", KeyKind::Unseal) $($await)*;
        $out.push(show("rekey_verify", &r));
        let r = $client.rekey_verify_multi(shares(&["0a", "0b", "0c"]), "v-1", KeyKind::Unseal) $($await)*;
        $out.push(show("rekey_verify_multi", &r));
        let r = $client.read_backup_keys(KeyKind::Unseal) $($await)*;
        $out.push(show("read_backup_keys", &r));
        let r = $client.delete_backup_keys(KeyKind::Unseal) $($await)*;
        $out.push(show("delete_backup_keys", &r));

        let r = $client.get_encryption_key_status() $($await)*;
        $out.push(show("get_encryption_key_status", &r));
        let r = $client.rotate_encryption_key() $($await)*;
        $out.push(show("rotate_encryption_key", &r));
        let r = $client.read_rotate_config() $($await)*;
        $out.push(show("read_rotate_config", &r));
        let settings = ConfigureRotation::new()
            .enabled(false)
            .interval(Duration::from_secs(48 * 3600));
        let r = $client.configure_rotation(settings) $($await)*;
        $out.push(show("configure_rotation", &r));
        let r = $client.rotate_root_key() $($await)*;
        $out.push(show("rotate_root_key", &r));
        let r = $client.cancel_rekey(KeyKind::Unseal, Some("n-1")) $($await)*;
        $out.push(show("cancel_rekey", &r));

        let r = $client.start_root_token_generation(StartRootTokenGeneration::new()) $($await)*;
        $out.push(show("start_root_token_generation", &r));
        if let Ok(status) = &r {
            $out.push(format!("otp {:?}", status.otp.as_ref().map(|o| o.expose().to_string())));
        }
        let r = $client.generate_root(KeyShare::new("s1"), "g-1") $($await)*;
        $out.push(show("generate_root", &r));
        let r = $client.cancel_root_generation() $($await)*;
        $out.push(show("cancel_root_generation", &r));
        let r = $client.decode_token(EncodedToken::new("ZW5j"), Otp::new("otp")) $($await)*;
        $out.push(show("decode_token", &r));
        let r = $client.read_init_status() $($await)*;
        $out.push(show("read_init_status", &r));

        let r = $client.unseal_multi(shares(&["u1", "u2", "u3"])) $($await)*;
        $out.push(show("unseal_multi", &r));
        let r = $client.reset_unseal() $($await)*;
        $out.push(show("reset_unseal", &r));
        let r = $client.seal() $($await)*;
        $out.push(show("seal", &r));
        let r = $client.read_rekey_progress(KeyKind::Recovery) $($await)*;
        $out.push(show("read_rekey_progress", &r));

        // Invalid input: nothing is sent.
        let r = $client.initialize(Initialize::new(3, 5)) $($await)*;
        $out.push(show("initialize", &r));
        let start = StartRootTokenGeneration::new().otp(Otp::new("x")).pgp_key("key");
        let r = $client.start_root_token_generation(start) $($await)*;
        $out.push(show("start_root_token_generation", &r));
        let r = $client.rekey_multi(Vec::new(), "n-1", KeyKind::Unseal) $($await)*;
        $out.push(show("rekey_multi (no shares)", &r));

        let r = $client.read_recovery_token_generation_progress() $($await)*;
        $out.push(show("read_recovery_token_generation_progress", &r));
        let r = $client.read_rekey_progress(KeyKind::Unseal) $($await)*;
        $out.push(show("read_rekey_progress (truncated)", &r));
        let r = $client.get_encryption_key_status() $($await)*;
        $out.push(show("get_encryption_key_status (garbage)", &r));
        let r = $client.execute(&ReadSealStatus) $($await)*;
        $out.push(show("execute (huge)", &r));
        let r = $client.read_seal_status() $($await)*;
        $out.push(show("read_seal_status (303)", &r));
    }};
}

fn ureq_run(address: &str) -> Vec<String> {
    let client = vault_key_ureq::Client::builder()
        .address(address)
        .token(TOKEN)
        .max_response_bytes(64 * 1024)
        .build()
        .expect("ureq client");
    let mut out = Vec::new();
    scenario!(client, out,);
    out
}

fn hyper_run(address: &str) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let client = vault_key_hyper::Client::builder()
            .address(address)
            .token(TOKEN)
            .max_response_bytes(64 * 1024)
            .build()
            .expect("hyper client");
        let mut out = Vec::new();
        scenario!(client, out, .await);
        out
    })
}

/// What a request carried that the server acts on.
fn essentials(request: &RecordedRequest) -> String {
    let headers: Vec<String> = [
        "x-vault-token",
        "x-vault-request",
        "x-vault-namespace",
        "content-type",
        "user-agent",
    ]
    .iter()
    .map(|name| format!("{name}={:?}", request.header(name)))
    .collect();
    format!(
        "{} {} {} {} [{}]",
        request.method,
        request.path,
        request.version,
        request.body_text(),
        headers.join(" ")
    )
}

#[test]
fn both_transports_send_and_return_the_same() {
    let ureq_server = FaultServer::start(script());
    let ureq_out = ureq_run(&ureq_server.address());
    let hyper_server = FaultServer::start(script());
    let hyper_out = hyper_run(&hyper_server.address());

    for (u, h) in ureq_out.iter().zip(&hyper_out) {
        assert_eq!(u, h);
    }
    assert_eq!(ureq_out.len(), hyper_out.len());

    let ureq_requests: Vec<String> = ureq_server.requests().iter().map(essentials).collect();
    let hyper_requests: Vec<String> = hyper_server.requests().iter().map(essentials).collect();
    assert_eq!(ureq_requests, hyper_requests);
    assert_eq!(ureq_requests.len(), script().len(), "{ureq_requests:#?}");

    // The scenario covers what it says it covers.
    let expect = |line: &str, needle: &str| {
        let found = ureq_out.iter().find(|l| l.starts_with(line)).expect(line);
        assert!(found.contains(needle), "{found}");
    };
    expect("dialect", "OpenBao");
    expect("rekey_multi:", "Complete");
    expect("new keys", r#"["0a", "0b", "0c"]"#);
    expect("rekey_verify:", "WrongNonce");
    expect("rekey_verify_multi:", "Complete");
    expect("read_backup_keys", "NoBackup");
    expect("read_rotate_config", "interval: 0ns");
    expect("otp", "abcdefghijklmnopqrstuvwxyz");
    expect("generate_root", "Sealed");
    expect("decode_token", "Decode");
    // A plain-text refusal is classified and kept, never shown (it could hold anything).
    expect("read_init_status", "ServerFailure");
    assert!(!ureq_out.iter().any(|l| l.contains("internal boom")));
    expect("unseal_multi", "sealed: false");
    expect("seal:", "PermissionDenied");
    expect("read_rekey_progress:", "started: false");
    expect("initialize", "InvalidInput");
    expect("start_root_token_generation: core", "OtpAndPgpKey");
    expect("rekey_multi (no shares)", "Empty");
    expect("read_recovery_token_generation_progress", "NotFound");
    expect(
        "read_rekey_progress (truncated)",
        &format!("{:?}", TransportErrorKind::Protocol),
    );
    expect("get_encryption_key_status (garbage)", "Protocol");
    expect("execute (huge)", "BodyTooLarge");
    expect("read_seal_status (303)", "ok");

    let requests = ureq_server.requests();
    assert!(requests
        .iter()
        .all(|r| r.header("x-vault-token") == Some(TOKEN)));
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.contains(&"/v1/sys/rotate/root/init"), "{paths:?}");
    assert!(
        paths.contains(&"/v1/sys/rotate/recovery/init?hop=1"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/v1/sys/rotate/keyring/config"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/v1/sys/generate-root-token/attempt"),
        "{paths:?}"
    );
}

/// A rekey with verification (OpenBao paths) and a root-token generation with a
/// server-generated OTP (classic paths), as captured from real servers.
fn ceremony_script() -> Vec<Fault> {
    let generation = |progress: u32, complete: bool, otp: &str, encoded: &str, otp_length: u32| {
        ok(&format!(
            r#"{{"nonce":"8c05c6a8-a68c-5dcf-ab51-c5dd817dcc31","started":true,"progress":{progress},"required":3,"complete":{complete},"encoded_token":"{encoded}","encoded_root_token":"{encoded}","pgp_fingerprint":"","otp":"{otp}","otp_length":{otp_length}}}"#
        ))
    };
    vec![
        ok(
            r#"{"data":{"n":3,"nonce":"78eb0f58","progress":0,"required":2,"started":true,"t":2,"verification_nonce":"","verification_required":true}}"#,
        ),
        // The answer to the first share is lost in transit once: the ceremony reads the
        // progress, learns the share was not counted, and sends it again.
        Fault::Close,
        ok(
            r#"{"data":{"n":3,"nonce":"78eb0f58","progress":0,"required":2,"started":true,"t":2,"verification_nonce":"","verification_required":true}}"#,
        ),
        ok(
            r#"{"data":{"n":3,"nonce":"78eb0f58","progress":1,"required":2,"started":true,"t":2,"verification_nonce":"","verification_required":true}}"#,
        ),
        ok(
            r#"{"data":{"backup":false,"complete":true,"keys":["4738112d","204ebce3","3617bc66"],"keys_base64":["RzgRLQ==","IE6843","Nhe8Zg=="],"nonce":"78eb0f58","pgp_fingerprints":null,"verification_nonce":"39cb97e8","verification_required":true}}"#,
        ),
        ok(r#"{"data":{"n":3,"nonce":"39cb97e8","progress":1,"started":true,"t":2}}"#),
        ok(r#"{"data":{"complete":true,"nonce":"39cb97e8"}}"#),
        generation(0, false, "B0F8lbreLPbrgNXcHnv3GWbtF7", "", 26),
        generation(1, false, "", "", 0),
        generation(2, false, "", "", 0),
        generation(3, true, "", "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY", 0),
    ]
}

macro_rules! ceremonies {
    ($client:ident, $out:ident, $($await:tt)*) => {{
        use vault_key_core::ceremony::{RekeyCeremony, RootTokenCeremony, TokenProtection};
        use vault_key_core::ops::generate_root::TokenKind;
        use vault_key_core::Dialect;

        let bao = $client.with_dialect(Dialect::OpenBao);
        let mut rekey = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
        let current = shares(&["f50240c8", "1875ff65"]);
        let r = bao.drive_rekey(&mut rekey, current.clone()) $($await)*;
        $out.push(show("drive_rekey (lost answer)", &r));
        let r = bao.drive(&mut rekey) $($await)*;
        $out.push(show("drive_rekey (again)", &r));
        let new_shares = rekey.result().map(|r| r.keys.clone()).unwrap_or_default();
        $out.push(format!(
            "new shares {:?}",
            new_shares.iter().map(|k| k.expose()).collect::<Vec<_>>()
        ));
        let r = bao
            .drive_rekey_verification(&mut rekey, new_shares.into_iter().take(2))
            $($await)*;
        $out.push(show("drive_rekey_verification", &r));
        $out.push(format!("verification {:?}", rekey.verification()));

        let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
        let r = $client
            .drive_root_token(
                &mut generation,
                shares(&[
                    "59fc8632b99b18e1ac5ab103d6d4b9681e6fa22aa43a32274854cbc529551a121e",
                    "a5gUZy8FTmZqYxUDjaqLc230FG+C8I9Wj9qk1hrDmMZW",
                    "628eaa0c59f5c41912099773dbb2d2b2807b02e5425f36ad2081b8a0ef103595d8",
                ]),
            )
            $($await)*;
        $out.push(show("drive_root_token", &r));
        $out.push(format!(
            "root token {:?}",
            generation.decode_token().map(|t| t.expose().to_string())
        ));
    }};
}

#[test]
fn ceremonies_drive_the_same_on_both() {
    let ureq_server = FaultServer::start(ceremony_script());
    let ureq_out = {
        let client = vault_key_ureq::Client::builder()
            .address(ureq_server.address())
            .token(TOKEN)
            .build()
            .expect("ureq client");
        let mut out = Vec::new();
        ceremonies!(client, out,);
        out
    };
    let hyper_server = FaultServer::start(ceremony_script());
    let hyper_out = tokio::runtime::Runtime::new()
        .expect("tokio runtime")
        .block_on(async {
            let client = vault_key_hyper::Client::builder()
                .address(hyper_server.address())
                .token(TOKEN)
                .build()
                .expect("hyper client");
            let mut out = Vec::new();
            ceremonies!(client, out, .await);
            out
        });
    assert_eq!(ureq_out, hyper_out);
    let expected = [
        "drive_rekey (lost answer): transport Protocol",
        "drive_rekey (again): ok NeedVerificationShares { progress: 0, required: 2 }",
        r#"new shares ["4738112d", "204ebce3", "3617bc66"]"#,
        "drive_rekey_verification: ok Finished",
        "verification Verified",
        "drive_root_token: ok Finished",
        r#"root token Ok("s.iBroeC4FnpeZNctkaNsaKICA")"#,
    ];
    assert_eq!(ureq_out, expected);

    let essentials = |server: &FaultServer| -> Vec<String> {
        server.requests().iter().map(essentials).collect()
    };
    assert_eq!(essentials(&ureq_server), essentials(&hyper_server));
    let bodies: Vec<String> = ureq_server
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.body_text()))
        .collect();
    assert_eq!(
        bodies[2], "GET /v1/sys/rotate/root/init ",
        "the progress is read before anything is resent"
    );
    assert_eq!(bodies[1], bodies[3], "the uncounted share is sent again");
    assert_eq!(bodies.len(), 11, "{bodies:#?}");
}
