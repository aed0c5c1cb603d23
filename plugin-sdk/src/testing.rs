//! A native test harness: build inputs, call a plugin's trait methods with a
//! JSON configuration, and check its manifest, all with plain `cargo test`.
//!
//! ```
//! use kith_plugin_sdk::testing::{customer, Harness};
//! use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};
//!
//! struct Spend;
//! impl Plugin for Spend {
//!     type Config = NoConfig;
//!     fn manifest() -> Manifest { Manifest::new("example.spend", "0.1.0", "Spend") }
//! }
//! impl Scorer for Spend {
//!     fn score(_: &NoConfig, input: &CustomerInput) -> Result<ScoreOutput> {
//!         let spent = input.customer.aggregates.iter().map(|a| a.total_in("EUR")).sum::<i64>();
//!         Ok(ScoreOutput::new(spent as f64 / 100.0))
//!     }
//! }
//!
//! let alice = customer("c1").purchase(1_000, 2_500, "EUR").purchase(2_000, 500, "EUR").build();
//! let output = Harness::<Spend>::new("{}").score(alice).unwrap();
//! assert_eq!(output.score, 30.0);
//! ```

use std::marker::PhantomData;

use serde::Serialize;

use crate::config::parse_config;
use crate::export;
use crate::time::MICROS_PER_DAY;
use crate::{
    Attribute, AttributeValue, Channel, CommerceHook, CustomerInput, CustomerKind, CustomerSummary,
    CustomerView, Deal, DealStatus, Direction, HookOutput, Interaction, InteractionAggregate,
    InteractionKind, LifecycleStage, Manifest, Membership, Money, Plugin, PopulationInput, Result,
    ScoreOutput, Scorer, Segmenter, Timestamp, Webhook,
};

/// The `now` of every harness unless changed: 2025-01-01T00:00:00Z.
pub const DEFAULT_NOW: Timestamp = 20_089 * MICROS_PER_DAY;

/// Calls a plugin's trait methods natively, the way its component would be called.
///
/// Each call parses the configuration exactly like the exported component does,
/// so a bad configuration gives the same [`PluginError::InvalidConfig`](crate::PluginError::InvalidConfig).
#[derive(Debug, Clone)]
pub struct Harness<P> {
    config: String,
    now: Timestamp,
    seed: u64,
    model: Option<Vec<u8>>,
    /// The manifest's `needs.recent_interactions`, read once: building the manifest generates
    /// its configuration's JSON Schema, which would otherwise be most of a native call's time.
    recent: usize,
    plugin: PhantomData<fn() -> P>,
}

impl<P: Plugin> Harness<P> {
    /// A harness with this configuration (JSON), [`DEFAULT_NOW`], seed 0 and no model.
    pub fn new(config_json: impl Into<String>) -> Harness<P> {
        Harness {
            config: config_json.into(),
            now: DEFAULT_NOW,
            seed: 0,
            model: None,
            recent: usize::try_from(P::manifest().needs.recent_interactions).unwrap_or(usize::MAX),
            plugin: PhantomData,
        }
    }

    /// Sets the host time passed as `now`.
    pub fn now(mut self, now: Timestamp) -> Harness<P> {
        self.now = now;
        self
    }

    /// Sets the seed passed with every call.
    pub fn seed(mut self, seed: u64) -> Harness<P> {
        self.seed = seed;
        self
    }

    /// Sets the model passed to `score` and `classify`.
    pub fn model(mut self, model: Option<Vec<u8>>) -> Harness<P> {
        self.model = model;
        self
    }

    /// The configuration parsed into the plugin's type.
    pub fn config(&self) -> Result<P::Config> {
        parse_config(&self.config)
    }

    /// Runs the population step over these customers; an empty result means no model.
    ///
    /// Customer views are summarized like the host does, keeping only the
    /// attributes the manifest lists in `needs.population_attributes`.
    pub fn populate<C: Into<CustomerSummary>>(
        &self,
        customers: impl IntoIterator<Item = C>,
    ) -> Result<Vec<u8>> {
        export::populate::<P>(self.population_input(customers))
    }

    /// Runs the population step and keeps its model for later calls (none if it returned no bytes).
    pub fn with_population<C: Into<CustomerSummary>>(
        self,
        customers: impl IntoIterator<Item = C>,
    ) -> Result<Harness<P>> {
        let model = self.populate(customers)?;
        Ok(self.model((!model.is_empty()).then_some(model)))
    }

