//! Building plugin inputs from the domain model.

use std::collections::BTreeMap;

use kith_model::{
    Customer, Deal, Interaction, InteractionKind, Pipeline, StageCategory, Timestamp,
};

use super::types::{
    CustomerSummary, CustomerView, DealStatus, DealView, InteractionAggregate, InteractionView,
};

impl CustomerView {
    /// The view of `customer` a plugin gets: profile, aggregates per interaction kind over all
    /// of `interactions`, the `recent` newest interactions (newest first), the deals of
    /// `deals` that are open (their stage's category in `pipelines` is `open`), and the `closed`
    /// most recently closed (won or lost) ones, newest first.
    ///
    /// Interactions and deals of other customers, and deals whose pipeline or stage is not in
    /// `pipelines`, are ignored.
    pub fn from_model(
        customer: &Customer,
        interactions: &[Interaction],
        deals: &[Deal],
        pipelines: &[Pipeline],
        recent: usize,
        closed: usize,
    ) -> CustomerView {
        let mine: Vec<&Interaction> = interactions
            .iter()
            .filter(|i| i.customer == customer.id)
            .collect();
        let mut newest = mine.clone();
        // Newest first; the id breaks ties so the order never depends on the input's.
        newest.sort_by_key(|i| std::cmp::Reverse((i.occurred_at, i.id)));
        newest.truncate(recent);
        // Closed deals are viewed only when asked for (on the rescore path most plugins ask
        // for none).
        let (open_deals, mut closed_deals): (Vec<DealView>, Vec<DealView>) = deals
            .iter()
            .filter(|d| d.customer == customer.id)
            .filter_map(|d| deal_view(d, pipelines, closed > 0))
            .partition(|d| d.status == DealStatus::Open);
        // Newest first; the id breaks ties so the order never depends on the input's.
        closed_deals.sort_by(|a, b| (b.closed_at, &b.id).cmp(&(a.closed_at, &a.id)));
        closed_deals.truncate(closed);
        CustomerView {
            id: customer.id.to_string(),
            kind: customer.kind,
            display_name: customer.name.clone(),
            given_name: customer.first_name.clone(),
            family_name: customer.last_name.clone(),
            email: customer.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: customer.phone.as_ref().map(|p| p.as_str().to_owned()),
            country: customer.location.country.map(|c| c.code().to_owned()),
            region: customer.location.region.clone(),
            city: customer.location.city.clone(),
            lifecycle_stage: customer.lifecycle,
            tags: customer
                .tags
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            attributes: customer.attributes.clone(),
            owner: customer.owner.clone(),
            marketing_consent: customer.marketing_consent,
            created_at: customer.created_at,
            aggregates: aggregate(mine.iter().copied()),
            recent_interactions: newest.into_iter().map(interaction_view).collect(),
            open_deals,
            closed_deals,
        }
    }
}

