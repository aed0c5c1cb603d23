//! `kith import interactions`: rows to [`InteractionInput`]s for customers found by id, email or
//! external id.

use std::collections::HashMap;

use super::columns::{Columns, shown};
use super::interaction_fields::{CUSTOMER_COLUMNS, InteractionField};
use super::report::{Report, RowError};
use super::source::Row;
use super::writer::{Meta, Writer, Written};
use super::{Importer, RowResult, field_errors};
use crate::model::{
    AttributeValue, Channel, Currency, CustomerId, Direction, Email, Interaction, InteractionId,
    InteractionInput, InteractionKind, Money, TaskStatus, TenantSlug, Timestamp, ValidationError,
};
use crate::service::count;
use crate::store::Error;
use crate::store::{Op, Output, Store};

/// A row that passed validation, waiting for the next batch.
#[derive(Debug)]
struct Pending {
    line: u64,
    input: InteractionInput,
    /// The column that named the customer.
    customer_column: usize,
}

/// The state of one interactions import.
#[derive(Debug)]
pub(super) struct InteractionImport {
    columns: Columns<InteractionField>,
    tenant: TenantSlug,
    dry_run: bool,
    now: Timestamp,
    /// Customers by reference (`id:`, `email:`, `external:`), or why none was found.
    customers: HashMap<String, Result<CustomerId, String>>,
    /// Source and external id of every accepted row, with its line.
    seen: HashMap<(String, String), u64>,
    pending: Vec<Pending>,
    imported: u64,
    present: u64,
}

impl InteractionImport {
    pub(super) fn new(
        columns: Columns<InteractionField>,
        tenant: TenantSlug,
        dry_run: bool,
    ) -> Self {
        Self {
            columns,
            tenant,
            dry_run,
            now: Timestamp::now(),
            customers: HashMap::new(),
            seen: HashMap::new(),
            pending: Vec::new(),
            imported: 0,
            present: 0,
        }
    }

    /// The customer the row names, and the column that named it.
    fn customer(
        &mut self,
        store: &dyn Store,
        row: &Row<'_>,
    ) -> anyhow::Result<Result<(CustomerId, usize), RowError>> {
        let named = CUSTOMER_COLUMNS.iter().find_map(|f| {
            let i = self.columns.find(|g| g == f)?;
            row.get(i).map(|v| (f, i, v))
        });
        let Some((field, column, value)) = named else {
            let names = CUSTOMER_COLUMNS
                .iter()
                .filter_map(|f| self.columns.find(|g| g == f))
                .map(|i| self.columns.header(i))
                .collect::<Vec<_>>()
                .join(" or ");
            return Ok(Err(RowError::at(
                names,
                "empty: the row must name its customer",
            )));
        };
        let header = self.columns.header(column).to_owned();
        let key = match field {
            InteractionField::CustomerId => match CustomerId::parse("customer_id", value) {
                Ok(id) => format!("id:{id}"),
                Err(e) => return Ok(Err(first(field_errors(&header, value, e)))),
            },
            InteractionField::CustomerEmail => match Email::parse("customer_email", value) {
                Ok(e) => format!("email:{e}"),
                Err(e) => return Ok(Err(first(field_errors(&header, value, e)))),
            },
            _ => match value.split_once(':') {
                Some((s, x)) if !s.trim().is_empty() && !x.trim().is_empty() => {
                    format!("external:{}:{}", s.trim(), x.trim())
                }
                _ => {
                    return Ok(Err(RowError::at(
                        header,
                        format!(
                            "expected SOURCE:ID such as shopify:1234, got {}",
                            shown(value)
                        ),
                    )));
                }
            },
        };
        if !self.customers.contains_key(&key) {
            let found = lookup(store, &self.tenant, &key)?;
            self.customers.insert(key.clone(), found);
        }
        Ok(match self.customers.get(&key) {
            Some(Ok(id)) => Ok((*id, column)),
            Some(Err(why)) => Err(RowError::at(header, why.clone())),
            None => Err(RowError::at(header, "no such customer")),
        })
    }

