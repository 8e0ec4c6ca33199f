//! The page: each button runs one step of a ceremony through `fetch`, then the page shows
//! where the ceremony stands. One step runs at a time; the buttons wait meanwhile.
//!
//! A ceremony lives in the page's state between steps, and goes back there whatever a step
//! ends with, so new shares or a token the server produced are never dropped by an error.

use crate::explain;
use crate::failure::FetchError;
use crate::fetch::Fetch;
use crate::policy;
use crate::view;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use vault_key_core::ceremony::{
    drive_async, Ceremony, Next, RekeyCeremony, RekeyPhase, RootTokenCeremony, RootTokenPhase,
    TokenProtection,
};
use vault_key_core::ops::cluster::ReadLeaderStatus;
use vault_key_core::ops::generate_root::TokenKind;
use vault_key_core::ops::rekey::{KeyKind, StartRekey};
use vault_key_core::ops::seal::ReadSealStatus;
use vault_key_core::{execute_async, Dialect, Error, ExecuteError, KeyShare, Otp, Target, Token};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlSelectElement};
use zeroize::Zeroizing;

/// What a step ends with: nothing to add, or a sentence for the operator.
type Outcome = Result<(), String>;
type Step = Pin<Box<dyn Future<Output = Outcome>>>;
type Action = fn(Rc<Page>) -> Step;

/// Mounts the page on the document: finds its elements and wires its buttons.
#[wasm_bindgen(start)]
pub fn mount() -> Result<(), JsValue> {
    let document = web_sys::window()
        .and_then(|window| window.document())
        .ok_or("no document")?;
    let page = Rc::new(Page {
        elements: Elements::find(&document)?,
        state: RefCell::default(),
    });
    let actions: [(&str, Action); 10] = [
        ("check", |page| Box::pin(async move { page.check().await })),
        ("rekey-start", |page| {
            Box::pin(async move { page.start_rekey().await })
        }),
        ("rekey-join", |page| {
            Box::pin(async move { page.join_rekey().await })
        }),
        ("rekey-submit", |page| {
            Box::pin(async move { page.submit_rekey_share().await })
        }),
        ("rekey-cancel", |page| {
            Box::pin(async move { page.cancel_rekey().await })
        }),
        ("rekey-stored", |page| {
            Box::pin(async move { page.forget_rekey() })
        }),
        ("root-start", |page| {
            Box::pin(async move { page.start_root().await })
        }),
        ("root-join", |page| {
            Box::pin(async move { page.join_root().await })
        }),
        ("root-submit", |page| {
            Box::pin(async move { page.submit_root_share().await })
        }),
        ("root-cancel", |page| {
            Box::pin(async move { page.cancel_root().await })
        }),
    ];
    for (id, action) in actions {
        page.on_click(&document, id, action)?;
    }
    page.on_click(&document, "root-stored", |page| {
        Box::pin(async move { page.forget_root() })
    })?;
    page.render();
    document
        .body()
        .ok_or("no body")?
        .set_attribute("data-ready", "true")?;
    Ok(())
}

struct Page {
    elements: Elements,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    rekey: Option<RekeyCeremony>,
    root: Option<RootTokenCeremony>,
    /// The paths the server serves without extra settings, once it was asked.
    detected: Option<Dialect>,
    /// The server's address, fixed at the first step: the page's connections are then
    /// limited to it by a Content-Security-Policy, which cannot be loosened again.
    server: Option<String>,
    /// The token, taken out of its field at the first step that needs it, so that the field
    /// does not hold it for the whole session.
    token: Option<Token>,
    busy: bool,
}

