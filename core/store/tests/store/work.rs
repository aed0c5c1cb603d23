//! Work items in the store, on both backends: the queue against a brute-force sort for many
//! filters and page sizes, edits with versions and recorded values, reassignment of open work
//! in batches, and the upgrade that indexes the tasks and tickets of older data.

use crate::backend::{Fixture, Kind, on_both_backends};
use kith_model::{
    Actor, Channel, Customer, CustomerInput, EventKind, Interaction, InteractionInput,
    InteractionKind, InteractionPatch, Priority, TaskStatus, TenantInput, TenantSlug, Timestamp,
    User, UserInput,
};
use kith_store::{Assignees, Error, Op, Output, PageRequest, Store, WorkQuery};

fn actor() -> Actor {
    Actor::new("test")
}

fn setup(store: &dyn Store) -> (TenantSlug, Customer, User, User) {
    let t = store
        .create_tenant(
            TenantInput {
                slug: "acme".into(),
                name: None,
                industry: None,
            },
            &actor(),
        )
        .unwrap()
        .slug;
    let user = |name: &str| match store
        .write(
            &t,
            &actor(),
            vec![Op::CreateUser(UserInput {
                name: name.into(),
                ..Default::default()
            })],
        )
        .unwrap()
        .pop()
        .unwrap()
    {
        Output::User(u) => u,
        o => panic!("{o:?}"),
    };
    let (ann, ben) = (user("Ann"), user("Ben"));
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
    (t, c, ann, ben)
}

fn log(store: &dyn Store, t: &TenantSlug, input: InteractionInput) -> Interaction {
    store.log_interaction(t, &actor(), input).unwrap().0
}

/// The queue as a brute-force filter and sort of every item.
fn expected(items: &[Interaction], q: &WorkQuery) -> Vec<Interaction> {
    let mut v: Vec<Interaction> = items
        .iter()
        .filter(|i| {
            let whose = match &q.assignees {
                Assignees::Any => true,
                Assignees::Unassigned => i.assignee.is_none(),
                Assignees::Users(u) => i.assignee.as_ref().is_some_and(|a| u.contains(a)),
            };
            let kind = q.kinds.is_empty() || q.kinds.contains(&i.kind);
            let due = q
                .due_before
                .is_none_or(|d| i.due_at.is_some_and(|due| due < d));
            whose && kind && due && i.status.is_some_and(|s| q.statuses.contains(&s))
        })
        .cloned()
        .collect();
    v.sort_by_key(|i| {
        (
            i.due_at.map_or(i64::MAX, Timestamp::as_micros),
            i.priority.unwrap().rank(),
            i.id.to_bytes(),
        )
    });
    v
}

fn all_pages(store: &dyn Store, t: &TenantSlug, q: &WorkQuery, limit: usize) -> Vec<Interaction> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(limit);
    loop {
        let got = store.work(t, q, &page).unwrap();
        assert!(got.items.len() <= limit);
        out.extend(got.items);
        match got.next {
            Some(c) => page = PageRequest::after(limit, c),
            None => return out,
        }
    }
}

fn the_queue_matches_a_brute_force_sort_for_every_filter_and_page_size(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let (t, c, ann, ben) = setup(&*store);
    let kinds = [
        InteractionKind::Task,
        InteractionKind::Ticket,
        InteractionKind::Complaint,
    ];
    let mut seed = 7u64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    let mut items = Vec::new();
    for _ in 0..40 {
        let mut input = InteractionInput::new(c.id, Channel::Email, kinds[next(3) as usize]);
        input.priority = Some(Priority::ALL[next(4) as usize]);
        // Few distinct due dates, so ties on due date are sorted by priority, then id.
        input.due_at = match next(4) {
            0 => None,
            d => Some(Timestamp::from_micros(
                1_700_000_000_000_000 + d as i64 * 86_400_000_000,
            )),
        };
        input.assignee = match next(3) {
            0 => None,
            1 => Some(ann.id.to_string()),
            _ => Some(ben.id.to_string()),
        };
        input.status = Some(TaskStatus::ALL[next(5) as usize]);
        items.push(log(&*store, &t, input));
    }
    // Not work: never listed.
    log(
        &*store,
        &t,
        InteractionInput::new(c.id, Channel::Phone, InteractionKind::Call),
    );
    let (a, b) = (ann.id.to_string(), ben.id.to_string());
    let queries = [
        WorkQuery::open(),
        WorkQuery::all(),
        WorkQuery {
            assignees: Assignees::Users(vec![a.clone()]),
            ..WorkQuery::open()
        },
        WorkQuery {
            assignees: Assignees::Users(vec![b.clone(), a.clone()]),
            kinds: vec![InteractionKind::Ticket, InteractionKind::Complaint],
            ..WorkQuery::all()
        },
        WorkQuery {
            assignees: Assignees::Unassigned,
            ..WorkQuery::all()
        },
        WorkQuery {
            due_before: Some(Timestamp::from_micros(
                1_700_000_000_000_000 + 2 * 86_400_000_000 + 1,
            )),
            ..WorkQuery::open()
        },
        WorkQuery {
            statuses: vec![TaskStatus::Resolved, TaskStatus::Closed],
            ..WorkQuery::open()
        },
    ];
    for q in &queries {
        let want: Vec<_> = expected(&items, q).iter().map(|i| i.id).collect();
        assert!(!want.is_empty(), "{q:?} tests nothing");
        for limit in [1, 3, 1000] {
            let got: Vec<_> = all_pages(&*store, &t, q, limit)
                .iter()
                .map(|i| i.id)
                .collect();
            assert_eq!(got, want, "{q:?} in pages of {limit}");
        }
    }
    assert_eq!(store.check().unwrap(), Vec::new());
    // A cursor of another list is refused.
    let deals = store.all_deals(&t, None, &PageRequest::first(1)).unwrap();
    assert!(deals.next.is_none());
    let bad = kith_store::Cursor::from_string("AQAB".into());
    assert!(matches!(
        store.work(&t, &WorkQuery::open(), &PageRequest::after(5, bad)),
        Err(Error::BadCursor)
    ));
}