    /// The population input the host would build for these customers.
    pub fn population_input<C: Into<CustomerSummary>>(
        &self,
        customers: impl IntoIterator<Item = C>,
    ) -> PopulationInput {
        let wanted = P::manifest().needs.population_attributes;
        let customers = customers
            .into_iter()
            .map(|c| {
                let mut summary: CustomerSummary = c.into();
                summary.attributes.retain(|a| wanted.contains(&a.name));
                summary
            })
            .collect();
        PopulationInput {
            customers,
            config: self.config.clone(),
            now: self.now,
            seed: self.seed,
        }
    }

    /// The per-customer input the host would build, trimming recent interactions to the manifest's need.
    pub fn customer_input(&self, mut customer: CustomerView) -> CustomerInput {
        customer.recent_interactions.truncate(self.recent);
        CustomerInput {
            customer,
            config: self.config.clone(),
            now: self.now,
            seed: self.seed,
            model: self.model.clone(),
        }
    }
}

impl<P: Scorer> Harness<P> {
    /// Scores a customer.
    pub fn score(&self, customer: CustomerView) -> Result<ScoreOutput> {
        export::score::<P>(self.customer_input(customer))
    }
}

impl<P: Segmenter> Harness<P> {
    /// Classifies a customer.
    pub fn classify(&self, customer: CustomerView) -> Result<Vec<Membership>> {
        export::classify::<P>(self.customer_input(customer))
    }
}

impl<P: CommerceHook> Harness<P> {
    /// Handles a webhook.
    pub fn handle(&self, webhook: Webhook) -> Result<HookOutput> {
        export::handle::<P>(webhook, self.config.clone())
    }
}

/// Checks what the host checks on install, panicking with every problem found.
///
/// Id (lower-case, dotted, at least two parts), semantic version, non-empty
/// name, configuration schema that is a JSON object, and unique segment ids.
pub fn assert_manifest_valid<P: Plugin>() -> Manifest {
    let manifest = P::manifest();
    let mut problems = Vec::new();
    let id_ok = manifest.id.split('.').count() >= 2
        && manifest.id.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if !id_ok {
        problems.push(format!(
            "id {:?} is not a lower-case dotted id like \"acme.scorer\"",
            manifest.id
        ));
    }
    if !is_semver(&manifest.version) {
        problems.push(format!(
            "version {:?} is not a semantic version like \"1.2.3\"",
            manifest.version
        ));
    }
    if manifest.name.trim().is_empty() {
        problems.push("name is empty".to_owned());
    }
    match serde_json::from_str::<serde_json::Value>(&manifest.config_schema) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(other) => problems.push(format!("config schema is not a JSON object: {other}")),
        Err(err) => problems.push(format!("config schema is not JSON: {err}")),
    }
    for (i, segment) in manifest.segments.iter().enumerate() {
        if manifest.segments[..i].iter().any(|s| s.id == segment.id) {
            problems.push(format!("segment id {:?} is declared twice", segment.id));
        }
    }
    assert!(
        problems.is_empty(),
        "invalid manifest for {}: {}",
        manifest.id,
        problems.join("; ")
    );
    manifest
}

fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

/// Starts building a customer view with this id.
pub fn customer(id: impl Into<String>) -> CustomerBuilder {
    CustomerBuilder::new(id)
}

/// Starts building an interaction of this kind.
pub fn interaction(kind: InteractionKind) -> InteractionBuilder {
    InteractionBuilder::new(kind)
}

/// Starts building a webhook delivery on this topic.
pub fn webhook(topic: impl Into<String>) -> WebhookBuilder {
    WebhookBuilder::new(topic)
}

/// The lines logged with [`crate::log`] on this thread since the last call, oldest first.
/// (In WebAssembly they go to the host instead.)
pub fn take_logs() -> Vec<(crate::log::Level, String)> {
    #[cfg(not(target_arch = "wasm32"))]
    return crate::log::native::take();
    #[cfg(target_arch = "wasm32")]
    Vec::new()
}

/// Builds a [`CustomerView`]; interactions added also update its aggregates.
#[derive(Debug, Clone)]
pub struct CustomerBuilder {
    view: CustomerView,
    interactions: Vec<Interaction>,
    next_interaction: u64,
}