/// The page's elements, found once: a missing one stops the page at its start.
struct Elements {
    address: HtmlInputElement,
    token: HtmlInputElement,
    dialect: HtmlSelectElement,
    server_status: HtmlElement,
    server_fixed: HtmlElement,
    rekey_shares: HtmlInputElement,
    rekey_threshold: HtmlInputElement,
    rekey_share: HtmlInputElement,
    rekey_share_label: HtmlElement,
    rekey_progress: HtmlElement,
    rekey_new_shares: HtmlElement,
    rekey_stored: HtmlElement,
    root_share: HtmlInputElement,
    root_otp: HtmlInputElement,
    root_progress: HtmlElement,
    root_token: HtmlElement,
    root_stored: HtmlElement,
    message: HtmlElement,
    buttons: Vec<HtmlButtonElement>,
    body: HtmlElement,
    document: Document,
}

fn find<T: JsCast>(document: &Document, id: &str) -> Result<T, JsValue> {
    document
        .get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("the page has no #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} is not the element expected")))
}

impl Elements {
    fn find(document: &Document) -> Result<Self, JsValue> {
        let list = document.query_selector_all("button")?;
        let buttons = (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|node| node.dyn_into::<HtmlButtonElement>().ok())
            .collect();
        Ok(Elements {
            address: find(document, "address")?,
            token: find(document, "token")?,
            dialect: find(document, "dialect")?,
            server_status: find(document, "server-status")?,
            server_fixed: find(document, "server-fixed")?,
            rekey_shares: find(document, "rekey-shares")?,
            rekey_threshold: find(document, "rekey-threshold")?,
            rekey_share: find(document, "rekey-share")?,
            rekey_share_label: find(document, "rekey-share-label")?,
            rekey_progress: find(document, "rekey-progress")?,
            rekey_new_shares: find(document, "rekey-new-shares")?,
            rekey_stored: find(document, "rekey-stored")?,
            root_share: find(document, "root-share")?,
            root_otp: find(document, "root-otp")?,
            root_progress: find(document, "root-progress")?,
            root_token: find(document, "root-token")?,
            root_stored: find(document, "root-stored")?,
            message: find(document, "message")?,
            buttons,
            body: document.body().ok_or("no body")?,
            document: document.clone(),
        })
    }
}

impl Page {
    fn on_click(
        self: &Rc<Self>,
        document: &Document,
        id: &str,
        action: Action,
    ) -> Result<(), JsValue> {
        let button: HtmlElement = find(document, id)?;
        let page = Rc::clone(self);
        let listener = Closure::<dyn Fn()>::new(move || {
            let page = Rc::clone(&page);
            wasm_bindgen_futures::spawn_local(page.run(action));
        });
        button.add_event_listener_with_callback("click", listener.as_ref().unchecked_ref())?;
        // The page's buttons live as long as the page.
        listener.forget();
        Ok(())
    }

    /// Runs one step, unless one is running, and shows what it left.
    async fn run(self: Rc<Self>, action: Action) {
        if std::mem::replace(&mut self.state.borrow_mut().busy, true) {
            return;
        }
        self.set_busy(true);
        self.say("", false);
        let outcome = action(Rc::clone(&self)).await;
        self.state.borrow_mut().busy = false;
        self.set_busy(false);
        self.render();
        if let Err(sentence) = outcome {
            self.say(&sentence, true);
        }
    }

    fn set_busy(&self, busy: bool) {
        let e = &self.elements;
        for button in &e.buttons {
            button.set_disabled(busy);
        }
        let _ = e
            .body
            .set_attribute("aria-busy", if busy { "true" } else { "false" });
    }

    fn say(&self, sentence: &str, refusal: bool) {
        let message = &self.elements.message;
        message.set_text_content(Some(sentence));
        message.set_class_name(if refusal { "refusal" } else { "" });
    }

    /// The server's address and token, without paths chosen. A token typed since the last
    /// step replaces the one held.
    fn base_target(&self) -> Result<Target, String> {
        let target = Target::new(&self.fix_server()?).map_err(|e| explain::core(&e))?;
        let typed = Zeroizing::new(self.elements.token.value());
        if !typed.trim().is_empty() {
            self.state.borrow_mut().token = Some(Token::new(typed.trim()));
            self.elements.token.set_value("");
            self.elements
                .token
                .set_placeholder("held by the page: type another to replace it");
        }
        Ok(match &self.state.borrow().token {
            Some(token) => target.with_token(token.clone()),
            None => target,
        })
    }

