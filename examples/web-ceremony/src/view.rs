//! What the page shows of a ceremony as it goes: where it stands, in words, from the
//! ceremony's own state (never from a guess of what the server did).

use vault_key_core::ceremony::{
    RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase, Verification,
};

/// Where a rekey stands, and, when it stopped or lost an answer after the new shares arrived,
/// that they are below: what a later failure does to the ceremony never hides them.
pub fn rekey(ceremony: &RekeyCeremony) -> String {
    let mut said = rekey_phase(ceremony);
    let unsettled = matches!(
        ceremony.phase(),
        RekeyPhase::OutcomeUnknown | RekeyPhase::Aborted | RekeyPhase::Cancelled
    );
    if unsettled && ceremony.result().is_some() {
        said.push_str(
            " New shares arrived before that and are below: keep them until you know which \
             shares are in effect (seal-status, or unseal a standby with them).",
        );
    }
    said
}

fn rekey_phase(ceremony: &RekeyCeremony) -> String {
    let (progress, required) = (ceremony.progress(), ceremony.required());
    match ceremony.phase() {
        RekeyPhase::Starting => "Starting the rekey…".to_string(),
        RekeyPhase::CollectingShares => format!(
            "Rekey started: {progress} of {required} current shares given.{}",
            match ceremony.status() {
                Some(status) => format!(
                    " It makes {} new shares with threshold {}{}.",
                    status.n,
                    status.t,
                    if status.verification_required {
                        ", verified before they take effect"
                    } else {
                        ""
                    }
                ),
                None => String::new(),
            }
        ),
        RekeyPhase::Verifying => format!(
            "New shares issued: {progress} of {required} verified. Until they are, the old \
             shares stay in effect."
        ),
        RekeyPhase::Done => match ceremony.verification() {
            Verification::Verified => {
                "Verified: the new shares are in effect, the old ones no longer unseal.".to_string()
            }
            _ => "Rekeyed: the new shares are in effect.".to_string(),
        },
        RekeyPhase::OutcomeUnknown => "The last answer did not arrive: the next step reads \
             the server's progress before anything is sent again."
            .to_string(),
        RekeyPhase::Cancelled => "Cancelled: the old shares stay in effect.".to_string(),
        RekeyPhase::Aborted => "Stopped: this page sends nothing more for this rekey.".to_string(),
        _ => format!("{:?}", ceremony.phase()),
    }
}

/// What the share field of a rekey asks for.
pub fn rekey_share_label(ceremony: Option<&RekeyCeremony>) -> &'static str {
    match ceremony.map(RekeyCeremony::phase) {
        Some(RekeyPhase::Verifying) => "New share, to verify",
        _ => "Current unseal share",
    }
}

/// Where a root-token generation stands, and, when it stopped or lost an answer after the
/// token arrived, that the token is below: the server will not hand it out again.
pub fn root_token(ceremony: &RootTokenCeremony) -> String {
    let mut said = root_phase(ceremony);
    if ceremony.phase() != RootTokenPhase::Done && ceremony.result().is_some() {
        said.push_str(
            " The new token arrived before that and is below: store it, or revoke it \
             (auth/token/revoke) if it should not exist.",
        );
    }
    said
}

