use kith_plugin_sdk::testing::{Harness, WebhookBuilder, assert_manifest_valid, webhook};
use kith_plugin_sdk::time::parse_rfc3339;
use kith_plugin_sdk::{
    Action, AttributeValue, CustomerRef, ExternalId, HookOutput, InteractionKind, LogInteraction,
    Money, PluginError, RejectionKind, Verdict,
};
use proptest::prelude::*;
use serde_json::json;

use kith_plugin_sdk::commerce;

use super::*;

const SECRET: &str = "generic_test_secret";
const CONFIG: &str = r#"{"secret":"generic_test_secret"}"#;

fn signed(topic: &str, body: impl Into<Vec<u8>>) -> WebhookBuilder {
    let body = body.into();
    let signature = commerce::sign(SECRET.as_bytes(), &body);
    webhook(topic)
        .header(SIGNATURE_HEADER, signature)
        .body(body)
}

/// The README's example document.
fn order() -> serde_json::Value {
    json!({
        "id": "1001",
        "occurred_at": "2024-05-01T14:00:05Z",
        "customer": { "external_id": "c-42", "email": "Ada@Example.com", "name": "Ada Lovelace" },
        "currency": "USD",
        "total": "42.50",
        "items": [
            { "sku": "B-1", "name": "Notes on the Analytical Engine", "quantity": 1, "unit_price": "29.99" },
            { "name": "Bookmark", "quantity": 2, "unit_price": "6.25" }
        ],
        "status": "paid"
    })
}

fn handle(topic: &str, body: &serde_json::Value) -> HookOutput {
    Harness::<GenericOrders>::new(CONFIG)
        .handle(signed(topic, serde_json::to_vec(body).unwrap()).build())
        .unwrap()
}

fn log(output: &HookOutput) -> &LogInteraction {
    match output.actions.as_slice() {
        [Action::UpsertCustomer(_), Action::LogInteraction(log)] => log,
        _ => panic!("{output:?}"),
    }
}

fn attribute(log: &LogInteraction, name: &str) -> Option<AttributeValue> {
    log.attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.clone())
}

fn text(s: &str) -> Option<AttributeValue> {
    Some(AttributeValue::Text(s.to_owned()))
}

fn malformed_reason(output: &HookOutput) -> String {
    match &output.verdict {
        Verdict::Rejected(r) if r.kind == RejectionKind::Malformed => r.reason.clone(),
        _ => panic!("not malformed: {output:?}"),
    }
}

#[test]
fn manifest_is_valid() {
    assert_eq!(
        assert_manifest_valid::<GenericOrders>().id,
        "kith.generic-orders"
    );
}