impl CustomerSummary {
    /// The population summary of `customer`: aggregates over `interactions` (its own only) and
    /// the attributes named in `attributes` (a manifest's `needs.population_attributes`).
    pub fn from_model(
        customer: &Customer,
        interactions: &[Interaction],
        attributes: &[String],
    ) -> CustomerSummary {
        CustomerSummary {
            id: customer.id.to_string(),
            lifecycle_stage: customer.lifecycle,
            created_at: customer.created_at,
            aggregates: aggregate(interactions.iter().filter(|i| i.customer == customer.id)),
            attributes: customer
                .attributes
                .iter()
                .filter(|(name, _)| attributes.contains(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }

    /// The summary of a view (its aggregates and the named attributes).
    pub fn from_view(view: &CustomerView, attributes: &[String]) -> CustomerSummary {
        CustomerSummary {
            id: view.id.clone(),
            lifecycle_stage: view.lifecycle_stage,
            created_at: view.created_at,
            aggregates: view.aggregates.clone(),
            attributes: view
                .attributes
                .iter()
                .filter(|(name, _)| attributes.contains(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }
}

/// Totals per kind, ordered by kind; amounts summed per currency (saturating); the first
/// interaction's amount (the earliest, the smallest id among equals).
fn aggregate<'a>(interactions: impl Iterator<Item = &'a Interaction>) -> Vec<InteractionAggregate> {
    /// Running totals of one kind.
    struct Acc {
        count: u64,
        totals: BTreeMap<String, (i64, kith_model::Currency)>,
        first: Timestamp,
        last: Timestamp,
        /// The id and amount of the first interaction so far.
        first_of: (kith_model::InteractionId, Option<kith_model::Money>),
    }
    let mut by_kind: BTreeMap<InteractionKind, Acc> = BTreeMap::new();
    for i in interactions {
        let acc = by_kind.entry(i.kind).or_insert(Acc {
            count: 0,
            totals: BTreeMap::new(),
            first: i.occurred_at,
            last: i.occurred_at,
            first_of: (i.id, i.amount),
        });
        acc.count += 1;
        if (i.occurred_at, i.id) < (acc.first, acc.first_of.0) {
            acc.first_of = (i.id, i.amount);
        }
        acc.first = acc.first.min(i.occurred_at);
        acc.last = acc.last.max(i.occurred_at);
        if let Some(amount) = i.amount {
            let entry = acc
                .totals
                .entry(amount.currency.code().to_owned())
                .or_insert((0, amount.currency));
            entry.0 = entry.0.saturating_add(amount.minor);
        }
    }
    by_kind
        .into_iter()
        .map(|(kind, acc)| InteractionAggregate {
            kind,
            count: acc.count,
            totals: acc
                .totals
                .into_values()
                .map(|(minor, currency)| kith_model::Money::new(minor, currency))
                .collect(),
            first_at: acc.first,
            last_at: acc.last,
            first_amount: acc.first_of.1,
        })
        .collect()
}

/// An interaction as a plugin sees it.
fn interaction_view(i: &Interaction) -> InteractionView {
    InteractionView {
        id: i.id.to_string(),
        channel: i.channel,
        kind: i.kind,
        direction: i.direction,
        occurred_at: i.occurred_at,
        amount: i.amount,
        rating: i.rating,
        status: i.status.map(|s| s.as_str().to_owned()),
        attributes: i.attributes.clone(),
    }
}

/// The view of `deal`, if its pipeline and stage are known, and if it is open or `closed` asks
/// for closed ones too.
fn deal_view(deal: &Deal, pipelines: &[Pipeline], closed: bool) -> Option<DealView> {
    let pipeline = pipelines.iter().find(|p| p.id == deal.pipeline)?;
    let stage = pipeline.stage(deal.stage)?;
    let status = match stage.category {
        StageCategory::Open => DealStatus::Open,
        StageCategory::Won if closed => DealStatus::Won,
        StageCategory::Lost if closed => DealStatus::Lost,
        StageCategory::Won | StageCategory::Lost => return None,
    };
    // A closed deal closed when it entered its current stage.
    let closed_at = (status != DealStatus::Open).then(|| {
        deal.history
            .last()
            .filter(|v| v.stage == deal.stage)
            .map_or(deal.updated_at, |v| v.entered_at)
    });
    Some(DealView {
        id: deal.id.to_string(),
        pipeline_id: pipeline.id.to_string(),
        pipeline_name: pipeline.name.clone(),
        stage: stage.name.clone(),
        amount: Some(deal.amount),
        probability: stage.probability,
        expected_close: deal.expected_close.map(Timestamp::start_of),
        status,
        closed_at,
    })
}

#[cfg(test)]
mod tests {
    use kith_model::{
        Channel, Currency, CustomerId, CustomerInput, DealId, DealInput, InteractionId,
        InteractionInput, Money, PipelineId, PipelineInput, StageCategory, StageInput,
    };

    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::parse("c", "USD").unwrap())
    }

    fn interaction(
        customer: CustomerId,
        kind: InteractionKind,
        day: i64,
        amount: Option<Money>,
    ) -> Interaction {
        let mut input = InteractionInput::new(customer, Channel::Web, kind);
        input.occurred_at = Some(Timestamp::from_micros(day * DAY));
        input.amount = amount;
        Interaction::new(
            InteractionId::generate(),
            input,
            Timestamp::from_micros(day * DAY),
        )
        .unwrap()
    }

    #[test]
    fn view_aggregates_per_kind_keeps_the_newest_and_only_open_deals() {
        let now = Timestamp::from_micros(100 * DAY);
        let input = CustomerInput {
            email: Some("ada@example.com".into()),
            tags: vec!["VIP".into()],
            ..Default::default()
        };
        let ada = Customer::new(CustomerId::generate(), input, now).unwrap();
        let other = CustomerId::generate();
        let interactions = vec![
            interaction(ada.id, InteractionKind::Purchase, 10, Some(usd(1_000))),
            interaction(ada.id, InteractionKind::Purchase, 30, Some(usd(2_500))),
            interaction(ada.id, InteractionKind::Note, 20, None),
            interaction(other, InteractionKind::Purchase, 40, Some(usd(9_999))),
        ];
        let stages = |names: &[(&str, StageCategory)]| {
            names
                .iter()
                .map(|(name, category)| StageInput {
                    name: (*name).to_owned(),
                    probability: 40,
                    category: *category,
                })
                .collect()
        };
        let pipeline = Pipeline::new(
            PipelineId::generate(),
            PipelineInput {
                lost_reasons: Vec::new(),
                name: "Sales".into(),
                stages: stages(&[("Lead", StageCategory::Open), ("Won", StageCategory::Won)]),
            },
            now,
        )
        .unwrap();
        let deal = |stage: usize| {
            let input = DealInput {
                attributes: Default::default(),
                customer: ada.id,
                pipeline: pipeline.id,
                stage: Some(pipeline.stages[stage].id),
                title: "Deal".into(),
                amount: usd(50_000),
                expected_close: None,
                owner: None,
            };
            Deal::new(DealId::generate(), input, &pipeline, now).unwrap()
        };
        let deals = vec![deal(0), deal(1)];

        let view = CustomerView::from_model(
            &ada,
            &interactions,
            &deals,
            std::slice::from_ref(&pipeline),
            2,
            1,
        );
        assert_eq!(view.email.as_deref(), Some("ada@example.com"));
        assert_eq!(view.tags, ["vip"]);
        let kinds: Vec<_> = view.aggregates.iter().map(|a| (a.kind, a.count)).collect();
        assert_eq!(
            kinds,
            [(InteractionKind::Note, 1), (InteractionKind::Purchase, 2)]
        );
        let purchases = &view.aggregates[1];
        assert_eq!(purchases.totals, [usd(3_500)]);
        assert_eq!(purchases.first_at, Timestamp::from_micros(10 * DAY));
        assert_eq!(purchases.last_at, Timestamp::from_micros(30 * DAY));
        assert_eq!(purchases.first_amount, Some(usd(1_000)));
        let recent: Vec<_> = view
            .recent_interactions
            .iter()
            .map(|i| i.occurred_at)
            .collect();
        assert_eq!(
            recent,
            [
                Timestamp::from_micros(30 * DAY),
                Timestamp::from_micros(20 * DAY)
            ]
        );
        assert_eq!(view.open_deals.len(), 1);
        assert_eq!(view.open_deals[0].stage, "Lead");
        assert_eq!(view.open_deals[0].pipeline_name, "Sales");
        assert_eq!(view.open_deals[0].status, DealStatus::Open);
        assert_eq!(view.closed_deals.len(), 1);
        assert_eq!(view.closed_deals[0].status, DealStatus::Won);
        assert_eq!(view.closed_deals[0].closed_at, Some(now));

        let summary = CustomerSummary::from_model(&ada, &interactions, &[]);
        assert_eq!(summary.aggregates, view.aggregates);
        assert!(
            CustomerView::from_model(&ada, &interactions, &deals, &[], 0, 0)
                .open_deals
                .is_empty()
        );
    }

    #[test]
    fn the_first_amount_is_the_earliest_interactions_whatever_the_order() {
        let input = CustomerInput {
            name: Some("Ada".into()),
            ..Default::default()
        };
        let ada = Customer::new(CustomerId::generate(), input, Timestamp::from_micros(0)).unwrap();
        let mut interactions = vec![
            interaction(ada.id, InteractionKind::Purchase, 30, Some(usd(300))),
            interaction(ada.id, InteractionKind::Purchase, 20, Some(usd(200))),
            interaction(ada.id, InteractionKind::Purchase, 10, None),
        ];
        let first = |list: &[Interaction]| {
            CustomerSummary::from_model(&ada, list, &[]).aggregates[0].first_amount
        };
        // The earliest had no amount: the first amount is none, not the earliest amount.
        assert_eq!(first(&interactions), None);
        interactions.pop();
        assert_eq!(first(&interactions), Some(usd(200)));
        interactions.reverse();
        assert_eq!(first(&interactions), Some(usd(200)));
    }
}
