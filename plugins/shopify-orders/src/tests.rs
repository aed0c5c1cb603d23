use kith_plugin_sdk::testing::{
    DEFAULT_NOW, Harness, WebhookBuilder, assert_manifest_valid, webhook,
};
use kith_plugin_sdk::time::{MICROS_PER_SECOND, parse_rfc3339};
use kith_plugin_sdk::{
    Action, AttributeValue, CustomerRef, ExternalId, InteractionKind, LogInteraction, Money,
    RejectionKind, Verdict,
};
use proptest::prelude::*;
use serde_json::json;

use kith_plugin_sdk::commerce;

use super::*;

const SECRET: &str = "shpss_test_secret";
const CONFIG: &str = r#"{"secret":"shpss_test_secret"}"#;

fn signed(topic: &str, body: impl Into<Vec<u8>>) -> WebhookBuilder {
    let body = body.into();
    let signature = commerce::sign(SECRET.as_bytes(), &body);
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
        "financial_status": "paid",
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

/// A refund of `order()` moving `amount` EUR through one successful transaction.
fn refund(id: u64, amount: &str) -> serde_json::Value {
    json!({
        "id": id,
        "order_id": 820982911946154508u64,
        "created_at": "2024-05-03T09:00:00-04:00",
        "processed_at": "2024-05-03T09:00:00-04:00",
        "note": "Wrong size",
        "refund_line_items": [{ "id": 1, "quantity": 1, "line_item_id": 2 }],
        "transactions": [
            { "id": 5, "kind": "refund", "status": "success", "amount": amount, "currency": "EUR" },
            { "id": 6, "kind": "refund", "status": "failure", "amount": "1000.00", "currency": "EUR" }
        ]
    })
}

fn jon() -> CustomerRef {
    CustomerRef::External(ExternalId::new("shopify", "115310627314723954"))
}

fn handle_with(config: &str, hook: WebhookBuilder) -> HookOutput {
    Harness::<ShopifyOrders>::new(config)
        .handle(hook.build())
        .unwrap()
}

fn handle(hook: WebhookBuilder) -> HookOutput {
    handle_with(CONFIG, hook)
}

fn handle_json(topic: &str, body: &serde_json::Value) -> HookOutput {
    handle(signed(topic, serde_json::to_vec(body).unwrap()))
}

fn rejection(output: &HookOutput) -> Option<RejectionKind> {
    match &output.verdict {
        Verdict::Rejected(r) => Some(r.kind),
        _ => None,
    }
}

fn logs(output: &HookOutput) -> Vec<&LogInteraction> {
    output
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::LogInteraction(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn attribute<'a>(log: &'a LogInteraction, name: &str) -> Option<&'a AttributeValue> {
    log.attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| &a.value)
}

#[test]
fn manifest_is_valid_and_reports_version_0_2_0() {
    let manifest = assert_manifest_valid::<ShopifyOrders>();
    assert_eq!(manifest.id, "kith.shopify-orders");
    assert_eq!(manifest.version, "0.2.1");
}

#[test]
fn signed_order_upserts_customer_and_logs_exact_purchase() {
    let output = handle_json(TOPIC, &order());
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
    assert_eq!(log.customer, jon());
    assert_eq!(log.kind, InteractionKind::Purchase);
    assert_eq!(log.amount, Some(Money::new(19_929, "EUR")));
    assert_eq!(
        log.external_id,
        Some(ExternalId::new("shopify", "820982911946154508"))
    );
    assert_eq!(
        log.occurred_at,
        parse_rfc3339("2024-05-01T14:00:05Z").unwrap()
    );
    assert_eq!(
        attribute(log, "line_item.1"),
        Some(&AttributeValue::Text(
            "2 x Wool scarf (SKU SC-1) @ 49.90 EUR".into()
        ))
    );
    assert_eq!(
        attribute(log, "line_item.2"),
        Some(&AttributeValue::Text("1 x Gloves @ 99.49 EUR".into()))
    );
    assert_eq!(
        attribute(log, "item_quantity"),
        Some(&AttributeValue::Number(3.0))
    );
    assert_eq!(
        attribute(log, "order_name"),
        Some(&AttributeValue::Text("#1001".into()))
    );
    assert_eq!(
        attribute(log, "financial_status"),
        Some(&AttributeValue::Text("paid".into()))
    );
}

