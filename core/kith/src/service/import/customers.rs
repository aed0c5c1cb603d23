//! `kith import customers`: rows to [`CustomerInput`]s, duplicates, and organizations by name.

use std::borrow::Cow;
use std::collections::HashMap;

use super::columns::{Columns, shown};
use super::customer_fields::CustomerField;
use super::report::{Report, RowError};
use super::source::Row;
use super::writer::{Meta, Writer, Written};
use super::{Importer, RowResult, field_errors};
use crate::model::{
    Actor, AttributeValue, ConsentInput, ConsentSource, ConsentStatus, Currency, Customer,
    CustomerId, CustomerInput, CustomerKind, Date, ExternalId, FieldDefinition, FieldType,
    LifecycleStage, Money, TenantSlug, Timestamp, ValidationError, check_fields,
};
use crate::service::count;
use crate::store::Error;
use crate::store::{CustomerFilter, Op, Output, PageRequest, Store};

/// An organization named in a company column.
#[derive(Debug, Clone)]
enum Org {
    Known(CustomerId),
    WouldCreate,
    Failed(String),
}

/// A row that passed validation, waiting for the next batch.
#[derive(Debug)]
struct Pending {
    line: u64,
    input: CustomerInput,
    company: Option<String>,
    external_columns: Vec<usize>,
}

/// The state of one customers import.
#[derive(Debug)]
pub(super) struct CustomerImport {
    columns: Columns<CustomerField>,
    tenant: TenantSlug,
    actor: Actor,
    dry_run: bool,
    now: Timestamp,
    /// Email, phone and external id of every accepted row, with its line.
    seen: HashMap<String, u64>,
    pending: Vec<Pending>,
    /// Organizations by lowercased name.
    orgs: HashMap<String, Org>,
    /// Owners by user id, email and lowercased name (loaded at the first owner cell); `None`
    /// for a name a dry run would create a user for.
    owners: Option<HashMap<String, Option<String>>>,
    imported: u64,
    new_orgs: u64,
    new_users: u64,
    /// The customers' custom field definitions: `attr.` cells are read as their type, and a
    /// dry run checks them as a write would.
    definitions: Vec<FieldDefinition>,
}

impl CustomerImport {
    pub(super) fn new(
        columns: Columns<CustomerField>,
        tenant: TenantSlug,
        actor: Actor,
        dry_run: bool,
        definitions: Vec<FieldDefinition>,
    ) -> Self {
        Self {
            columns,
            tenant,
            actor,
            dry_run,
            definitions,
            now: Timestamp::now(),
            seen: HashMap::new(),
            pending: Vec::new(),
            orgs: HashMap::new(),
            owners: None,
            imported: 0,
            new_orgs: 0,
            new_users: 0,
        }
    }

