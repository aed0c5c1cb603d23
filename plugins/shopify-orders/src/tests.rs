use kith_plugin_sdk::testing::{Harness, WebhookBuilder, assert_manifest_valid, webhook};
use kith_plugin_sdk::{
    Action, AttributeValue, CustomerRef, ExternalId, InteractionKind, Money, Verdict,
};
use serde_json::json;

use super::*;

const SECRET: &str = "shpss_test_secret";
const CONFIG: &str = r#"{"secret":"shpss_test_secret"}"#;

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

fn signed(topic: &str, body: impl Into<Vec<u8>>) -> WebhookBuilder {
    let body = body.into();
    let signature = sign(&body, SECRET);
    webhook(topic)
        .header("X-Shopify-Topic", topic)
        .header(SIGNATURE_HEADER, signature)
        .body(body)
}

fn order() -> serde_json::Value {
    json!({
        "id": 820982911946154508u64,
        "name": "#1001",
        "email": "Jon@Example.COM",
        "created_at": "2024-05-01T10:00:00-04:00",
        "processed_at": "2024-05-01T10:00:05-04:00",
        "currency": "EUR",
        "total_price": "199.29",
        "customer": {
            "id": 115310627314723954u64,
            "email": "Jon@Example.COM",
            "first_name": "Jon",
            "last_name": "Snow",
            "phone": null,
            "email_marketing_consent": { "state": "subscribed" },
            "default_address": { "country_code": "CA", "province": "Ontario", "city": "Ottawa" }
        },
        "line_items": [
            { "title": "Wool scarf", "quantity": 2, "price": "49.90", "sku": "SC-1" },
            { "title": "Gloves", "quantity": 1, "price": "99.49", "sku": "" }
        ]
    })
}

fn handle(hook: WebhookBuilder) -> HookOutput {
    Harness::<ShopifyOrders>::new(CONFIG)
        .handle(hook.build())
        .unwrap()
}

fn rejection(output: &HookOutput) -> Option<RejectionKind> {
    match &output.verdict {
        Verdict::Rejected(r) => Some(r.kind),
        _ => None,
    }
}

#[test]
fn manifest_is_valid() {
    assert_eq!(
        assert_manifest_valid::<ShopifyOrders>().id,
        "kith.shopify-orders"
    );
}

#[test]
fn signed_order_upserts_customer_and_logs_exact_purchase() {
    let body = serde_json::to_vec(&order()).unwrap();
    let output = handle(signed(TOPIC, body));
    assert_eq!(output.verdict, Verdict::Accepted);
    let [Action::UpsertCustomer(upsert), Action::LogInteraction(log)] = output.actions.as_slice()
    else {
        panic!("unexpected actions {:?}", output.actions)
    };
    assert_eq!(upsert.email.as_deref(), Some("jon@example.com"));
    assert_eq!(
        upsert.external_id,
        Some(ExternalId::new("shopify", "115310627314723954"))
    );
    assert_eq!(upsert.fields.display_name.as_deref(), Some("Jon Snow"));
    assert_eq!(upsert.fields.country.as_deref(), Some("CA"));
    assert_eq!(upsert.fields.marketing_consent, Some(true));
    assert_eq!(
        log.customer,
        CustomerRef::External(ExternalId::new("shopify", "115310627314723954"))
    );
    assert_eq!(log.kind, InteractionKind::Purchase);
    assert_eq!(log.amount, Some(Money::new(19_929, "EUR")));
    assert_eq!(
        log.external_id,
        Some(ExternalId::new("shopify", "820982911946154508"))
    );
    assert_eq!(
        log.occurred_at,
        kith_plugin_sdk::time::parse_rfc3339("2024-05-01T14:00:05Z").unwrap()
    );
    let attribute = |name: &str| {
        log.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.clone())
    };
    assert_eq!(
        attribute("line_item.1"),
        Some(AttributeValue::Text(
            "2 x Wool scarf (SKU SC-1) @ 49.90 EUR".into()
        ))
    );
    assert_eq!(
        attribute("line_item.2"),
        Some(AttributeValue::Text("1 x Gloves @ 99.49 EUR".into()))
    );
    assert_eq!(
        attribute("item_quantity"),
        Some(AttributeValue::Number(3.0))
    );
    assert_eq!(
        attribute("order_name"),
        Some(AttributeValue::Text("#1001".into()))
    );
}

#[test]
fn signature_header_name_is_case_insensitive() {
    let body = serde_json::to_vec(&order()).unwrap();
    let hook = webhook(TOPIC)
        .header("x-shopify-hmac-sha256", sign(&body, SECRET))
        .body(body);
    assert_eq!(handle(hook).verdict, Verdict::Accepted);
}