    /// The server's address: the one typed, at the first step, from then on that one. Before
    /// anything is sent to it, the page's connections are limited to its origin.
    fn fix_server(&self) -> Result<String, String> {
        if let Some(address) = &self.state.borrow().server {
            return Ok(address.clone());
        }
        let typed = self.elements.address.value();
        let address = Target::new(typed.trim())
            .map_err(|e| explain::core(&e))?
            .address()
            .to_string();
        let source = policy::connect_source(&address).ok_or(
            "This page limits its connections to the server's address with a \
             Content-Security-Policy, which can only name a host name or an IPv4 address: \
             use one of those for the server.",
        )?;
        let e = &self.elements;
        let added = (|| -> Result<(), JsValue> {
            let meta = e.document.create_element("meta")?;
            meta.set_attribute("http-equiv", "Content-Security-Policy")?;
            meta.set_attribute("content", &policy::connect_policy(&source))?;
            e.document
                .head()
                .ok_or("no head")?
                .append_child(&meta)
                .map(drop)
        })();
        if added.is_err() {
            return Err(
                "The page could not limit its connections to the server (its \
                 Content-Security-Policy): nothing was sent."
                    .to_string(),
            );
        }
        e.address.set_read_only(true);
        e.server_fixed.set_text_content(Some(&format!(
            "This page now connects to {source} only; reload it to choose another server."
        )));
        self.state.borrow_mut().server = Some(address.clone());
        Ok(address)
    }

    /// A sentence for a failed exchange. For a redirect, the node is asked (without the
    /// token) which node leads, to name it; the page never goes there by itself.
    async fn explain(&self, error: &ExecuteError<FetchError>, target: &Target) -> String {
        if let ExecuteError::Transport(FetchError::Redirected) = error {
            let leader = match Target::new(target.address()) {
                Ok(unauthenticated) => execute_async(&Fetch, &unauthenticated, &ReadLeaderStatus)
                    .await
                    .ok()
                    .and_then(|status| status.leader_address),
                Err(_) => None,
            };
            return explain::redirected(target.address(), leader.as_deref());
        }
        explain::exchange(error, target.address())
    }

    /// The target with the paths chosen, or those the server says it serves.
    async fn target(&self) -> Result<Target, String> {
        let dialect = match self.elements.dialect.value().as_str() {
            "openbao" => Dialect::OpenBao,
            "vault" => Dialect::Vault,
            _ => {
                let detected = self.state.borrow().detected;
                match detected {
                    Some(dialect) => dialect,
                    None => return self.check_server().await,
                }
            }
        };
        Ok(self.base_target()?.with_dialect(dialect))
    }

    async fn check(&self) -> Outcome {
        self.check_server().await.map(drop)
    }

    /// Reads the seal status: what the server is, and which paths it serves.
    async fn check_server(&self) -> Result<Target, String> {
        let target = self.base_target()?;
        let status = match execute_async(&Fetch, &target, &ReadSealStatus).await {
            Ok(status) => status,
            Err(error) => return Err(self.explain(&error, &target).await),
        };
        let server = status.server();
        let dialect = server.dialect();
        self.state.borrow_mut().detected = Some(dialect);
        self.elements.server_status.set_text_content(Some(&format!(
            "{:?} {}: {}, {}; {} of {} shares unseal it. Ceremonies use the {} paths.",
            server.product,
            server.version,
            if status.initialized {
                "initialised"
            } else {
                "not initialised"
            },
            if status.sealed { "sealed" } else { "unsealed" },
            status.t,
            status.n,
            match dialect {
                Dialect::OpenBao => "OpenBao",
                _ => "Vault",
            },
        )));
        Ok(target.with_dialect(dialect))
    }

