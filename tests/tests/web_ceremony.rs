//! The page of `examples/web-ceremony` in a real headless Chromium, against a real OpenBao that
//! allows the page's origin (`sys/config/cors`): typed into and clicked as an operator would,
//! with only what the page shows read back.
//!
//! On each dialect's paths (OpenBao's own on a default listener, Vault's on a listener with the
//! legacy endpoints on): a refusal shown as a sentence (the other dialect's paths, a share that
//! is not one), a rekey with verification to new shares, which then unseal the server while the
//! old ones no longer do, and a root-token generation with an OTP drawn in the browser, where a
//! wrong share is refused as a sentence and the count starts again, and whose token, decoded in
//! the page, has the root policy. And ceremonies started by another client, joined from the
//! page: a rekey restarted meanwhile (the page's share refused, counted nowhere) and a
//! generation whose OTP the other operator hands over.

use serde_json::json;
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::StartRekey;
use vault_key_core::Dialect;
use vault_key_tests::browser::{page, Browser, StaticSite};
use vault_key_tests::clients::{ClientFactory, Transport};
use vault_key_tests::server::Server;
use vault_key_tests::support::{reseal_with_new_shares, shares, start};

fn allow_origin(server: &Server, origin: &str) {
    let reply = server
        .call(
            "PUT",
            "/v1/sys/config/cors",
            Some(server.root_token()),
            Some(&json!({"allowed_origins": [origin], "allowed_headers": ["X-Vault-Request"]})),
        )
        .expect("sys/config/cors");
    assert!(reply.status < 300, "sys/config/cors: {}", reply.status);
}

struct Fixture {
    browser: Browser,
    site: StaticSite,
}

fn fixture() -> Fixture {
    let dir = page().expect("the page must build (examples/web-ceremony/build)");
    let site = StaticSite::serve(&dir).expect("serve the page");
    let browser = Browser::start().expect("a headless Chromium is needed for this test");
    Fixture { browser, site }
}

fn expect_contains(browser: &Browser, css: &str, wanted: &str) -> String {
    let text = browser.text(css).expect(css);
    assert!(
        text.contains(wanted),
        "{css} says {text:?}, not {wanted:?}; console: {}",
        browser.console().unwrap_or_default()
    );
    text
}

/// Sends `share` through the share field `field` and its button.
fn give(browser: &Browser, field: &str, button: &str, share: &str) {
    browser.type_into(field, share).expect(field);
    browser.step(button).expect(button);
    assert_eq!(
        browser.property(field, "value").expect("value"),
        json!(""),
        "the share field is emptied at once"
    );
}