#[test]
fn bad_or_missing_signatures_are_rejected() {
    let body = serde_json::to_vec(&order()).unwrap();
    let wrong_secret = webhook(TOPIC)
        .header(SIGNATURE_HEADER, sign(&body, "other"))
        .body(body.clone());
    let missing = webhook(TOPIC).body(body.clone());
    let not_base64 = webhook(TOPIC)
        .header(SIGNATURE_HEADER, "%%%")
        .body(body.clone());
    let truncated = webhook(TOPIC)
        .header(SIGNATURE_HEADER, &sign(&body, SECRET)[..20])
        .body(body.clone());
    let mut tampered = signed(TOPIC, body).build();
    tampered.body[10] ^= 1;
    for hook in [
        wrong_secret.build(),
        missing.build(),
        not_base64.build(),
        truncated.build(),
        tampered,
    ] {
        let output = Harness::<ShopifyOrders>::new(CONFIG).handle(hook).unwrap();
        assert_eq!(
            rejection(&output),
            Some(RejectionKind::BadSignature),
            "{output:?}"
        );
        assert!(output.actions.is_empty());
    }
}

#[test]
fn other_topics_are_ignored() {
    let output = handle(signed(
        "orders/updated",
        serde_json::to_vec(&order()).unwrap(),
    ));
    assert!(matches!(output.verdict, Verdict::Ignored(_)));
    assert!(output.actions.is_empty());
}

#[test]
fn malformed_bodies_are_rejected_not_trapped() {
    let mut no_total = order();
    no_total["total_price"] = json!(null);
    let mut float_total = order();
    float_total["total_price"] = json!(199.29);
    let mut too_precise = order();
    too_precise["total_price"] = json!("1.001");
    let mut bad_date = order();
    bad_date["processed_at"] = json!("yesterday");
    let mut no_id = order();
    no_id["id"] = json!({"nested": true});
    let bodies: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"[]".to_vec(),
        b"".to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"{\"id\": 1, \"email\": 5}".to_vec(),
        serde_json::to_vec(&no_total).unwrap(),
        serde_json::to_vec(&float_total).unwrap(),
        serde_json::to_vec(&too_precise).unwrap(),
        serde_json::to_vec(&bad_date).unwrap(),
        serde_json::to_vec(&no_id).unwrap(),
    ];
    for body in bodies {
        let output = handle(signed(TOPIC, body.clone()));
        assert_eq!(
            rejection(&output),
            Some(RejectionKind::Malformed),
            "{:?}: {output:?}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn guest_order_refers_to_the_customer_by_email() {
    let mut guest = order();
    guest["customer"] = json!(null);
    let output = handle(signed(TOPIC, serde_json::to_vec(&guest).unwrap()));
    let Action::LogInteraction(log) = &output.actions[1] else {
        panic!("{output:?}")
    };
    assert_eq!(log.customer, CustomerRef::Email("jon@example.com".into()));
    let mut anonymous = guest;
    anonymous["email"] = json!(null);
    assert!(matches!(
        handle(signed(TOPIC, serde_json::to_vec(&anonymous).unwrap())).verdict,
        Verdict::Ignored(_)
    ));
}

#[test]
fn line_items_beyond_the_cap_are_counted_not_listed() {
    let mut big = order();
    big["line_items"] = json!(vec![
        json!({"title": "x".repeat(10_000), "quantity": 1, "price": "1.00"});
        80
    ]);
    let output = handle(signed(TOPIC, serde_json::to_vec(&big).unwrap()));
    let Action::LogInteraction(log) = &output.actions[1] else {
        panic!("{output:?}")
    };
    let listed = log
        .attributes
        .iter()
        .filter(|a| a.name.starts_with("line_item."))
        .count();
    assert_eq!(listed, order::MAX_LINE_ITEMS);
    assert!(
        log.attributes
            .iter()
            .any(|a| a.name == "line_items_truncated")
    );
    assert!(
        log.attributes
            .iter()
            .all(|a| !matches!(&a.value, AttributeValue::Text(t) if t.len() > 300))
    );
}

#[test]
fn missing_secret_is_a_config_error() {
    let err = Harness::<ShopifyOrders>::new("{}")
        .handle(signed(TOPIC, "{}").build())
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidConfig(m) if m.contains("secret")),
        "{err:?}"
    );
}

#[test]
fn arbitrary_signed_bytes_never_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8
    };
    let template = serde_json::to_vec(&order()).unwrap();
    for round in 0..500 {
        let mut body = template.clone();
        for _ in 0..(round % 8 + 1) {
            let at = usize::from(next()) * body.len() / 256;
            body[at] = next();
        }
        body.truncate(body.len() - usize::from(next()) % 16);
        let _ = handle(signed(TOPIC, body));
    }
}