#[test]
fn order_created_upserts_by_external_id_and_logs_one_purchase() {
    let output = handle("order.created", &order());
    assert_eq!(output.verdict, Verdict::Accepted);
    let [Action::UpsertCustomer(upsert), Action::LogInteraction(log)] = output.actions.as_slice()
    else {
        panic!("{output:?}")
    };
    assert_eq!(upsert.external_id, Some(ExternalId::new("generic", "c-42")));
    assert_eq!(upsert.email.as_deref(), Some("ada@example.com"));
    assert_eq!(upsert.fields.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(
        log.customer,
        CustomerRef::External(ExternalId::new("generic", "c-42"))
    );
    assert_eq!(log.kind, InteractionKind::Purchase);
    assert_eq!(log.amount, Some(Money::new(4_250, "USD")));
    assert_eq!(log.external_id, Some(ExternalId::new("generic", "1001")));
    assert_eq!(
        log.occurred_at,
        parse_rfc3339("2024-05-01T14:00:05Z").unwrap()
    );
    assert_eq!(attribute(log, "order_status"), text("paid"));
    assert_eq!(
        attribute(log, "item_quantity"),
        Some(AttributeValue::Number(3.0))
    );
    assert_eq!(
        attribute(log, "line_item.1"),
        text("1 x Notes on the Analytical Engine (SKU B-1) @ 29.99 USD")
    );
    assert_eq!(
        attribute(log, "line_item.2"),
        text("2 x Bookmark @ 6.25 USD")
    );
}

#[test]
fn minimal_cdnow_style_order_needs_only_id_time_customer_and_money() {
    let minimal = json!({
        "id": 1,
        "occurred_at": "1997-01-01T00:00:00Z",
        "customer": { "external_id": 1 },
        "currency": "USD",
        "total": "11.77",
        "items": [{ "quantity": 1 }]
    });
    let output = handle("order.created", &minimal);
    let Action::UpsertCustomer(upsert) = &output.actions[0] else {
        panic!("{output:?}")
    };
    assert_eq!(upsert.email, None);
    assert_eq!(upsert.fields.display_name, None);
    let log = log(&output);
    assert_eq!(log.amount, Some(Money::new(1_177, "USD")));
    assert_eq!(log.external_id, Some(ExternalId::new("generic", "1")));
    assert_eq!(attribute(log, "line_item.1"), text("1 x (unnamed)"));
}

#[test]
fn customer_known_by_email_only_is_referred_to_by_email() {
    let mut o = order();
    o["customer"] = json!({ "email": "ada@example.com" });
    let output = handle("order.created", &o);
    assert_eq!(
        log(&output).customer,
        CustomerRef::Email("ada@example.com".into())
    );
}

#[test]
fn refund_is_positive_and_names_the_purchase() {
    let refund = json!({
        "id": "R-7",
        "occurred_at": "2024-05-03T09:00:00Z",
        "customer": { "external_id": "c-42" },
        "currency": "USD",
        "total": "6.25",
        "refund_of": "1001"
    });
    let output = handle("order.refunded", &refund);
    let log = log(&output);
    assert_eq!(log.kind, InteractionKind::Refund);
    assert_eq!(log.amount, Some(Money::new(625, "USD")));
    assert_eq!(
        log.external_id,
        Some(ExternalId::new("generic", "refund-R-7"))
    );
    assert_eq!(attribute(log, "refund_of"), text("1001"));
    assert_eq!(log.subject.as_deref(), Some("Refund R-7 of order 1001"));

    let mut without = refund.clone();
    without["refund_of"] = json!(null);
    assert!(
        malformed_reason(&handle("order.refunded", &without)).contains("refund_of is required")
    );
    assert!(malformed_reason(&handle("order.created", &refund)).contains("only allowed"));
}

#[test]
fn cancellation_has_no_amount_and_names_the_order() {
    let output = handle("order.cancelled", &order());
    let log = log(&output);
    assert_eq!(log.kind, InteractionKind::Other);
    assert_eq!(log.amount, None);
    assert_eq!(
        log.external_id,
        Some(ExternalId::new("generic", "cancel-1001"))
    );
    assert_eq!(attribute(log, "cancellation_of"), text("1001"));
}

#[test]
fn money_is_exact_and_strict_about_fraction_digits() {
    for (currency, total, minor) in [
        ("JPY", "1500", 1_500),
        ("USD", "0.29", 29),
        ("USD", "7", 700),
        ("USD", "7.5", 750),
        ("KWD", "1.234", 1_234),
        ("EUR", "0", 0),
    ] {
        let mut o = order();
        o["currency"] = json!(currency);
        o["total"] = json!(total);
        o["items"] = json!([]);
        assert_eq!(
            log(&handle("order.created", &o)).amount,
            Some(Money::new(minor, currency)),
            "{total} {currency}"
        );
    }
    for (currency, total, reason) in [
        ("JPY", "1500.00", "2 fraction digits, JPY has 0"),
        ("USD", "1.001", "3 fraction digits, USD has 2"),
        ("KWD", "1.2340", "4 fraction digits, KWD has 3"),
        ("USD", "-1.00", "must not be negative"),
        ("USD", "1e3", "invalid decimal"),
        ("USD", ".5", "invalid decimal"),
        ("USD", "99999999999999999999", "too large"),
        ("ABC", "1.00", "ISO 4217"),
    ] {
        let mut o = order();
        o["currency"] = json!(currency);
        o["total"] = json!(total);
        o["items"] = json!([]);
        let got = malformed_reason(&handle("order.created", &o));
        assert!(got.contains(reason), "{total} {currency}: {got}");
    }
}

#[test]
fn malformed_documents_are_rejected_with_a_reason() {
    let with = |key: &str, value: serde_json::Value| {
        let mut o = order();
        o[key] = value;
        o
    };
    let mut no_id = order();
    no_id.as_object_mut().unwrap().remove("id");
    let cases = [
        (no_id, "missing field `id`"),
        (with("id", json!(null)), "id is missing"),
        (with("id", json!(1.5)), "id is missing"),
        (with("total", json!(42.5)), "not an order document"),
        (with("total", json!(null)), "not an order document"),
        (with("currency", json!("usd")), "ISO 4217"),
        (with("occurred_at", json!("2024-05-01")), "occurred_at"),
        (
            with("occurred_at", json!("2024-02-30T00:00:00Z")),
            "occurred_at",
        ),
        (with("customer", json!({})), "external_id or an email"),
        (
            with("customer", json!({ "email": "not-an-email" })),
            "customer.email",
        ),
        (
            with("customer", json!({ "external_id": {"x": 1} })),
            "customer.external_id",
        ),
        (
            with("customer", json!({ "id": "c-1" })),
            "unknown field `id`",
        ),
        (with("totl", json!("1.00")), "unknown field `totl`"),
        (
            with("items", json!([{ "quantity": 0 }])),
            "items[0].quantity",
        ),
        (
            with("items", json!([{ "quantity": -1 }])),
            "not an order document",
        ),
        (
            with("items", json!([{ "quantity": 1, "unit_price": "1.999" }])),
            "items[0].unit_price",
        ),
        (
            with("items", json!(vec![json!({"quantity": 1}); 1001])),
            "at most 1000",
        ),
        (with("status", json!("x".repeat(65))), "status"),
        (with("status", json!(3)), "not an order document"),
        (json!([]), "not an order document"),
        (json!("order"), "not an order document"),
    ];
    for (document, expected) in cases {
        let reason = malformed_reason(&handle("order.created", &document));
        assert!(
            reason.contains(expected),
            "{document}: {reason:?} lacks {expected:?}"
        );
    }
    for raw in [&b""[..], b"   ", b"{", b"\xff\xfe", b"null"] {
        let output = Harness::<GenericOrders>::new(CONFIG)
            .handle(signed("order.created", raw).build())
            .unwrap();
        malformed_reason(&output);
    }
}

#[test]
fn signature_is_required_and_checked() {
    let body = serde_json::to_vec(&order()).unwrap();
    let mut tampered = signed("order.created", body.clone()).build();
    tampered.body[5] ^= 0x20;
    for hook in [
        webhook("order.created").body(body.clone()).build(),
        webhook("order.created")
            .header(SIGNATURE_HEADER, commerce::sign(b"wrong", &body))
            .body(body.clone())
            .build(),
        webhook("order.created")
            .header(SIGNATURE_HEADER, "***")
            .body(body.clone())
            .build(),
        tampered,
    ] {
        let output = Harness::<GenericOrders>::new(CONFIG).handle(hook).unwrap();
        assert!(
            matches!(&output.verdict, Verdict::Rejected(r) if r.kind == RejectionKind::BadSignature),
            "{output:?}"
        );
    }
    let lower_case = webhook("order.created")
        .header("x-kith-signature", commerce::sign(SECRET.as_bytes(), &body))
        .body(body);
    assert_eq!(
        Harness::<GenericOrders>::new(CONFIG)
            .handle(lower_case.build())
            .unwrap()
            .verdict,
        Verdict::Accepted
    );
}

#[test]
fn topic_falls_back_to_the_header_and_unknown_topics_are_ignored() {
    let body = serde_json::to_vec(&order()).unwrap();
    let hook = webhook("")
        .header(TOPIC_HEADER, "order.created")
        .header(SIGNATURE_HEADER, commerce::sign(SECRET.as_bytes(), &body))
        .body(body.clone());
    let output = Harness::<GenericOrders>::new(CONFIG)
        .handle(hook.build())
        .unwrap();
    assert_eq!(output.verdict, Verdict::Accepted);
    for topic in ["", "order.updated", "orders/create"] {
        let output = Harness::<GenericOrders>::new(CONFIG)
            .handle(signed(topic, body.clone()).build())
            .unwrap();
        assert!(matches!(output.verdict, Verdict::Ignored(_)), "{topic:?}");
    }
}

#[test]
fn missing_or_unusable_config_is_a_config_error() {
    for (config, field) in [
        ("{}", "secret"),
        (r#"{"secret":""}"#, "secret"),
        (r#"{"secret":"s","source":"CDNOW"}"#, "source"),
        (r#"{"secret":"s","sauce":"x"}"#, "sauce"),
    ] {
        let err = Harness::<GenericOrders>::new(config)
            .handle(signed("order.created", "{}").build())
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidConfig(m) if m.contains(field)),
            "{config}: {err:?}"
        );
    }
    let cdnow = r#"{"secret":"generic_test_secret","source":"cdnow"}"#;
    let output = Harness::<GenericOrders>::new(cdnow)
        .handle(signed("order.created", serde_json::to_vec(&order()).unwrap()).build())
        .unwrap();
    assert_eq!(
        log(&output).external_id,
        Some(ExternalId::new("cdnow", "1001"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_signed_bodies_never_trap(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        topic in prop::sample::select(vec!["order.created", "order.refunded", "order.cancelled"]),
    ) {
        let output = Harness::<GenericOrders>::new(CONFIG).handle(signed(topic, body).build());
        prop_assert!(output.is_ok());
    }

    #[test]
    fn any_valid_decimal_total_maps_exactly(units in 0u64..10_000_000_000, cents in 0u64..100) {
        let mut o = order();
        o["total"] = json!(format!("{units}.{cents:02}"));
        let output = handle("order.created", &o);
        let expected = i64::try_from(units * 100 + cents).unwrap();
        prop_assert_eq!(log(&output).amount.clone(), Some(Money::new(expected, "USD")));
    }
}