    /// Reads the row's other cells into an input for `customer`; errors name the column.
    fn input(
        &self,
        row: &Row<'_>,
        customer: CustomerId,
    ) -> Result<InteractionInput, Vec<RowError>> {
        use InteractionField as F;
        let mut input = InteractionInput::new(customer, Channel::Other, InteractionKind::Note);
        let mut errors = Vec::new();
        let currency = self
            .columns
            .find(|f| *f == F::Currency)
            .and_then(|i| row.get(i));
        for (i, field) in self.columns.mapped() {
            let Some(v) = row.get(i) else { continue };
            let column = self.columns.header(i);
            let mut bad = |e: ValidationError| errors.extend(field_errors(column, v, e));
            let text = Some(v.to_owned());
            match field {
                F::CustomerId | F::CustomerEmail | F::CustomerExternal | F::Currency => {}
                F::Channel => match Channel::parse("channel", v) {
                    Ok(c) => input.channel = c,
                    Err(e) => bad(e),
                },
                F::Kind => match InteractionKind::parse("kind", v) {
                    Ok(k) => input.kind = k,
                    Err(e) => bad(e),
                },
                F::Direction => match Direction::parse("direction", v) {
                    Ok(d) => input.direction = Some(d),
                    Err(e) => bad(e),
                },
                F::OccurredAt => match Timestamp::parse("occurred_at", v) {
                    Ok(t) => input.occurred_at = Some(t),
                    Err(e) => bad(e),
                },
                F::DueAt => match Timestamp::parse("due_at", v) {
                    Ok(t) => input.due_at = Some(t),
                    Err(e) => bad(e),
                },
                F::Status => match TaskStatus::parse("status", v) {
                    Ok(s) => input.status = Some(s),
                    Err(e) => bad(e),
                },
                F::Rating => match v.parse::<u8>() {
                    Ok(r) => input.rating = Some(r),
                    Err(_) => bad(ValidationError::field("rating", "a rating from 0 to 10")),
                },
                F::Amount => match amount(v, currency) {
                    Ok(m) => input.amount = Some(m),
                    Err(e) => bad(e),
                },
                F::Subject => input.subject = text,
                F::Body => input.body = text,
                F::Source => input.source = text,
                F::ExternalId => input.external_id = text,
                F::Attribute(k) => {
                    input
                        .attributes
                        .insert(k.clone(), AttributeValue::Text(v.to_owned()));
                }
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(errors)
        }
    }

    /// The column a model field path came from.
    fn column_of(&self, field: &str, customer_column: usize) -> String {
        self.column_index(field, customer_column)
            .map_or_else(|| field.to_owned(), |i| self.columns.header(i).to_owned())
    }

    fn column_index(&self, field: &str, customer_column: usize) -> Option<usize> {
        if let Some(key) = field.strip_prefix("attributes.") {
            self.columns
                .find(|f| *f == InteractionField::Attribute(key.to_owned()))
        } else if field == "customer" {
            Some(customer_column)
        } else {
            self.columns.find(|f| f.to_string() == field)
        }
    }

    fn validation_errors(
        &self,
        e: &ValidationError,
        customer_column: usize,
        row: Option<&Row<'_>>,
    ) -> Vec<RowError> {
        e.errors
            .iter()
            .map(|fe| {
                let got = self
                    .column_index(&fe.field, customer_column)
                    .and_then(|i| row.and_then(|r| r.get(i)))
                    .map(|v| format!(", got {}", shown(v)))
                    .unwrap_or_default();
                RowError::at(
                    self.column_of(&fe.field, customer_column),
                    format!("expected {}{got}", fe.expected),
                )
            })
            .collect()
    }

    fn store_error(&self, e: &Error, customer_column: usize) -> Vec<RowError> {
        match e {
            Error::Invalid(v) => self.validation_errors(v, customer_column, None),
            Error::Duplicate { field, .. } => {
                vec![RowError::at(
                    self.column_of(field, customer_column),
                    e.to_string(),
                )]
            }
            Error::NotFound { .. } => {
                vec![RowError::at(
                    self.columns.header(customer_column),
                    e.to_string(),
                )]
            }
            _ => vec![RowError::row(e.to_string())],
        }
    }
}

impl Importer for InteractionImport {
    fn add(&mut self, store: &dyn Store, line: u64, row: &Row<'_>) -> anyhow::Result<RowResult> {
        let (customer, customer_column) = match self.customer(store, row)? {
            Ok(found) => found,
            Err(e) => return Ok(Err(vec![e])),
        };
        let input = match self.input(row, customer) {
            Ok(i) => i,
            Err(errors) => return Ok(Err(errors)),
        };
        // The store assigns the real id; validation does not look at it.
        let probe = InteractionId::from_bytes([0; 16]);
        let checked = match Interaction::new(probe, input.clone(), self.now) {
            Ok(i) => i,
            Err(e) => return Ok(Err(self.validation_errors(&e, customer_column, Some(row)))),
        };
        if let Some((source, id)) = checked.idempotency_key() {
            let key = (source.to_owned(), id.to_owned());
            if let Some(first) = self.seen.get(&key) {
                let column = self.column_of("external_id", customer_column);
                return Ok(Err(vec![RowError::at(
                    column,
                    format!("duplicate of row {first} (external id {id})"),
                )]));
            }
            self.seen.insert(key, line);
        }
        self.pending.push(Pending {
            line,
            input,
            customer_column,
        });
        Ok(Ok(()))
    }