fn ceremonies(fixture: &Fixture, server: &Server, paths: &str, dialect: Dialect) {
    let browser = &fixture.browser;
    allow_origin(server, &fixture.site.origin());
    browser.open(&fixture.site.origin()).expect("open the page");
    assert_eq!(
        browser
            .attribute("#rekey-share", "type")
            .unwrap()
            .as_deref(),
        Some("password"),
        "share inputs are masked"
    );
    browser.type_into("#address", &server.address()).unwrap();
    browser.type_into("#token", server.root_token()).unwrap();
    let check_status = || {
        expect_contains(browser, "#server-status", "OpenBao 2.");
        expect_contains(
            browser,
            "#server-status",
            "unsealed; 3 of 5 shares unseal it",
        );
    };
    if dialect == Dialect::OpenBao {
        // A refusal: the Vault paths, which a default OpenBao listener does not serve.
        browser.choose("#dialect", "vault").unwrap();
        browser.step("#root-start").unwrap();
        expect_contains(browser, "#message", "does not serve the Vault paths");
        assert_eq!(
            browser.attribute("#message", "class").unwrap().as_deref(),
            Some("refusal")
        );
        expect_contains(browser, "#root-progress", "No generation started.");
    } else {
        browser.step("#check").unwrap();
        check_status();
    }
    browser.choose("#dialect", paths).unwrap();

    // A rekey with verification, 5 shares of 3 to 4 of 2.
    let old = server.keys();
    browser.type_into("#rekey-shares", "4").unwrap();
    browser.type_into("#rekey-threshold", "2").unwrap();
    browser.step("#rekey-start").unwrap();
    if dialect == Dialect::OpenBao {
        // Started without a check: the page asked the server which paths it serves.
        check_status();
        expect_contains(
            browser,
            "#server-status",
            "Ceremonies use the OpenBao paths.",
        );
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "Rekey started: 0 of 3 current shares given. It makes 4 new shares with threshold 2, \
         verified before they take effect.",
    );
    // A refusal from the server, as a sentence: a share that is not one.
    give(browser, "#rekey-share", "#rekey-submit", "not-a-share");
    expect_contains(browser, "#message", "That is not a key share");
    expect_contains(browser, "#rekey-progress", "0 of 3 current shares given");
    for (i, share) in old.iter().take(3).enumerate() {
        give(browser, "#rekey-share", "#rekey-submit", share);
        assert_eq!(browser.text("#message").unwrap(), "", "share {i}");
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "New shares issued: 0 of 2 verified.",
    );
    expect_contains(browser, "#rekey-share-label", "New share, to verify");
    let new = browser.texts("#rekey-new-shares li").unwrap();
    assert_eq!(new.len(), 4, "{new:?}");
    for share in new.iter().take(2) {
        give(browser, "#rekey-share", "#rekey-submit", share);
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "Verified: the new shares are in effect, the old ones no longer unseal.",
    );
    if dialect == Dialect::OpenBao {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/web-ceremony/screenshot.png");
        browser.screenshot(&path).expect("screenshot");
    }
    // Shown once: stored, they are gone from the page.
    browser.step("#rekey-stored").unwrap();
    assert!(browser.texts("#rekey-new-shares li").unwrap().is_empty());
    expect_contains(browser, "#rekey-progress", "No rekey started.");

    // The server agrees: the new shares unseal it, the old ones no longer do.
    let factory = ClientFactory::new(Transport::Ureq, server.address(), dialect);
    let client = factory.client(Some(server.root_token())).expect("client");
    reseal_with_new_shares(server, client.as_ref(), &shares(&old), &shares(&new));

    // A root token, with an OTP drawn by the page, from 2 of the new shares; first with a
    // wrong share, well formed but not one of them, which the server refuses as a sentence.
    browser.step("#root-start").unwrap();
    expect_contains(
        browser,
        "#root-progress",
        "Generation in progress: 0 of 2 shares given. The token will be decoded here with its \
         one-time password.",
    );
    give(browser, "#root-share", "#root-submit", &"5a".repeat(33));
    give(browser, "#root-share", "#root-submit", &new[0]);
    expect_contains(
        browser,
        "#message",
        "The shares did not combine into the key",
    );
    // Counting starts again, on the same generation.
    expect_contains(browser, "#root-progress", "0 of 2 shares given.");
    for share in new.iter().take(2) {
        give(browser, "#root-share", "#root-submit", share);
        assert_eq!(browser.text("#message").unwrap(), "");
    }
    expect_contains(
        browser,
        "#root-progress",
        "Done: the new root token is below",
    );
    let token = browser.text("#root-token").unwrap();
    assert!(
        token.starts_with("s."),
        "a token, decoded: {} chars",
        token.len()
    );
    let lookup = server
        .call("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .expect("lookup-self");
    assert_eq!(lookup.status, 200, "the page's token works");
    let policies = lookup.json().unwrap()["data"]["policies"].clone();
    assert_eq!(policies, json!(["root"]));
    browser.step("#root-stored").unwrap();
    assert_eq!(browser.text("#root-token").unwrap(), "");
}

#[test]
fn ceremonies_in_a_browser_on_openbaos_paths() {
    let fixture = fixture();
    let server = start(Server::builder());
    ceremonies(&fixture, &server, "auto", Dialect::OpenBao);
}

#[test]
fn ceremonies_in_a_browser_on_vaults_paths() {
    let fixture = fixture();
    let server = start(Server::builder().legacy_endpoints(true));
    ceremonies(&fixture, &server, "vault", Dialect::Vault);
}

/// Ceremonies another operator started, joined from the page: a rekey (whose restart by the
/// other operator the page refuses to follow, in a sentence) and a root-token generation whose
/// OTP the other operator hands over.
#[test]
fn joining_ceremonies_started_elsewhere() {
    let fixture = fixture();
    let browser = &fixture.browser;
    let server = start(Server::builder());
    allow_origin(&server, &fixture.site.origin());
    browser.open(&fixture.site.origin()).expect("open the page");
    browser.type_into("#address", &server.address()).unwrap();
    browser.type_into("#token", server.root_token()).unwrap();
    let other = ClientFactory::new(Transport::Ureq, server.address(), Dialect::OpenBao)
        .client(Some(server.root_token()))
        .expect("the other operator's client");
    let old = server.keys();
    let config = StartRekey::new(3, 2).require_verification(false);

    let first = other
        .start_rekey(&config)
        .expect("the other operator starts");
    browser.step("#rekey-join").unwrap();
    expect_contains(
        browser,
        "#rekey-progress",
        "Rekey started: 0 of 3 current shares given. It makes 3 new shares with threshold 2.",
    );
    give(browser, "#rekey-share", "#rekey-submit", &old[0]);
    expect_contains(browser, "#rekey-progress", "1 of 3 current shares given");

    // The other operator cancels and starts again: the page does not follow.
    other.cancel_rekey(first.nonce.as_deref()).expect("cancel");
    other.start_rekey(&config).expect("start again");
    give(browser, "#rekey-share", "#rekey-submit", &old[1]);
    expect_contains(browser, "#message", "another ceremony");
    let progress = other.read_rekey_progress().expect("progress");
    assert_eq!(progress.progress, 0, "the share went to no ceremony");

    // Joined again, on purpose: the new rekey, to its end.
    browser.step("#rekey-join").unwrap();
    expect_contains(browser, "#rekey-progress", "0 of 3 current shares given");
    for share in old.iter().take(3) {
        give(browser, "#rekey-share", "#rekey-submit", share);
    }
    expect_contains(
        browser,
        "#rekey-progress",
        "Rekeyed: the new shares are in effect.",
    );
    let new = browser.texts("#rekey-new-shares li").unwrap();
    assert_eq!(new.len(), 3, "{new:?}");
    browser.step("#rekey-stored").unwrap();
    reseal_with_new_shares(&server, other.as_ref(), &shares(&old), &shares(&new));

    // A generation the other operator started, with the server's OTP, which they hand over.
    let generation = other
        .start_root_token_generation(TokenKind::Root, None, None)
        .expect("the other operator starts a generation");
    let otp = generation.otp.expect("a server-generated OTP");
    browser.type_into("#root-otp", otp.expose()).unwrap();
    browser.step("#root-join").unwrap();
    expect_contains(
        browser,
        "#root-progress",
        "Generation in progress: 0 of 2 shares given. The token will be decoded here",
    );
    assert_eq!(browser.property("#root-otp", "value").unwrap(), json!(""));
    for share in new.iter().take(2) {
        give(browser, "#root-share", "#root-submit", share);
    }
    expect_contains(
        browser,
        "#root-progress",
        "Done: the new root token is below",
    );
    let token = browser.text("#root-token").unwrap();
    let lookup = server
        .call("GET", "/v1/auth/token/lookup-self", Some(&token), None)
        .expect("lookup-self");
    assert_eq!(lookup.status, 200, "the token decoded in the page works");
}
