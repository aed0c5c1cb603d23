//! Sets the `kith_pg` cfg when `KITH_TEST_DATABASE_URL` names a PostgreSQL server for tests, so
//! that tests needing one run then and are reported as ignored, by name, otherwise.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kith_pg)");
    println!("cargo::rerun-if-env-changed=KITH_TEST_DATABASE_URL");
    if std::env::var_os("KITH_TEST_DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=kith_pg");
    }
}