    /// Reads the row's cells into an input; errors name the column.
    fn input(&self, row: &Row<'_>) -> Result<Pending, Vec<RowError>> {
        use CustomerField as F;
        let mut input = CustomerInput {
            consent_source: ConsentSource::Import,
            ..CustomerInput::default()
        };
        let mut company = None;
        let mut external_columns = Vec::new();
        let mut errors = Vec::new();
        for (i, field) in self.columns.mapped() {
            let Some(v) = row.get(i) else { continue };
            let column = self.columns.header(i);
            let mut bad = |e: ValidationError| errors.extend(field_errors(column, v, e));
            let text = Some(v.to_owned());
            match field {
                F::Kind => match v.to_lowercase().as_str() {
                    "person" | "individual" | "contact" => input.kind = CustomerKind::Person,
                    "organization" | "organisation" | "org" | "company" => {
                        input.kind = CustomerKind::Organization;
                    }
                    _ => bad(ValidationError::field("kind", "person or organization")),
                },
                F::Name => input.name = text,
                F::FirstName => input.first_name = text,
                F::LastName => input.last_name = text,
                F::Email => input.email = text,
                F::Phone => input.phone = text,
                F::Country => input.country = text,
                F::Region => input.region = text,
                F::City => input.city = text,
                F::Gender => input.gender = text,
                F::Owner => input.owner = text,
                F::BirthDate => match Date::parse("birth_date", v) {
                    Ok(d) => input.birth_date = Some(d),
                    Err(e) => bad(e),
                },
                F::Lifecycle => match LifecycleStage::parse("lifecycle", v) {
                    Ok(l) => input.lifecycle = Some(l),
                    Err(e) => bad(e),
                },
                F::Tags => {
                    input.tags = v
                        .split([';', '|'])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                F::MarketingConsent => match super::boolean(v) {
                    Some(b) => input.marketing_consent = b,
                    None => bad(ValidationError::field(
                        "marketing_consent",
                        "yes or no (also true/false, 1/0)",
                    )),
                },
                F::Company => company = text,
                F::OrganizationId => match CustomerId::parse("organization_id", v) {
                    Ok(id) => input.organization = Some(id),
                    Err(e) => bad(e),
                },
                F::ExternalId => {
                    let source = self
                        .columns
                        .find(|f| *f == F::ExternalSource)
                        .and_then(|s| row.get(s));
                    match source {
                        Some(source) => {
                            external_columns.push(i);
                            input.external_ids.push(ExternalId {
                                source: source.to_owned(),
                                id: v.to_owned(),
                            });
                        }
                        None => errors.push(RowError::at(
                            column,
                            "the row has an external_id but no external_source",
                        )),
                    }
                }
                F::ExternalSource => {}
                F::External(source) => {
                    external_columns.push(i);
                    input.external_ids.push(ExternalId {
                        source: source.clone(),
                        id: v.to_owned(),
                    });
                }
                F::Consent(channel, purpose) => match super::boolean(v) {
                    Some(granted) => input.consents.push(ConsentInput {
                        channel: *channel,
                        purpose: purpose.clone(),
                        status: if granted {
                            ConsentStatus::Granted
                        } else {
                            ConsentStatus::Withdrawn
                        },
                        source: None,
                        at: None,
                        note: None,
                    }),
                    None => bad(ValidationError::field(
                        "consent",
                        "yes or no (also true/false, 1/0), or empty to leave it",
                    )),
                },
                F::Attribute(k) => {
                    let def = self.definitions.iter().find(|d| &d.key == k);
                    match cell_value(def, &format!("attributes.{k}"), v) {
                        Ok(value) => {
                            input.attributes.insert(k.clone(), value);
                        }
                        Err(e) => bad(e),
                    }
                }
            }
        }
        if errors.is_empty()
            && let Err(e) = check_fields(&self.definitions, &input.attributes)
        {
            for fe in e.errors {
                let key = fe.field.strip_prefix("attributes.").unwrap_or(&fe.field);
                errors.push(RowError::at(
                    format!("attr.{key}"),
                    format!("expected {}", fe.expected),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Pending {
                line: 0,
                input,
                company,
                external_columns,
            })
        } else {
            Err(errors)
        }
    }

    /// The column a model field path (`email`, `tags[2]`, `external_ids[0].id`) came from.
    fn column_of(&self, field: &str, external_columns: &[usize]) -> String {
        match self.column_index(field, external_columns) {
            Some(i) => self.columns.header(i).to_owned(),
            None => field.split(['[', '.']).next().unwrap_or(field).to_owned(),
        }
    }

    /// The index of the column a model field path came from.
    fn column_index(&self, field: &str, external_columns: &[usize]) -> Option<usize> {
        use CustomerField as F;
        let base = field.split(['[', '.']).next().unwrap_or(field);
        match base {
            "attributes" => {
                let key = field.strip_prefix("attributes.").unwrap_or("");
                self.columns.find(|f| *f == F::Attribute(key.to_owned()))
            }
            "external_ids" | "external_id" => field
                .strip_prefix("external_ids[")
                .and_then(|r| r.split(']').next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| external_columns.get(n).copied())
                .or_else(|| external_columns.first().copied()),
            "organization" => self
                .columns
                .find(|f| *f == F::Company || *f == F::OrganizationId),
            "name" => self.columns.find(|f| *f == F::Name).or_else(|| {
                self.columns
                    .find(|f| *f == F::FirstName || *f == F::LastName)
            }),
            _ => self.columns.find(|f| f.to_string() == base),
        }
    }

    /// The row's errors from a model validation error.
    fn validation_errors(
        &self,
        e: &ValidationError,
        pending: &Pending,
        row: &Row<'_>,
    ) -> Vec<RowError> {
        e.errors
            .iter()
            .map(|fe| {
                let column = self.column_index(&fe.field, &pending.external_columns);
                let got = column
                    .and_then(|i| row.get(i))
                    .map(|v| format!(", got {}", shown(v)))
                    .unwrap_or_default();
                RowError::at(
                    self.column_of(&fe.field, &pending.external_columns),
                    format!("expected {}{got}", fe.expected),
                )
            })
            .collect()
    }

    /// A row's error from a store error.
    fn store_error(&self, e: &Error, pending_columns: &[usize]) -> Vec<RowError> {
        match e {
            Error::Invalid(v) => v
                .errors
                .iter()
                .map(|fe| {
                    RowError::at(
                        self.column_of(&fe.field, pending_columns),
                        format!("expected {}", fe.expected),
                    )
                })
                .collect(),
            Error::Duplicate { field, .. } => {
                vec![RowError::at(
                    self.column_of(field, pending_columns),
                    e.to_string(),
                )]
            }
            Error::NotFound { .. } => {
                vec![RowError::at(
                    self.column_of("organization", pending_columns),
                    e.to_string(),
                )]
            }
            _ => vec![RowError::row(e.to_string())],
        }
    }

    /// The values of a validated customer that must be unique, as `label\0value`, with the model
    /// field each comes from.
    fn unique_keys(c: &Customer) -> Vec<(String, Cow<'static, str>)> {
        let mut keys = Vec::with_capacity(2 + c.external_ids.len());
        if let Some(e) = &c.email {
            keys.push((format!("email\0{e}"), Cow::Borrowed("email")));
        }
        if let Some(p) = &c.phone {
            keys.push((format!("phone\0{p}"), Cow::Borrowed("phone")));
        }
        for (i, x) in c.external_ids.iter().enumerate() {
            let key = format!("external id\0{}:{}", x.source, x.id);
            keys.push((key, Cow::Owned(format!("external_ids[{i}]"))));
        }
        keys
    }

    /// In a dry run, the errors the store would report for values that already belong to someone.
    fn stored_duplicates(
        &self,
        store: &dyn Store,
        c: &Customer,
        p: &Pending,
    ) -> crate::Result<Vec<RowError>> {
        let t = &self.tenant;
        let mut found = Vec::new();
        if let Some(e) = &c.email
            && let Some(h) = store.customer_by_email(t, e)?
        {
            found.push(("email", e.to_string(), h.id));
        }
        if let Some(ph) = &c.phone
            && let Some(h) = store.customer_by_phone(t, ph)?
        {
            found.push(("phone", ph.to_string(), h.id));
        }
        for x in &c.external_ids {
            if let Some(h) = store.customer_by_external_id(t, &x.source, &x.id)? {
                found.push(("external_id", format!("{}:{}", x.source, x.id), h.id));
            }
        }
        if let Some(org) = c.organization.filter(|_| p.company.is_none()) {
            match store.customer(t, org)? {
                Some(o) if o.kind == CustomerKind::Organization => {}
                Some(_) => {
                    return Ok(vec![RowError::at(
                        self.column_of("organization", &[]),
                        format!("customer {org} is not an organization"),
                    )]);
                }
                None => {
                    return Ok(self.store_error(&Error::not_found("customer", org), &[]));
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|(field, value, holder)| {
                let e = Error::Duplicate {
                    field,
                    value,
                    existing: format!("customer {holder}"),
                };
                RowError::at(self.column_of(field, &p.external_columns), e.to_string())
            })
            .collect())
    }

    /// Finds or (unless dry) creates the organizations the batch names in its company column.
    fn resolve_companies(&mut self, store: &dyn Store) -> anyhow::Result<()> {
        let mut missing: Vec<String> = Vec::new();
        for p in &self.pending {
            let Some(name) = &p.company else { continue };
            let key = name.to_lowercase();
            if self.orgs.contains_key(&key) || missing.iter().any(|m| m.to_lowercase() == key) {
                continue;
            }
            match find_organization(store, &self.tenant, name)? {
                Some(id) => {
                    self.orgs.insert(key, Org::Known(id));
                }
                None => missing.push(name.clone()),
            }
        }
        if self.dry_run {
            for name in missing {
                self.new_orgs += 1;
                self.orgs.insert(name.to_lowercase(), Org::WouldCreate);
            }
            return Ok(());
        }
        let ops = missing
            .iter()
            .map(|name| {
                Op::CreateCustomer(CustomerInput {
                    kind: CustomerKind::Organization,
                    name: Some(name.clone()),
                    ..CustomerInput::default()
                })
            })
            .collect();
        let results = store.write_each(&self.tenant, &self.actor, ops)?;
        for (name, r) in missing.into_iter().zip(results) {
            let org = match r {
                Ok(Output::Customer(c)) => {
                    self.new_orgs += 1;
                    Org::Known(c.id)
                }
                Ok(_) => Org::Failed(format!("cannot create organization {}", shown(&name))),
                Err(e) => Org::Failed(format!("cannot create organization {}: {e}", shown(&name))),
            };
            self.orgs.insert(name.to_lowercase(), org);
        }
        Ok(())
    }

    /// The user an owner cell names: by id, email or name (ignoring case); a name no user has
    /// becomes a new user (role member), as the upgrade does for free-text owners.
    fn resolve_owner(&mut self, store: &dyn Store, text: &str) -> anyhow::Result<Option<String>> {
        let owners = match &mut self.owners {
            Some(o) => o,
            None => {
                let mut all = HashMap::new();
                let mut page = PageRequest::first(1000);
                loop {
                    let got = store.users(&self.tenant, &page)?;
                    for u in got.items {
                        let id = u.id.to_string();
                        if let Some(e) = &u.email {
                            all.insert(e.as_str().to_owned(), Some(id.clone()));
                        }
                        all.entry(u.name.to_lowercase()).or_insert(Some(id.clone()));
                        all.insert(id.clone(), Some(id));
                    }
                    match got.next {
                        Some(c) => page = PageRequest::after(1000, c),
                        None => break,
                    }
                }
                self.owners.insert(all)
            }
        };
        let key = text.trim().to_lowercase();
        if let Some(found) = owners.get(&key) {
            return Ok(found.clone());
        }
        if self.dry_run {
            self.new_users += 1;
            owners.insert(key, None);
            return Ok(None);
        }
        let input = crate::model::UserInput {
            name: text.trim().to_owned(),
            ..crate::model::UserInput::default()
        };
        match store
            .write(&self.tenant, &self.actor, vec![Op::CreateUser(input)])?
            .pop()
        {
            Some(Output::User(u)) => {
                self.new_users += 1;
                let id = u.id.to_string();
                owners.insert(key, Some(id.clone()));
                Ok(Some(id))
            }
            other => anyhow::bail!("creating the owner {text:?} returned {other:?}"),
        }
    }

    /// Points every pending row's owner at a user.
    fn resolve_owners(&mut self, store: &dyn Store) -> anyhow::Result<()> {
        let mut pending = std::mem::take(&mut self.pending);
        for p in &mut pending {
            if let Some(text) = p.input.owner.take() {
                p.input.owner = self.resolve_owner(store, &text)?;
            }
        }
        self.pending = pending;
        Ok(())
    }

    /// Splits rows into the ops to write and what to remember about each.
    fn ops(rows: Vec<Pending>) -> (Vec<Meta>, Vec<Op>) {
        rows.into_iter()
            .map(|p| ((p.line, p.external_columns), Op::CreateCustomer(p.input)))
            .unzip()
    }
}

impl Importer for CustomerImport {
    fn add(&mut self, store: &dyn Store, line: u64, row: &Row<'_>) -> anyhow::Result<RowResult> {
        let mut pending = match self.input(row) {
            Ok(p) => p,
            Err(errors) => return Ok(Err(errors)),
        };
        pending.line = line;
        let mut probe = pending.input.clone();
        if pending.company.is_some() {
            // Any id will do: the model only checks that a person, not an organization, has one.
            probe.organization = Some(CustomerId::from_bytes([0; 16]));
        }
        // The store assigns the real id; validation does not look at it.
        let customer = match Customer::new(CustomerId::from_bytes([0; 16]), probe, self.now) {
            Ok(c) => c,
            Err(e) => return Ok(Err(self.validation_errors(&e, &pending, row))),
        };
        let keys = Self::unique_keys(&customer);
        let duplicates: Vec<RowError> = keys
            .iter()
            .filter_map(|(key, field)| {
                let first = self.seen.get(key)?;
                let column = self.column_of(field, &pending.external_columns);
                let what = key.replacen('\0', " ", 1);
                Some(RowError::at(
                    column,
                    format!("duplicate of row {first} ({what})"),
                ))
            })
            .collect();
        if !duplicates.is_empty() {
            return Ok(Err(duplicates));
        }
        if self.dry_run {
            let stored = self.stored_duplicates(store, &customer, &pending)?;
            if !stored.is_empty() {
                return Ok(Err(stored));
            }
        }
        for (key, _) in keys {
            self.seen.insert(key, line);
        }
        self.pending.push(pending);
        Ok(Ok(()))
    }

    fn pending(&self) -> usize {
        self.pending.len()
    }

    fn flush(
        &mut self,
        store: &dyn Store,
        writer: &mut Writer,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.resolve_owners(store)?;
        // Organizations are written first and at once, so that people naming them in their company
        // column find them; people are written in the background.
        let (orgs, people): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.input.kind == CustomerKind::Organization);
        if self.dry_run {
            for p in &orgs {
                if let Some(name) = &p.input.name {
                    let key = name.trim().to_lowercase();
                    self.orgs.entry(key).or_insert(Org::WouldCreate);
                }
            }
            self.imported += orgs.len() as u64;
        } else if !orgs.is_empty() {
            let (meta, ops) = Self::ops(orgs);
            let results = store.write_each(&self.tenant, &self.actor, ops)?;
            self.absorb(meta.into_iter().zip(results).collect(), report);
        }
        self.pending = people;
        self.resolve_companies(store)?;
        let mut ready = Vec::with_capacity(self.pending.len());
        for mut p in std::mem::take(&mut self.pending) {
            if let Some(name) = &p.company {
                match self.orgs.get(&name.to_lowercase()) {
                    Some(Org::Known(id)) => p.input.organization = Some(*id),
                    Some(Org::Failed(reason)) => {
                        let column = self.column_of("organization", &[]);
                        report.reject(p.line, &[RowError::at(column, reason.clone())]);
                        continue;
                    }
                    Some(Org::WouldCreate) | None => {}
                }
            }
            ready.push(p);
        }
        if self.dry_run {
            self.imported += ready.len() as u64;
            return Ok(());
        }
        let (meta, ops) = Self::ops(ready);
        if let Some(written) = writer.submit(meta, ops)? {
            self.absorb(written, report);
        }
        Ok(())
    }

    fn absorb(&mut self, written: Written, report: &mut Report) {
        for ((line, external_columns), r) in written {
            match r {
                Ok(out) => {
                    self.imported += 1;
                    if let Output::Customer(c) = out
                        && c.kind == CustomerKind::Organization
                    {
                        self.orgs
                            .entry(c.name.to_lowercase())
                            .or_insert(Org::Known(c.id));
                    }
                }
                Err(e) => report.reject(line, &self.store_error(&e, &external_columns)),
            }
        }
    }

    fn summary(&self, rejected: u64) -> String {
        let orgs = match (self.new_orgs, self.dry_run) {
            (0, _) => String::new(),
            (n, false) => format!(", created {}", count(n, "organization", "organizations")),
            (n, true) => format!(", {} created", count(n, "organization", "organizations")),
        };
        let orgs = match (self.new_users, self.dry_run) {
            (0, _) => orgs,
            (n, false) => format!("{orgs}, created {} for owners", count(n, "user", "users")),
            (n, true) => format!("{orgs}, {} created for owners", count(n, "user", "users")),
        };
        let rejected = count(rejected, "row", "rows");
        if self.dry_run {
            format!(
                "dry run: {} would be imported{orgs}; {rejected} rejected; nothing was written",
                count(self.imported, "customer", "customers")
            )
        } else {
            format!(
                "imported {}{orgs}; {rejected} rejected",
                count(self.imported, "customer", "customers")
            )
        }
    }
}

/// An organization whose name equals `name` (ignoring case).
fn find_organization(
    store: &dyn Store,
    tenant: &TenantSlug,
    name: &str,
) -> crate::Result<Option<CustomerId>> {
    let wanted = name.trim().to_lowercase();
    let filter = CustomerFilter::NamePrefix(name.trim().to_owned());
    let mut page = PageRequest::first(100);
    loop {
        let found = store.customers(tenant, &filter, &page)?;
        for c in &found.items {
            if c.name.to_lowercase() != wanted {
                // Names sort by their lowercase form: past the exact matches now.
                return Ok(None);
            }
            if c.kind == CustomerKind::Organization {
                return Ok(Some(c.id));
            }
        }
        match found.next {
            Some(next) => page = PageRequest::after(100, next),
            None => return Ok(None),
        }
    }
}

/// A cell of an `attr.` column as its field's type (text without a definition): numbers as
/// `1234.5`, booleans as yes/no, dates as YYYY-MM-DD, money as `12.34 EUR`, multi-selects as
/// options separated by `;` or `|`.
fn cell_value(
    def: Option<&FieldDefinition>,
    field: &str,
    v: &str,
) -> Result<AttributeValue, ValidationError> {
    let v = v.trim();
    let Some(def) = def else {
        return Ok(AttributeValue::Text(v.to_owned()));
    };
    Ok(match def.field_type {
        FieldType::Text | FieldType::Select => AttributeValue::Text(v.to_owned()),
        FieldType::Number => AttributeValue::Number(
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| ValidationError::field(field, "a number such as 1234.5"))?,
        ),
        FieldType::Boolean => AttributeValue::Boolean(
            super::boolean(v).ok_or_else(|| ValidationError::field(field, "yes or no"))?,
        ),
        FieldType::Date => AttributeValue::Date(Date::parse(field, v)?),
        FieldType::Money => {
            let money = v.rsplit_once(' ').and_then(|(amount, code)| {
                let currency = Currency::parse(field, code).ok()?;
                Money::parse_decimal(field, amount, currency).ok()
            });
            AttributeValue::Money(money.ok_or_else(|| {
                ValidationError::field(field, "an amount and its currency, such as 12.34 EUR")
            })?)
        }
        FieldType::MultiSelect => AttributeValue::List(
            v.split([';', '|'])
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    })
}