    /// Takes the ceremony in `slot` out of the state, prepares it, drives it as far as it goes
    /// and puts it back, whatever the drive ended with.
    async fn step<K: Ceremony>(
        &self,
        slot: fn(&mut State) -> &mut Option<K>,
        missing: &str,
        prepare: impl FnOnce(&mut K) -> Result<(), Error>,
    ) -> Result<Next, String> {
        let target = self.target().await?;
        let mut ceremony = slot(&mut self.state.borrow_mut())
            .take()
            .ok_or_else(|| missing.to_string())?;
        let outcome = match prepare(&mut ceremony) {
            Ok(()) => drive_async(&Fetch, &target, &mut ceremony).await,
            Err(error) => {
                *slot(&mut self.state.borrow_mut()) = Some(ceremony);
                return Err(explain::core(&error));
            }
        };
        *slot(&mut self.state.borrow_mut()) = Some(ceremony);
        match outcome {
            Ok(next) => Ok(next),
            Err(error) => Err(self.explain(&error, &target).await),
        }
    }

    /// Whether a new rekey may begin on the page: none is running, and the last one's new
    /// shares were stored.
    fn rekey_free(&self) -> Outcome {
        if let Some(ceremony) = &self.state.borrow().rekey {
            if !matches!(
                ceremony.phase(),
                RekeyPhase::Done | RekeyPhase::Cancelled | RekeyPhase::Aborted
            ) {
                return Err(
                    "A rekey is already running on this page: finish or cancel it \
                            first."
                        .to_string(),
                );
            }
            if ceremony.result().is_some() {
                return Err(
                    "Store the new shares of the last rekey first (the button under \
                            them)."
                        .to_string(),
                );
            }
        }
        Ok(())
    }

    async fn start_rekey(&self) -> Outcome {
        self.rekey_free()?;
        let shares = number(&self.elements.rekey_shares, "new shares")?;
        let threshold = number(&self.elements.rekey_threshold, "threshold")?;
        self.begin_rekey(RekeyCeremony::start(
            StartRekey::new(shares, threshold).require_verification(true),
        ))
        .await
    }

    /// Joins the rekey another operator started: its progress is read and its nonce pinned.
    async fn join_rekey(&self) -> Outcome {
        self.rekey_free()?;
        self.begin_rekey(RekeyCeremony::resume(KeyKind::Unseal))
            .await
    }

    async fn begin_rekey(&self, ceremony: RekeyCeremony) -> Outcome {
        self.state.borrow_mut().rekey = Some(ceremony);
        let begun = self.step(rekey_slot, NO_REKEY, |_| Ok(())).await;
        if begun.is_err() {
            // A refused start or join began nothing: the page forgets it.
            let mut state = self.state.borrow_mut();
            if state.rekey.as_ref().map(RekeyCeremony::phase) == Some(RekeyPhase::Starting) {
                state.rekey = None;
            }
        }
        begun.map(drop)
    }

    async fn submit_rekey_share(&self) -> Outcome {
        let share = take_secret(&self.elements.rekey_share)?;
        self.step(rekey_slot, NO_REKEY, |ceremony| {
            if ceremony.phase() == RekeyPhase::Verifying {
                ceremony.submit_verification_share(share)
            } else {
                ceremony.submit_share(share)
            }
        })
        .await
        .map(drop)
    }

    async fn cancel_rekey(&self) -> Outcome {
        self.step(rekey_slot, NO_REKEY, RekeyCeremony::cancel)
            .await
            .map(drop)
    }

    /// The operator has stored the new shares: the page lets go of them.
    fn forget_rekey(&self) -> Outcome {
        self.state.borrow_mut().rekey = None;
        Ok(())
    }

