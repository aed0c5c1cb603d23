use kith_core::model::*;
use kith_core::store::*;

#[test]
fn smoke() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path(), StoreConfig::default()).unwrap();
    let actor = Actor::new("test");
    let t = store
        .create_tenant(
            TenantInput {
                slug: "acme".into(),
                name: None,
                industry: None,
            },
            &actor,
        )
        .unwrap();
    let c = store
        .create_customer(
            &t.slug,
            &actor,
            CustomerInput {
                email: Some(" Ada@Example.COM ".into()),
                tags: vec!["VIP".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(c.email.as_ref().unwrap().as_str(), "Ada@example.com");
    let dup = store.create_customer(
        &t.slug,
        &actor,
        CustomerInput {
            email: Some("Ada@example.com".into()),
            ..Default::default()
        },
    );
    println!("{:?}", dup.as_ref().err().map(|e| e.to_string()));
    assert!(dup.is_err());
    let got = store
        .customer_by_email(&t.slug, c.email.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(got, c);
    let (i, created) = store
        .log_interaction(
            &t.slug,
            &actor,
            InteractionInput {
                external_id: Some("o1".into()),
                source: Some("shop".into()),
                amount: Some(Money::new(100, "USD".parse().unwrap())),
                ..InteractionInput::new(c.id, Channel::ECommerce, InteractionKind::Purchase)
            },
        )
        .unwrap();
    assert!(created);
    let (i2, created2) = store
        .log_interaction(
            &t.slug,
            &actor,
            InteractionInput {
                external_id: Some("o1".into()),
                source: Some("shop".into()),
                ..InteractionInput::new(c.id, Channel::ECommerce, InteractionKind::Purchase)
            },
        )
        .unwrap();
    assert!(!created2);
    assert_eq!(i.id, i2.id);
    let page = store
        .timeline(&t.slug, c.id, &PageRequest::first(10))
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let tagged = store
        .customers(
            &t.slug,
            &CustomerFilter::Tag(Tag::parse("t", "vip").unwrap()),
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(tagged.items.len(), 1);
    store.erase_customer(&t.slug, &actor, c.id).unwrap();
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
    println!("{:?}", store.events(&t.slug, 0, 100).unwrap());
    println!("{:?}", store.stats().unwrap());
}
