//! `kith import`: column mapping, the per-row error report, duplicates, dry runs and volume.

use std::fmt::Write as _;
use std::io::Write as _;

use super::cli_support::{Kith, fixture};

fn import(k: &Kith, kind: &str, file: &str, extra: &[&str]) -> super::cli_support::Run {
    let mut args = vec!["import", kind, file, "--tenant", "acme"];
    args.extend_from_slice(extra);
    k.run(&args)
}

#[test]
fn a_clean_file_with_bom_and_aliases_imports_every_row() {
    let k = Kith::with_tenant();
    let r = import(&k, "customers", &fixture("customers.csv"), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "imported 3 customers, created 1 organization; 0 rows rejected\n"
    );
    assert_eq!(r.stderr, "");
    assert_eq!(k.customers(), 4);

    let ada = k
        .ok(&[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--email",
            "ada@example.com",
        ])
        .json();
    assert_eq!(ada["first_name"], "Ada");
    assert_eq!(ada["phone"], "+49301234567");
    assert_eq!(ada["tags"], serde_json::json!(["early", "vip"]));
    assert_eq!(ada["lifecycle"], "customer");
    assert_eq!(ada["attributes"]["loyalty_tier"]["text"], "gold");
    assert_eq!(ada["external_ids"][0]["source"], "shopify");
    let org = ada["organization"]
        .as_str()
        .expect("linked to an organization");
    let charles = k
        .ok(&[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--external",
            "shopify:1002",
        ])
        .json();
    assert_eq!(charles["organization"], org, "both name the same company");
    let company = k.ok(&["customer", "get", "--tenant", "acme", org]).json();
    assert_eq!(company["kind"], "organization");
    assert_eq!(company["name"], "Analytical Engines");
}

#[test]
fn malformed_rows_are_reported_one_line_each_and_good_rows_still_import() {
    let k = Kith::with_tenant();
    let r = import(&k, "customers", &fixture("customers_malformed.csv"), &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout, "imported 3 customers; 5 rows rejected\n");
    assert_eq!(
        r.errors(),
        [
            "warning: ignoring unknown columns: notes_unknown (import them with --map COLUMN=FIELD, or silence this with --map COLUMN=ignore)",
            "row 3, column email: expected an email address like name@example.com (missing '@'), got \"not-an-email\"",
            "row 4, column email: duplicate of row 2 (email alan@example.com)",
            "row 5, column phone: missing: the row has 2 fields but the header has 4; quote values that contain commas",
            "row 6, column 5: an extra field: the row has 5 fields but the header has 4; quote values that contain commas",
            "row 9, column phone: expected a phone number: + and the country code then the number (+49 30 1234567), or a national number with the customer's country, got \"12ab\"",
        ]
    );
    assert_eq!(k.customers(), 3);
    let quoted = k
        .ok(&[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--email",
            "quoted@example.com",
        ])
        .json();
    assert_eq!(quoted["name"], "Quoted, Name");
}

#[test]
fn non_utf8_bytes_are_reported_with_row_and_column_and_a_hint() {
    let k = Kith::with_tenant();
    let r = import(&k, "customers", &fixture("customers_latin1.csv"), &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout, "imported 1 customer; 2 rows rejected\n");
    assert_eq!(
        r.errors(),
        [
            "row 3, column name: not valid UTF-8 (byte 0xE9 at position 4); save the file as UTF-8 and import it again",
            "row 4, column name: not valid UTF-8 (byte 0xEB at position 3); save the file as UTF-8 and import it again",
            "hint: 2 rows are not valid UTF-8; the file was probably saved as Latin-1 or Windows-1252: save it as UTF-8 (in Excel: CSV UTF-8) and import it again",
        ]
    );
}

#[test]
fn a_header_that_is_not_utf8_is_refused_before_any_row() {
    let k = Kith::with_tenant();
    let file = k.path("bad_header.csv");
    std::fs::write(&file, b"n\xe4me,email\nAda,ada@example.com\n").expect("write");
    let r = import(&k, "customers", &file.display().to_string(), &[]);
    assert_eq!(r.code, 1);
    assert_eq!(r.errors().len(), 1, "{r:?}");
    assert!(
        r.stderr.contains("the header (line 1) is not valid UTF-8"),
        "{r:?}"
    );
    assert_eq!(k.customers(), 0);
}

