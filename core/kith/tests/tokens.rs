//! API tokens: created, authenticated in constant time, revoked, and never stored in clear.

use kith::model::{Actor, TenantInput, TenantSlug};
use kith::service::tokens;
use kith::store::{Error as StoreError, RedbStore, Store, StoreConfig, TokenScope};

fn open(dir: &std::path::Path) -> RedbStore {
    RedbStore::open(dir, StoreConfig::default()).unwrap()
}

fn tenant(store: &RedbStore, slug: &str) -> TenantSlug {
    store
        .create_tenant(
            TenantInput {
                slug: slug.into(),
                name: None,
                industry: None,
            },
            &Actor::new("test"),
        )
        .unwrap()
        .slug
}

#[test]
fn tokens_are_created_listed_and_revoked_and_tenant_tokens_need_a_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t = tenant(&store, "acme");
    let admin = tokens::create(&store, TokenScope::Admin, false, None, None).unwrap();
    let secret = admin.secret.clone().unwrap();
    assert!(secret.starts_with("kith_"));
    assert_eq!(secret.len(), "kith_".len() + 16 + 1 + 43);
    let key = tokens::create(
        &store,
        TokenScope::Tenant(t.clone()),
        true,
        Some("reader".into()),
        None,
    )
    .unwrap();
    let who = tokens::authenticate(&store, key.secret.as_deref().unwrap(), None)
        .unwrap()
        .unwrap();
    assert_eq!(who.scope, TokenScope::Tenant(t.clone()));
    assert!(who.read_only);
    // A token with one changed character is not valid.
    let mut forged = secret.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(tokens::authenticate(&store, &forged, None).unwrap(), None);
    assert_eq!(store.tokens().unwrap().len(), 2);
    let ghost = TenantSlug::parse("ghost").unwrap();
    assert!(matches!(
        tokens::create(&store, TokenScope::Tenant(ghost), false, None, None),
        Err(StoreError::TenantNotFound(_))
    ));
    store.revoke_token(&admin.record.id).unwrap();
    assert_eq!(tokens::authenticate(&store, &secret, None).unwrap(), None);
    assert!(matches!(
        store.revoke_token(&admin.record.id),
        Err(StoreError::NotFound {
            entity: "token",
            ..
        })
    ));
    drop(store);
    // The secret is not in the data file; only its hash is.
    let bytes = std::fs::read(dir.path().join("kith.redb")).unwrap();
    let token = key.secret.unwrap();
    // `kith_<16 hex id>_<43 characters>`; the secret itself may contain '_'.
    let needle = &token.as_bytes()["kith_".len() + 17..];
    assert_eq!(needle.len(), 43);
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
}