fn edits_check_versions_and_users_and_reassign_moves_open_work_in_batches(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let (t, c, ann, ben) = setup(&*store);
    let mut open = Vec::new();
    for n in 0..5 {
        let mut input = InteractionInput::new(c.id, Channel::Email, InteractionKind::Ticket);
        input.assignee = Some(ann.id.to_string());
        if n == 4 {
            input.status = Some(TaskStatus::Closed);
        }
        let i = log(&*store, &t, input);
        if n < 4 {
            open.push(i);
        }
    }
    let first = open[0].id;
    let edit = |expected_version, patch| {
        store
            .write(
                &t,
                &actor(),
                vec![Op::UpdateInteraction {
                    id: first,
                    expected_version,
                    patch,
                }],
            )
            .map(|mut o| o.pop().unwrap())
    };
    let stale = edit(
        Some(9),
        InteractionPatch {
            priority: Some(Priority::High),
            ..InteractionPatch::default()
        },
    );
    assert!(
        matches!(stale, Err(Error::Conflict { actual: 1, .. })),
        "{stale:?}"
    );
    let nobody = edit(
        None,
        InteractionPatch {
            assignee: Some(Some(kith_model::UserId::generate().to_string())),
            ..InteractionPatch::default()
        },
    );
    assert!(matches!(nobody, Err(Error::Invalid(_))), "{nobody:?}");
    let before = store.last_seq(&t).unwrap();
    let done = edit(
        Some(1),
        InteractionPatch {
            status: Some(TaskStatus::Waiting),
            ..InteractionPatch::default()
        },
    )
    .unwrap();
    let Output::Interaction { interaction, .. } = done else {
        panic!("{done:?}")
    };
    assert_eq!(
        (interaction.version, interaction.status),
        (2, Some(TaskStatus::Waiting))
    );
    let events = store.events(&t, before, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::InteractionUpdated);
    assert_eq!(events[0].changed, ["status", "first_answered_at"]);
    assert_eq!(
        (
            events[0].changes[0].old.as_deref(),
            events[0].changes[0].new.as_deref()
        ),
        (Some("open"), Some("waiting"))
    );
    // Reassigning moves open work only, a batch at a time.
    let reassign = |limit| match store
        .write(
            &t,
            &actor(),
            vec![Op::Reassign {
                from: ann.id,
                to: ben.id,
                limit,
            }],
        )
        .unwrap()
        .pop()
        .unwrap()
    {
        Output::Reassigned { work, more, .. } => (work, more),
        o => panic!("{o:?}"),
    };
    assert_eq!(reassign(3), (3, true));
    assert_eq!(reassign(3), (1, false));
    assert_eq!(reassign(3), (0, false));
    let anns = WorkQuery {
        assignees: Assignees::Users(vec![ann.id.to_string()]),
        ..WorkQuery::all()
    };
    let left = all_pages(&*store, &t, &anns, 10);
    assert_eq!(left.len(), 1, "the closed ticket stays Ann's");
    assert_eq!(left[0].status, Some(TaskStatus::Closed));
    let bens = WorkQuery {
        assignees: Assignees::Users(vec![ben.id.to_string()]),
        ..WorkQuery::open()
    };
    assert_eq!(all_pages(&*store, &t, &bens, 10).len(), 4);
    assert_eq!(store.check().unwrap(), Vec::new());
}

/// The bytes the first release stored for an interaction: its fields up to `version`, no
/// extension (postcard writes a tuple as it writes a struct).
fn first_release_bytes(i: &Interaction) -> Vec<u8> {
    postcard::to_allocvec(&(
        (
            i.id,
            i.customer,
            i.channel,
            i.kind,
            i.direction,
            i.occurred_at,
            &i.subject,
            &i.body,
        ),
        (
            i.amount,
            i.status,
            i.due_at,
            i.rating,
            &i.attributes,
            &i.source,
            &i.external_id,
            i.created_at,
            i.version,
        ),
    ))
    .unwrap()
}