impl CustomerBuilder {
    /// A person named after `id`, lifecycle stage `lead`, created at time 0.
    pub fn new(id: impl Into<String>) -> CustomerBuilder {
        let id = id.into();
        CustomerBuilder {
            view: CustomerView {
                display_name: id.clone(),
                id,
                kind: CustomerKind::Person,
                given_name: None,
                family_name: None,
                email: None,
                phone: None,
                country: None,
                region: None,
                city: None,
                lifecycle_stage: LifecycleStage::Lead,
                tags: Vec::new(),
                attributes: Vec::new(),
                owner: None,
                marketing_consent: false,
                created_at: 0,
                aggregates: Vec::new(),
                recent_interactions: Vec::new(),
                open_deals: Vec::new(),
                closed_deals: Vec::new(),
            },
            interactions: Vec::new(),
            next_interaction: 1,
        }
    }

    /// Sets person or organization.
    pub fn kind(mut self, kind: CustomerKind) -> Self {
        self.view.kind = kind;
        self
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.view.display_name = name.into();
        self
    }

    /// Sets given and family name.
    pub fn person_name(mut self, given: impl Into<String>, family: impl Into<String>) -> Self {
        self.view.given_name = Some(given.into());
        self.view.family_name = Some(family.into());
        self
    }

    /// Sets the email address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.view.email = Some(email.into());
        self
    }

    /// Sets the phone number.
    pub fn phone(mut self, phone: impl Into<String>) -> Self {
        self.view.phone = Some(phone.into());
        self
    }

    /// Sets country, region and city.
    pub fn location(
        mut self,
        country: impl Into<String>,
        region: impl Into<String>,
        city: impl Into<String>,
    ) -> Self {
        self.view.country = Some(country.into());
        self.view.region = Some(region.into());
        self.view.city = Some(city.into());
        self
    }

    /// Sets the lifecycle stage.
    pub fn stage(mut self, stage: LifecycleStage) -> Self {
        self.view.lifecycle_stage = stage;
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.view.tags.push(tag.into());
        self
    }

    /// Sets a custom attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: AttributeValue) -> Self {
        let name = name.into();
        self.view.attributes.retain(|a| a.name != name);
        self.view.attributes.push(Attribute { name, value });
        self
    }

    /// Sets the owner.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.view.owner = Some(owner.into());
        self
    }

    /// Sets marketing consent.
    pub fn marketing_consent(mut self, consent: bool) -> Self {
        self.view.marketing_consent = consent;
        self
    }

    /// Sets when the customer was created.
    pub fn created_at(mut self, at: Timestamp) -> Self {
        self.view.created_at = at;
        self
    }

    /// Adds an interaction (recent list and aggregates).
    pub fn interaction(mut self, mut interaction: Interaction) -> Self {
        if interaction.id.is_empty() {
            interaction.id = format!("{}-i{}", self.view.id, self.next_interaction);
        }
        self.next_interaction += 1;
        self.interactions.push(interaction);
        self
    }

    /// Adds an e-commerce purchase of `amount` minor units of `currency` at `at`.
    pub fn purchase(self, at: Timestamp, amount: i64, currency: &str) -> Self {
        self.interaction(
            interaction(InteractionKind::Purchase)
                .at(at)
                .amount(amount, currency)
                .build(),
        )
    }

    /// Adds a deal: to the open deals, or, when its status is won or lost, to the closed
    /// ones (newest first, as the host orders them).
    pub fn deal(mut self, deal: Deal) -> Self {
        if deal.status == DealStatus::Open {
            self.view.open_deals.push(deal);
        } else {
            self.view.closed_deals.push(deal);
            self.view
                .closed_deals
                .sort_by(|a, b| (b.closed_at, &b.id).cmp(&(a.closed_at, &a.id)));
        }
        self
    }

    /// The customer view: interactions newest first, aggregates per kind.
    pub fn build(mut self) -> CustomerView {
        self.interactions
            .sort_by_key(|i| std::cmp::Reverse(i.occurred_at));
        self.view.aggregates = aggregate(&self.interactions);
        self.view.recent_interactions = self.interactions;
        self.view
    }

    /// The population summary of the customer.
    pub fn summary(self) -> CustomerSummary {
        self.build().into()
    }
}

