//! The store behaviour added for the HTTP API: tenant update and deletion, customer merge,
//! pipeline update, reorder and deletion, deal update, API tokens, idempotent writes and commit
//! notifications. Every test ends with `check()` finding nothing.

use sha2::Digest as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::{Fixture, Kind, on_both_backends};
use kith_model::{
    Actor, AttributeValue, Channel, Currency, CustomerId, CustomerInput, CustomerKind, DealInput,
    DealPatch, EntityRef, EventKind, ExternalId, InteractionInput, InteractionKind, Money,
    PipelineId, PipelineInput, PipelinePatch, StageCategory, StageChange, StageInput, Tag,
    TenantInput, TenantPatch, TenantSlug, Timestamp,
};
use kith_store::Error;
use kith_store::{
    CommitInfo, CustomerFilter, IdempotencyKey, Op, Output, PageRequest, Store, TokenRecord,
    TokenScope,
};

fn actor() -> Actor {
    Actor::new("test")
}

fn tenant(store: &dyn Store, slug: &str) -> TenantSlug {
    let input = TenantInput {
        slug: slug.into(),
        name: None,
        industry: Some("retail".into()),
    };
    store.create_tenant(input, &actor()).unwrap().slug
}

fn usd(minor: i64) -> Money {
    Money::new(minor, "USD".parse::<Currency>().unwrap())
}

fn pipeline_input(name: &str) -> PipelineInput {
    PipelineInput {
        lost_reasons: Vec::new(),
        name: name.into(),
        stages: vec![
            StageInput {
                name: "Lead".into(),
                probability: 10,
                category: StageCategory::Open,
            },
            StageInput {
                name: "Won".into(),
                probability: 100,
                category: StageCategory::Won,
            },
        ],
    }
}

fn assert_consistent(store: &dyn Store) {
    assert_eq!(store.check().unwrap(), Vec::new());
}

fn key(k: &str, body: &str) -> IdempotencyKey {
    IdempotencyKey {
        key: k.into(),
        fingerprint: sha2::Sha256::digest(body.as_bytes()).into(),
    }
}

fn tenant_update_changes_name_and_clears_industry_with_one_event(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let patch = TenantPatch {
        name: Some("Acme Inc".into()),
        industry: Some(None),
        ..Default::default()
    };
    let updated = store.update_tenant(&t, &actor(), patch).unwrap();
    assert_eq!(updated.name, "Acme Inc");
    assert_eq!(updated.industry, None);
    assert_eq!(store.tenant(&t).unwrap(), Some(updated));
    let events = store.events(&t, 0, 10).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].kind, EventKind::TenantUpdated);
    assert_eq!(events[1].changed, vec!["name", "industry"]);
    // An empty name is refused, nothing written.
    let bad = TenantPatch {
        name: Some("  ".into()),
        ..Default::default()
    };
    assert!(matches!(
        store.update_tenant(&t, &actor(), bad),
        Err(Error::Invalid(_))
    ));
    assert_eq!(store.last_seq(&t).unwrap(), 2);
    assert_consistent(&*store);
}

