//! Decoding the generated root token: known vectors of both schemes, round trips and length
//! mismatches over arbitrary inputs, and the OTP generator.

mod ceremony_support;

use ceremony_support::Capture;
use proptest::prelude::*;
use vault_key_core::otp::{
    decode_token, encode_token, generate_legacy_otp, generate_otp, OtpScheme, OTP_ALPHABET,
};
use vault_key_core::{EncodedToken, Error, InvalidInput, Otp, Token};

/// (OTP from the start answer or the caller's start request, encoded token from the
/// completing answer, token) for every OTP generation in the capture. The tokens were checked
/// against `auth/token/lookup-self` (or `sys/raw` for the recovery token) on the real server.
const CAPTURED: [(usize, usize, &str); 4] = [
    (99, 111, "s.iBroeC4FnpeZNctkaNsaKICA"),
    (118, 125, "s.xxi6ZZaukjlQaphRtFs5D0Rb"),
    (145, 157, "s.waIGj7uPa5bfvIpw671GkVmu"),
    (585, 591, "hvr.nXS0TmUXRAlBlleWy39cOKHI"),
];

fn captured_otp(capture: &Capture, start: usize) -> String {
    let row = capture.row(start);
    row.field("otp")
        .as_str()
        .filter(|otp| !otp.is_empty())
        .map(str::to_string)
        .or_else(|| {
            row.req_json()
                .and_then(|req| req["otp"].as_str().map(str::to_string))
        })
        .expect("an OTP in the start answer or request")
}

#[test]
fn captured_tokens_decode() {
    let capture = Capture::load();
    for (start, complete, token) in CAPTURED {
        let otp = Otp::new(captured_otp(&capture, start));
        let otp_length = capture.row(start).field("otp_length").as_u64().unwrap() as u32;
        assert_eq!(otp_length as usize, otp.len());
        let encoded = capture.row(complete).field("encoded_token");
        let encoded = EncodedToken::new(encoded.as_str().unwrap());
        let decoded = decode_token(&encoded, &otp, otp_length).unwrap();
        assert_eq!(decoded.expose(), token, "capture {complete}");
        assert_eq!(encode_token(&decoded, &otp, otp_length).unwrap(), encoded);
    }
}

#[test]
fn the_brief_vectors() {
    let decoded = decode_token(
        &EncodedToken::new("MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY"),
        &Otp::new("B0F8lbreLPbrgNXcHnv3GWbtF7"),
        26,
    )
    .unwrap();
    assert_eq!(decoded.expose(), "s.iBroeC4FnpeZNctkaNsaKICA");
    let recovery = decode_token(
        &EncodedToken::new("MDlKegJhHV1hHC1pAHM/JT1dCCU6RgsIH3p/Dg"),
        &Otp::new("XO8Tl9Nm5qx1R2SgQ1mrCu2kP17G"),
        28,
    )
    .unwrap();
    assert_eq!(recovery.expose(), "hvr.nXS0TmUXRAlBlleWy39cOKHI");
}

/// A legacy-scheme vector made for this test, as Vault before 1.0 encoded the token:
/// OTP = std base64 of the 16 bytes 0x00..=0x0f; token = the UUID
/// `9c7b5a38-1d2e-4f60-8a9b-0c1d2e3f4a5b`; encoded = std base64 (padded) of the UUID's 16
/// bytes XOR the OTP's 16 bytes. Computed independently with Python's `base64` and `uuid`
/// modules: `base64.b64encode(bytes(a ^ b for a, b in zip(uuid.UUID(t).bytes, range(16))))`.
#[test]
fn legacy_vector() {
    let otp = Otp::new("AAECAwQFBgcICQoLDA0ODw==");
    let encoded = EncodedToken::new("nHpYOxkrSWeCkgYWIjJEVA==");
    let token = decode_token(&encoded, &otp, 0).unwrap();
    assert_eq!(token.expose(), "9c7b5a38-1d2e-4f60-8a9b-0c1d2e3f4a5b");
    assert_eq!(encode_token(&token, &otp, 0).unwrap(), encoded);
    // Unpadded input decodes too.
    let unpadded = EncodedToken::new("nHpYOxkrSWeCkgYWIjJEVA");
    assert_eq!(decode_token(&unpadded, &otp, 0).unwrap(), token);
}

#[test]
fn mismatched_lengths_are_errors_not_truncations() {
    let otp = Otp::new("B0F8lbreLPbrgNXcHnv3GWbtF7");
    // One byte short, one byte long.
    for encoded in [
        "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BQ",
        "MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXZh",
    ] {
        let err = decode_token(&EncodedToken::new(encoded), &otp, 26).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput(InvalidInput::TokenLength { otp: 26, .. })
            ),
            "{encoded}: {err:?}"
        );
    }
    // An OTP that is not of the reported length.
    let err = decode_token(
        &EncodedToken::new("MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY"),
        &Otp::new("short"),
        26,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidInput(InvalidInput::OtpLength {
            expected: 26,
            given: 5
        })
    ));
    // The server's own check says the same (X147): 26 != 5.
    assert!(decode_token(
        &EncodedToken::new("MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY"),
        &Otp::new("short"),
        5
    )
    .is_err());
}

