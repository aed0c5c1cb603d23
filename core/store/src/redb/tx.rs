//! A write transaction with an undo log, so one request's failure can be rolled back while the
//! other requests sharing the same commit keep their writes.

use std::cell::OnceCell;
use std::collections::HashMap;

use redb::{ReadableTable, Table, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::tables::{T, prefix_end};
use crate::{Error, Result};

enum Undo {
    Entry {
        table: T,
        key: Vec<u8>,
        old: Option<Vec<u8>>,
    },
    /// A tenant's event head moved; `old` is the value before.
    Head { tenant: u32, old: u64 },
}

type RawTable<'txn> = Table<'txn, &'static [u8], &'static [u8]>;

pub(crate) struct Tx<'txn> {
    txn: &'txn WriteTransaction,
    /// Opened on first use: redb flushes the root of every table a write transaction opened when
    /// it commits, and a request touches a few of the tables.
    tables: Vec<OnceCell<RawTable<'txn>>>,
    undo: Vec<Undo>,
    poisoned: bool,
    /// Event heads touched in this transaction, written back once by [`Tx::flush_heads`] instead of
    /// a read and a write of the heads table for every event.
    heads: HashMap<u32, u64>,
}

impl<'txn> Tx<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(Self {
            txn,
            tables: T::ALL.iter().map(|_| OnceCell::new()).collect(),
            undo: Vec::new(),
            poisoned: false,
            heads: HashMap::new(),
        })
    }

    fn table(&self, t: T) -> Result<&RawTable<'txn>> {
        let cell = &self.tables[t as usize];
        if let Some(table) = cell.get() {
            return Ok(table);
        }
        let table = self.txn.open_table(t.def())?;
        Ok(cell.get_or_init(|| table))
    }

    fn table_mut(&mut self, t: T) -> Result<&mut RawTable<'txn>> {
        self.table(t)?;
        self.tables[t as usize]
            .get_mut()
            .ok_or_else(|| Error::Storage(format!("table {} did not open", t.name())))
    }

    pub(crate) fn get(&self, t: T, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.table(t)?.get(key)?.map(|g| g.value().to_vec()))
    }

    /// Whether `key` is in the table, without copying or decoding its value.
    pub(crate) fn contains(&self, t: T, key: &[u8]) -> Result<bool> {
        Ok(self.table(t)?.get(key)?.is_some())
    }

    pub(crate) fn get_interaction(&self, key: &[u8]) -> Result<Option<kith_model::Interaction>> {
        match self.table(T::Interactions)?.get(key)? {
            Some(g) => crate::records::decode_interaction(g.value()).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn get_as<V: DeserializeOwned>(&self, t: T, key: &[u8]) -> Result<Option<V>> {
        match self.table(t)?.get(key)? {
            Some(g) => decode(t, g.value()).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn put(&mut self, t: T, key: &[u8], value: &[u8]) -> Result<()> {
        let old = self
            .table_mut(t)?
            .insert(key, value)?
            .map(|g| g.value().to_vec());
        self.undo.push(Undo::Entry {
            table: t,
            key: key.to_vec(),
            old,
        });
        Ok(())
    }

    /// The tenant's latest event sequence number, as this transaction sees it.
    pub(crate) fn head(&self, tenant: u32) -> Result<u64> {
        Ok(match self.heads.get(&tenant) {
            Some(h) => *h,
            None => match self.table(T::Heads)?.get(tenant.to_be_bytes().as_slice())? {
                Some(g) => {
                    u64::from_be_bytes(g.value().try_into().map_err(|_| Error::Corrupt {
                        table: "heads",
                        detail: "bad sequence number".into(),
                    })?)
                }
                None => 0,
            },
        })
    }

    /// Allocates the tenant's next event sequence number.
    pub(crate) fn next_seq(&mut self, tenant: u32) -> Result<u64> {
        let head = self.head(tenant)?;
        self.undo.push(Undo::Head { tenant, old: head });
        self.heads.insert(tenant, head + 1);
        Ok(head + 1)
    }

    /// Writes the event heads touched by this transaction; call once before committing.
    pub(crate) fn flush_heads(&mut self) -> Result<()> {
        for (tenant, head) in std::mem::take(&mut self.heads) {
            self.table_mut(T::Heads)?.insert(
                tenant.to_be_bytes().as_slice(),
                head.to_be_bytes().as_slice(),
            )?;
        }
        Ok(())
    }

    pub(crate) fn put_as<V: Serialize>(&mut self, t: T, key: &[u8], value: &V) -> Result<Vec<u8>> {
        let bytes = encode(value)?;
        self.put(t, key, &bytes)?;
        Ok(bytes)
    }

    pub(crate) fn del(&mut self, t: T, key: &[u8]) -> Result<()> {
        let old = self.table_mut(t)?.remove(key)?.map(|g| g.value().to_vec());
        if old.is_some() {
            self.undo.push(Undo::Entry {
                table: t,
                key: key.to_vec(),
                old,
            });
        }
        Ok(())
    }

    /// Removes every entry whose key starts with `prefix`, without an undo record: only for work
    /// that cannot fail after it starts purging. A storage error poisons the transaction.
    pub(crate) fn purge_prefix(&mut self, t: T, prefix: &[u8]) -> Result<()> {
        let table = self.table_mut(t)?;
        let r = match prefix_end(prefix) {
            Some(end) => table.retain_in::<&[u8], _>(prefix..end.as_slice(), |_, _| false),
            None => table.retain_in::<&[u8], _>(prefix.., |_, _| false),
        };
        if r.is_err() {
            self.poisoned = true;
        }
        Ok(r?)
    }

    /// Drops a tenant's pending event head, so a deleted tenant's head is not written back.
    pub(crate) fn forget_head(&mut self, tenant: u32) {
        self.heads.remove(&tenant);
    }

    /// Keys and values of every entry whose key starts with `prefix`, in key order.
    /// The first `limit` keys under `prefix`.
    pub(crate) fn scan_keys(&self, t: T, prefix: &[u8], limit: usize) -> Result<Vec<Vec<u8>>> {
        let table = self.table(t)?;
        let iter = match prefix_end(prefix) {
            Some(end) => table.range::<&[u8]>(prefix..end.as_slice())?,
            None => table.range::<&[u8]>(prefix..)?,
        };
        iter.take(limit)
            .map(|r| Ok(r?.0.value().to_vec()))
            .collect()
    }

    pub(crate) fn scan(&self, t: T, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let table = self.table(t)?;
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
            match self.undo.pop() {
                Some(Undo::Entry { table, key, old }) => {
                    let table = self.table_mut(table)?;
                    match old {
                        Some(old) => drop(table.insert(key.as_slice(), old.as_slice())?),
                        None => drop(table.remove(key.as_slice())?),
                    }
                }
                Some(Undo::Head { tenant, old }) => {
                    self.heads.insert(tenant, old);
                }
                None => break,
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