/// Aggregates per kind as the host computes them; the first amount is the earliest
/// interaction's (the smallest id among equals).
fn aggregate(interactions: &[Interaction]) -> Vec<InteractionAggregate> {
    let mut aggregates: Vec<InteractionAggregate> = Vec::new();
    // The id of each aggregate's first interaction so far.
    let mut first_ids: Vec<&str> = Vec::new();
    for i in interactions {
        let index = match aggregates.iter().position(|a| a.kind == i.kind) {
            Some(index) => index,
            None => {
                aggregates.push(InteractionAggregate {
                    kind: i.kind,
                    count: 0,
                    totals: Vec::new(),
                    first_at: i.occurred_at,
                    last_at: i.occurred_at,
                    first_amount: i.amount.clone(),
                });
                first_ids.push(&i.id);
                aggregates.len() - 1
            }
        };
        let a = &mut aggregates[index];
        a.count += 1;
        if (i.occurred_at, i.id.as_str()) < (a.first_at, first_ids[index]) {
            a.first_amount = i.amount.clone();
            first_ids[index] = &i.id;
        }
        a.first_at = a.first_at.min(i.occurred_at);
        a.last_at = a.last_at.max(i.occurred_at);
        if let Some(amount) = &i.amount {
            match a.totals.iter_mut().find(|t| t.currency == amount.currency) {
                Some(total) => total.amount = total.amount.saturating_add(amount.amount),
                None => a.totals.push(amount.clone()),
            }
        }
    }
    aggregates
}

impl From<CustomerView> for CustomerSummary {
    fn from(view: CustomerView) -> CustomerSummary {
        CustomerSummary {
            id: view.id,
            lifecycle_stage: view.lifecycle_stage,
            created_at: view.created_at,
            aggregates: view.aggregates,
            attributes: view.attributes,
        }
    }
}

impl From<&CustomerView> for CustomerSummary {
    fn from(view: &CustomerView) -> CustomerSummary {
        view.clone().into()
    }
}

impl From<CustomerBuilder> for CustomerSummary {
    fn from(builder: CustomerBuilder) -> CustomerSummary {
        builder.summary()
    }
}

/// Builds an [`Interaction`]: inbound, on the e-commerce channel for purchases
/// and refunds and `other` otherwise, at time 0.
#[derive(Debug, Clone)]
pub struct InteractionBuilder {
    interaction: Interaction,
}

impl InteractionBuilder {
    /// An interaction of this kind.
    pub fn new(kind: InteractionKind) -> InteractionBuilder {
        let channel = match kind {
            InteractionKind::Purchase | InteractionKind::Refund => Channel::ECommerce,
            InteractionKind::Email => Channel::Email,
            InteractionKind::Call => Channel::Phone,
            InteractionKind::PageView | InteractionKind::FormSubmission => Channel::Web,
            _ => Channel::Other,
        };
        InteractionBuilder {
            interaction: Interaction {
                id: String::new(),
                channel,
                kind,
                direction: Direction::Inbound,
                occurred_at: 0,
                amount: None,
                rating: None,
                status: None,
                attributes: Vec::new(),
            },
        }
    }

    /// Sets the id (default: derived from the customer's id).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.interaction.id = id.into();
        self
    }

    /// Sets the channel.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.interaction.channel = channel;
        self
    }

    /// Sets the direction.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.interaction.direction = direction;
        self
    }

    /// Sets when it happened.
    pub fn at(mut self, at: Timestamp) -> Self {
        self.interaction.occurred_at = at;
        self
    }

    /// Sets the amount in minor units.
    pub fn amount(mut self, amount: i64, currency: &str) -> Self {
        self.interaction.amount = Some(Money::new(amount, currency));
        self
    }

    /// Sets the rating.
    pub fn rating(mut self, rating: u8) -> Self {
        self.interaction.rating = Some(rating);
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.interaction.status = Some(status.into());
        self
    }

    /// Adds an attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.interaction.attributes.push(Attribute {
            name: name.into(),
            value,
        });
        self
    }

    /// The interaction.
    pub fn build(self) -> Interaction {
        self.interaction
    }
}

/// Builds a [`Webhook`] delivery.
#[derive(Debug, Clone)]
pub struct WebhookBuilder {
    webhook: Webhook,
}

