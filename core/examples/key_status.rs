//! The least program that uses the core: the request for the encryption key's status, and
//! the decoding of an answer read from standard input. Its size on wasm32 is the core's
//! floor (docs/WASM.md).
//!
//! ```sh
//! echo '{"data":{"term":3,"install_time":"2026-11-29T23:27:57Z"}}' |
//!   cargo run -p vault-key-core --example key_status
//! ```

use std::io::Read;
use std::process::ExitCode;
use vault_key_core::ops::encryption_key::GetEncryptionKeyStatus;
use vault_key_core::{Operation, Target, Token};

fn main() -> ExitCode {
    let target = match Target::new("http://127.0.0.1:8200") {
        Ok(target) => target.with_token(Token::new("s.example")),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let request = match GetEncryptionKeyStatus.request(&target) {
        Ok(request) => request,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    println!("{} {}", request.method(), request.uri());
    let mut body = Vec::new();
    if let Err(error) = std::io::stdin().read_to_end(&mut body) {
        eprintln!("reading the answer: {error}");
        return ExitCode::FAILURE;
    }
    let answer = http::Response::new(bytes::Bytes::from(body));
    match GetEncryptionKeyStatus.parse_response(&answer) {
        Ok(status) => {
            println!("term {}", status.term);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
