//! Users and teams: records, uniqueness, owners that must be active users, bulk reassignment,
//! and the upgrade that turns the free-text owners of older data into users.

use std::collections::HashSet;

use crate::backend::{Fixture, Kind, on_both_backends};
use kith_model::{
    Actor, Currency, Customer, CustomerInput, Deal, DealInput, DealPatch, EntityRef, EventKind,
    Money, PipelineInput, Role, StageCategory, StageInput, TeamInput, TeamPatch, TenantInput,
    TenantSlug, User, UserId, UserInput, UserPatch,
};
use kith_store::{CustomerFilter, Error, Op, Output, PageRequest, Store};

fn actor() -> Actor {
    Actor::new("test")
}

fn tenant(store: &dyn Store, slug: &str) -> TenantSlug {
    let input = TenantInput {
        slug: slug.into(),
        name: None,
        industry: None,
    };
    store.create_tenant(input, &actor()).unwrap().slug
}

fn one(store: &dyn Store, t: &TenantSlug, op: Op) -> kith_store::Result<Output> {
    store
        .write(t, &actor(), vec![op])
        .map(|mut o| o.pop().unwrap())
}

fn add_user(store: &dyn Store, t: &TenantSlug, input: UserInput) -> User {
    match one(store, t, Op::CreateUser(input)).unwrap() {
        Output::User(u) => u,
        other => panic!("{other:?}"),
    }
}

fn named(name: &str) -> UserInput {
    UserInput {
        name: name.into(),
        ..Default::default()
    }
}

fn customer(store: &dyn Store, t: &TenantSlug, owner: Option<&User>) -> Customer {
    let input = CustomerInput {
        name: Some("Ada".into()),
        owner: owner.map(|u| u.id.to_string()),
        ..Default::default()
    };
    store.create_customer(t, &actor(), input).unwrap()
}

fn pipeline(store: &dyn Store, t: &TenantSlug) -> kith_model::Pipeline {
    let stage = |name: &str, category| StageInput {
        name: name.into(),
        probability: 50,
        category,
    };
    store
        .create_pipeline(
            t,
            &actor(),
            PipelineInput {
                lost_reasons: Vec::new(),
                name: "Sales".into(),
                stages: vec![
                    stage("Open", StageCategory::Open),
                    stage("Won", StageCategory::Won),
                ],
            },
        )
        .unwrap()
}

fn deal(
    store: &dyn Store,
    t: &TenantSlug,
    c: &Customer,
    p: &kith_model::Pipeline,
    owner: &User,
) -> Deal {
    let input = DealInput {
        attributes: Default::default(),
        customer: c.id,
        pipeline: p.id,
        stage: None,
        title: "Deal".into(),
        amount: Money::new(100, "EUR".parse::<Currency>().unwrap()),
        expected_close: None,
        owner: Some(owner.id.to_string()),
    };
    store.create_deal(t, &actor(), input).unwrap()
}

fn assert_consistent(store: &dyn Store) {
    assert_eq!(store.check().unwrap(), Vec::new());
}