#[test]
fn a_customers_file_without_identifying_columns_is_refused_before_any_row() {
    let k = Kith::with_tenant();
    let r = import(&k, "customers", &fixture("customers_no_identity.csv"), &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: the file has no column for a customer's name, first_name, last_name, email or phone (its columns: company, city); rename one or map it with --map COLUMN=FIELD\n"
    );
    assert_eq!(r.stdout, "");
    assert_eq!(k.customers(), 0);
}

#[test]
fn duplicates_against_the_store_name_the_holder() {
    let k = Kith::with_tenant();
    import(&k, "customers", &fixture("customers.csv"), &[]);
    let ada = k.id_of("ada@example.com");
    let file = k.path("again.csv");
    std::fs::write(
        &file,
        "email,name\nada@EXAMPLE.com,Ada Again\nnew@example.com,New\n",
    )
    .expect("write");
    let file = file.display().to_string();
    let expected =
        format!("row 2, column email: email 'ada@example.com' already belongs to customer {ada}\n");

    let dry = import(&k, "customers", &file, &["--dry-run"]);
    assert_eq!(dry.code, 3);
    assert_eq!(dry.stderr, expected, "a dry run finds it by lookup");
    assert_eq!(
        dry.stdout,
        "dry run: 1 customer would be imported; 1 row rejected; nothing was written\n"
    );
    assert_eq!(k.customers(), 4);

    let real = import(&k, "customers", &file, &[]);
    assert_eq!(real.code, 3);
    assert_eq!(real.stderr, expected, "the store reports the same");
    assert_eq!(real.stdout, "imported 1 customer; 1 row rejected\n");
    assert_eq!(k.customers(), 5);
}

#[test]
fn a_dry_run_validates_everything_and_writes_nothing() {
    let k = Kith::with_tenant();
    let before = k.stats();
    let r = import(
        &k,
        "customers",
        &fixture("customers_malformed.csv"),
        &["--dry-run"],
    );
    assert_eq!(r.code, 3);
    assert_eq!(
        r.stdout,
        "dry run: 3 customers would be imported; 5 rows rejected; nothing was written\n"
    );
    assert_eq!(
        r.errors().len(),
        6,
        "the same report as a real import: {r:?}"
    );
    let ok = import(&k, "customers", &fixture("customers.csv"), &["--dry-run"]);
    assert_eq!(ok.code, 0);
    assert_eq!(
        ok.stdout,
        "dry run: 3 customers would be imported, 1 organization created; 0 rows rejected; nothing was written\n"
    );
    let after = k.stats();
    assert_eq!(before["tenants"], after["tenants"], "no customer, no event");
}

#[test]
fn a_field_over_64_kib_is_rejected_and_the_rest_imports() {
    let k = Kith::with_tenant();
    let file = k.path("huge.csv");
    let mut csv = String::from("name,email,attr.note\nSmall,small@example.com,hi\n");
    writeln!(csv, "Huge,huge@example.com,{}", "x".repeat(70_000)).expect("write");
    csv.push_str("After,after@example.com,ok\n");
    std::fs::write(&file, csv).expect("write");
    let r = import(&k, "customers", &file.display().to_string(), &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.stderr,
        "row 3, column attr.note: the value has 70,000 bytes, more than the limit of 65,536 (64 KiB)\n"
    );
    assert_eq!(r.stdout, "imported 2 customers; 1 row rejected\n");
}

#[test]
fn an_unclosed_quote_stops_reading_but_keeps_the_rows_before_it() {
    let k = Kith::with_tenant();
    let file = k.path("open_quote.csv");
    let mut f = std::fs::File::create(&file).expect("create");
    f.write_all(b"name,email\nBefore,before@example.com\n\"Open,open@example.com\n")
        .expect("write");
    let filler = vec![b'y'; 1024 * 1024];
    for _ in 0..17 {
        f.write_all(&filler).expect("write");
    }
    drop(f);
    let r = import(&k, "customers", &file.display().to_string(), &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, "imported 1 customer; 0 rows rejected\n");
    assert_eq!(
        r.stderr,
        "error: row 3: cannot read the rest of the file: a record longer than 16 MiB (is a quote left open?)\n"
    );
    assert_eq!(k.customers(), 1);
}