fn root_phase(ceremony: &RootTokenCeremony) -> String {
    let (progress, required) = (ceremony.progress(), ceremony.required());
    match ceremony.phase() {
        RootTokenPhase::Starting => "Starting the generation…".to_string(),
        RootTokenPhase::AwaitingOtp => "Drawing a one-time password…".to_string(),
        RootTokenPhase::CollectingShares if ceremony.otp().is_some() => format!(
            "Generation in progress: {progress} of {required} shares given. The token will be \
             decoded here with its one-time password."
        ),
        RootTokenPhase::CollectingShares => format!(
            "Generation in progress: {progress} of {required} shares given. Its token can only \
             be decoded with the one-time password of whoever started it."
        ),
        RootTokenPhase::Done if ceremony.otp().is_some() => "Done: the new root token is below, \
             decoded in this browser. It is shown once."
            .to_string(),
        RootTokenPhase::Done => "Done: the encoded token is below; whoever started the \
             generation decodes it with their one-time password."
            .to_string(),
        RootTokenPhase::OutcomeUnknown => "The last answer did not arrive: the next step reads \
             the server's progress before anything is sent again."
            .to_string(),
        RootTokenPhase::Cancelled => "Cancelled: no token was made.".to_string(),
        RootTokenPhase::Aborted => {
            "Stopped: this page sends nothing more for this generation.".to_string()
        }
        _ => format!("{:?}", ceremony.phase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault_key_core::ceremony::Next;
    use vault_key_core::ops::rekey::StartRekey;
    use vault_key_core::{KeyShare, Target};

    fn answer(ceremony: &mut RekeyCeremony, target: &Target, body: &str) {
        let next = ceremony.poll(target).unwrap();
        assert!(matches!(next, Next::Send(_)), "{next:?}");
        ceremony
            .handle_response(http::StatusCode::OK, body.as_bytes())
            .unwrap();
    }

    /// A rekey with verification, through the answers OpenBao 2.7.2 gives (legacy shape).
    #[test]
    fn a_rekey_reads_as_it_goes() {
        let target = Target::new("http://127.0.0.1:8200").unwrap();
        let mut ceremony = RekeyCeremony::start(StartRekey::new(3, 2).require_verification(true));
        assert_eq!(rekey(&ceremony), "Starting the rekey…");
        answer(
            &mut ceremony,
            &target,
            r#"{"nonce":"n1","started":true,"t":2,"n":3,"progress":0,"required":1,
                "verification_required":true,"verification_nonce":""}"#,
        );
        assert_eq!(
            rekey(&ceremony),
            "Rekey started: 0 of 1 current shares given. It makes 3 new shares with \
             threshold 2, verified before they take effect."
        );
        assert_eq!(rekey_share_label(Some(&ceremony)), "Current unseal share");
        ceremony
            .submit_share(KeyShare::new("ab".repeat(16)))
            .unwrap();
        answer(
            &mut ceremony,
            &target,
            r#"{"nonce":"n1","complete":true,"keys":["0102","0304","0506"],
                "keys_base64":["AQI=","AwQ=","BQY="],"verification_required":true,
                "verification_nonce":"v1"}"#,
        );
        assert_eq!(ceremony.phase(), RekeyPhase::Verifying);
        assert!(rekey(&ceremony).starts_with("New shares issued: 0 of 2 verified."));
        assert_eq!(rekey_share_label(Some(&ceremony)), "New share, to verify");
    }

    /// A completing answer under another generation's nonce: the ceremony stops, and the token
    /// it carried is still named as below.
    #[test]
    fn a_token_that_arrived_before_the_generation_stopped_is_named() {
        use vault_key_core::ceremony::TokenProtection;
        use vault_key_core::ops::generate_root::TokenKind;
        use vault_key_core::Otp;
        let target = Target::new("http://127.0.0.1:8200").unwrap();
        let otp = Otp::new("a".repeat(28));
        let mut ceremony = RootTokenCeremony::start(TokenKind::Root, TokenProtection::Otp(otp));
        for body in [
            r#"{"started":false,"nonce":"","progress":0,"required":1,"complete":false,
                "encoded_token":"","encoded_root_token":"","pgp_fingerprint":"","otp":"",
                "otp_length":28}"#,
            r#"{"started":true,"nonce":"n1","progress":0,"required":1,"complete":false,
                "encoded_token":"","encoded_root_token":"","pgp_fingerprint":"","otp":"",
                "otp_length":28}"#,
        ] {
            let next = ceremony.poll(&target).unwrap();
            assert!(matches!(next, Next::Send(_)), "{next:?}");
            ceremony
                .handle_response(http::StatusCode::OK, body.as_bytes())
                .unwrap();
        }
        assert!(root_token(&ceremony).starts_with("Generation in progress"));
        assert!(!root_token(&ceremony).contains("arrived"));
        ceremony
            .submit_share(KeyShare::new("ab".repeat(33)))
            .unwrap();
        let next = ceremony.poll(&target).unwrap();
        assert!(matches!(next, Next::Send(_)), "{next:?}");
        let stopped = ceremony.handle_response(
            http::StatusCode::OK,
            br#"{"started":true,"nonce":"n2","progress":1,"required":1,"complete":true,
                "encoded_token":"GRsFHx0ODRgRJQoKKCQ7MRw4MDMuKB0vHQ","encoded_root_token":"",
                "pgp_fingerprint":"","otp":"","otp_length":28}"#,
        );
        assert!(stopped.is_err(), "another nonce stops the generation");
        assert_eq!(ceremony.phase(), RootTokenPhase::Aborted);
        assert!(ceremony.result().is_some());
        let said = root_token(&ceremony);
        assert!(said.starts_with("Stopped"), "{said}");
        assert!(
            said.contains("The new token arrived before that and is below"),
            "{said}"
        );
    }

    /// A generation joined without its OTP: the page says the token is not its to decode.
    #[test]
    fn a_joined_generation_without_its_otp() {
        use vault_key_core::ops::generate_root::TokenKind;
        let target = Target::new("http://127.0.0.1:8200").unwrap();
        let mut ceremony = RootTokenCeremony::resume(TokenKind::Root, None);
        let next = ceremony.poll(&target).unwrap();
        assert!(matches!(next, Next::Send(_)), "{next:?}");
        ceremony
            .handle_response(
                http::StatusCode::OK,
                br#"{"started":true,"nonce":"n1","progress":1,"required":3,"complete":false,
                    "encoded_token":"","encoded_root_token":"","pgp_fingerprint":"",
                    "otp":"","otp_length":26}"#,
            )
            .unwrap();
        assert_eq!(
            root_token(&ceremony),
            "Generation in progress: 1 of 3 shares given. Its token can only be decoded with \
             the one-time password of whoever started it."
        );
    }
}
