//! Acknowledged writes survive SIGKILL: a child process writes with many concurrent writers and is
//! killed at a random moment; every write it acknowledged must be there after reopening, the
//! store must check clean, and the event log must have no gaps.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use kith::model::{Email, TenantSlug};
use kith::store::{PageRequest, RedbStore, Store, StoreConfig};
use rand::{RngExt, SeedableRng};

const WRITERS: usize = 32;

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let seed: u64 = std::env::var("KITH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (set KITH_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let slug = TenantSlug::parse("crash").expect("slug");
    let mut acked: Vec<(String, bool)> = Vec::new();

    for run in 0..5 {
        // Kill after a random number of acknowledgements, from "almost at once" to "well under way".
        let kill_after = rng.random_range(1..=1500usize);
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
            .args([
                dir.path().to_str().expect("utf-8 path"),
                &WRITERS.to_string(),
                &run.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start crash-writer");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        assert_eq!(
            lines.next().and_then(Result::ok).as_deref(),
            Some("ready"),
            "writer did not start"
        );
        let mut seen = 0;
        for line in lines.by_ref() {
            let line = line.expect("read child output");
            record(&line, &mut acked);
            seen += 1;
            if seen >= kill_after {
                break;
            }
        }
        child.kill().expect("SIGKILL the writer");
        // Acknowledgements printed before the kill but not yet read count too.
        for line in lines.map_while(Result::ok) {
            record(&line, &mut acked);
        }
        let status = child.wait().expect("reap the writer");
        assert!(
            !status.success(),
            "the writer must have been killed, not exit on its own"
        );

        let store =
            RedbStore::open(dir.path(), StoreConfig::default()).expect("reopen after SIGKILL");
        let mut missing = Vec::new();
        for (email, with_note) in &acked {
            let e = Email::parse("email", email).expect("valid email");
            match store.customer_by_email(&slug, &e).expect("lookup") {
                None => missing.push(email.clone()),
                Some(c) if *with_note => {
                    let notes = store
                        .timeline(&slug, c.id, &PageRequest::first(10))
                        .expect("timeline");
                    assert_eq!(notes.items.len(), 1, "acknowledged note of {email} lost");
                }
                Some(_) => {}
            }
        }
        assert!(
            missing.is_empty(),
            "run {run}: {} acknowledged writes lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        let problems = store.check().expect("check");
        assert!(
            problems.is_empty(),
            "run {run}: store inconsistent after SIGKILL: {problems:?}"
        );
        // Gap-free log: sequence numbers 1..=last, each present once.
        let last = store.last_seq(&slug).expect("last seq");
        let mut seqs = BTreeSet::new();
        let mut after = 0;
        loop {
            let events = store.events(&slug, after, 5000).expect("events");
            let Some(e) = events.last() else { break };
            after = e.seq;
            seqs.extend(events.iter().map(|e| e.seq));
        }
        assert_eq!(seqs.len() as u64, last, "run {run}: event log has gaps");
        assert_eq!(seqs.first().copied(), Some(1));
        let notes = acked.iter().filter(|(_, n)| *n).count() as u64;
        assert!(
            last > acked.len() as u64 + notes,
            "run {run}: fewer events than acknowledged writes"
        );
    }
    assert!(!acked.is_empty());
}

fn record(line: &str, acked: &mut Vec<(String, bool)>) {
    if let Some(rest) = line.strip_prefix("ack ") {
        match rest.strip_suffix(" note") {
            Some(email) => acked.push((email.to_owned(), true)),
            None => acked.push((rest.to_owned(), false)),
        }
    }
}
