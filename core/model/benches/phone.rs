//! Phone validation: what one new customer's number costs a write.
//!
//! `cargo bench -p kith-model --bench phone`
//!
//! - `phone_one_country`: distinct Canadian numbers in international form, as a shop's orders
//!   bring them (bench/gen.py's webhook deliveries).
//! - `phone_one_country_with_its_country`: the same numbers with the customer's country (CA)
//!   beside them, as a shop's order brings it from the customer's address. +1 is shared by 25
//!   regions: without the country, finding the number's region is a fifth of the work.
//! - `phone_mixed_countries`: distinct national numbers from about 40 countries in turn, as an import
//!   of an international customer list brings them. A validator that caches compiled patterns
//!   in a small cache recompiles on almost every number here.
//!
//! Each iteration parses a number not parsed before, so [`Phone::parse`]'s cache of recent
//! numbers never answers.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kith_model::{Country, Phone};

/// Countries and the start of a national number in each: (code, number without its last three
/// digits).
const NATIONAL: &[(&str, &str)] = &[
    ("US", "2015550"),
    ("CA", "6135550"),
    ("DE", "30123456"),
    ("FR", "0123456"),
    ("GB", "02079460"),
    ("IT", "0212345"),
    ("ES", "912345"),
    ("NL", "0201234"),
    ("BE", "022123"),
    ("CH", "0441234"),
    ("AT", "0664123"),
    ("SE", "081234"),
    ("NO", "21234"),
    ("DK", "32123"),
    ("FI", "0912345"),
    ("PL", "123456"),
    ("CZ", "212345"),
    ("HU", "0612345"),
    ("RO", "0211234"),
    ("GR", "2123456"),
    ("PT", "212345"),
    ("IE", "0123456"),
    ("RU", "84951234"),
    ("UA", "0441234"),
    ("TR", "02123456"),
    ("IL", "021234"),
    ("AE", "0501234"),
    ("IN", "01123456"),
    ("CN", "01012345"),
    ("JP", "0312345"),
    ("KR", "0212345"),
    ("SG", "61234"),
    ("AU", "0212345"),
    ("NZ", "093456"),
    ("BR", "11912345"),
    ("AR", "01143214"),
    ("MX", "5512345"),
    ("ZA", "0211234"),
    ("NG", "08031234"),
    ("KE", "020234"),
];

fn phone(c: &mut Criterion) {
    let mut n = 0u32;
    c.bench_function("phone_one_country", |b| {
        b.iter(|| {
            n = (n + 1) % 8_000_000;
            let raw = format!("+1613{:07}", 2_000_000 + n);
            black_box(Phone::parse("phone", black_box(&raw), None).expect("valid"))
        })
    });

    let canada = Country::parse("country", "CA").expect("country");
    c.bench_function("phone_one_country_with_its_country", |b| {
        b.iter(|| {
            n = (n + 1) % 8_000_000;
            let raw = format!("+1613{:07}", 2_000_000 + n);
            black_box(Phone::parse("phone", black_box(&raw), Some(canada)).expect("valid"))
        })
    });

    // National numbers that are valid, 40 countries in turn: each country's prefix with the
    // last three digits that make a valid number (most of 000 to 999; none for a country whose
    // prefix is not one of its number ranges, which is then left out and said so).
    let mut numbers: Vec<Vec<(Country, String)>> = Vec::new();
    for (code, prefix) in NATIONAL {
        let country = Country::parse("country", code).expect("country");
        let valid: Vec<(Country, String)> = (0..1000)
            .map(|k| format!("{prefix}{k:03}"))
            .filter(|raw| Phone::parse("phone", raw, Some(country)).is_ok())
            .map(|raw| (country, raw))
            .collect();
        if valid.is_empty() {
            eprintln!("phone_mixed_countries: no valid number for {code} {prefix}___, left out");
        } else {
            numbers.push(valid);
        }
    }
    assert!(numbers.len() >= 30, "too few countries: {}", numbers.len());
    let mut i = 0usize;
    c.bench_function("phone_mixed_countries", |b| {
        b.iter(|| {
            i += 1;
            let country = &numbers[i % numbers.len()];
            let (code, raw) = &country[(i / numbers.len()) % country.len()];
            black_box(Phone::parse("phone", black_box(raw), Some(*code)).expect("valid"))
        })
    });
}

criterion_group!(benches, phone);
criterion_main!(benches);
