//! A write transaction with an undo log, so one request's failure can be rolled back while the
//! other requests sharing the same commit keep their writes.

use redb::{ReadableTable, Table, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tables::{T, prefix_end};
use crate::{Error, Result};

struct Undo {
    table: T,
    key: Vec<u8>,
    old: Option<Vec<u8>>,
}

pub(crate) struct Tx<'txn> {
    tables: Vec<Table<'txn, &'static [u8], &'static [u8]>>,
    undo: Vec<Undo>,
    poisoned: bool,
}

impl<'txn> Tx<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        let tables = T::ALL
            .iter()
            .map(|t| txn.open_table(t.def()).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            tables,
            undo: Vec::new(),
            poisoned: false,
        })
    }

    fn table(&self, t: T) -> &Table<'txn, &'static [u8], &'static [u8]> {
        &self.tables[t as usize]
    }

    pub(crate) fn get(&self, t: T, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.table(t).get(key)?.map(|g| g.value().to_vec()))
    }

    pub(crate) fn get_as<V: DeserializeOwned>(&self, t: T, key: &[u8]) -> Result<Option<V>> {
        match self.table(t).get(key)? {
            Some(g) => decode(t, g.value()).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn put(&mut self, t: T, key: &[u8], value: &[u8]) -> Result<()> {
        let old = self.tables[t as usize]
            .insert(key, value)?
            .map(|g| g.value().to_vec());
        self.undo.push(Undo {
            table: t,
            key: key.to_vec(),
            old,
        });
        Ok(())
    }

    pub(crate) fn put_as<V: Serialize>(&mut self, t: T, key: &[u8], value: &V) -> Result<Vec<u8>> {
        let bytes = encode(value)?;
        self.put(t, key, &bytes)?;
        Ok(bytes)
    }

    pub(crate) fn del(&mut self, t: T, key: &[u8]) -> Result<()> {
        let old = self.tables[t as usize]
            .remove(key)?
            .map(|g| g.value().to_vec());
        if old.is_some() {
            self.undo.push(Undo {
                table: t,
                key: key.to_vec(),
                old,
            });
        }
        Ok(())
    }

    /// Keys and values of every entry whose key starts with `prefix`, in key order.
    pub(crate) fn scan(&self, t: T, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let table = self.table(t);
        let iter = match prefix_end(prefix) {
            Some(end) => table.range::<&[u8]>(prefix..end.as_slice())?,
            None => table.range::<&[u8]>(prefix..)?,
        };
        iter.map(|r| {
            let (k, v) = r?;
            Ok((k.value().to_vec(), v.value().to_vec()))
        })
        .collect()
    }

    /// A point to roll back to.
    pub(crate) fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undoes every write made since `mark`, newest first.
    pub(crate) fn rollback(&mut self, mark: usize) -> Result<()> {
        let r = self.undo_to(mark);
        self.poisoned |= r.is_err();
        r
    }

    /// Whether a rollback failed: the transaction must then be abandoned.
    pub(crate) fn poisoned(&self) -> bool {
        self.poisoned
    }

    fn undo_to(&mut self, mark: usize) -> Result<()> {
        while self.undo.len() > mark {
            let Some(u) = self.undo.pop() else { break };
            let table = &mut self.tables[u.table as usize];
            match u.old {
                Some(old) => drop(table.insert(u.key.as_slice(), old.as_slice())?),
                None => drop(table.remove(u.key.as_slice())?),
            }
        }
        Ok(())
    }

    /// Forgets the undo log (after a request succeeded).
    pub(crate) fn settle(&mut self) {
        self.undo.clear();
    }
}

pub(crate) fn encode<V: Serialize>(value: &V) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| Error::Storage(format!("encoding failed: {e}")))
}

pub(crate) fn decode<V: DeserializeOwned>(t: T, bytes: &[u8]) -> Result<V> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt {
        table: t.name(),
        detail: e.to_string(),
    })
}

macro_rules! storage_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::Storage(e.to_string())
            }
        }
    )*};
}

storage_errors!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);