#[test]
fn totals_use_the_currency_exponent() {
    for (total, currency, minor) in [
        ("1500", "JPY", 1_500),
        ("1500.00", "JPY", 1_500),
        ("12.345", "KWD", 12_345),
        ("0.29", "USD", 29),
        ("0.00", "USD", 0),
        ("92233720368547758.07", "USD", i64::MAX),
    ] {
        let mut o = order();
        o["currency"] = json!(currency);
        o["total_price"] = json!(total);
        let output = handle_json(TOPIC, &o);
        assert_eq!(
            logs(&output)[0].amount,
            Some(Money::new(minor, currency)),
            "{total} {currency}"
        );
    }
}

#[test]
fn topic_comes_from_the_header_when_the_delivery_has_none() {
    let body = serde_json::to_vec(&order()).unwrap();
    let hook = webhook("")
        .header("X-Shopify-Topic", "orders/create")
        .header(SIGNATURE_HEADER, commerce::sign(SECRET.as_bytes(), &body))
        .body(body);
    assert_eq!(handle(hook).verdict, Verdict::Accepted);
}

#[test]
fn signature_header_name_is_case_insensitive() {
    let body = serde_json::to_vec(&order()).unwrap();
    let hook = webhook(TOPIC)
        .header(
            "x-shopify-hmac-sha256",
            commerce::sign(SECRET.as_bytes(), &body),
        )
        .body(body);
    assert_eq!(handle(hook).verdict, Verdict::Accepted);
}

#[test]
fn bad_or_missing_signatures_are_rejected_on_every_topic() {
    let body = serde_json::to_vec(&order()).unwrap();
    for topic in [
        "orders/create",
        "orders/cancelled",
        "refunds/create",
        "customers/redact",
        "checkouts/create",
        "products/update",
    ] {
        let wrong_secret = webhook(topic)
            .header(SIGNATURE_HEADER, commerce::sign(b"other", &body))
            .body(body.clone());
        let missing = webhook(topic).body(body.clone());
        let not_base64 = webhook(topic)
            .header(SIGNATURE_HEADER, "%%%not base64%%%")
            .body(body.clone());
        let empty = webhook(topic)
            .header(SIGNATURE_HEADER, "")
            .body(body.clone());
        let truncated = webhook(topic)
            .header(
                SIGNATURE_HEADER,
                &commerce::sign(SECRET.as_bytes(), &body)[..20],
            )
            .body(body.clone());
        let mut tampered = signed(topic, body.clone()).build();
        tampered.body[10] ^= 1;
        for hook in [
            wrong_secret.build(),
            missing.build(),
            not_base64.build(),
            empty.build(),
            truncated.build(),
            tampered,
        ] {
            let output = Harness::<ShopifyOrders>::new(CONFIG).handle(hook).unwrap();
            assert_eq!(
                rejection(&output),
                Some(RejectionKind::BadSignature),
                "{topic}: {output:?}"
            );
            assert!(output.actions.is_empty());
        }
    }
}

#[test]
fn other_topics_are_ignored() {
    for topic in ["products/update", "customers/data_request", "shop/redact"] {
        let output = handle_json(topic, &order());
        assert!(
            matches!(&output.verdict, Verdict::Ignored(r) if r.contains(topic)),
            "{output:?}"
        );
        assert!(output.actions.is_empty());
    }
}