fn tasks_and_tickets_of_older_data_are_indexed_as_work_on_upgrade(kind: Kind) {
    let fx = Fixture::new(kind);
    let (t, old) = {
        let store = fx.open();
        let (t, c, _, _) = setup(&*store);
        let mut task = InteractionInput::new(c.id, Channel::Email, InteractionKind::Task);
        task.due_at = Some(Timestamp::from_micros(1_700_000_000_000_000));
        let mut ticket = InteractionInput::new(c.id, Channel::Phone, InteractionKind::Ticket);
        ticket.status = Some(TaskStatus::Resolved);
        let old = vec![log(&*store, &t, task), log(&*store, &t, ticket)];
        store.close();
        (t, old)
    };
    match fx.kind() {
        Kind::Redb => {
            use redb::TableDefinition;
            type Raw = TableDefinition<'static, &'static [u8], &'static [u8]>;
            let db = redb::Database::create(fx.dir().join("kith.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                use redb::ReadableTable;
                let mut table = txn.open_table(Raw::new("interactions")).unwrap();
                for i in &old {
                    let key: Vec<u8> = table
                        .iter()
                        .unwrap()
                        .map(|r| r.unwrap().0.value().to_vec())
                        .find(|k| k.ends_with(&i.id.to_bytes()))
                        .unwrap();
                    table
                        .insert(key.as_slice(), first_release_bytes(i).as_slice())
                        .unwrap();
                }
            }
            for table in ["idx_work", "idx_deal_timeline"] {
                txn.delete_table(Raw::new(table)).unwrap();
            }
            txn.open_table(Raw::new("meta"))
                .unwrap()
                .insert(b"schema_version".as_slice(), 2u32.to_le_bytes().as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        Kind::Postgres => {
            let db = fx.db().unwrap();
            for i in &old {
                let hex: String = first_release_bytes(i)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                db.execute(&format!(
                    "UPDATE kith_interactions SET doc = '\\x{hex}', work_status = NULL, \
                     work_due = NULL, priority = NULL, kind = NULL WHERE id = '{}'",
                    i.id
                ));
            }
            db.execute("INSERT INTO kith_upgrades (step) VALUES ('backfill-work')");
        }
    }
    let store = fx.open();
    let got = all_pages(&*store, &t, &WorkQuery::all(), 10);
    assert_eq!(
        got.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![old[0].id, old[1].id],
        "due first, then without a due date"
    );
    for (got, old) in got.iter().zip(&old) {
        // The first release had no answer or resolution times.
        let old = Interaction {
            first_answered_at: None,
            resolved_at: None,
            ..old.clone()
        };
        assert_eq!(*got, old, "read back as stored, priority normal");
    }
    assert_eq!(store.check().unwrap(), Vec::new());
    // `kith check` notices a work column that disagrees with its record.
    if let Some(db) = fx.db() {
        db.execute(&format!(
            "UPDATE kith_interactions SET priority = 0 WHERE id = '{}'",
            old[0].id
        ));
        let problems = store.check().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].problem.contains(&old[0].id.to_string()));
    }
}

on_both_backends!(
    the_queue_matches_a_brute_force_sort_for_every_filter_and_page_size,
    edits_check_versions_and_users_and_reassign_moves_open_work_in_batches,
    tasks_and_tickets_of_older_data_are_indexed_as_work_on_upgrade,
);

/// A filter that matches rarely reads at most a budget of index entries per page: the page
/// comes back short with a cursor, and the cursor goes on where the reading stopped.
#[test]
fn a_rare_kind_reads_a_bounded_part_of_the_queue_per_page() {
    let fx = Fixture::new(Kind::Redb);
    let store = fx.open();
    let (t, c, _, _) = setup(&*store);
    let n = kith_store::MAX_WORK_SCANNED + 100;
    let ops = (0..n)
        .map(|_| {
            Op::LogInteraction(InteractionInput::new(
                c.id,
                Channel::Email,
                InteractionKind::Task,
            ))
        })
        .collect();
    store.write(&t, &actor(), ops).unwrap();
    let complaints = WorkQuery {
        kinds: vec![InteractionKind::Complaint],
        ..WorkQuery::open()
    };
    let first = store
        .work(&t, &complaints, &PageRequest::first(50))
        .unwrap();
    assert!(first.items.is_empty());
    let cursor = first.next.expect("a cursor where the budget ran out");
    let second = store
        .work(&t, &complaints, &PageRequest::after(50, cursor))
        .unwrap();
    assert!(second.items.is_empty());
    assert!(
        second.next.is_none(),
        "the rest of the queue fits the budget"
    );
    // Without the filter, pages are full.
    let all = store
        .work(&t, &WorkQuery::open(), &PageRequest::first(50))
        .unwrap();
    assert_eq!(all.items.len(), 50);
}