#[test]
fn garbage_is_an_error() {
    let otp = Otp::new("B0F8lbreLPbrgNXcHnv3GWbtF7");
    for encoded in ["!!!", "", "MR4v eh4N", "\u{e9}\u{e9}"] {
        assert!(
            decode_token(&EncodedToken::new(encoded), &otp, 26).is_err(),
            "{encoded}"
        );
    }
    // The OTP of another generation (X122): the bytes it gives are not a token. (A wrong OTP
    // can happen to give printable bytes; only the server can tell such a token is wrong.)
    let wrong = Otp::new("2JgPQ6N7t23lPJuRUC25ieYE8h");
    assert!(decode_token(
        &EncodedToken::new("MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BXY"),
        &wrong,
        26
    )
    .is_err());
    assert!(decode_token(&EncodedToken::new("nHpYOxkrSWeCkgYWIjJEVA=="), &otp, 0).is_err());
}

#[test]
fn errors_never_print_secrets() {
    let otp = Otp::new("B0F8lbreLPbrgNXcHnv3GWbtF7");
    let err = decode_token(
        &EncodedToken::new("MR4veh4NFyZ4FgwCAhQWADwFF300Nik9BQ"),
        &otp,
        26,
    )
    .unwrap_err();
    let printed = format!("{err} {err:?}");
    assert!(!printed.contains("B0F8lbre"));
    assert!(!printed.contains("MR4veh4N"));
}

/// A deterministic byte stream (xorshift64*) standing in for a CSPRNG.
struct Stream(u64);

impl Stream {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

#[test]
fn generated_otps_are_uniform_over_the_alphabet() {
    let mut stream = Stream(0x9e37_79b9_7f4a_7c15);
    let mut source = |buf: &mut [u8]| stream.fill(buf);
    let mut counts = [0u32; 62];
    let rounds = 2000;
    for _ in 0..rounds {
        let otp = generate_otp(31, &mut source).unwrap();
        for c in otp.expose().bytes() {
            let i = OTP_ALPHABET.iter().position(|&a| a == c).unwrap();
            counts[i] += 1;
        }
    }
    // 62 000 draws, 1000 expected per character: a chi-square over 61 degrees of freedom
    // stays far below 120 for a uniform draw (p < 1e-5 above it).
    let expected = f64::from(rounds * 31) / 62.0;
    let chi_square: f64 = counts
        .iter()
        .map(|&c| (f64::from(c) - expected).powi(2) / expected)
        .sum();
    assert!(chi_square < 120.0, "chi-square {chi_square}: {counts:?}");
}

fn base62(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(OTP_ALPHABET.to_vec()), len)
        .prop_map(|bytes| String::from_utf8(bytes).unwrap())
}

fn token_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(0x21u8..=0x7e, len)
        .prop_map(|bytes| String::from_utf8(bytes).unwrap())
}

proptest! {
    #[test]
    fn encode_then_decode_returns_the_token(
        (token, otp) in (1usize..80).prop_flat_map(|n| (token_text(n..n + 1), base62(n..n + 1)))
    ) {
        let token = Token::new(token);
        let otp = Otp::new(otp);
        let length = otp.len() as u32;
        let encoded = encode_token(&token, &otp, length).unwrap();
        prop_assert!(!encoded.expose().ends_with('='));
        prop_assert_eq!(decode_token(&encoded, &otp, length).unwrap(), token.clone());
        let padded = EncodedToken::new(format!(
            "{}{}",
            encoded.expose(),
            "=".repeat((4 - encoded.len() % 4) % 4)
        ));
        prop_assert_eq!(decode_token(&padded, &otp, length).unwrap(), token);
    }

    #[test]
    fn mismatched_lengths_never_decode(
        token in token_text(1..60),
        otp in base62(1..60),
    ) {
        prop_assume!(token.len() != otp.len());
        let token = Token::new(token);
        let otp = Otp::new(otp);
        prop_assert!(encode_token(&token, &otp, otp.len() as u32).is_err());
        // An encoding made with an OTP of the token's length does not decode with this one.
        let same_length = Otp::new("A".repeat(token.len()));
        let encoded = encode_token(&token, &same_length, token.len() as u32).unwrap();
        let err = decode_token(&encoded, &otp, otp.len() as u32).unwrap_err();
        let is_token_length = matches!(err, Error::InvalidInput(InvalidInput::TokenLength { .. }));
        prop_assert!(is_token_length);
    }

    #[test]
    fn legacy_round_trip(token in any::<[u8; 16]>(), otp in any::<[u8; 16]>()) {
        let mut otp_source = |buf: &mut [u8]| buf.copy_from_slice(&otp);
        let otp = generate_legacy_otp(&mut otp_source);
        let text = uuid_text(&token);
        let token = Token::new(text.clone());
        let encoded = encode_token(&token, &otp, 0).unwrap();
        let decoded = decode_token(&encoded, &otp, 0).unwrap();
        prop_assert_eq!(decoded.expose(), text.as_str());
    }

    #[test]
    fn decoding_never_panics(encoded in ".{0,80}", otp in ".{0,40}", otp_length in 0u32..64) {
        let _ = decode_token(&EncodedToken::new(encoded), &Otp::new(otp), otp_length);
    }

    #[test]
    fn generated_otps_have_the_length_and_alphabet(len in 1usize..100, seed in any::<u64>()) {
        let mut stream = Stream(seed | 1);
        let mut source = |buf: &mut [u8]| stream.fill(buf);
        let otp = generate_otp(len, &mut source).unwrap();
        prop_assert_eq!(otp.len(), len);
        prop_assert!(otp.expose().bytes().all(|c| OTP_ALPHABET.contains(&c)));
        let scheme = OtpScheme::from_otp_length(len as u32);
        prop_assert!(scheme.check(&otp).is_ok());
    }
}

fn uuid_text(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
