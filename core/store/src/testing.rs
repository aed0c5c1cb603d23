//! Test support (feature `testing`): a fresh PostgreSQL database per test.
//!
//! Tests that need PostgreSQL read the server from `KITH_TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Each [`TestDatabase`] creates its own database
//! there and drops it when dropped, so tests run in parallel without seeing each other.
//!
//! Crates whose tests use it set the `kith_pg` cfg from a build script when the variable is set,
//! and mark those tests `#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]`:
//! without a server they are reported as ignored, by name, never silently passed.

use crate::postgres::{execute_on, scalar_on};

/// The variable naming the PostgreSQL server tests may create databases on.
pub const DATABASE_URL_VAR: &str = "KITH_TEST_DATABASE_URL";

/// A database created for one test, dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the server `KITH_TEST_DATABASE_URL` names.
    ///
    /// # Panics
    /// When the variable is unset or the server refuses: a test that asked for PostgreSQL must
    /// not pass without it.
    pub fn create() -> TestDatabase {
        let admin_url = std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| {
            panic!("{DATABASE_URL_VAR} is not set: this test needs a PostgreSQL server")
        });
        let name = format!("kith_test_{}", uuid::Uuid::now_v7().simple());
        execute_on(&admin_url, &format!("CREATE DATABASE {name}")).unwrap_or_else(|e| {
            panic!("cannot create database {name} on {DATABASE_URL_VAR} ({admin_url}): {e}")
        });
        let url = with_database(&admin_url, &name);
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL text on the database.
    ///
    /// # Panics
    /// When it fails.
    pub fn execute(&self, sql: &str) {
        execute_on(&self.url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The number `sql` selects (first column of the first row).
    ///
    /// # Panics
    /// When it fails.
    pub fn scalar(&self, sql: &str) -> i64 {
        scalar_on(&self.url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = execute_on(&self.admin_url, &sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// `url` with its database replaced by `name`. Takes a `postgres://` URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_keeping_host_and_options() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}

/// A TCP proxy in front of the database that a test can cut and restore, to see what the store
/// does when PostgreSQL goes away under it (without stopping a server other tests share).
#[derive(Debug)]
pub struct Proxy {
    addr: std::net::SocketAddr,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Debug, Default)]
struct ProxyState {
    cut: std::sync::atomic::AtomicBool,
    open: std::sync::Mutex<Vec<std::net::TcpStream>>,
}

impl Proxy {
    /// Starts forwarding a local port to `target` (host:port).
    ///
    /// # Panics
    /// When no local port can be bound.
    pub fn start(target: &str) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        let state = std::sync::Arc::new(ProxyState::default());
        let target = target.to_owned();
        let shared = std::sync::Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if shared.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let pipes = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                if let Ok(mut open) = shared.open.lock() {
                    open.extend(client.try_clone());
                    open.extend(server.try_clone());
                }
                for (from, to) in pipes {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            }
        });
        Proxy { addr, state }
    }

    /// The host:port a `postgres://` URL names (default port 5432).
    pub fn target_of(url: &str) -> String {
        let scheme_end = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[scheme_end..];
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        }
    }

    /// The proxy's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// `url` (a `postgres://` URL) pointed at the proxy instead of its host and port.
    pub fn url_for(&self, url: &str) -> String {
        let scheme_end = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
        format!(
            "{}{}{}{}",
            &url[..scheme_end],
            user.unwrap_or_default(),
            self.addr,
            &rest[authority_end..]
        )
    }

    /// Breaks every open connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.state.cut.store(true, Ordering::SeqCst);
        if let Ok(mut open) = self.state.open.lock() {
            for s in open.drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state
            .cut
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}
