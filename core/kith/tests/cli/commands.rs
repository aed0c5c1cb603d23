//! The `kith` commands other than import: tenants, customers, export, backup, check, stats, and
//! how errors are reported.

use super::cli_support::{Kith, fixture, tenant_count};

fn import_fixtures(k: &Kith) {
    let c = fixture("customers.csv");
    let i = fixture("interactions.csv");
    assert_eq!(
        k.run(&["import", "customers", &c, "--tenant", "acme"]).code,
        0
    );
    assert_eq!(
        k.run(&["import", "interactions", &i, "--tenant", "acme"])
            .code,
        3
    );
}

#[test]
fn tenants_are_created_once_and_listed() {
    let k = Kith::with_tenant();
    k.ok(&["tenant", "create", "shop", "--industry", "retail"]);
    let again = k.run(&["tenant", "create", "shop"]);
    assert_eq!(again.code, 1);
    assert_eq!(again.stderr, "error: tenant 'shop' already exists\n");
    let list = k.ok(&["tenant", "list", "--json"]).json();
    let slugs: Vec<_> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["slug"].clone())
        .collect();
    assert_eq!(slugs, ["acme", "shop"]);
    assert_eq!(list[1]["industry"], "retail");
    let table = k.ok(&["tenant", "list"]).stdout;
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("acme  Acme Inc")),
        "{table}"
    );
}

#[test]
fn customers_are_found_by_every_key_and_paged_with_a_cursor() {
    let k = Kith::with_tenant();
    import_fixtures(&k);
    let id = k.id_of("grace@example.com");
    for key in [
        vec![id.as_str()],
        vec!["--external", "shopify:1003"],
        vec!["--email", "grace@EXAMPLE.com"],
    ] {
        let mut args = vec!["customer", "get", "--tenant", "acme"];
        args.extend(key);
        assert_eq!(k.ok(&args).json()["id"], id.as_str());
    }
    let by_phone = k
        .ok(&[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--phone",
            "030 1234567",
            "--country",
            "DE",
        ])
        .json();
    assert_eq!(by_phone["email"], "ada@example.com");
    let missing = k.run(&[
        "customer",
        "get",
        "--tenant",
        "acme",
        "--email",
        "no@example.com",
    ]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "error: no customer with email no@example.com in tenant acme\n"
    );

    let vip = k.ok(&[
        "customer", "find", "--tenant", "acme", "--tag", "vip", "--limit", "1",
    ]);
    assert_eq!(vip.stdout.lines().count(), 1);
    let cursor = vip
        .stderr
        .strip_prefix("next cursor: ")
        .map(str::trim)
        .expect("a next cursor on stderr");
    let rest = k.ok(&[
        "customer", "find", "--tenant", "acme", "--tag", "vip", "--cursor", cursor,
    ]);
    assert_eq!(rest.stdout.lines().count(), 1);
    assert_eq!(rest.stderr, "", "no further page");
    let first: serde_json::Value = serde_json::from_str(vip.stdout.trim()).expect("json line");
    let second: serde_json::Value = serde_json::from_str(rest.stdout.trim()).expect("json line");
    assert_ne!(first["id"], second["id"]);
    let leads = k.ok(&[
        "customer",
        "find",
        "--tenant",
        "acme",
        "--lifecycle",
        "opportunity",
    ]);
    assert!(leads.stdout.contains("grace@example.com"), "{leads:?}");
}