fn users_and_teams_are_stored_with_unique_emails_and_team_names(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let other = tenant(&*store, "beta");
    let sales = match one(
        &*store,
        &t,
        Op::CreateTeam(TeamInput {
            name: "Sales".into(),
            shared: None,
        }),
    )
    .unwrap()
    {
        Output::Team(team) => team,
        o => panic!("{o:?}"),
    };
    assert!(sales.shared, "teams share by default");
    let dup = one(
        &*store,
        &t,
        Op::CreateTeam(TeamInput {
            name: "SALES".into(),
            shared: None,
        }),
    );
    assert!(
        matches!(dup, Err(Error::Duplicate { field: "name", .. })),
        "{dup:?}"
    );
    // Another tenant may use the same names and emails.
    one(
        &*store,
        &other,
        Op::CreateTeam(TeamInput {
            name: "Sales".into(),
            shared: None,
        }),
    )
    .unwrap();
    let ana = add_user(
        &*store,
        &t,
        UserInput {
            name: "Ana Rivera".into(),
            email: Some("ana@Example.COM".into()),
            role: Some(Role::Manager),
            teams: vec![sales.id, sales.id],
        },
    );
    assert_eq!(ana.email.as_ref().unwrap().as_str(), "ana@example.com");
    assert_eq!(ana.teams, vec![sales.id], "a team once");
    assert!(ana.active);
    add_user(
        &*store,
        &other,
        UserInput {
            email: Some("ana@example.com".into()),
            ..named("Ana")
        },
    );
    let taken = one(
        &*store,
        &t,
        Op::CreateUser(UserInput {
            email: Some("ana@example.com".into()),
            ..named("Other")
        }),
    );
    assert!(
        matches!(taken, Err(Error::Duplicate { field: "email", .. })),
        "{taken:?}"
    );
    let ghost_team = one(
        &*store,
        &t,
        Op::CreateUser(UserInput {
            teams: vec![kith_model::TeamId::generate()],
            ..named("Ben")
        }),
    );
    assert!(
        matches!(ghost_team, Err(Error::Invalid(_))),
        "{ghost_team:?}"
    );
    let bad = one(&*store, &t, Op::CreateUser(named(" ")));
    assert!(matches!(bad, Err(Error::Invalid(_))), "{bad:?}");

    let ben = add_user(
        &*store,
        &t,
        UserInput {
            teams: vec![sales.id],
            ..named("Ben")
        },
    );
    let mut members: Vec<UserId> = store.team_members(&t, sales.id).unwrap();
    members.sort();
    let mut want = vec![ana.id, ben.id];
    want.sort();
    assert_eq!(members, want);
    // A team with members is not deleted; emptied, it is.
    let refused = one(&*store, &t, Op::DeleteTeam(sales.id));
    assert!(
        matches!(refused, Err(Error::TeamNotEmpty { members: 2, .. })),
        "{refused:?}"
    );
    for u in [&ana, &ben] {
        let patch = UserPatch {
            teams: Some(Vec::new()),
            ..Default::default()
        };
        one(
            &*store,
            &t,
            Op::UpdateUser {
                id: u.id,
                expected_version: None,
                patch,
            },
        )
        .unwrap();
    }
    assert_eq!(store.team_members(&t, sales.id).unwrap(), Vec::new());
    let stale = one(
        &*store,
        &t,
        Op::UpdateTeam {
            id: sales.id,
            expected_version: Some(7),
            patch: TeamPatch::default(),
        },
    );
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    one(&*store, &t, Op::DeleteTeam(sales.id)).unwrap();
    assert!(store.team(&t, sales.id).unwrap().is_none());

    // The email moves free once changed; lists page oldest first.
    let patch = UserPatch {
        email: Some(Some("ana.rivera@example.com".into())),
        ..Default::default()
    };
    one(
        &*store,
        &t,
        Op::UpdateUser {
            id: ana.id,
            expected_version: Some(2),
            patch,
        },
    )
    .unwrap();
    add_user(
        &*store,
        &t,
        UserInput {
            email: Some("ana@example.com".into()),
            ..named("New Ana")
        },
    );
    let first = store.users(&t, &PageRequest::first(2)).unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["Ana Rivera", "Ben"]
    );
    let rest = store
        .users(&t, &PageRequest::after(2, first.next.unwrap()))
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next.is_none());
    assert!(
        store.user(&other, ana.id).unwrap().is_none(),
        "another tenant's user is not found"
    );
    let kinds: Vec<EventKind> = store
        .events(&t, 0, 100)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&EventKind::UserCreated) && kinds.contains(&EventKind::TeamDeleted),
        "{kinds:?}"
    );
    assert_consistent(&*store);

    // Deleting the tenant deletes its people; the other tenant keeps its own.
    store.delete_tenant(&t, &actor()).unwrap();
    let t = tenant(&*store, "acme");
    assert!(
        store
            .users(&t, &PageRequest::first(10))
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        store
            .users(&other, &PageRequest::first(10))
            .unwrap()
            .items
            .len(),
        1
    );
    assert_consistent(&*store);
}

