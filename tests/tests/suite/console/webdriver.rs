//! The few W3C WebDriver commands the console's browser tests use, over `ureq` (already a
//! dependency of `kith`), to a local chromedriver.
//!
//! Why not fantoccini or thirtyfour: fantoccini 0.22 (the newest) pins `webdriver` 0.53, which
//! brings a second ICU stack (`icu_segmenter` 1.x with its data), `http` 0.2, a second `cookie` and
//! `thiserror` 1: twenty more crates to build at `opt-level = 3` in a CI run that is within three
//! minutes of its thirty-minute limit; thirtyfour brings reqwest besides. These tests need a dozen
//! JSON requests (session, navigate, find, click, type, read, run a script, screenshot).

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The key WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Tab key, for `send_keys`.
pub const TAB: &str = "\u{E004}";
/// The Enter key.
pub const ENTER: &str = "\u{E007}";

/// A browser session.
pub struct Session {
    agent: ureq::Agent,
    base: String,
}

/// An element of the page.
pub struct Element<'a> {
    session: &'a Session,
    id: String,
}

impl Session {
    /// A new session with these capabilities (`alwaysMatch`); scripts may run for 60 s.
    pub fn new(driver: &str, capabilities: Value) -> Session {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let driver = driver.trim_end_matches('/');
        let created = request(
            &agent,
            driver,
            "POST",
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": capabilities } })),
        )
        .unwrap_or_else(|e| panic!("chromedriver refused a session: {e}"));
        let id = created["sessionId"].as_str().expect("a session id");
        let s = Session {
            base: format!("{driver}/session/{id}"),
            agent,
        };
        s.cmd(
            "POST",
            "/timeouts",
            json!({ "script": 60_000, "pageLoad": 60_000 }),
        );
        s
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        request(&self.agent, &self.base, method, path, body)
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.request(method, path, Some(body))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Opens a URL (waits for the page to load; a change of fragment only does not reload).
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// The page's URL.
    pub fn current_url(&self) -> String {
        self.cmd("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element matching a CSS selector.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        self.elements("/elements", "css selector", css)
    }

    fn elements(&self, path: &str, using: &str, value: &str) -> Vec<Element<'_>> {
        let found = self.cmd("POST", path, json!({ "using": using, "value": value }));
        found
            .as_array()
            .map(|a| a.iter().map(|e| self.element(e)).collect())
            .unwrap_or_default()
    }

    fn element(&self, v: &Value) -> Element<'_> {
        Element {
            session: self,
            id: v[ELEMENT]
                .as_str()
                .expect("an element reference")
                .to_owned(),
        }
    }

    /// The first element matching a CSS selector (which must exist).
    pub fn find(&self, css: &str) -> Element<'_> {
        self.find_all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {css}"))
    }

    /// The first element an XPath expression selects (which must exist).
    pub fn xpath(&self, xpath: &str) -> Element<'_> {
        self.elements("/elements", "xpath", xpath)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {xpath}"))
    }

    /// The element that has the focus.
    pub fn active(&self) -> Element<'_> {
        let v = self.cmd("GET", "/element/active", Value::Null);
        self.element(&v)
    }

    /// Runs a script (its `return` value comes back).
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// Runs a script that calls its last argument with the result.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            json!({ "script": script, "args": args }),
        )
    }

    /// Waits, in the page, for an element matching `css` whose text contains `text` (a
    /// MutationObserver, no polling), for at most 20 s; returns that text.
    pub fn until_text(&self, css: &str, text: &str) -> String {
        let found = self.execute_async(
            "const [css, text, ms, done] = arguments;
             const look = () => [...document.querySelectorAll(css)].map((e) => e.innerText).find((t) => t.includes(text));
             const now = look();
             if (now !== undefined) return done({ text: now });
             const timer = setTimeout(() => { seen.disconnect();
               done({ timeout: [...document.querySelectorAll(css)].map((e) => e.innerText.slice(0, 300)).slice(0, 10) }); }, ms);
             const seen = new MutationObserver(() => { const t = look();
               if (t !== undefined) { seen.disconnect(); clearTimeout(timer); done({ text: t }); } });
             seen.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });",
            vec![json!(css), json!(text), json!(20_000)],
        );
        match found["text"].as_str() {
            Some(t) => t.to_owned(),
            None => panic!(
                "no {css} with {text:?} within 20 s; saw {}",
                found["timeout"]
            ),
        }
    }

    /// The page as a PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.cmd("GET", "/screenshot", Value::Null);
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64"))
            .expect("a PNG in base64")
    }

    /// The page's cookies.
    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", "/cookie", Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.request("DELETE", "", None);
    }
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    /// Clicks it.
    pub fn click(&self) {
        self.session.cmd("POST", &self.path("/click"), json!({}));
    }

    /// Empties a text field.
    pub fn clear(&self) {
        self.session.cmd("POST", &self.path("/clear"), json!({}));
    }

    /// Types into it (`TAB`, `ENTER` for those keys).
    pub fn send_keys(&self, text: &str) {
        self.session
            .cmd("POST", &self.path("/value"), json!({ "text": text }));
    }

    /// Its rendered text.
    pub fn text(&self) -> String {
        self.session
            .cmd("GET", &self.path("/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An attribute, if it has it.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.session
            .cmd(
                "GET",
                &self.path(&format!("/attribute/{name}")),
                Value::Null,
            )
            .as_str()
            .map(str::to_owned)
    }

    /// Chooses the option of this `<select>` with this value (as a user would: a change event).
    pub fn select_by_value(&self, value: &str) {
        let options = self.session.elements(
            &self.path("/elements"),
            "css selector",
            &format!("option[value=\"{value}\"]"),
        );
        options
            .first()
            .unwrap_or_else(|| panic!("no option {value}"))
            .click();
    }
}

/// One WebDriver command; its `value`, or the error WebDriver named.
fn request(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let url = format!("{base}{path}");
    let sent = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        ("DELETE", _) => agent.delete(&url).call(),
        (_, body) => agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(
                serde_json::to_vec(&body.unwrap_or(json!({})))
                    .unwrap()
                    .as_slice(),
            ),
    };
    let mut r = sent.map_err(|e| format!("{method} {path}: {e}"))?;
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}: {text}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if status >= 400 {
        return Err(format!(
            "{method} {path}: {} ({})",
            value["error"].as_str().unwrap_or("error"),
            value["message"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
        ));
    }
    Ok(value)
}
