//! Test support (feature `testing`): a fresh PostgreSQL database per test.
//!
//! Tests that need PostgreSQL read the server from `KITH_TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Each [`TestDatabase`] creates its own database
//! there and drops it when dropped, so tests run in parallel without seeing each other.
//!
//! Crates whose tests use it set the `kith_pg` cfg from a build script when the variable is set,
//! and mark those tests `#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]`:
//! without a server they are reported as ignored, by name, never silently passed.

use crate::postgres::execute_on;

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