#[test]
fn purchase_is_logged_on_the_configured_topic_only() {
    let paid_config = r#"{"secret":"shpss_test_secret","purchase_topic":"orders/paid"}"#;
    let body = serde_json::to_vec(&order()).unwrap();
    let kinds = |config: &str, topic: &str| -> Vec<String> {
        handle_with(config, signed(topic, body.clone()))
            .actions
            .iter()
            .map(|a| match a {
                Action::UpsertCustomer(_) => "upsert".to_owned(),
                Action::LogInteraction(l) if l.kind == InteractionKind::Purchase => {
                    "purchase".to_owned()
                }
                other => format!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(kinds(CONFIG, "orders/create"), ["upsert", "purchase"]);
    assert_eq!(kinds(CONFIG, "orders/paid"), ["upsert"]);
    assert_eq!(kinds(paid_config, "orders/create"), ["upsert"]);
    assert_eq!(kinds(paid_config, "orders/paid"), ["upsert", "purchase"]);
    assert_eq!(kinds(CONFIG, "orders/updated"), ["upsert"]);
    // A voided order, or one cancelled already, is no revenue: no purchase.
    for (field, value) in [
        ("financial_status", json!("voided")),
        ("cancelled_at", json!("2024-05-01T11:00:00-04:00")),
    ] {
        let mut o = order();
        o[field] = value;
        let body = serde_json::to_vec(&o).unwrap();
        let output = handle_with(CONFIG, signed("orders/create", body));
        assert!(
            output.actions.iter().all(
                |a| !matches!(a, Action::LogInteraction(l) if l.kind == InteractionKind::Purchase)
            ),
            "{field}: {output:?}"
        );
        assert!(
            matches!(output.actions.first(), Some(Action::UpsertCustomer(_))),
            "{field}"
        );
    }
}

#[test]
fn a_test_order_is_ignored_whole() {
    let mut o = order();
    o["test"] = json!(true);
    let output = handle_with(
        CONFIG,
        signed("orders/create", serde_json::to_vec(&o).unwrap()),
    );
    assert!(output.actions.is_empty(), "{output:?}");
    assert!(
        format!("{:?}", output.verdict).contains("test order"),
        "{output:?}"
    );
}

#[test]
fn refunds_of_an_updated_order_are_logged_and_linked_to_the_purchase() {
    let mut o = order();
    o["refunds"] = json!([
        refund(509562969, "49.90"),
        // Only a restock: no money moved, nothing to log.
        { "id": 509562970, "transactions": [], "refund_line_items": [] }
    ]);
    let output = handle_json("orders/updated", &o);
    assert_eq!(output.verdict, Verdict::Accepted, "{output:?}");
    let logs = logs(&output);
    let [refund] = logs.as_slice() else {
        panic!("{output:?}")
    };
    assert_eq!(refund.customer, jon());
    assert_eq!(refund.kind, InteractionKind::Refund);
    assert_eq!(refund.amount, Some(Money::new(4_990, "EUR")));
    assert_eq!(
        refund.external_id,
        Some(ExternalId::new("shopify", "refund-509562969"))
    );
    assert_eq!(
        attribute(refund, "refund_of"),
        Some(&AttributeValue::Text("820982911946154508".into()))
    );
    assert_eq!(
        attribute(refund, "refund_note"),
        Some(&AttributeValue::Text("Wrong size".into()))
    );
    assert_eq!(
        refund.occurred_at,
        parse_rfc3339("2024-05-03T13:00:00Z").unwrap()
    );
    assert_eq!(
        refund.subject.as_deref(),
        Some("Refund of Shopify order #1001")
    );
}

#[test]
fn refund_transactions_are_summed_and_must_share_a_currency() {
    let mut o = order();
    let mut two = refund(1, "10.00");
    two["transactions"] = json!([
        { "kind": "refund", "status": "success", "amount": "10.00", "currency": "EUR" },
        { "kind": "refund", "status": "success", "amount": "0.05" },
        { "kind": "sale", "status": "success", "amount": "99.00", "currency": "EUR" }
    ]);
    o["refunds"] = json!([two]);
    let output = handle_json("orders/updated", &o);
    assert_eq!(logs(&output)[0].amount, Some(Money::new(1_005, "EUR")));

    let mut mixed = refund(1, "10.00");
    mixed["transactions"][1] =
        json!({ "kind": "refund", "status": "success", "amount": "1.00", "currency": "USD" });
    o["refunds"] = json!([mixed]);
    let output = handle_json("orders/updated", &o);
    assert_eq!(
        rejection(&output),
        Some(RejectionKind::Malformed),
        "{output:?}"
    );
}

#[test]
fn cancelled_order_logs_the_cancellation_and_its_refunds() {
    let mut o = order();
    o["cancelled_at"] = json!("2024-05-02T08:00:00-04:00");
    o["cancel_reason"] = json!("customer");
    o["refunds"] = json!([refund(509562969, "199.29")]);
    let output = handle_json("orders/cancelled", &o);
    let logs = logs(&output);
    let [cancellation, refund] = logs.as_slice() else {
        panic!("{output:?}")
    };
    assert_eq!(cancellation.kind, InteractionKind::Other);
    assert_eq!(cancellation.amount, None);
    assert_eq!(
        cancellation.external_id,
        Some(ExternalId::new("shopify", "cancel-820982911946154508"))
    );
    assert_eq!(
        attribute(cancellation, "cancellation_of"),
        Some(&AttributeValue::Text("820982911946154508".into()))
    );
    assert_eq!(
        attribute(cancellation, "cancel_reason"),
        Some(&AttributeValue::Text("customer".into()))
    );
    assert_eq!(
        cancellation.occurred_at,
        parse_rfc3339("2024-05-02T12:00:00Z").unwrap()
    );
    assert_eq!(refund.amount, Some(Money::new(19_929, "EUR")));
    assert!(matches!(output.actions[0], Action::UpsertCustomer(_)));
}

#[test]
fn refunds_create_is_ignored_because_it_names_no_customer() {
    let output = handle_json("refunds/create", &refund(509562969, "10.00"));
    assert_eq!(
        output.verdict,
        Verdict::Ignored(REFUNDS_CREATE_REASON.into())
    );
    assert!(output.actions.is_empty());
}

fn shopify_customer() -> serde_json::Value {
    json!({
        "id": 706405506930370084u64,
        "email": "bob@biller.com",
        "accepts_marketing": true,
        "first_name": "Bob",
        "last_name": "Biller",
        "phone": "+16135550199",
        "tags": "",
        "email_marketing_consent": { "state": "not_subscribed", "opt_in_level": null },
        "default_address": { "country_code": "us", "province": "California", "city": "San Francisco" }
    })
}

#[test]
fn customer_topics_upsert_the_profile() {
    for topic in ["customers/create", "customers/update"] {
        let output = handle_json(topic, &shopify_customer());
        let [Action::UpsertCustomer(upsert)] = output.actions.as_slice() else {
            panic!("{output:?}")
        };
        assert_eq!(
            upsert.external_id,
            Some(ExternalId::new("shopify", "706405506930370084"))
        );
        assert_eq!(upsert.email.as_deref(), Some("bob@biller.com"));
        assert_eq!(upsert.fields.display_name.as_deref(), Some("Bob Biller"));
        assert_eq!(upsert.fields.phone.as_deref(), Some("+16135550199"));
        assert_eq!(upsert.fields.country.as_deref(), Some("US"));
        assert_eq!(upsert.fields.city.as_deref(), Some("San Francisco"));
        // The explicit consent state wins over the legacy flag.
        assert_eq!(upsert.fields.marketing_consent, Some(false));
    }
    let mut no_id = shopify_customer();
    no_id["id"] = json!(null);
    let output = handle_json("customers/create", &no_id);
    assert_eq!(rejection(&output), Some(RejectionKind::Malformed));
    // An unusable email is dropped when the id identifies the customer.
    let mut bad_email = shopify_customer();
    bad_email["email"] = json!("not an email");
    let output = handle_json("customers/update", &bad_email);
    let [Action::UpsertCustomer(upsert)] = output.actions.as_slice() else {
        panic!("{output:?}")
    };
    assert_eq!(upsert.email, None);
}

fn checkout() -> serde_json::Value {
    json!({
        "id": 981820079255243537u64,
        "token": "123123123",
        "name": "#981820079255243537",
        "email": "john@example.com",
        "currency": "USD",
        "total_price": "398.00",
        "completed_at": null,
        "buyer_accepts_marketing": false,
        "line_items": [{ "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00" },
                       { "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00" }],
        "billing_address": { "country_code": "US", "province": "Kentucky", "city": "Drawar" },
        "customer": { "id": 603851970716743426u64, "email": "john@example.com", "first_name": "John", "last_name": "Smith" }
    })
}

#[test]
fn checkout_tags_the_customer_and_creates_a_follow_up_task_after_the_delay() {
    let config = r#"{"secret":"shpss_test_secret","abandoned_checkout_delay_hours":6}"#;
    let body = serde_json::to_vec(&checkout()).unwrap();
    let output = handle_with(config, signed("checkouts/create", body));
    let [
        Action::UpsertCustomer(upsert),
        Action::AddTag(tag),
        Action::CreateTask(task),
    ] = output.actions.as_slice()
    else {
        panic!("{output:?}")
    };
    let john = CustomerRef::External(ExternalId::new("shopify", "603851970716743426"));
    assert_eq!(upsert.fields.city.as_deref(), Some("Drawar"));
    assert_eq!(upsert.fields.marketing_consent, Some(false));
    assert_eq!(
        (&tag.customer, tag.tag.as_str()),
        (&john, "abandoned-checkout")
    );
    assert_eq!(task.customer, john);
    assert_eq!(
        task.due_at,
        Some(DEFAULT_NOW + 6 * 3_600 * MICROS_PER_SECOND)
    );
    assert_eq!(
        task.subject,
        "Follow up abandoned checkout #981820079255243537: 398.00 USD, 2 items"
    );

    let default = handle_json("checkouts/create", &checkout());
    let Action::CreateTask(task) = &default.actions[2] else {
        panic!("{default:?}")
    };
    assert_eq!(
        task.due_at,
        Some(DEFAULT_NOW + 24 * 3_600 * MICROS_PER_SECOND)
    );

    let custom_tag = r#"{"secret":"shpss_test_secret","abandoned_checkout_tag":"cart-left"}"#;
    let body = serde_json::to_vec(&checkout()).unwrap();
    let output = handle_with(custom_tag, signed("checkouts/create", body));
    assert!(matches!(&output.actions[1], Action::AddTag(t) if t.tag == "cart-left"));
}

#[test]
fn completed_or_anonymous_checkouts_are_ignored() {
    let mut completed = checkout();
    completed["completed_at"] = json!("2024-05-01T10:00:00-04:00");
    let mut anonymous = checkout();
    anonymous["customer"] = json!(null);
    anonymous["email"] = json!(null);
    for body in [completed, anonymous] {
        let output = handle_json("checkouts/create", &body);
        assert!(matches!(output.verdict, Verdict::Ignored(_)), "{output:?}");
        assert!(output.actions.is_empty());
    }
    let mut guest = checkout();
    guest["customer"] = json!(null);
    let output = handle_json("checkouts/create", &guest);
    assert!(matches!(&output.actions[1], Action::AddTag(t)
        if t.customer == CustomerRef::Email("john@example.com".into())));
}

#[test]
fn redact_erases_the_customer_by_id_and_by_email() {
    let request = json!({
        "shop_id": 954889,
        "shop_domain": "example.myshopify.com",
        "customer": { "id": 191167, "email": "John@Example.com", "phone": "555-625-1199" },
        "orders_to_redact": [299938, 280263, 220458]
    });
    let output = handle_json("customers/redact", &request);
    assert_eq!(
        output.actions,
        [
            Action::EraseCustomer(CustomerRef::External(ExternalId::new("shopify", "191167"))),
            Action::EraseCustomer(CustomerRef::Email("john@example.com".into())),
        ]
    );
    let output = handle_json(
        "customers/redact",
        &json!({"customer": {"email": "a@b.co"}}),
    );
    assert_eq!(
        output.actions,
        [Action::EraseCustomer(CustomerRef::Email("a@b.co".into()))]
    );
    for bad in [
        json!({}),
        json!({"customer": {}}),
        json!({"customer": {"email": "nope"}}),
        json!({"customer": {"id": [1]}}),
    ] {
        let output = handle_json("customers/redact", &bad);
        assert_eq!(rejection(&output), Some(RejectionKind::Malformed), "{bad}");
    }
}

#[test]
fn malformed_bodies_are_rejected_with_a_reason_not_trapped() {
    let with = |key: &str, value: serde_json::Value| {
        let mut o = order();
        o[key] = value;
        serde_json::to_vec(&o).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("orders/create", b"{".to_vec(), "not an order"),
        ("orders/create", b"[]".to_vec(), "not an order"),
        ("orders/create", b"".to_vec(), "empty"),
        ("orders/create", b"  \n".to_vec(), "empty"),
        ("orders/create", vec![0xff, 0xfe, 0x00], "not an order"),
        ("orders/create", b"null".to_vec(), "not an order"),
        (
            "orders/create",
            b"{\"id\": 1, \"email\": 5}".to_vec(),
            "not an order",
        ),
        (
            "orders/create",
            with("total_price", json!(null)),
            "total_price is missing",
        ),
        (
            "orders/create",
            with("total_price", json!(199.29)),
            "decimal string",
        ),
        (
            "orders/create",
            with("total_price", json!("1.001")),
            "more precise",
        ),
        (
            "orders/create",
            with("total_price", json!("-5.00")),
            "negative",
        ),
        (
            "orders/create",
            with("total_price", json!("1e3")),
            "invalid decimal",
        ),
        (
            "orders/create",
            with("total_price", json!("99999999999999999999")),
            "too large",
        ),
        ("orders/create", with("currency", json!("XYZ")), "ISO 4217"),
        (
            "orders/create",
            with("currency", json!(null)),
            "currency is missing",
        ),
        (
            "orders/create",
            with("processed_at", json!("yesterday")),
            "RFC 3339",
        ),
        ("orders/create", with("id", json!({"nested": true})), "id"),
        ("orders/create", with("id", json!(1e300)), "id"),
        (
            "orders/create",
            with("line_items", json!("many")),
            "not an order",
        ),
        (
            "orders/create",
            with("refunds", json!([{ "id": null }])),
            "refunds[].id",
        ),
        (
            "orders/updated",
            with(
                "refunds",
                json!([{"id": 1, "transactions": [{"kind": "refund", "status": "success", "amount": 5}]}]),
            ),
            "decimal string",
        ),
        (
            "orders/create",
            with("refunds", json!(vec![json!({"id": 1}); 101])),
            "at most 100",
        ),
        ("orders/create", b"{\"id\": 1e999}".to_vec(), "not an order"),
        (
            "checkouts/create",
            b"{\"id\": 1}".to_vec(),
            "currency is missing",
        ),
        (
            "checkouts/create",
            b"{\"id\": 1, \"currency\": \"USD\", \"total_price\": \"1.00\", \"email\": \"bad\"}"
                .to_vec(),
            "not a valid email",
        ),
        (
            "customers/create",
            b"{\"id\": true}".to_vec(),
            "customer.id",
        ),
        (
            "customers/redact",
            b"\"text\"".to_vec(),
            "not a redact request",
        ),
    ];
    for (topic, body, expected) in cases {
        let output = handle(signed(topic, body.clone()));
        let Verdict::Rejected(rejection) = &output.verdict else {
            panic!("{topic} {:?}: {output:?}", String::from_utf8_lossy(&body))
        };
        assert_eq!(rejection.kind, RejectionKind::Malformed);
        assert!(
            rejection.reason.contains(expected),
            "{topic} {:?}: {:?} lacks {expected:?}",
            String::from_utf8_lossy(&body),
            rejection.reason
        );
        assert!(output.actions.is_empty());
    }
}

#[test]
fn guest_order_refers_to_the_customer_by_email() {
    let mut guest = order();
    guest["customer"] = json!(null);
    let output = handle_json(TOPIC, &guest);
    let Action::LogInteraction(log) = &output.actions[1] else {
        panic!("{output:?}")
    };
    assert_eq!(log.customer, CustomerRef::Email("jon@example.com".into()));
    let mut anonymous = guest;
    anonymous["email"] = json!(null);
    assert!(matches!(
        handle_json(TOPIC, &anonymous).verdict,
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
    let output = handle_json(TOPIC, &big);
    let Action::LogInteraction(log) = &output.actions[1] else {
        panic!("{output:?}")
    };
    let listed = log
        .attributes
        .iter()
        .filter(|a| a.name.starts_with("line_item."))
        .count();
    assert_eq!(listed, MAX_LINE_ITEMS);
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
fn missing_or_unusable_config_is_a_config_error() {
    for (config, field) in [
        ("{}", "secret"),
        (r#"{"secret":""}"#, "secret"),
        (r#"{"secret":"s","source":"Shop Ify"}"#, "source"),
        (
            r#"{"secret":"s","purchase_topic":"orders/updated"}"#,
            "purchase_topic",
        ),
        (
            r#"{"secret":"s","abandoned_checkout_tag":"a,b"}"#,
            "abandoned_checkout_tag",
        ),
        (
            r#"{"secret":"s","abandoned_checkout_delay_hours":9000}"#,
            "abandoned_checkout_delay_hours",
        ),
        (
            r#"{"secret":"s","abandoned_checkout_delay_hours":-1}"#,
            "abandoned_checkout_delay_hours",
        ),
        (r#"{"secret":"s","secrett":"s"}"#, "secrett"),
    ] {
        let err = Harness::<ShopifyOrders>::new(config)
            .handle(signed(TOPIC, "{}").build())
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidConfig(m) if m.contains(field)),
            "{config}: {err:?}"
        );
    }
}

#[test]
fn same_delivery_gives_the_same_actions() {
    let body = serde_json::to_vec(&order()).unwrap();
    let first = handle(signed(TOPIC, body.clone()));
    let second = handle(signed(TOPIC, body).delivery_id("another-delivery"));
    assert_eq!(first, second);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_signed_bodies_never_trap(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        topic in prop::sample::select(vec![
            "orders/create", "orders/paid", "orders/updated", "orders/cancelled",
            "refunds/create", "customers/create", "checkouts/create", "customers/redact",
        ]),
    ) {
        let output = Harness::<ShopifyOrders>::new(CONFIG).handle(signed(topic, body).build());
        prop_assert!(output.is_ok());
    }

    #[test]
    fn mutated_orders_never_trap_and_accepted_amounts_are_never_negative(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        topic in prop::sample::select(vec!["orders/create", "orders/cancelled", "checkouts/create"]),
    ) {
        let mut o = order();
        o["refunds"] = json!([refund(7, "3.00")]);
        let mut body = serde_json::to_vec(&o).unwrap();
        for (at, byte) in flips {
            let at = at.index(body.len());
            body[at] = byte;
        }
        let output = Harness::<ShopifyOrders>::new(CONFIG)
            .handle(signed(topic, body).build())
            .unwrap();
        for log in logs(&output) {
            prop_assert!(log.amount.as_ref().is_none_or(|m| m.amount >= 0));
        }
        if output.verdict != Verdict::Accepted {
            prop_assert!(output.actions.is_empty());
        }
    }
}
