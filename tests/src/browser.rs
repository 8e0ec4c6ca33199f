//! A real browser for the web page of `examples/web-ceremony`: the page built to wasm, served
//! from loopback, and headless Chromium driven over WebDriver (chromedriver), as an operator
//! would use it: typing, clicking, reading what the page says.
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver` (or `CHROMIUM_BIN`
//! and `CHROMEDRIVER_BIN`); as root on Debian they are installed when missing. The page is
//! built by `examples/web-ceremony/build`, which installs the wasm-bindgen CLI it needs.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long the page may take to show what a step ended with.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf()
}

/// The built page (`index.html` and `pkg/`), built once per process.
pub fn page() -> Result<PathBuf, String> {
    static PAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PAGE.get_or_init(|| {
        let root = workspace();
        let out = root.join("target/web-ceremony/page");
        let status = Command::new("bash")
            .arg(root.join("examples/web-ceremony/build"))
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run examples/web-ceremony/build: {e}"))?;
        if !status.success() {
            return Err(format!("examples/web-ceremony/build failed ({status})"));
        }
        Ok(out)
    })
    .clone()
}

/// Serves the files of a folder on loopback, with the content types a page needs (wasm as
/// `application/wasm`, which streaming compilation requires).
pub struct StaticSite {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl StaticSite {
    /// Starts serving `dir`.
    pub fn serve(dir: &Path) -> std::io::Result<StaticSite> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, flag) = (dir.to_path_buf(), Arc::clone(&stop));
        thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    let dir = dir.clone();
                    thread::spawn(move || serve_one(stream, &dir));
                }
            }
        });
        Ok(StaticSite { port, stop })
    }

    /// The site's origin, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(stream: TcpStream, dir: &Path) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // The headers are read and ignored.
    let mut header = String::new();
    while reader
        .read_line(&mut header)
        .map(|n| n > 2)
        .unwrap_or(false)
    {
        header.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let path = path
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let file = (!path.split('/').any(|part| part == ".."))
        .then(|| dir.join(path))
        .and_then(|file| std::fs::read(file).ok());
    let mut stream = &stream;
    let _ = match file {
        Some(body) => {
            let kind = match Path::new(path).extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("wasm") => "application/wasm",
                _ => "application/octet-stream",
            };
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .and_then(|()| stream.write_all(&body))
        }
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// Chromium and chromedriver: from the environment, Debian's paths or `PATH`, installed
/// with apt as root when missing.
fn chromium() -> Result<(PathBuf, PathBuf), String> {
    let find = |var: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(path));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        names.iter().find_map(|name| {
            std::iter::once(PathBuf::from("/usr/bin"))
                .chain(std::env::split_paths(&path))
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    let look = || {
        Some((
            find(
                "CHROMIUM_BIN",
                &["chromium", "chromium-browser", "google-chrome"],
            )?,
            find("CHROMEDRIVER_BIN", &["chromedriver"])?,
        ))
    };
    if let Some(found) = look() {
        return Ok(found);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false);
    let apt = Path::new("/usr/bin/apt-get").is_file();
    if root && apt {
        let installed = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y -qq chromium chromium-driver",
            ])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if installed {
            if let Some(found) = look() {
                return Ok(found);
            }
        }
    }
    Err(
        "the page's test needs Chromium and chromedriver: install Debian's chromium and \
         chromium-driver, or set CHROMIUM_BIN and CHROMEDRIVER_BIN"
            .to_string(),
    )
}

/// A headless Chromium session, driven over WebDriver.
pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _profile: TempDir,
}

/// A folder removed on drop (the browser's profile).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub fn start() -> Result<Browser, String> {
        let (chromium, chromedriver) = chromium()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromedriver.display()))?;
        let profile = TempDir(
            std::env::temp_dir().join(format!("vault-key-chromium-{}-{port}", std::process::id())),
        );
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build(),
        );
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.call("GET", "/status", None).is_err() {
            if Instant::now() > deadline {
                return Err("chromedriver did not answer within 20 s".to_string());
            }
            thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                // Without the background-networking flags Chromium keeps trying to reach
                // the network from a machine that has none.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1000,1250",
                    format!("--user-data-dir={}", browser._profile.0.display()),
                ],
            },
        }}});
        let session = browser.call("POST", "/session", Some(&capabilities))?;
        let id = session["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session from chromedriver: {session}"))?;
        browser.base = format!("{}/session/{id}", browser.base);
        Ok(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut response = self
            .agent
            .run(request.body(body).map_err(|e| e.to_string())?)
            .map_err(|e| format!("WebDriver {method} {path}: {e}"))?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if !response.status().is_success() {
            return Err(format!("WebDriver {method} {path}: {}", value["value"]));
        }
        Ok(value)
    }

    fn element(&self, css: &str) -> Result<String, String> {
        let found = self.call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        found["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| format!("no element {css}"))
    }

    /// Opens `url` and waits for the page's module to mount (`body[data-ready]`).
    pub fn open(&self, url: &str) -> Result<(), String> {
        self.call("POST", "/url", Some(&json!({ "url": url })))?;
        self.wait("the page to mount", || {
            Ok(self.script("return document.body.dataset.ready || ''")? == "true")
        })
    }

    /// Runs `script` in the page and returns what it returns, as text.
    pub fn script(&self, script: &str) -> Result<String, String> {
        let value = self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )?;
        Ok(match &value["value"] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// Empties the field `css` and types `text` into it, as an operator would.
    pub fn type_into(&self, css: &str, text: &str) -> Result<(), String> {
        let element = self.element(css)?;
        self.call(
            "POST",
            &format!("/element/{element}/clear"),
            Some(&json!({})),
        )?;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": text })),
        )
        .map(drop)
    }

    /// Chooses the option `value` of the select `css`.
    pub fn choose(&self, css: &str, value: &str) -> Result<(), String> {
        self.click(&format!("{css} option[value=\"{value}\"]"))
    }

    /// Clicks `css`.
    pub fn click(&self, css: &str) -> Result<(), String> {
        let element = self.element(css)?;
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        )
        .map(drop)
    }

    /// Clicks `css` and waits until the step it started is over (the page is no longer busy).
    pub fn step(&self, css: &str) -> Result<(), String> {
        self.click(css)?;
        self.wait("the step to end", || {
            Ok(self.script("return document.body.getAttribute('aria-busy') || ''")? != "true")
        })
    }

    /// The text of `css` as shown.
    pub fn text(&self, css: &str) -> Result<String, String> {
        let element = self.element(css)?;
        let value = self.call("GET", &format!("/element/{element}/text"), None)?;
        Ok(value["value"].as_str().unwrap_or_default().to_string())
    }

    /// The texts of every element that matches `css`.
    pub fn texts(&self, css: &str) -> Result<Vec<String>, String> {
        let json = self.script(&format!(
            "return JSON.stringify([...document.querySelectorAll({css:?})].map(e => e.textContent))"
        ))?;
        serde_json::from_str(&json).map_err(|e| e.to_string())
    }

    /// An attribute of `css`, if it has it.
    pub fn attribute(&self, css: &str, name: &str) -> Result<Option<String>, String> {
        let element = self.element(css)?;
        let value = self.call("GET", &format!("/element/{element}/attribute/{name}"), None)?;
        Ok(value["value"].as_str().map(String::from))
    }

    /// A property of `css` (such as an input's current `value`).
    pub fn property(&self, css: &str, name: &str) -> Result<Value, String> {
        let element = self.element(css)?;
        let value = self.call("GET", &format!("/element/{element}/property/{name}"), None)?;
        Ok(value["value"].clone())
    }

    /// Waits until `ready` says so, up to [`STEP_TIMEOUT`].
    pub fn wait(
        &self,
        what: &str,
        mut ready: impl FnMut() -> Result<bool, String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if ready()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a PNG screenshot of the window.
    pub fn screenshot(&self, path: &Path) -> Result<(), String> {
        use base64::Engine;
        let value = self.call("GET", "/screenshot", None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value["value"].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// The browser console's messages (errors and warnings included).
    pub fn console(&self) -> Result<String, String> {
        let value = self.call("POST", "/se/log", Some(&json!({"type": "browser"})));
        Ok(value.map(|v| v["value"].to_string()).unwrap_or_default())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
