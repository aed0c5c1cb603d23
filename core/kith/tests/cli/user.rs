//! `kith user` and `kith team`: an admin sets up a tenant's people from the command line,
//! deactivates one, reassigns their records and makes a user key.

use std::process::{Command, Output};

fn kith(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kith"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("KITH_DATA_DIR")
        .output()
        .expect("run kith")
}

fn ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = kith(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The id in "created user <id> (...)".
fn created_id(line: &str) -> String {
    line.split_whitespace().nth(2).expect("an id").to_owned()
}

#[test]
fn users_and_teams_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["tenant", "create", "acme"]);
    let team = created_id(&ok(d, &["team", "create", "--tenant", "acme", "Sales"]));
    assert!(ok(d, &["team", "list", "--tenant", "acme"]).contains("shared   Sales"));
    let mia = created_id(&ok(
        d,
        &[
            "user", "create", "--tenant", "acme", "Mia", "--role", "manager", "--team", &team,
        ],
    ));
    let ben = created_id(&ok(
        d,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "Ben",
            "--email",
            "ben@example.com",
        ],
    ));
    let out = kith(
        d,
        &[
            "user", "create", "--tenant", "acme", "Eve", "--role", "root",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a role is admin, manager or member"
    );
    let out = kith(
        d,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "Ben 2",
            "--email",
            "ben@example.com",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ben@example.com"));

    // Ben's customer, then Ben leaves and Mia takes over.
    let csv = d.join("customers.csv");
    std::fs::write(
        &csv,
        format!("name,owner\nAda,{ben}\nGrace,ben@example.com\nLin,Newcomer\n"),
    )
    .expect("write csv");
    let report = ok(
        d,
        &[
            "import",
            "customers",
            "--tenant",
            "acme",
            &csv.display().to_string(),
        ],
    );
    assert!(
        report.contains("imported 3 customers") && report.contains("created 1 user for owners"),
        "{report}"
    );
    let out = ok(
        d,
        &["user", "update", "--tenant", "acme", &ben, "--deactivate"],
    );
    assert!(out.contains("deactivated"), "{out}");
    let list = ok(d, &["user", "list", "--tenant", "acme"]);
    assert!(
        list.contains("deactivated") && list.contains("Newcomer"),
        "{list}"
    );
    let out = ok(d, &["user", "reassign", "--tenant", "acme", &ben, &mia]);
    assert_eq!(
        out.trim(),
        format!("gave {mia} 2 customers, 0 open deals and 0 open work items of {ben}")
    );
    let out = kith(d, &["token", "create", "--tenant", "acme", "--user", &ben]);
    assert!(!out.status.success(), "no key for a deactivated user");
    let key = ok(d, &["token", "create", "--tenant", "acme", "--user", &mia]);
    assert!(key.starts_with("kith_"));
    assert!(ok(d, &["token", "list"]).contains(&format!("user {mia} of acme")));
    assert_eq!(ok(d, &["check"]), "ok: 1 tenant, no inconsistencies\n");
}
