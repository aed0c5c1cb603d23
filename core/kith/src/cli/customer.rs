//! `kith customer get|find`.

use std::io::Write;

use clap::{Args, Subcommand};

use super::{Exit, tenant_of};
use crate::model::{Country, CustomerId, Email, LifecycleStage, Phone, Tag};
use crate::store::{Cursor, CustomerFilter, PageRequest, Store};

#[derive(Debug, Subcommand)]
pub(super) enum CustomerCommand {
    /// Print one customer as JSON.
    Get(GetArgs),
    /// List customers as JSON Lines; the next page's cursor goes to stderr.
    Find(FindArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("key").required(true).args(["id", "email", "phone", "external"]))]
pub(super) struct GetArgs {
    /// The tenant.
    #[arg(long)]
    pub(super) tenant: String,
    /// The customer's id.
    pub(super) id: Option<String>,
    /// Look up by email.
    #[arg(long)]
    pub(super) email: Option<String>,
    /// Look up by phone (national numbers need --country).
    #[arg(long)]
    pub(super) phone: Option<String>,
    /// The country of a national phone number, e.g. DE.
    #[arg(long, requires = "phone", value_name = "CC")]
    pub(super) country: Option<String>,
    /// Look up by an id in another system.
    #[arg(long, value_name = "SOURCE:ID")]
    pub(super) external: Option<String>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("filter").args(["tag", "lifecycle", "owner", "org", "name", "email_prefix"]))]
pub(super) struct FindArgs {
    /// The tenant.
    #[arg(long)]
    pub(super) tenant: String,
    /// With this tag.
    #[arg(long)]
    pub(super) tag: Option<String>,
    /// In this lifecycle stage, e.g. lead or customer.
    #[arg(long)]
    pub(super) lifecycle: Option<String>,
    /// Owned by this user.
    #[arg(long)]
    pub(super) owner: Option<String>,
    /// Members of this organization (its customer id).
    #[arg(long, value_name = "ID")]
    pub(super) org: Option<String>,
    /// Whose name starts with this text.
    #[arg(long, value_name = "PREFIX")]
    pub(super) name: Option<String>,
    /// Whose email starts with this text.
    #[arg(long, value_name = "P")]
    pub(super) email_prefix: Option<String>,
    /// At most this many customers (1 to 1000).
    #[arg(long, default_value_t = 50)]
    pub(super) limit: usize,
    /// Continue after this cursor (printed by the previous page).
    #[arg(long, value_name = "C")]
    pub(super) cursor: Option<String>,
}

pub(super) fn run(cmd: CustomerCommand, store: &dyn Store) -> anyhow::Result<Exit> {
    match cmd {
        CustomerCommand::Get(args) => get(&args, store),
        CustomerCommand::Find(args) => find(args, store),
    }
}

fn get(args: &GetArgs, store: &dyn Store) -> anyhow::Result<Exit> {
    let tenant = tenant_of(store, &args.tenant)?;
    let invalid = crate::store::Error::from;
    let (found, what) = if let Some(id) = &args.id {
        let id = CustomerId::parse("id", id).map_err(invalid)?;
        (store.customer(&tenant, id)?, format!("id {id}"))
    } else if let Some(email) = &args.email {
        let email = Email::parse("email", email).map_err(invalid)?;
        (
            store.customer_by_email(&tenant, &email)?,
            format!("email {email}"),
        )
    } else if let Some(phone) = &args.phone {
        let country = args
            .country
            .as_deref()
            .map(|c| Country::parse("country", c))
            .transpose()
            .map_err(invalid)?;
        let phone = Phone::parse("phone", phone, country).map_err(invalid)?;
        (
            store.customer_by_phone(&tenant, &phone)?,
            format!("phone {phone}"),
        )
    } else if let Some(external) = &args.external {
        let Some((source, id)) = external.split_once(':') else {
            anyhow::bail!("--external {external}: expected SOURCE:ID, e.g. shopify:1234");
        };
        (
            store.customer_by_external_id(&tenant, source.trim(), id.trim())?,
            format!("external id {external}"),
        )
    } else {
        anyhow::bail!("name the customer: an ID, --email, --phone or --external");
    };
    let Some(customer) = found else {
        anyhow::bail!("no customer with {what} in tenant {tenant}");
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&customer)?)?;
    Ok(Exit::Ok)
}

fn find(args: FindArgs, store: &dyn Store) -> anyhow::Result<Exit> {
    let tenant = tenant_of(store, &args.tenant)?;
    let invalid = crate::store::Error::from;
    let filter = if let Some(t) = &args.tag {
        CustomerFilter::Tag(Tag::parse("tag", t).map_err(invalid)?)
    } else if let Some(l) = &args.lifecycle {
        CustomerFilter::Lifecycle(LifecycleStage::parse("lifecycle", l).map_err(invalid)?)
    } else if let Some(o) = args.owner {
        CustomerFilter::Owner(o)
    } else if let Some(org) = &args.org {
        CustomerFilter::Organization(CustomerId::parse("org", org).map_err(invalid)?)
    } else if let Some(n) = args.name {
        CustomerFilter::NamePrefix(n)
    } else if let Some(p) = args.email_prefix {
        CustomerFilter::EmailPrefix(p)
    } else {
        CustomerFilter::All
    };
    let page = PageRequest {
        limit: args.limit,
        after: args.cursor.map(Cursor::from_string),
    };
    let page = store.customers(&tenant, &filter, &page)?;
    let mut out = std::io::stdout().lock();
    for c in &page.items {
        serde_json::to_writer(&mut out, c)?;
        writeln!(out)?;
    }
    out.flush()?;
    if let Some(next) = page.next {
        eprintln!("next cursor: {}", next.as_str());
    }
    Ok(Exit::Ok)
}