fn owners_must_be_active_users_and_keep_what_they_own_when_deactivated(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let other = tenant(&*store, "beta");
    let ana = add_user(&*store, &t, named("Ana"));
    let foreign = add_user(&*store, &other, named("Foreign"));
    for owner in [
        "ann".to_owned(),
        UserId::generate().to_string(),
        foreign.id.to_string(),
    ] {
        let input = CustomerInput {
            name: Some("X".into()),
            owner: Some(owner.clone()),
            ..Default::default()
        };
        let r = store.create_customer(&t, &actor(), input);
        assert!(
            matches!(&r, Err(Error::Invalid(v)) if v.errors[0].field == "owner"),
            "{owner}: {r:?}"
        );
    }
    let c = customer(&*store, &t, Some(&ana));
    let p = pipeline(&*store, &t);
    let d = deal(&*store, &t, &c, &p, &ana);
    let deactivate = UserPatch {
        active: Some(false),
        ..Default::default()
    };
    one(
        &*store,
        &t,
        Op::UpdateUser {
            id: ana.id,
            expected_version: None,
            patch: deactivate,
        },
    )
    .unwrap();
    // Their records stay theirs and stay editable...
    let c = store
        .update_customer(
            &t,
            &actor(),
            c.id,
            c.version,
            kith_model::CustomerPatch {
                name: Some(Some("Ada L.".into())),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(c.owner, Some(ana.id.to_string()));
    // ...but nothing new is given to them.
    let again = store
        .update_customer(
            &t,
            &actor(),
            c.id,
            c.version,
            kith_model::CustomerPatch {
                owner: Some(None),
                ..Default::default()
            },
        )
        .unwrap();
    let back = store.update_customer(
        &t,
        &actor(),
        again.id,
        again.version,
        kith_model::CustomerPatch {
            owner: Some(Some(ana.id.to_string())),
            ..Default::default()
        },
    );
    assert!(
        matches!(&back, Err(Error::Invalid(v)) if v.errors[0].expected.contains("deactivated")),
        "{back:?}"
    );
    let patch = DealPatch {
        owner: Some(Some(ana.id.to_string())),
        ..Default::default()
    };
    let unchanged = one(
        &*store,
        &t,
        Op::UpdateDeal {
            id: d.id,
            expected_version: None,
            patch,
        },
    )
    .unwrap();
    assert!(
        matches!(unchanged, Output::Deal(d2) if d2.version == d.version),
        "setting the same owner changes nothing"
    );
    assert_consistent(&*store);
}

fn reassign_moves_customers_and_open_deals_in_bounded_batches(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ana = add_user(&*store, &t, named("Ana"));
    let ben = add_user(&*store, &t, named("Ben"));
    let p = pipeline(&*store, &t);
    let customers: Vec<Customer> = (0..3).map(|_| customer(&*store, &t, Some(&ana))).collect();
    let open = deal(&*store, &t, &customers[0], &p, &ana);
    let won = deal(&*store, &t, &customers[1], &p, &ana);
    let won = store
        .move_deal(&t, &actor(), won.id, p.stages[1].id, None)
        .unwrap();
    let before = store.last_seq(&t).unwrap();

    let r = one(
        &*store,
        &t,
        Op::Reassign {
            from: ana.id,
            to: ben.id,
            limit: 2,
        },
    )
    .unwrap();
    assert_eq!(
        r,
        Output::Reassigned {
            customers: 2,
            deals: 0,
            work: 0,
            more: true
        }
    );
    let r = one(
        &*store,
        &t,
        Op::Reassign {
            from: ana.id,
            to: ben.id,
            limit: 2,
        },
    )
    .unwrap();
    assert_eq!(
        r,
        Output::Reassigned {
            customers: 1,
            deals: 1,
            work: 0,
            more: false
        }
    );
    let r = one(
        &*store,
        &t,
        Op::Reassign {
            from: ana.id,
            to: ben.id,
            limit: 2,
        },
    )
    .unwrap();
    assert_eq!(
        r,
        Output::Reassigned {
            customers: 0,
            deals: 0,
            work: 0,
            more: false
        }
    );
    for c in &customers {
        assert_eq!(
            store.customer(&t, c.id).unwrap().unwrap().owner,
            Some(ben.id.to_string())
        );
    }
    assert_eq!(
        store.deal(&t, open.id).unwrap().unwrap().owner,
        Some(ben.id.to_string())
    );
    assert_eq!(
        store.deal(&t, won.id).unwrap().unwrap().owner,
        Some(ana.id.to_string()),
        "a won deal stays credited"
    );
    let events = store.events(&t, before, 100).unwrap();
    assert_eq!(events.len(), 4, "one event per record moved");
    assert!(events.iter().all(|e| e.changed == ["owner"]));
    let listed = store
        .customers(
            &t,
            &CustomerFilter::Owner(ben.id.to_string()),
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(listed.items.len(), 3);

    // Not to a deactivated user, not to oneself.
    let deactivate = UserPatch {
        active: Some(false),
        ..Default::default()
    };
    one(
        &*store,
        &t,
        Op::UpdateUser {
            id: ana.id,
            expected_version: None,
            patch: deactivate,
        },
    )
    .unwrap();
    let r = one(
        &*store,
        &t,
        Op::Reassign {
            from: ben.id,
            to: ana.id,
            limit: 10,
        },
    );
    assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
    let r = one(
        &*store,
        &t,
        Op::Reassign {
            from: ben.id,
            to: ben.id,
            limit: 10,
        },
    );
    assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
    assert_consistent(&*store);
}

fn a_replayed_deal_opens_in_the_past_never_in_the_future(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ann = add_user(&*store, &t, named("Ann"));
    let c = customer(&*store, &t, None);
    let p = pipeline(&*store, &t);
    let input = DealInput {
        attributes: Default::default(),
        customer: c.id,
        pipeline: p.id,
        stage: None,
        title: "Old deal".into(),
        amount: Money::new(100, "EUR".parse::<Currency>().unwrap()),
        expected_close: None,
        owner: Some(ann.id.to_string()),
    };
    let then = kith_model::Timestamp::now().plus_micros(-30 * 86_400_000_000);
    let Output::Deal(d) = one(
        &*store,
        &t,
        Op::ReplayDeal {
            input: input.clone(),
            opened_at: then,
        },
    )
    .unwrap() else {
        panic!("no deal");
    };
    assert_eq!((d.created_at, d.history[0].entered_at), (then, then));
    let won = store
        .move_deal(
            &t,
            &actor(),
            d.id,
            p.stages[1].id,
            Some(then.plus_micros(86_400_000_000)),
        )
        .unwrap();
    assert_eq!(
        won.history[0].left_at,
        Some(then.plus_micros(86_400_000_000))
    );
    let before = store.last_seq(&t).unwrap();
    let later = kith_model::Timestamp::now().plus_micros(86_400_000_000);
    let r = one(
        &*store,
        &t,
        Op::ReplayDeal {
            input,
            opened_at: later,
        },
    );
    assert!(
        matches!(&r, Err(Error::Invalid(v)) if v.errors[0].field == "opened_at"),
        "{r:?}"
    );
    assert_eq!(store.last_seq(&t).unwrap(), before);
    assert_consistent(&*store);
}

on_both_backends!(
    a_replayed_deal_opens_in_the_past_never_in_the_future,
    users_and_teams_are_stored_with_unique_emails_and_team_names,
    owners_must_be_active_users_and_keep_what_they_own_when_deactivated,
    reassign_moves_customers_and_open_deals_in_bounded_batches,
    free_text_owners_of_older_data_become_users,
);

/// Rewrites a stored record as older Kith wrote it: `owner` as free text.
fn with_owner<T: serde::Serialize + serde::de::DeserializeOwned>(
    bytes: &[u8],
    set: impl FnOnce(&mut T),
) -> Vec<u8> {
    let mut v: T = postcard::from_bytes(bytes).unwrap();
    set(&mut v);
    postcard::to_allocvec(&v).unwrap()
}

/// Makes the store look as schema version 1 left it: the customer and deal owned by the free
/// text `owner`, no users, no deal-owner index.
fn downgrade(fx: &Fixture, c: &Customer, d: &Deal, owner: &str) {
    match fx.kind() {
        Kind::Redb => downgrade_redb(fx.dir(), c, d, owner),
        Kind::Postgres => {
            let db = fx.db().unwrap();
            let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let cdoc = hex(postcard::to_allocvec(&Customer {
                owner: Some(owner.into()),
                ..c.clone()
            })
            .unwrap());
            let ddoc = hex(postcard::to_allocvec(&Deal {
                owner: Some(owner.into()),
                ..d.clone()
            })
            .unwrap());
            db.execute(&format!(
                "UPDATE kith_customers SET owner = '{owner}', doc = '\\x{cdoc}' WHERE id = '{}'",
                c.id
            ));
            db.execute(&format!(
                "UPDATE kith_deals SET owner = NULL, doc = '\\x{ddoc}' WHERE id = '{}'",
                d.id
            ));
            db.execute("DELETE FROM kith_users");
            db.execute("INSERT INTO kith_upgrades (step) VALUES ('backfill-deal-owners'), ('adopt-owners')");
        }
    }
}

fn downgrade_redb(dir: &std::path::Path, c: &Customer, d: &Deal, owner: &str) {
    let before = c.owner.clone().unwrap();
    use redb::{ReadableTable, TableDefinition};
    type Raw = TableDefinition<'static, &'static [u8], &'static [u8]>;
    let db = redb::Database::create(dir.join("kith.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut customers = txn
            .open_table::<&[u8], &[u8]>(Raw::new("customers"))
            .unwrap();
        let key: Vec<u8> = customers
            .iter()
            .unwrap()
            .map(|r| r.unwrap().0.value().to_vec())
            .find(|k| k.ends_with(&c.id.to_bytes()))
            .unwrap();
        let tenant = key[..4].to_vec();
        let bytes = customers
            .get(key.as_slice())
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        let bytes = with_owner::<Customer>(&bytes, |c| c.owner = Some(owner.into()));
        customers.insert(key.as_slice(), bytes.as_slice()).unwrap();
        let mut idx = txn
            .open_table::<&[u8], &[u8]>(Raw::new("idx_owner"))
            .unwrap();
        let mut old = tenant.clone();
        old.extend_from_slice(before.as_bytes());
        old.push(0);
        old.extend_from_slice(&c.id.to_bytes());
        idx.remove(old.as_slice()).unwrap();
        let mut k = tenant.clone();
        k.extend_from_slice(owner.as_bytes());
        k.push(0);
        k.extend_from_slice(&c.id.to_bytes());
        idx.insert(k.as_slice(), [].as_slice()).unwrap();

        let mut deals = txn.open_table::<&[u8], &[u8]>(Raw::new("deals")).unwrap();
        let mut dk = tenant.clone();
        dk.extend_from_slice(&d.id.to_bytes());
        let bytes = deals.get(dk.as_slice()).unwrap().unwrap().value().to_vec();
        let bytes = with_owner::<Deal>(&bytes, |x| x.owner = Some(owner.into()));
        deals.insert(dk.as_slice(), bytes.as_slice()).unwrap();
        // The stage index covers the whole deal.
        let mut stage = txn
            .open_table::<&[u8], &[u8]>(Raw::new("idx_deal_stage"))
            .unwrap();
        let mut sk = tenant.clone();
        sk.extend_from_slice(&d.pipeline.to_bytes());
        sk.extend_from_slice(&d.stage.to_bytes());
        sk.extend_from_slice(&d.id.to_bytes());
        stage.insert(sk.as_slice(), bytes.as_slice()).unwrap();
    }
    for table in [
        "users",
        "idx_team_members",
        "idx_user_email",
        "idx_deal_owner",
    ] {
        txn.delete_table(Raw::new(table)).unwrap();
    }
    txn.open_table::<&[u8], &[u8]>(Raw::new("meta"))
        .unwrap()
        .insert(b"schema_version".as_slice(), 1u32.to_le_bytes().as_slice())
        .unwrap();
    txn.commit().unwrap();
}

fn free_text_owners_of_older_data_become_users(kind: Kind) {
    let fx = Fixture::new(kind);
    let (t, c, d) = {
        let store = fx.open();
        let t = tenant(&*store, "acme");
        let placeholder = add_user(&*store, &t, named("placeholder"));
        let c = customer(&*store, &t, Some(&placeholder));
        let p = pipeline(&*store, &t);
        let d = deal(&*store, &t, &c, &p, &placeholder);
        store.close();
        (t, c, d)
    };
    downgrade(&fx, &c, &d, "Ann Smith");
    let store = fx.open();
    let users = store.users(&t, &PageRequest::first(10)).unwrap().items;
    assert_eq!(users.len(), 1, "{users:?}");
    let ann = &users[0];
    assert_eq!(
        (ann.name.as_str(), ann.role, ann.active, ann.email.is_none()),
        ("Ann Smith", Role::Member, true, true)
    );
    let owner = Some(ann.id.to_string());
    let stored = store.customer(&t, c.id).unwrap().unwrap();
    assert_eq!(
        (stored.owner.clone(), stored.version),
        (owner.clone(), c.version),
        "rewritten in place"
    );
    assert_eq!(store.deal(&t, d.id).unwrap().unwrap().owner, owner);
    let listed = store
        .customers(
            &t,
            &CustomerFilter::Owner(ann.id.to_string()),
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![c.id]
    );
    let last = store.events(&t, 0, 100).unwrap().pop().unwrap();
    assert_eq!(
        (last.kind, last.entity, last.actor.as_str()),
        (
            EventKind::UserCreated,
            EntityRef::User(ann.id),
            "kith-upgrade"
        )
    );
    // Reassigning finds the deal through the index the upgrade built.
    let ben = add_user(&*store, &t, named("Ben"));
    let r = one(
        &*store,
        &t,
        Op::Reassign {
            from: ann.id,
            to: ben.id,
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(
        r,
        Output::Reassigned {
            customers: 1,
            deals: 1,
            work: 0,
            more: false
        }
    );
    assert_consistent(&*store);
    store.close();
    drop(store);
    // Once done, it is not done again.
    let store = fx.open();
    let names: HashSet<String> = store
        .users(&t, &PageRequest::first(10))
        .unwrap()
        .items
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(
        names,
        HashSet::from(["Ann Smith".to_owned(), "Ben".to_owned()])
    );
}