#[test]
fn export_round_trip_contains_what_was_imported() {
    let k = Kith::with_tenant();
    import_fixtures(&k);
    let out = k.path("acme.jsonl");
    let r = k.ok(&[
        "export",
        "--tenant",
        "acme",
        "--output",
        &out.display().to_string(),
    ]);
    assert_eq!(
        r.stderr,
        format!(
            "exported tenant acme: 4 customers, 3 interactions, 0 pipelines, 0 deals to {}\n",
            out.display()
        )
    );
    let text = std::fs::read_to_string(&out).expect("export file");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(records[0]["type"], "tenant");
    assert_eq!(records[0]["slug"], "acme");
    assert_eq!(
        records.last(),
        Some(&serde_json::json!({
            "type": "end", "customers": 4, "interactions": 3, "pipelines": 0, "deals": 0,
            "fields": 0
        })),
        "the last record says the export is whole"
    );
    let of = |t: &str| {
        records
            .iter()
            .filter(|r| r["type"] == t)
            .collect::<Vec<_>>()
    };
    let mut emails: Vec<_> = of("customer")
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        [
            "ada@example.com",
            "charles@example.com",
            "grace@example.com"
        ]
    );
    let subjects: Vec<_> = of("interaction")
        .iter()
        .map(|i| i["subject"].clone())
        .collect();
    assert_eq!(subjects.len(), 3);
    for s in ["First order", "Intro call", "Met at conference"] {
        assert!(
            subjects.contains(&serde_json::json!(s)),
            "{s} missing from {subjects:?}"
        );
    }
    let order = of("interaction")[0];
    assert_eq!(order["amount"]["minor"], 1250);
    // Each interaction follows its customer.
    let ada_at = records
        .iter()
        .position(|r| r["email"] == "ada@example.com")
        .expect("ada");
    assert_eq!(records[ada_at + 1]["subject"], "First order");

    let stdout = k.ok(&["export", "--tenant", "acme"]);
    assert_eq!(stdout.stdout, text, "stdout carries the same export");
}