fn deleting_a_tenant_removes_all_its_data_and_keys_and_a_new_tenant_of_that_slug_starts_empty(
    kind: Kind,
) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let a = tenant(&*store, "acme");
    let b = tenant(&*store, "beta");
    for t in [&a, &b] {
        let c = store
            .create_customer(
                t,
                &actor(),
                CustomerInput {
                    email: Some("ada@example.com".into()),
                    tags: vec!["vip".into()],
                    ..Default::default()
                },
            )
            .unwrap();
        store
            .log_interaction(
                t,
                &actor(),
                InteractionInput::new(c.id, Channel::Email, InteractionKind::Note),
            )
            .unwrap();
        let p = store
            .create_pipeline(t, &actor(), pipeline_input("Sales"))
            .unwrap();
        store
            .create_deal(
                t,
                &actor(),
                DealInput {
                    attributes: Default::default(),
                    customer: c.id,
                    pipeline: p.id,
                    stage: None,
                    title: "Deal".into(),
                    amount: usd(100),
                    expected_close: None,
                    owner: None,
                },
            )
            .unwrap();
        store
            .write_once(t, &actor(), vec![], &key("k1", "x"))
            .unwrap();
    }
    let token = |scope| TokenRecord {
        id: format!("{:016x}", rand_id()),
        hash: [7; 32],
        scope,
        read_only: false,
        name: None,
        created_at: Timestamp::from_secs(0),
    };
    let a_key = store
        .create_token(token(TokenScope::Tenant(a.clone())), None)
        .unwrap()
        .value;
    let b_key = store
        .create_token(token(TokenScope::Tenant(b.clone())), None)
        .unwrap()
        .value;
    let admin = store
        .create_token(token(TokenScope::Admin), None)
        .unwrap()
        .value;
    let before_b = store.stats().unwrap().tenants[1].clone();

    store.delete_tenant(&a, &actor()).unwrap();

    assert_eq!(store.tenant(&a).unwrap(), None);
    assert!(matches!(
        store.customers(&a, &CustomerFilter::All, &PageRequest::first(10)),
        Err(Error::TenantNotFound(_))
    ));
    assert_eq!(store.token(&a_key.id).unwrap(), None);
    assert!(store.token(&b_key.id).unwrap().is_some());
    assert!(store.token(&admin.id).unwrap().is_some());
    let stats = store.stats().unwrap();
    assert_eq!(stats.tenants.len(), 1);
    assert_eq!(stats.tenants[0], before_b);
    assert_consistent(&*store);

    // The same slug again: a fresh, empty tenant whose log starts at 1 and whose keys are new.
    let again = tenant(&*store, "acme");
    let page = store
        .customers(&again, &CustomerFilter::All, &PageRequest::first(10))
        .unwrap();
    assert!(page.items.is_empty());
    let events = store.events(&again, 0, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    // The old idempotency key means nothing in the new tenant.
    let replay = store
        .write_once(&again, &actor(), vec![], &key("k1", "other body"))
        .unwrap();
    assert!(!replay.replayed);
    // The deleted tenant's customer email is free again.
    store
        .create_customer(
            &again,
            &actor(),
            CustomerInput {
                email: Some("ada@example.com".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(matches!(
        store.delete_tenant(&TenantSlug::parse("nope").unwrap(), &actor()),
        Err(Error::TenantNotFound(_))
    ));
    assert_consistent(&*store);
    drop(store);
    // Durable: after reopening, the deletion holds.
    let store = fx.open();
    assert_eq!(store.tenants().unwrap().len(), 2);
    assert_consistent(&*store);
}

fn rand_id() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn merging_customers_moves_history_keeps_aside_conflicting_contacts_and_records_one_event(
    kind: Kind,
) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let survivor = store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                first_name: Some("Ada".into()),
                email: Some("ada@example.com".into()),
                external_ids: vec![ExternalId {
                    source: "shop".into(),
                    id: "1".into(),
                }],
                tags: vec!["vip".into()],
                attributes: [("tier".to_owned(), AttributeValue::Text("gold".into()))].into(),
                ..Default::default()
            },
        )
        .unwrap();
    let duplicate = store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                last_name: Some("Lovelace".into()),
                email: Some("ada@work.example".into()),
                phone: Some("+44 20 7946 0000".into()),
                external_ids: vec![
                    ExternalId {
                        source: "shop".into(),
                        id: "2".into(),
                    },
                    ExternalId {
                        source: "pos".into(),
                        id: "9".into(),
                    },
                ],
                tags: vec!["newsletter".into()],
                attributes: [
                    ("tier".to_owned(), AttributeValue::Text("silver".into())),
                    ("city_code".to_owned(), AttributeValue::Number(7.0)),
                ]
                .into(),
                ..Default::default()
            },
        )
        .unwrap();
    let (note, _) = store
        .log_interaction(
            &t,
            &actor(),
            InteractionInput::new(duplicate.id, Channel::Email, InteractionKind::Note),
        )
        .unwrap();
    let p = store
        .create_pipeline(&t, &actor(), pipeline_input("Sales"))
        .unwrap();
    let deal = store
        .create_deal(
            &t,
            &actor(),
            DealInput {
                attributes: Default::default(),
                customer: duplicate.id,
                pipeline: p.id,
                stage: None,
                title: "Renewal".into(),
                amount: usd(500),
                expected_close: None,
                owner: None,
            },
        )
        .unwrap();
    let seq = store.last_seq(&t).unwrap();

    // A stale version is refused and writes nothing.
    let stale = Op::MergeCustomers {
        survivor: survivor.id,
        duplicate: duplicate.id,
        expected_version: Some(survivor.version + 5),
    };
    assert!(matches!(
        store.write(&t, &actor(), vec![stale]),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(store.last_seq(&t).unwrap(), seq);

    let op = Op::MergeCustomers {
        survivor: survivor.id,
        duplicate: duplicate.id,
        expected_version: Some(survivor.version),
    };
    let merged = match store.write(&t, &actor(), vec![op]).unwrap().pop() {
        Some(Output::Customer(c)) => c,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(merged.id, survivor.id);
    assert_eq!(merged.version, survivor.version + 1);
    assert_eq!(merged.first_name.as_deref(), Some("Ada"));
    assert_eq!(merged.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(
        merged.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    assert_eq!(
        merged.phone.as_ref().map(|p| p.as_str()),
        Some("+442079460000")
    );
    assert_eq!(
        merged.attributes.get("merged_email"),
        Some(&AttributeValue::Text("ada@work.example".into()))
    );
    assert_eq!(
        merged.attributes.get("merged_external_id.shop"),
        Some(&AttributeValue::Text("2".into()))
    );
    assert_eq!(
        merged.attributes.get("tier"),
        Some(&AttributeValue::Text("gold".into())),
        "the survivor's attribute wins"
    );
    assert_eq!(
        merged.attributes.get("city_code"),
        Some(&AttributeValue::Number(7.0))
    );
    let sources: Vec<_> = merged
        .external_ids
        .iter()
        .map(|x| (x.source.as_str(), x.id.as_str()))
        .collect();
    assert_eq!(sources, vec![("shop", "1"), ("pos", "9")]);
    let tags: Vec<_> = merged.tags.iter().map(Tag::as_str).collect();
    assert_eq!(tags, vec!["newsletter", "vip"]);

    assert_eq!(store.customer(&t, duplicate.id).unwrap(), None);
    let timeline = store
        .timeline(&t, survivor.id, &PageRequest::first(10))
        .unwrap();
    assert_eq!(timeline.items.len(), 1);
    assert_eq!(timeline.items[0].id, note.id);
    assert_eq!(timeline.items[0].customer, survivor.id);
    assert_eq!(
        store.deal(&t, deal.id).unwrap().map(|d| d.customer),
        Some(survivor.id)
    );
    // Indexes follow: the duplicate's phone and external id find the survivor.
    let phone = kith_model::Phone::parse("phone", "+442079460000", None).unwrap();
    assert_eq!(
        store.customer_by_phone(&t, &phone).unwrap().map(|c| c.id),
        Some(survivor.id)
    );
    assert_eq!(
        store
            .customer_by_external_id(&t, "pos", "9")
            .unwrap()
            .map(|c| c.id),
        Some(survivor.id)
    );

    let events = store.events(&t, seq, 10).unwrap();
    assert_eq!(events.len(), 1, "one event for the whole merge");
    assert_eq!(events[0].kind, EventKind::CustomersMerged);
    assert_eq!(
        events[0].entity,
        EntityRef::Merged {
            survivor: survivor.id,
            duplicate: duplicate.id
        }
    );
    assert_consistent(&*store);
}

fn merging_a_person_into_an_organization_or_into_itself_is_refused(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let person = store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let org = store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                kind: CustomerKind::Organization,
                name: Some("Acme".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let seq = store.last_seq(&t).unwrap();
    for (s, d) in [(person.id, org.id), (person.id, person.id)] {
        let op = Op::MergeCustomers {
            survivor: s,
            duplicate: d,
            expected_version: None,
        };
        assert!(matches!(
            store.write(&t, &actor(), vec![op]),
            Err(Error::Invalid(_))
        ));
    }
    let ghost = Op::MergeCustomers {
        survivor: person.id,
        duplicate: CustomerId::generate(),
        expected_version: None,
    };
    assert!(matches!(
        store.write(&t, &actor(), vec![ghost]),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(store.last_seq(&t).unwrap(), seq);
    assert_consistent(&*store);
}

fn merging_organizations_moves_the_members_to_the_survivor(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let org = |name: &str| CustomerInput {
        kind: CustomerKind::Organization,
        name: Some(name.into()),
        ..Default::default()
    };
    let keep = store.create_customer(&t, &actor(), org("Acme")).unwrap();
    let dup = store
        .create_customer(&t, &actor(), org("ACME Ltd"))
        .unwrap();
    let member = store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                name: Some("Bob".into()),
                organization: Some(dup.id),
                ..Default::default()
            },
        )
        .unwrap();
    let op = Op::MergeCustomers {
        survivor: keep.id,
        duplicate: dup.id,
        expected_version: None,
    };
    store.write(&t, &actor(), vec![op]).unwrap();
    let members = store
        .customers(
            &t,
            &CustomerFilter::Organization(keep.id),
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(members.items.len(), 1);
    assert_eq!(members.items[0].id, member.id);
    assert_consistent(&*store);
}

fn pipelines_are_renamed_restaged_reordered_and_deleted_only_when_empty(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let sales = store
        .create_pipeline(&t, &actor(), pipeline_input("Sales"))
        .unwrap();
    let other = store
        .create_pipeline(&t, &actor(), pipeline_input("Renewals"))
        .unwrap();
    let lead = sales.stages[0].id;
    let won = sales.stages[1].id;

    let patch = PipelinePatch {
        lost_reasons: None,
        name: Some("New business".into()),
        stages: vec![StageChange {
            id: lead,
            name: Some("Qualified".into()),
            probability: Some(20),
            category: None,
        }],
        add_stages: vec![StageInput {
            name: "Lost".into(),
            probability: 0,
            category: StageCategory::Lost,
        }],
        ..Default::default()
    };
    let op = Op::UpdatePipeline {
        id: sales.id,
        expected_version: Some(1),
        patch,
    };
    let Some(Output::Pipeline(p)) = store.write(&t, &actor(), vec![op]).unwrap().pop() else {
        panic!("no pipeline");
    };
    assert_eq!(p.name, "New business");
    assert_eq!(p.version, 2);
    assert_eq!(p.stages.len(), 3);
    assert_eq!(
        (p.stages[0].name.as_str(), p.stages[0].probability),
        ("Qualified", 20)
    );

    // The name is unique per tenant; a stale version and a bad stage id are refused.
    let seq = store.last_seq(&t).unwrap();
    let dup = Op::UpdatePipeline {
        id: other.id,
        expected_version: None,
        patch: PipelinePatch {
            name: Some("new BUSINESS".into()),
            ..Default::default()
        },
    };
    assert!(matches!(
        store.write(&t, &actor(), vec![dup]),
        Err(Error::Duplicate { field: "name", .. })
    ));
    let stale = Op::UpdatePipeline {
        id: sales.id,
        expected_version: Some(1),
        patch: PipelinePatch::default(),
    };
    assert!(matches!(
        store.write(&t, &actor(), vec![stale]),
        Err(Error::Conflict { .. })
    ));
    let ghost_stage = Op::UpdatePipeline {
        id: sales.id,
        expected_version: None,
        patch: PipelinePatch {
            stages: vec![StageChange {
                id: other.stages[0].id,
                name: None,
                probability: Some(101),
                category: None,
            }],
            ..Default::default()
        },
    };
    match store.write(&t, &actor(), vec![ghost_stage]) {
        Err(Error::Invalid(v)) => assert_eq!(v.errors[0].field, "stages[0].id"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(store.last_seq(&t).unwrap(), seq);

    // Reorder: a permutation only.
    let lost = p.stages[2].id;
    let bad = Op::ReorderStages {
        id: sales.id,
        expected_version: None,
        order: vec![lead, won],
    };
    assert!(matches!(
        store.write(&t, &actor(), vec![bad]),
        Err(Error::Invalid(_))
    ));
    let reorder = Op::ReorderStages {
        id: sales.id,
        expected_version: Some(2),
        order: vec![lead, lost, won],
    };
    let Some(Output::Pipeline(p)) = store.write(&t, &actor(), vec![reorder]).unwrap().pop() else {
        panic!("no pipeline");
    };
    let order: Vec<_> = p.stages.iter().map(|s| s.id).collect();
    assert_eq!(order, vec![lead, lost, won]);
    assert_eq!(p.version, 3);

    // Not deleted while it has a deal; deleted once it is empty.
    let c = store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let deal = store
        .create_deal(
            &t,
            &actor(),
            DealInput {
                attributes: Default::default(),
                customer: c.id,
                pipeline: sales.id,
                stage: None,
                title: "Deal".into(),
                amount: usd(1),
                expected_close: None,
                owner: None,
            },
        )
        .unwrap();
    assert!(matches!(
        store.write(&t, &actor(), vec![Op::DeletePipeline(sales.id)]),
        Err(Error::PipelineNotEmpty { deals: 1, .. })
    ));
    store.erase_customer(&t, &actor(), c.id).unwrap();
    assert_eq!(store.deal(&t, deal.id).unwrap(), None);
    store
        .write(&t, &actor(), vec![Op::DeletePipeline(sales.id)])
        .unwrap();
    assert_eq!(store.pipeline(&t, sales.id).unwrap(), None);
    let last = store.events(&t, 0, 100).unwrap().pop().unwrap();
    assert_eq!(last.kind, EventKind::PipelineDeleted);
    // Its name is free again.
    store
        .create_pipeline(&t, &actor(), pipeline_input("New business"))
        .unwrap();
    assert!(matches!(
        store.write(
            &t,
            &actor(),
            vec![Op::DeletePipeline(PipelineId::generate())]
        ),
        Err(Error::NotFound { .. })
    ));
    assert_consistent(&*store);
}

fn deal_update_changes_details_at_a_version_and_keeps_the_stage_index_covering(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let c = store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let ann = super::backend::user(&*store, &t, "Ann");
    let p = store
        .create_pipeline(&t, &actor(), pipeline_input("Sales"))
        .unwrap();
    let deal = store
        .create_deal(
            &t,
            &actor(),
            DealInput {
                attributes: Default::default(),
                customer: c.id,
                pipeline: p.id,
                stage: None,
                title: "Deal".into(),
                amount: usd(100),
                expected_close: None,
                owner: Some(ann),
            },
        )
        .unwrap();
    let op = Op::UpdateDeal {
        id: deal.id,
        expected_version: Some(1),
        patch: DealPatch {
            attributes: Default::default(),
            lost_reason: None,
            title: Some("Bigger deal".into()),
            amount: Some(usd(900)),
            expected_close: None,
            owner: Some(None),
            ..DealPatch::default()
        },
    };
    let Some(Output::Deal(d)) = store.write(&t, &actor(), vec![op]).unwrap().pop() else {
        panic!("no deal");
    };
    assert_eq!(
        (d.title.as_str(), d.amount, d.owner.clone(), d.version),
        ("Bigger deal", usd(900), None, 2)
    );
    // The report reads the covering index: it sees the new amount.
    let report = store.pipeline_report(&t, p.id).unwrap();
    assert_eq!(report.stages[0].amount, vec![usd(900)]);
    let negative = Op::UpdateDeal {
        id: deal.id,
        expected_version: None,
        patch: DealPatch {
            amount: Some(usd(-1)),
            ..Default::default()
        },
    };
    assert!(matches!(
        store.write(&t, &actor(), vec![negative]),
        Err(Error::Invalid(_))
    ));
    let last = store.events(&t, 0, 100).unwrap().pop().unwrap();
    assert_eq!(last.kind, EventKind::DealUpdated);
    assert_eq!(last.changed, vec!["title", "amount", "owner"]);
    assert_consistent(&*store);
}

fn an_idempotent_write_replays_its_first_result_and_refuses_the_key_for_another_request(
    kind: Kind,
) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let input = CustomerInput {
        email: Some("ada@example.com".into()),
        ..Default::default()
    };
    let k = key("retry-1", "ada");
    let first = store
        .write_once(&t, &actor(), vec![Op::CreateCustomer(input.clone())], &k)
        .unwrap();
    assert!(!first.replayed);
    let seq = store.last_seq(&t).unwrap();
    let again = store
        .write_once(&t, &actor(), vec![Op::CreateCustomer(input.clone())], &k)
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, first.value);
    assert_eq!(store.last_seq(&t).unwrap(), seq, "a replay writes nothing");
    let other = key("retry-1", "bob");
    assert!(matches!(
        store.write_once(&t, &actor(), vec![Op::CreateCustomer(input)], &other),
        Err(Error::IdempotencyKeyReused(_))
    ));
    // A failed request stores nothing under its key: a corrected retry with it works.
    let bad = CustomerInput::default();
    let k2 = key("retry-2", "x");
    assert!(
        store
            .write_once(&t, &actor(), vec![Op::CreateCustomer(bad)], &k2)
            .is_err()
    );
    let good = CustomerInput {
        name: Some("Bob".into()),
        ..Default::default()
    };
    assert!(
        !store
            .write_once(&t, &actor(), vec![Op::CreateCustomer(good)], &k2)
            .unwrap()
            .replayed
    );
    // Tenant creation is idempotent too, outside any tenant.
    let tk = key("tenant-1", "beta");
    let input = TenantInput {
        slug: "beta".into(),
        name: None,
        industry: None,
    };
    let created = store
        .create_tenant_once(input.clone(), &actor(), &tk)
        .unwrap();
    let replayed = store.create_tenant_once(input, &actor(), &tk).unwrap();
    assert!(replayed.replayed);
    assert_eq!(created.value, replayed.value);
    assert_consistent(&*store);
}

fn commit_listeners_hear_every_commit_with_its_batch_size(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let heard = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    {
        let heard = Arc::clone(&heard);
        let requests = Arc::clone(&requests);
        store.on_commit(Arc::new(move |info: &CommitInfo| {
            heard.fetch_add(1, Ordering::SeqCst);
            requests.fetch_add(info.requests, Ordering::SeqCst);
        }));
    }
    let t = tenant(&*store, "acme");
    store
        .create_customer(
            &t,
            &actor(),
            CustomerInput {
                name: Some("Ada".into()),
                ..Default::default()
            },
        )
        .unwrap();
    // Listeners run before the writer hears back: both commits are counted by now.
    assert_eq!(heard.load(Ordering::SeqCst), 2);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

on_both_backends! {
    tenant_update_changes_name_and_clears_industry_with_one_event,
    deleting_a_tenant_removes_all_its_data_and_keys_and_a_new_tenant_of_that_slug_starts_empty,
    merging_customers_moves_history_keeps_aside_conflicting_contacts_and_records_one_event,
    merging_a_person_into_an_organization_or_into_itself_is_refused,
    merging_organizations_moves_the_members_to_the_survivor,
    pipelines_are_renamed_restaged_reordered_and_deleted_only_when_empty,
    deal_update_changes_details_at_a_version_and_keeps_the_stage_index_covering,
    an_idempotent_write_replays_its_first_result_and_refuses_the_key_for_another_request,
    commit_listeners_hear_every_commit_with_its_batch_size,
}
