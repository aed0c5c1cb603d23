//! Conveniences on the contract's types: constructors, builders and look-ups.

use crate::{
    Action, AttributeValue, Budget, Budgets, Capability, CustomerRef, CustomerView, ExternalId,
    HookOutput, InputNeeds, InteractionAggregate, InteractionKind, Manifest, Membership, Reason,
    Rejection, RejectionKind, ScoreOutput, SegmentInfo, Verdict, Webhook,
};

impl Manifest {
    /// A manifest with the given id, semantic version and name, and empty everything else.
    ///
    /// The configuration schema defaults to "any object"; chain the builder
    /// methods below for the rest.
    pub fn new(
        id: impl Into<String>,
        version: impl Into<String>,
        name: impl Into<String>,
    ) -> Manifest {
        Manifest {
            id: id.into(),
            version: version.into(),
            name: name.into(),
            description: String::new(),
            industries: Vec::new(),
            capabilities: Vec::new(),
            config_schema: r#"{"type":"object"}"#.to_owned(),
            needs: InputNeeds {
                recent_interactions: 0,
                population: false,
                population_attributes: Vec::new(),
                closed_deals: 0,
            },
            segments: Vec::new(),
            budgets: None,
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Manifest {
        self.description = description.into();
        self
    }

    /// Sets the industries the plugin is meant for.
    pub fn industries<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        industries: I,
    ) -> Manifest {
        self.industries = industries.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a capability (usually unnecessary: the export macro adds its world's).
    pub fn capability(mut self, capability: Capability) -> Manifest {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }

    /// Sets the JSON Schema of the configuration.
    pub fn config_schema(mut self, schema: impl Into<String>) -> Manifest {
        self.config_schema = schema.into();
        self
    }

    /// Sets the configuration schema to the JSON Schema (draft 2020-12) of the type `C`, so
    /// that a plugin writes its configuration once, as a Rust type: the fields and their types,
    /// doc comments as descriptions, `#[serde(default)]` values (from `Default`) as defaults,
    /// `#[serde(deny_unknown_fields)]` as `additionalProperties: false`, and constraints
    /// such as `#[schemars(range(min = 0))]` or `#[schemars(pattern(r"^[A-Z]{3}$"))]`. The host
    /// validates every tenant's configuration against it before the plugin sees it.
    ///
    /// ```
    /// use kith_plugin_sdk::Manifest;
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// #[serde(deny_unknown_fields)]
    /// struct Config {
    ///     /// The most points a customer can get.
    ///     #[schemars(range(min = 0))]
    ///     max_points: f64,
    /// }
    /// let manifest = Manifest::new("acme.fit", "0.1.0", "Fit").config_schema_of::<Config>();
    /// assert!(manifest.config_schema.contains(r#""minimum":0"#));
    /// ```
    pub fn config_schema_of<C: schemars::JsonSchema>(mut self) -> Manifest {
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<C>();
        self.config_schema = schema.to_value().to_string();
        self
    }

    /// Asks for the customer's `count` most recent interactions.
    pub fn recent_interactions(mut self, count: u32) -> Manifest {
        self.needs.recent_interactions = count;
        self
    }

    /// Asks for the customer's `count` most recently closed (won or lost) deals.
    pub fn closed_deals(mut self, count: u32) -> Manifest {
        self.needs.closed_deals = count;
        self
    }

    /// Declares the budgets per-customer calls and webhooks need by default, instead of the
    /// host's (10 M fuel, 16 MiB, 50 ms). The host caps them at its ceilings; a tenant's
    /// overrides still win.
    ///
    /// ```
    /// use kith_plugin_sdk::{Budget, Manifest};
    /// let manifest = Manifest::new("acme.fit", "0.1.0", "Fit")
    ///     .call_budget(Budget::new().memory_mib(48).fuel(50_000_000));
    /// assert_eq!(manifest.budgets.unwrap().call.memory_bytes, Some(48 << 20));
    /// ```
    pub fn call_budget(mut self, budget: Budget) -> Manifest {
        self.budgets.get_or_insert_with(Budgets::none).call = budget;
        self
    }

    /// Declares the budgets the population step needs by default, instead of the host's
    /// (10 G fuel, 256 MiB, 10 s); capped and overridable as [`Manifest::call_budget`].
    pub fn population_budget(mut self, budget: Budget) -> Manifest {
        self.budgets.get_or_insert_with(Budgets::none).population = budget;
        self
    }

    /// Asks the host to run the population step, with these attributes in the summaries.
    pub fn population<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        attributes: I,
    ) -> Manifest {
        self.needs.population = true;
        self.needs.population_attributes = attributes.into_iter().map(Into::into).collect();
        self
    }

    /// Declares a segment the plugin provides.
    pub fn segment(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Manifest {
        self.segments.push(SegmentInfo {
            id: id.into(),
            name: name.into(),
            description: description.into(),
        });
        self
    }
}

impl Budgets {
    /// No budget declared: the host's defaults.
    pub fn none() -> Budgets {
        Budgets {
            call: Budget::new(),
            population: Budget::new(),
        }
    }
}

impl Budget {
    /// Every budget at the host's default.
    pub fn new() -> Budget {
        Budget {
            fuel: None,
            memory_bytes: None,
            deadline_ms: None,
        }
    }

    /// Instructions (about one per wasm instruction).
    pub fn fuel(mut self, fuel: u64) -> Budget {
        self.fuel = Some(fuel);
        self
    }

    /// Linear memory, in MiB.
    pub fn memory_mib(mut self, mib: u64) -> Budget {
        self.memory_bytes = Some(mib.saturating_mul(1 << 20));
        self
    }

    /// Wall-clock deadline, in milliseconds.
    pub fn deadline_ms(mut self, ms: u64) -> Budget {
        self.deadline_ms = Some(ms);
        self
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new()
    }
}

impl ScoreOutput {
    /// A score with no grade, reasons or actions.
    pub fn new(score: f64) -> ScoreOutput {
        ScoreOutput {
            score,
            grade: None,
            reasons: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Sets the grade or band.
    pub fn grade(mut self, grade: impl Into<String>) -> ScoreOutput {
        self.grade = Some(grade.into());
        self
    }

    /// Adds a reason.
    pub fn reason(
        mut self,
        code: impl Into<String>,
        message: impl Into<String>,
        contribution: f64,
    ) -> ScoreOutput {
        self.reasons.push(Reason::new(code, message, contribution));
        self
    }

    /// Adds an action.
    pub fn action(mut self, action: Action) -> ScoreOutput {
        self.actions.push(action);
        self
    }
}

impl Reason {
    /// A reason with a stable code, a message and its contribution to the score.
    pub fn new(code: impl Into<String>, message: impl Into<String>, contribution: f64) -> Reason {
        Reason {
            code: code.into(),
            message: message.into(),
            contribution,
        }
    }
}

impl Membership {
    /// Membership in `segment` (an id from the manifest) for `reason`.
    pub fn new(segment: impl Into<String>, reason: impl Into<String>) -> Membership {
        Membership {
            segment: segment.into(),
            reason: reason.into(),
        }
    }
}

impl HookOutput {
    /// Accepted, with the actions to apply.
    pub fn accepted(actions: Vec<Action>) -> HookOutput {
        HookOutput {
            verdict: Verdict::Accepted,
            actions,
        }
    }

    /// Ignored (e.g. a topic the plugin does not handle), with the reason.
    pub fn ignored(reason: impl Into<String>) -> HookOutput {
        HookOutput {
            verdict: Verdict::Ignored(reason.into()),
            actions: Vec::new(),
        }
    }

    /// Rejected, with the kind of rejection and the reason.
    pub fn rejected(kind: RejectionKind, reason: impl Into<String>) -> HookOutput {
        HookOutput {
            verdict: Verdict::Rejected(Rejection {
                kind,
                reason: reason.into(),
            }),
            actions: Vec::new(),
        }
    }
}

impl Webhook {
    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl CustomerView {
    /// The aggregate of interactions of `kind`, if the customer has any.
    pub fn aggregate(&self, kind: InteractionKind) -> Option<&InteractionAggregate> {
        self.aggregates.iter().find(|a| a.kind == kind)
    }

    /// The value of the custom attribute `name`, if set.
    pub fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }

    /// Whether the customer has `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// A reference to this customer for actions.
    pub fn reference(&self) -> CustomerRef {
        CustomerRef::Id(self.id.clone())
    }
}

impl InteractionAggregate {
    /// The total in `currency` in minor units (0 when there is none).
    pub fn total_in(&self, currency: &str) -> i64 {
        self.totals
            .iter()
            .filter(|m| m.currency == currency)
            .fold(0i64, |total, m| total.saturating_add(m.amount))
    }
}

impl ExternalId {
    /// An id in another system.
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> ExternalId {
        ExternalId {
            source: source.into(),
            id: id.into(),
        }
    }
}