    /// Whether a new generation may begin on the page.
    fn root_free(&self) -> Outcome {
        if let Some(ceremony) = &self.state.borrow().root {
            // A token that arrived is never dropped, whatever happened to the generation after.
            if ceremony.result().is_some() {
                return Err(
                    "Store the token of the last generation first (the button under \
                            it)."
                        .to_string(),
                );
            }
            if !matches!(
                ceremony.phase(),
                RootTokenPhase::Cancelled | RootTokenPhase::Aborted
            ) {
                return Err(
                    "A root-token generation is already running on this page: finish \
                            or cancel it first."
                        .to_string(),
                );
            }
        }
        Ok(())
    }

    /// Joins the generation another operator started; with the OTP it was started with, the
    /// token is decoded here.
    async fn join_root(&self) -> Outcome {
        self.root_free()?;
        let otp = Zeroizing::new(self.elements.root_otp.value());
        self.elements.root_otp.set_value("");
        let otp = (!otp.trim().is_empty()).then(|| Otp::new(otp.trim()));
        self.begin_root(RootTokenCeremony::resume(TokenKind::Root, otp))
            .await
            .map(drop)
    }

    async fn begin_root(&self, ceremony: RootTokenCeremony) -> Result<Next, String> {
        self.state.borrow_mut().root = Some(ceremony);
        let begun = self.step(root_slot, NO_ROOT, |_| Ok(())).await;
        if begun.is_err() {
            // A refused start or join began nothing: the page forgets it.
            let mut state = self.state.borrow_mut();
            if state.root.as_ref().map(RootTokenCeremony::phase) == Some(RootTokenPhase::Starting) {
                state.root = None;
            }
        }
        begun
    }

    async fn start_root(&self) -> Outcome {
        self.root_free()?;
        let next = self
            .begin_root(RootTokenCeremony::start(
                TokenKind::Root,
                TokenProtection::GenerateOtp,
            ))
            .await?;
        if let Next::NeedOtp { .. } = next {
            // The OTP is drawn here, from the browser's CSPRNG, and checked before the start
            // that carries it is sent.
            let random = BrowserRandom::new()?;
            let drawn = match self.state.borrow_mut().root.as_mut() {
                Some(ceremony) => ceremony.generate_otp(&mut |dest: &mut [u8]| random.fill(dest)),
                None => return Err(NO_ROOT.to_string()),
            };
            if random.failed() {
                self.state.borrow_mut().root = None;
                return Err(
                    "The browser's random source failed: no generation was started.".to_string(),
                );
            }
            drawn.map_err(|e| explain::core(&e))?;
            self.step(root_slot, NO_ROOT, |_| Ok(())).await.map(drop)?;
        }
        Ok(())
    }

    async fn submit_root_share(&self) -> Outcome {
        let share = take_secret(&self.elements.root_share)?;
        self.step(root_slot, NO_ROOT, |ceremony| ceremony.submit_share(share))
            .await
            .map(drop)
    }

    async fn cancel_root(&self) -> Outcome {
        self.step(root_slot, NO_ROOT, RootTokenCeremony::cancel)
            .await
            .map(drop)
    }

    /// The operator has stored the token: the page lets go of it.
    fn forget_root(&self) -> Outcome {
        self.state.borrow_mut().root = None;
        Ok(())
    }

