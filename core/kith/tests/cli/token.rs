//! `kith token create|list|revoke`: the token is printed once, lists never show secrets, and a
//! revoked token is gone.

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

#[test]
fn tokens_are_created_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(
        kith(dir.path(), &["tenant", "create", "acme"])
            .status
            .success()
    );
    let out = kith(
        dir.path(),
        &[
            "token",
            "create",
            "--tenant",
            "acme",
            "--read-only",
            "--name",
            "bi",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(token.starts_with("kith_"), "{token}");
    let id = token["kith_".len().."kith_".len() + 16].to_owned();

    let out = kith(dir.path(), &["token", "list"]);
    let list = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        list.contains(&id) && list.contains("tenant acme") && list.contains("read-only"),
        "{list}"
    );
    assert!(!list.contains(&token), "a list never shows a secret");

    let out = kith(dir.path(), &["token", "create", "--tenant", "ghost"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost"));
    let out = kith(dir.path(), &["token", "create", "--read-only"]);
    assert_eq!(out.status.code(), Some(2), "--read-only needs --tenant");

    assert!(kith(dir.path(), &["token", "revoke", &id]).status.success());
    let out = kith(dir.path(), &["token", "list", "--json"]);
    let list = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!list.contains(&id), "{list}");
    assert!(!kith(dir.path(), &["token", "revoke", &id]).status.success());
}