impl WebhookBuilder {
    /// A delivery on `topic` with no headers, an empty body, received at [`DEFAULT_NOW`].
    pub fn new(topic: impl Into<String>) -> WebhookBuilder {
        WebhookBuilder {
            webhook: Webhook {
                topic: topic.into(),
                headers: Vec::new(),
                body: Vec::new(),
                delivery_id: None,
                received_at: DEFAULT_NOW,
            },
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.webhook.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.webhook.body = body.into();
        self
    }

    /// Sets the body to the JSON serialization of `value` and the content type.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        self.header("Content-Type", "application/json").body(body)
    }

    /// Sets the delivery id.
    pub fn delivery_id(mut self, id: impl Into<String>) -> Self {
        self.webhook.delivery_id = Some(id.into());
        self
    }

    /// Sets when it was received.
    pub fn received_at(mut self, at: Timestamp) -> Self {
        self.webhook.received_at = at;
        self
    }

    /// The body so far (e.g. to sign it).
    pub fn body_bytes(&self) -> &[u8] {
        &self.webhook.body
    }

    /// The webhook.
    pub fn build(self) -> Webhook {
        self.webhook
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_builder_aggregates_per_kind_and_currency() {
        let view = customer("c")
            .purchase(30, 100, "EUR")
            .purchase(10, 50, "EUR")
            .purchase(20, 7, "USD")
            .interaction(interaction(InteractionKind::Note).at(5).build())
            .build();
        let purchases = view.aggregate(InteractionKind::Purchase).unwrap();
        assert_eq!(
            (purchases.count, purchases.first_at, purchases.last_at),
            (3, 10, 30)
        );
        assert_eq!(purchases.total_in("EUR"), 150);
        assert_eq!(purchases.total_in("USD"), 7);
        assert_eq!(
            view.recent_interactions.first().map(|i| i.occurred_at),
            Some(30)
        );
        assert_eq!(
            view.aggregate(InteractionKind::Note).map(|a| a.count),
            Some(1)
        );
        assert!(view.recent_interactions.iter().all(|i| !i.id.is_empty()));
    }

    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Declares that it reads the two newest interactions, and counts its manifest's builds.
    struct TwoRecent;

    static MANIFESTS_BUILT: AtomicUsize = AtomicUsize::new(0);

    impl Plugin for TwoRecent {
        type Config = crate::NoConfig;

        fn manifest() -> Manifest {
            MANIFESTS_BUILT.fetch_add(1, Ordering::Relaxed);
            Manifest::new("test.two-recent", "0.1.0", "Two recent").recent_interactions(2)
        }
    }

    #[test]
    fn customer_input_keeps_the_interactions_the_manifest_asks_for_and_builds_it_once() {
        let harness = Harness::<TwoRecent>::new("{}");
        let built = MANIFESTS_BUILT.load(Ordering::Relaxed);
        let view = (1..=5).fold(customer("c"), |b, day| b.purchase(day, 100, "EUR"));
        for _ in 0..3 {
            let input = harness.customer_input(view.clone().build());
            let kept: Vec<Timestamp> = input
                .customer
                .recent_interactions
                .iter()
                .map(|i| i.occurred_at)
                .collect();
            assert_eq!(kept, [5, 4], "the two newest, newest first");
            assert_eq!(
                input
                    .customer
                    .aggregate(InteractionKind::Purchase)
                    .map(|a| a.count),
                Some(5)
            );
        }
        assert_eq!(MANIFESTS_BUILT.load(Ordering::Relaxed), built);
    }

    #[test]
    fn default_now_is_2025() {
        assert_eq!(
            Some(DEFAULT_NOW),
            crate::time::parse_rfc3339("2025-01-01T00:00:00Z")
        );
    }

    #[test]
    fn semver_check() {
        assert!(is_semver("1.2.3") && is_semver("0.1.0-alpha.1") && is_semver("10.0.0+build"));
        assert!(!is_semver("1.2") && !is_semver("01.2.3") && !is_semver("1.2.x") && !is_semver(""));
    }

    #[test]
    fn webhook_headers_are_case_insensitive() {
        let hook = webhook("orders/create")
            .header("X-Shopify-Topic", "orders/create")
            .build();
        assert_eq!(hook.header("x-shopify-topic"), Some("orders/create"));
        assert_eq!(hook.header("x-other"), None);
    }
}