    /// Shows where both ceremonies stand; new shares and a new token appear once, and go
    /// when the operator says they are stored.
    fn render(&self) {
        let state = self.state.borrow();
        let e = &self.elements;
        let rekey = state.rekey.as_ref();
        e.rekey_progress.set_text_content(Some(
            &rekey.map_or_else(|| "No rekey started.".to_string(), view::rekey),
        ));
        e.rekey_share_label
            .set_text_content(Some(view::rekey_share_label(rekey)));
        match rekey.and_then(RekeyCeremony::result) {
            Some(result) => {
                if e.rekey_new_shares.child_element_count() == 0 {
                    for share in &result.keys {
                        if let Ok(item) = e.document.create_element("li") {
                            item.set_text_content(Some(share.expose()));
                            let _ = e.rekey_new_shares.append_child(&item);
                        }
                    }
                }
                e.rekey_stored.set_hidden(false);
            }
            None => {
                e.rekey_new_shares.set_text_content(None);
                e.rekey_stored.set_hidden(true);
            }
        }

        let root = state.root.as_ref();
        e.root_progress.set_text_content(Some(
            &root.map_or_else(|| "No generation started.".to_string(), view::root_token),
        ));
        // Shown whenever it arrived, also when the generation then stopped or lost an answer.
        match root.filter(|c| c.result().is_some()) {
            Some(ceremony) => {
                // Asked of the node, not its text: reading the text back would copy the
                // token into the page's memory again.
                if !e.root_token.has_child_nodes() {
                    e.root_token.set_text_content(Some(&token_text(ceremony)));
                }
                e.root_stored.set_hidden(false);
            }
            None => {
                e.root_token.set_text_content(None);
                e.root_stored.set_hidden(true);
            }
        }
    }
}

/// What the page shows of a generated token: decoded when the page has the OTP, else
/// encoded, for whoever holds it; encoded too when decoding fails, so that it is never lost.
fn token_text(ceremony: &RootTokenCeremony) -> Zeroizing<String> {
    let Some(encoded) = ceremony.encoded_token() else {
        return Zeroizing::new(String::new());
    };
    if ceremony.otp().is_none() {
        return joined(&[
            "Encoded token (decode it with the OTP of whoever started the generation): ",
            encoded.expose(),
        ]);
    }
    match ceremony.decode_token() {
        Ok(token) => joined(&[token.expose()]),
        Err(error) => joined(&[
            "Encoded token (it could not be decoded here: ",
            &explain::core(&error),
            "): ",
            encoded.expose(),
        ]),
    }
}

/// `parts` end to end, in memory sized once and wiped on drop: a string grown as it is
/// written would leave unwiped copies of the secret in the memory it outgrew.
fn joined(parts: &[&str]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(parts.iter().map(|p| p.len()).sum()));
    for part in parts {
        text.push_str(part);
    }
    text
}

const NO_REKEY: &str = "No rekey is running on this page: start one first.";
const NO_ROOT: &str = "No root-token generation is running on this page: start one first.";

fn rekey_slot(state: &mut State) -> &mut Option<RekeyCeremony> {
    &mut state.rekey
}

fn root_slot(state: &mut State) -> &mut Option<RootTokenCeremony> {
    &mut state.root
}

fn number(input: &HtmlInputElement, what: &str) -> Result<u32, String> {
    input
        .value()
        .trim()
        .parse()
        .map_err(|_| format!("The {what} must be a whole number."))
}

/// The share typed into `input`, which is emptied at once.
fn take_secret(input: &HtmlInputElement) -> Result<KeyShare, String> {
    let value = Zeroizing::new(input.value());
    input.set_value("");
    let share = KeyShare::new(value.trim());
    if share.is_empty() {
        return Err("Enter a share first.".to_string());
    }
    Ok(share)
}

/// `crypto.getRandomValues`, which fills at most 64 KiB per call; a failure is remembered so
/// that nothing made from unfilled bytes is used.
struct BrowserRandom {
    crypto: web_sys::Crypto,
    failed: std::cell::Cell<bool>,
}

impl BrowserRandom {
    fn new() -> Result<Self, String> {
        let crypto = web_sys::window()
            .and_then(|window| window.crypto().ok())
            .ok_or("This browser has no crypto.getRandomValues: no OTP can be drawn.")?;
        Ok(Self {
            crypto,
            failed: std::cell::Cell::new(false),
        })
    }

    fn fill(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(65_536) {
            if self.crypto.get_random_values_with_u8_array(chunk).is_err() {
                self.failed.set(true);
            }
        }
    }

    fn failed(&self) -> bool {
        self.failed.get()
    }
}