#[test]
fn a_backup_is_a_consistent_store_of_its_own() {
    let k = Kith::with_tenant();
    import_fixtures(&k);
    let dest = k.path("backup");
    std::fs::create_dir(&dest).expect("dir");
    let r = k.ok(&["backup", &dest.display().to_string()]);
    let file = dest.join("kith.redb");
    assert!(file.is_file());
    assert!(
        r.stdout
            .starts_with(&format!("backup written to {} (", file.display())),
        "{r:?}"
    );
    assert!(
        r.stdout.ends_with(&format!(
            "to restore: stop kith, then copy it to {}\n",
            k.data().join("kith.redb").display()
        )),
        "{r:?}"
    );
    let check = k.run_in(&dest, &["check"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert_eq!(check.stdout, "ok: 1 tenant, no inconsistencies\n");
    let copy = k.run_in(&dest, &["stats", "--json"]).json();
    assert_eq!(copy["tenants"], k.stats()["tenants"]);
    let again = k.run(&["backup", &file.display().to_string()]);
    assert_eq!(again.code, 1, "never overwrites a backup");
    assert_eq!(again.errors().len(), 1);
    // A missing directory is named and not created.
    let missing = k.path("nowhere/backup.redb");
    let r = k.run(&["backup", &missing.display().to_string()]);
    assert_eq!(r.code, 1, "{r:?}");
    let errors = r.errors();
    assert_eq!(errors.len(), 1, "{r:?}");
    assert!(
        errors[0].contains(&format!(
            "the directory {} does not exist",
            k.path("nowhere").display()
        )),
        "{r:?}"
    );
    assert!(!k.path("nowhere").exists());
}

#[test]
fn check_and_stats_describe_the_store() {
    let k = Kith::with_tenant();
    k.ok(&["tenant", "create", "empty"]);
    import_fixtures(&k);
    assert_eq!(
        k.ok(&["check"]).stdout,
        "ok: 2 tenants, no inconsistencies\n"
    );
    let stats = k.stats();
    assert_eq!(stats["schema_version"], kith::store::SCHEMA_VERSION);
    assert!(stats["file_bytes"].as_u64().is_some_and(|b| b > 0));
    assert_eq!(tenant_count(&stats, "acme", "customers"), 4);
    assert_eq!(tenant_count(&stats, "acme", "interactions"), 3);
    assert_eq!(tenant_count(&stats, "empty", "customers"), 0);
    let table = k.ok(&["stats"]).stdout;
    let lines: Vec<_> = table.lines().collect();
    assert_eq!(
        lines[0],
        format!("schema version: {}", kith::store::SCHEMA_VERSION)
    );
    assert!(lines[1].starts_with(&format!(
        "data file: {}",
        k.data().join("kith.redb").display()
    )));
    assert!(lines[2].starts_with("TENANT"), "{table}");
    let acme: Vec<_> = lines[3].split_whitespace().collect();
    assert_eq!(acme[..5], ["acme", "4", "3", "0", "0"]);
}

/// A reader that stops early (`kith openapi | head -c 100`) ends kith quietly with the SIGPIPE
/// status, not with an "internal error" report.
#[test]
fn a_closed_stdout_ends_quietly_with_the_sigpipe_status() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith"))
        .arg("openapi")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kith");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).expect("the document starts");
    drop(stdout);
    let out = child.wait_with_output().expect("kith ends");
    assert_eq!(out.status.code(), Some(141), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn errors_are_one_line_with_a_nonzero_exit_code() {
    let k = Kith::new();
    let none = k.run(&["stats"]);
    assert_eq!(none.code, 1);
    assert_eq!(
        none.stderr,
        format!(
            "error: no Kith data in {}: create a tenant with `kith tenant create SLUG`, or point --data-dir (or KITH_DATA_DIR) at an existing data directory, or --database-url (KITH_DATABASE_URL) at a PostgreSQL database\n",
            k.data().display()
        )
    );
    assert!(!k.data().exists(), "reading never creates a data directory");

    k.ok(&["tenant", "create", "acme"]);
    let cases: [(&[&str], i32); 6] = [
        (&["customer", "find", "--tenant", "nope"], 1),
        (&["customer", "get", "--tenant", "acme", "not-a-uuid"], 1),
        (
            &["customer", "find", "--tenant", "acme", "--cursor", "!!"],
            1,
        ),
        (
            &[
                "import",
                "customers",
                "/no/such/file.csv",
                "--tenant",
                "acme",
            ],
            1,
        ),
        (&["tenant", "create", "Bad Slug"], 1),
        (&["customer", "get", "--tenant", "acme"], 2),
    ];
    for (args, code) in cases {
        let r = k.run(args);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        assert_eq!(r.errors().len(), 1, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("error: "), "{args:?}: {r:?}");
        assert_eq!(r.stdout, "");
    }
    assert_eq!(
        k.run(&["customer", "find", "--tenant", "nope"]).stderr,
        "error: tenant 'nope' not found (see `kith tenant list`, or create it with `kith tenant create nope`)\n"
    );
}

#[test]
fn a_data_directory_in_use_is_reported_plainly() {
    let k = Kith::with_tenant();
    let held = kith::store::RedbStore::open(k.data(), Default::default()).expect("open");
    let r = k.run(&["stats"]);
    drop(held);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!(
            "error: the data directory {} is in use by another kith process: stop it first, or use another --data-dir\n",
            k.data().display()
        )
    );
}

#[test]
fn the_data_directory_comes_from_the_environment() {
    let k = Kith::new();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kith"))
        .args(["tenant", "create", "envy"])
        .env("KITH_DATA_DIR", k.data())
        .current_dir(k.tmp.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(k.data().join("kith.redb").is_file());
    assert!(!k.path("kith-data").exists());
}

#[test]
fn the_readme_s_sample_files_import_without_a_rejected_row() {
    let k = Kith::with_tenant();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let file = |name: &str| examples.join(name).display().to_string();
    let dry = k.run(&[
        "import",
        "customers",
        &file("customers.csv"),
        "--tenant",
        "acme",
        "--dry-run",
    ]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        tenant_count(&k.stats(), "acme", "customers"),
        0,
        "a dry run writes nothing"
    );
    for (kind, name) in [
        ("customers", "customers.csv"),
        ("interactions", "interactions.csv"),
    ] {
        let r = k.run(&["import", kind, &file(name), "--tenant", "acme"]);
        assert_eq!(r.code, 0, "{name}: {r:?}");
    }
    let stats = k.stats();
    // Four people and the organization two of them work for.
    assert_eq!(tenant_count(&stats, "acme", "customers"), 5);
    assert_eq!(tenant_count(&stats, "acme", "interactions"), 4);
}
