//! One test body, both backends: each test written as `fn name(kind: Kind)` is listed in
//! [`on_both_backends!`], which makes `on_redb::name` and `on_postgres::name` tests of it. The
//! PostgreSQL ones get a fresh database each and are reported as ignored, by name, when
//! `KITH_TEST_DATABASE_URL` is not set.

use std::sync::Arc;

use kith_store::testing::TestDatabase;
use kith_store::{Clock, PgConfig, PgStore, PluginStore, RedbStore, Store, StoreConfig};

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Redb,
    Postgres,
}

/// Where one test keeps its data: a directory or a database, alive as long as this is.
pub struct Fixture {
    kind: Kind,
    dir: tempfile::TempDir,
    db: Option<TestDatabase>,
    clock: Option<Arc<dyn Clock>>,
}

impl Fixture {
    pub fn new(kind: Kind) -> Fixture {
        Fixture {
            kind,
            dir: tempfile::tempdir().unwrap(),
            db: (kind == Kind::Postgres).then(TestDatabase::create),
            clock: None,
        }
    }

    pub fn with_clock(kind: Kind, clock: Arc<dyn Clock>) -> Fixture {
        Fixture {
            clock: Some(clock),
            ..Fixture::new(kind)
        }
    }

    #[allow(dead_code)]
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The test database of a PostgreSQL fixture.
    #[allow(dead_code)]
    pub fn db(&self) -> Option<&TestDatabase> {
        self.db.as_ref()
    }

    /// The data directory of a redb fixture.
    #[allow(dead_code)]
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Opens (or reopens) the store.
    pub fn open(&self) -> Arc<dyn Store> {
        self.open_plugins()
    }

    /// Opens (or reopens) the store, with its plugin side.
    pub fn open_plugins(&self) -> Arc<dyn PluginStore> {
        match self.kind {
            Kind::Redb => {
                let mut config = StoreConfig::default();
                if let Some(clock) = &self.clock {
                    config.clock = clock.clone();
                }
                Arc::new(RedbStore::open(self.dir.path(), config).unwrap())
            }
            Kind::Postgres => {
                let db = self.db.as_ref().unwrap();
                let mut config = PgConfig::new(db.url());
                config.pool_size = 8;
                if let Some(clock) = &self.clock {
                    config.clock = clock.clone();
                }
                Arc::new(PgStore::open(config).unwrap())
            }
        }
    }
}

/// Makes a `redb` and a `postgres` test of each listed `fn(Kind)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_redb {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Kind::Redb)
                }
            )*
        }
        mod on_postgres {
            $(
                #[test]
                #[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
                fn $name() {
                    super::$name(super::Kind::Postgres)
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// Adds a user named `name` to `tenant` and returns their id as owner fields hold it.
pub fn user(store: &dyn Store, tenant: &kith_model::TenantSlug, name: &str) -> String {
    let input = kith_model::UserInput {
        name: name.into(),
        ..Default::default()
    };
    match store
        .write(
            tenant,
            &kith_model::Actor::new("test"),
            vec![kith_store::Op::CreateUser(input)],
        )
        .unwrap()
        .pop()
    {
        Some(kith_store::Output::User(u)) => u.id.to_string(),
        other => panic!("no user: {other:?}"),
    }
}
