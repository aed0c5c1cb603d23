//! Email keys: what each customer write with an address spends deriving its index keys.
//!
//! `cargo bench -p kith-model --bench email`
//!
//! - `email_identity`: [`Email::identity`], the key no two customers of a tenant share.
//! - `email_likeness`: [`Email::likeness`], the look-alike key of duplicate suggestions (the
//!   TR39 skeleton of the address without dots and `+tag`).
//!
//! Both are computed on the commit thread for every customer written with an address, once
//! to find who holds the identity and once for the index entries.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kith_model::Email;

fn email(c: &mut Criterion) {
    let ascii = Email::parse("email", "Jane.Doe+orders@Example.com").expect("valid");
    let other = Email::parse("email", "jöns.bäck@exämple.se").expect("valid");
    c.bench_function("email_identity", |b| {
        b.iter(|| black_box(&ascii).identity())
    });
    c.bench_function("email_likeness", |b| {
        b.iter(|| black_box(&ascii).likeness())
    });
    c.bench_function("email_likeness_non_ascii", |b| {
        b.iter(|| black_box(&other).likeness())
    });
}

criterion_group!(benches, email);
criterion_main!(benches);