    fn pending(&self) -> usize {
        self.pending.len()
    }

    fn flush(
        &mut self,
        _store: &dyn Store,
        writer: &mut Writer,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let rows = std::mem::take(&mut self.pending);
        if self.dry_run {
            self.imported += rows.len() as u64;
            return Ok(());
        }
        let (meta, ops): (Vec<Meta>, Vec<Op>) = rows
            .into_iter()
            .map(|p| {
                (
                    (p.line, vec![p.customer_column]),
                    Op::LogInteraction(p.input),
                )
            })
            .unzip();
        if let Some(written) = writer.submit(meta, ops)? {
            self.absorb(written, report);
        }
        Ok(())
    }

    fn absorb(&mut self, written: Written, report: &mut Report) {
        for ((line, columns), r) in written {
            match r {
                Ok(Output::Interaction { created: false, .. }) => self.present += 1,
                Ok(_) => self.imported += 1,
                Err(e) => {
                    let column = columns.first().copied().unwrap_or(0);
                    report.reject(line, &self.store_error(&e, column));
                }
            }
        }
    }

    fn summary(&self, rejected: u64) -> String {
        let present = if self.present > 0 {
            format!(" ({} already present)", thousands_of(self.present))
        } else {
            String::new()
        };
        let rejected = count(rejected, "row", "rows");
        let interactions = count(self.imported, "interaction", "interactions");
        if self.dry_run {
            format!(
                "dry run: {interactions} would be imported; {rejected} rejected; nothing was written"
            )
        } else {
            format!("imported {interactions}{present}; {rejected} rejected")
        }
    }
}

fn thousands_of(n: u64) -> String {
    crate::service::thousands(n)
}

fn first(mut errors: Vec<RowError>) -> RowError {
    errors.swap_remove(0)
}

/// Finds the customer a reference key names.
fn lookup(
    store: &dyn Store,
    tenant: &TenantSlug,
    key: &str,
) -> crate::Result<Result<CustomerId, String>> {
    let found = if let Some(id) = key.strip_prefix("id:") {
        let id = CustomerId::parse("customer_id", id)?;
        store.customer(tenant, id)?
    } else if let Some(email) = key.strip_prefix("email:") {
        store.customer_by_email(tenant, &Email::parse("customer_email", email)?)?
    } else {
        let rest = key.strip_prefix("external:").unwrap_or(key);
        let (source, id) = rest.split_once(':').unwrap_or((rest, ""));
        store.customer_by_external_id(tenant, source, id)?
    };
    let what = key
        .replacen(':', " ", 1)
        .replacen("external ", "external id ", 1);
    Ok(found
        .map(|c| c.id)
        .ok_or_else(|| format!("no customer with {what} in tenant {tenant}")))
}

/// An amount as `12.50` (with a currency column) or `12.50 EUR`.
fn amount(value: &str, currency_column: Option<&str>) -> Result<Money, ValidationError> {
    let (number, code) = match value.rsplit_once(' ') {
        Some((n, c)) if c.len() == 3 && c.chars().all(|c| c.is_ascii_alphabetic()) => (n, Some(c)),
        _ => (value, None),
    };
    let Some(code) = code.or(currency_column) else {
        return Err(ValidationError::field(
            "amount",
            "a currency: add a currency column or write the amount as 12.50 EUR",
        ));
    };
    let currency = Currency::parse("currency", code)?;
    Money::parse_decimal("amount", number, currency)
}