#[test]
fn map_renames_unknown_columns_and_conflicts_are_refused() {
    let k = Kith::with_tenant();
    let file = k.path("german.csv");
    std::fs::write(
        &file,
        "Vorname,E-Mail Adresse,Kundennummer\nAda,ada@example.com,K1\n",
    )
    .expect("write");
    let file = file.display().to_string();
    let r = import(
        &k,
        "customers",
        &file,
        &[
            "--map",
            "vorname=first_name",
            "--map",
            "E-Mail Adresse=email",
            "--map",
            "Kundennummer=external:erp",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    let ada = k
        .ok(&[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--external",
            "erp:K1",
        ])
        .json();
    assert_eq!(ada["first_name"], "Ada");

    let both = k.path("both.csv");
    std::fs::write(&both, "email,E-mail\na@example.com,b@example.com\n").expect("write");
    let r = import(&k, "customers", &both.display().to_string(), &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: columns 'email' and 'E-mail' both fill email: skip one with --map 'E-mail=ignore'\n"
    );
    let r = import(&k, "customers", &file, &["--map", "Nope=email"]);
    assert_eq!(
        r.stderr,
        "error: --map Nope=email: the file has no column 'Nope' (its columns: Vorname, E-Mail Adresse, Kundennummer)\n"
    );
}

#[test]
fn interactions_find_their_customer_by_email_and_external_id() {
    let k = Kith::with_tenant();
    import(&k, "customers", &fixture("customers.csv"), &[]);
    let r = import(&k, "interactions", &fixture("interactions.csv"), &[]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout, "imported 3 interactions; 3 rows rejected\n");
    assert_eq!(
        r.errors(),
        [
            "row 5, column Customer Email: no customer with email nobody@example.com in tenant acme",
            "row 6, column external_id: duplicate of row 2 (external id o-1)",
            "row 7, column customer_external: no customer with external id shopify:9999 in tenant acme",
        ]
    );
    assert_eq!(k.interactions(), 3);

    // The same external id is stored once: importing again only adds the rows without one.
    let again = import(&k, "interactions", &fixture("interactions.csv"), &[]);
    assert_eq!(
        again.stdout,
        "imported 2 interactions (1 already present); 3 rows rejected\n"
    );
    assert_eq!(k.interactions(), 5);
}

#[test]
fn an_interactions_file_without_a_customer_column_is_refused_until_mapped() {
    let k = Kith::with_tenant();
    import(&k, "customers", &fixture("customers.csv"), &[]);
    let file = fixture("interactions_no_customer.csv");
    let r = import(&k, "interactions", &file, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: the file has no column naming the customer: add customer_id, customer_email or customer_external (as SOURCE:ID), or map one with --map COLUMN=customer_email (its columns: Kunde, subject)\n"
    );
    assert_eq!(k.interactions(), 0);
    let r = import(
        &k,
        "interactions",
        &file,
        &["--map", "Kunde=customer_email"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "imported 1 interaction; 0 rows rejected\n");
}

#[test]
fn a_generated_100k_row_file_imports_completely() {
    let k = Kith::with_tenant();
    let file = k.path("100k.csv");
    let mut csv = String::with_capacity(100_000 * 80);
    csv.push_str("email,first_name,last_name,phone,tags,external:crm\n");
    for i in 0..100_000 {
        writeln!(
            csv,
            "user{i}@example.com,First{i},Last{i},+4915{i:09},t{};all,c{i}",
            i % 10
        )
        .expect("write");
    }
    std::fs::write(&file, csv).expect("write");
    let r = import(&k, "customers", &file.display().to_string(), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "imported 100,000 customers; 0 rows rejected\n");
    assert_eq!(r.stderr, "");
    assert_eq!(k.customers(), 100_000);
    let last = k
        .ok(&[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--external",
            "crm:c99999",
        ])
        .json();
    assert_eq!(last["email"], "user99999@example.com");
}

#[test]
fn import_logs_structured_json_when_asked() {
    let k = Kith::with_tenant();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kith"))
        .arg("--data-dir")
        .arg(k.data())
        .args([
            "--log-format",
            "json",
            "import",
            "customers",
            &fixture("customers.csv"),
            "--tenant",
            "acme",
        ])
        .env("KITH_LOG", "info")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("import finished"))
        .unwrap_or_else(|| panic!("no log line: {stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(v["fields"]["tenant"], "acme");
    assert_eq!(v["fields"]["rejected"], 0);
}
