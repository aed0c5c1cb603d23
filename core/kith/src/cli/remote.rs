//! `--server URL --token T`: the commands that read or load data (`import`, `export`, `stats`,
//! `backup`, `customer get|find`) against a running server, over its HTTP API, so nobody has to
//! stop Kith to use them. Each prints what its local form prints.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use ureq::http::Response;

use super::output::{bytes, count};
use super::{DATA_FILE, Exit};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most an error or JSON answer may be (a stream is read without a limit).
const ANSWER_LIMIT: u64 = 16 * 1024 * 1024;

/// A running server and the token to use on it.
pub(super) struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Remote {
    /// The server at `server` (`http://host:port` or `https://...`), with `token`.
    pub(super) fn new(server: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let base = server.trim().trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            anyhow::bail!("--server {server}: expected a URL like http://127.0.0.1:8080");
        }
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            anyhow::bail!(
                "--server needs a token: --token T (or KITH_TOKEN), an admin token or a tenant key"
            );
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .build()
            .into();
        Ok(Self {
            base: base.to_owned(),
            token: token.trim().to_owned(),
            agent,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Checks the status: an error answer becomes an error naming its code and detail.
    fn check(
        &self,
        what: &str,
        mut r: Response<ureq::Body>,
    ) -> anyhow::Result<Response<ureq::Body>> {
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_string()
            .unwrap_or_default();
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = problem["code"].as_str().unwrap_or("error");
        let detail = problem["detail"].as_str().unwrap_or(text.trim());
        let mut message = format!("{what}: the server answered {status} {code}: {detail}");
        for e in problem["errors"].as_array().into_iter().flatten() {
            message.push_str(&format!(
                "\n  {}: expected {}",
                e["field"].as_str().unwrap_or(""),
                e["expected"].as_str().unwrap_or("")
            ));
        }
        anyhow::bail!(message)
    }

    fn unreachable(&self, e: &ureq::Error) -> anyhow::Error {
        anyhow::anyhow!("cannot reach the server at {}: {e}", self.base)
    }

    /// GETs `path` and checks the answer.
    fn get(&self, what: &str, path: &str) -> anyhow::Result<Response<ureq::Body>> {
        let r = self
            .agent
            .get(self.url(path))
            .header("Authorization", self.auth())
            .call()
            .map_err(|e| self.unreachable(&e))?;
        self.check(what, r)
    }

    /// GETs `path` as JSON.
    fn get_json<T: DeserializeOwned>(&self, what: &str, path: &str) -> anyhow::Result<T> {
        let mut r = self.get(what, path)?;
        let text = r
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_string()?;
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{what}: the server's answer is not what kith expects: {e}")
        })
    }

    /// POSTs `body` (of `content_type`) to `path` and checks the answer.
    fn post(
        &self,
        what: &str,
        path: &str,
        content_type: &str,
        body: impl Read,
    ) -> anyhow::Result<Response<ureq::Body>> {
        let r = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.auth())
            .header("Content-Type", content_type)
            .send(ureq::SendBody::from_reader(&mut BufReader::new(body)))
            .map_err(|e| self.unreachable(&e))?;
        self.check(what, r)
    }

    /// POSTs nothing to `path` (`Content-Length: 0`) and checks the answer. Not an empty
    /// streamed body: the server answers without reading one, and may close the connection
    /// while a slow client is still sending its end, cutting the answer off.
    fn post_empty(&self, what: &str, path: &str) -> anyhow::Result<Response<ureq::Body>> {
        let r = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.auth())
            .send_empty()
            .map_err(|e| self.unreachable(&e))?;
        self.check(what, r)
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `kith --server export`: streams the tenant's JSON Lines and checks the last `end` record.
pub(super) fn export(remote: &Remote, tenant: &str, output: Option<&Path>) -> anyhow::Result<Exit> {
    let what = format!("exporting tenant {tenant}");
    let mut r = remote.get(&what, &format!("/v1/tenants/{}/export", encode(tenant)))?;
    let reader = BufReader::new(r.body_mut().as_reader());
    let mut last = String::new();
    let write = |out: &mut dyn Write, last: &mut String| -> anyhow::Result<()> {
        for line in reader.lines() {
            let line = line.map_err(|e| anyhow::anyhow!("{what}: the answer broke off: {e}"))?;
            writeln!(out, "{line}")?;
            *last = line;
        }
        out.flush()?;
        Ok(())
    };
    match output {
        Some(path) => {
            let file = File::create(path).map_err(|source| crate::store::Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            let mut out = std::io::BufWriter::new(file);
            write(&mut out, &mut last)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        None => write(&mut std::io::stdout().lock(), &mut last)?,
    }
    let end: Value = serde_json::from_str(&last).unwrap_or(Value::Null);
    if end["type"] != "end" {
        anyhow::bail!("{what}: the export was cut short (no end record); run it again");
    }
    let n = |k: &str| end[k].as_u64().unwrap_or(0);
    eprintln!(
        "exported tenant {tenant}: {}, {}, {}, {}{}",
        count(n("customers"), "customer", "customers"),
        count(n("interactions"), "interaction", "interactions"),
        count(n("pipelines"), "pipeline", "pipelines"),
        count(n("deals"), "deal", "deals"),
        output
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default(),
    );
    Ok(Exit::Ok)
}

/// `kith --server backup PATH`: the server's snapshot, written to a new local file.
pub(super) fn backup(remote: &Remote, path: &Path) -> anyhow::Result<Exit> {
    let dest: PathBuf = if path.is_dir() {
        path.join(DATA_FILE)
    } else {
        path.to_path_buf()
    };
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        anyhow::bail!(
            "cannot write the backup to {}: the directory {} does not exist (create it first)",
            dest.display(),
            parent.display()
        );
    }
    let mut r = remote.post_empty("backing up the server", "/v1/admin/backup")?;
    let expected = r
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let io = |source| crate::store::Error::Io {
        path: dest.display().to_string(),
        source,
    };
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(&dest)
        .map_err(io)?;
    let copied = std::io::copy(&mut r.body_mut().as_reader(), &mut file);
    let done = copied.and_then(|n| file.sync_all().map(|()| n));
    match done {
        Ok(n) if expected.is_none_or(|e| e == n) => {
            println!("backup written to {} ({})", dest.display(), bytes(n));
            println!("to restore: stop kith, then copy it to DATA_DIR/{DATA_FILE}");
            Ok(Exit::Ok)
        }
        other => {
            let _ = std::fs::remove_file(&dest);
            match other {
                Err(e) => anyhow::bail!("backing up the server: the answer broke off: {e}"),
                Ok(n) => anyhow::bail!(
                    "backing up the server: got {n} of {} bytes; nothing was kept",
                    expected.unwrap_or(0)
                ),
            }
        }
    }
}

/// `kith --server stats`.
pub(super) fn stats(remote: &Remote, json: bool) -> anyhow::Result<Exit> {
    let stats: crate::store::Stats =
        remote.get_json("reading the server's stats", "/v1/admin/stats")?;
    super::admin::print_stats(&stats, json, &format!("the server at {}", remote.base))
}

/// `kith --server customer get`: by id, or by the lookup `query` (email, phone or external id).
pub(super) fn customer_get(
    remote: &Remote,
    tenant: &str,
    id: Option<&str>,
    query: &[(&str, String)],
) -> anyhow::Result<Exit> {
    let base = format!("/v1/tenants/{}/customers", encode(tenant));
    let found: Value = if let Some(id) = id {
        remote.get_json("reading the customer", &format!("{base}/{}", encode(id)))?
    } else if query.is_empty() {
        anyhow::bail!("name the customer: an ID, --email, --phone or --external");
    } else {
        let q: Vec<String> = query.iter().map(|(k, v)| query_pair(k, v)).collect();
        let page: Value = remote.get_json(
            "finding the customer",
            &format!("{base}?{}&limit=1", q.join("&")),
        )?;
        match page["items"].get(0) {
            Some(c) => c.clone(),
            None => {
                let what: Vec<String> = query.iter().map(|(k, v)| format!("{k} {v}")).collect();
                anyhow::bail!("no customer with {} in tenant {tenant}", what.join(", "))
            }
        }
    };
    println!("{}", serde_json::to_string_pretty(&found)?);
    Ok(Exit::Ok)
}

/// `name=value`, encoded.
pub(super) fn query_pair(name: &str, value: &str) -> String {
    format!("{name}={}", encode(value))
}

/// `kith --server customer find`: one page as JSON Lines, the next cursor on stderr.
pub(super) fn customer_find(
    remote: &Remote,
    tenant: &str,
    query: &[(&str, String)],
) -> anyhow::Result<Exit> {
    let q: Vec<String> = query.iter().map(|(k, v)| query_pair(k, v)).collect();
    let page: Value = remote.get_json(
        "finding customers",
        &format!("/v1/tenants/{}/customers?{}", encode(tenant), q.join("&")),
    )?;
    let mut out = std::io::stdout().lock();
    for c in page["items"].as_array().into_iter().flatten() {
        serde_json::to_writer(&mut out, c)?;
        writeln!(out)?;
    }
    out.flush()?;
    if let Some(next) = page["next_cursor"].as_str() {
        eprintln!("next cursor: {next}");
    }
    Ok(Exit::Ok)
}

/// `kith --server import customers|interactions FILE`: uploads the file as an import job, waits
/// for it, and reports its rows as the local import does.
pub(super) fn import(
    remote: &Remote,
    tenant: &str,
    kind: &str,
    file: &Path,
    dry_run: bool,
    maps: &[String],
) -> anyhow::Result<Exit> {
    if maps.iter().any(|m| m.contains(',')) {
        anyhow::bail!("--map with --server: a column name may not contain a comma");
    }
    let input: Box<dyn Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(file).map_err(|source| crate::store::Error::Io {
            path: file.display().to_string(),
            source,
        })?)
    };
    let mut query = vec![format!("dry_run={dry_run}")];
    if !maps.is_empty() {
        query.push(query_pair("map", &maps.join(",")));
    }
    let path = format!(
        "/v1/tenants/{}/{kind}/import?{}",
        encode(tenant),
        query.join("&")
    );
    let what = format!("importing {}", file.display());
    let mut r = remote.post(&what, &path, "text/csv", input)?;
    let job: Value = serde_json::from_str(
        &r.body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_string()?,
    )?;
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    let job = loop {
        let job: Value = remote.get_json(
            &what,
            &format!(
                "/v1/tenants/{}/imports/{}?wait=60",
                encode(tenant),
                encode(&id)
            ),
        )?;
        if job["status"] != "running" {
            break job;
        }
    };
    for w in job["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
    for e in job["errors"].as_array().into_iter().flatten() {
        let line = e["line"].as_u64().unwrap_or(0);
        let reason = e["reason"].as_str().unwrap_or_default();
        match e["column"].as_str() {
            Some(c) => eprintln!("row {line}, column {c}: {reason}"),
            None => eprintln!("row {line}: {reason}"),
        }
    }
    let rejected = job["rejected"].as_u64().unwrap_or(0);
    let shown = job["errors"].as_array().map_or(0, Vec::len) as u64;
    if rejected > shown {
        eprintln!("... and more: the server keeps the first {shown} row errors");
    }
    if let Some(summary) = job["summary"].as_str() {
        println!("{summary}");
    }
    if let Some(hint) = job["hint"].as_str() {
        eprintln!("hint: {hint}");
    }
    if job["status"] == "failed" {
        anyhow::bail!(
            "{what}: {}",
            job["error"].as_str().unwrap_or("the import failed")
        );
    }
    Ok(if rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}
