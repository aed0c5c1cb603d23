use kith_plugin_sdk::testing::{Harness, WebhookBuilder, assert_manifest_valid, webhook};
use kith_plugin_sdk::time::parse_rfc3339;
use kith_plugin_sdk::{
    Action, AttributeValue, CustomerRef, ExternalId, InteractionKind, LogInteraction, Money,
    RejectionKind, Verdict,
};
use proptest::prelude::*;
use serde_json::json;

use kith_plugin_sdk::commerce;

use super::*;

const SECRET: &str = "wc_test_secret";
const CONFIG: &str = r#"{"secret":"wc_test_secret"}"#;

fn signed(topic: &str, body: impl Into<Vec<u8>>) -> WebhookBuilder {
    let body = body.into();
    let signature = commerce::sign(SECRET.as_bytes(), &body);
    webhook(topic)
        .header("X-WC-Webhook-Topic", topic)
        .header(SIGNATURE_HEADER, signature)
        .body(body)
}

/// Modelled on the REST API v3 order example (order 727).
fn order() -> serde_json::Value {
    json!({
        "id": 727,
        "parent_id": 0,
        "number": "727",
        "order_key": "wc_order_58d2d042d1d",
        "created_via": "rest-api",
        "status": "processing",
        "currency": "USD",
        "date_created": "2017-03-22T16:28:02",
        "date_created_gmt": "2017-03-22T19:28:02",
        "date_modified": "2017-03-22T16:28:08",
        "date_modified_gmt": "2017-03-22T19:28:08",
        "discount_total": "0.00",
        "shipping_total": "10.00",
        "total": "29.35",
        "total_tax": "1.35",
        "customer_id": 0,
        "billing": {
            "first_name": "John", "last_name": "Doe", "company": "",
            "address_1": "969 Market", "address_2": "", "city": "San Francisco",
            "state": "CA", "postcode": "94103", "country": "US",
            "email": "John.Doe@Example.com", "phone": "(555) 555-5555"
        },
        "payment_method": "bacs",
        "payment_method_title": "Direct Bank Transfer",
        "line_items": [
            { "id": 315, "name": "Woo Single #1", "product_id": 93, "quantity": 2,
              "subtotal": "6.00", "total": "6.00", "sku": "", "price": 3 },
            { "id": 316, "name": "Ship Your Idea &ndash; Color: Black, Size: M Test",
              "product_id": 22, "variation_id": 23, "quantity": 1,
              "subtotal": "12.00", "total": "12.00", "sku": "SYI-M-B", "price": 12 }
        ],
        "refunds": []
    })
}

fn handle_with(config: &str, hook: WebhookBuilder) -> HookOutput {
    Harness::<WooCommerce>::new(config)
        .handle(hook.build())
        .unwrap()
}

fn handle_json(topic: &str, body: &serde_json::Value) -> HookOutput {
    handle_with(CONFIG, signed(topic, serde_json::to_vec(body).unwrap()))
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

fn attribute(log: &LogInteraction, name: &str) -> Option<AttributeValue> {
    log.attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.clone())
}

fn text(s: &str) -> Option<AttributeValue> {
    Some(AttributeValue::Text(s.to_owned()))
}

#[test]
fn manifest_is_valid() {
    assert_eq!(
        assert_manifest_valid::<WooCommerce>().id,
        "kith.woocommerce"
    );
}

#[test]
fn paid_guest_order_upserts_by_billing_email_and_logs_the_exact_purchase() {
    for topic in ["order.created", "order.updated"] {
        let output = handle_json(topic, &order());
        assert_eq!(output.verdict, Verdict::Accepted, "{output:?}");
        let [Action::UpsertCustomer(upsert), Action::LogInteraction(log)] =
            output.actions.as_slice()
        else {
            panic!("{output:?}")
        };
        assert_eq!(upsert.email.as_deref(), Some("john.doe@example.com"));
        assert_eq!(upsert.external_id, None);
        assert_eq!(upsert.fields.display_name.as_deref(), Some("John Doe"));
        assert_eq!(upsert.fields.phone.as_deref(), Some("(555) 555-5555"));
        assert_eq!(
            (
                upsert.fields.country.as_deref(),
                upsert.fields.region.as_deref()
            ),
            (Some("US"), Some("CA"))
        );
        let john = CustomerRef::Email("john.doe@example.com".into());
        assert_eq!(log.customer, john);
        assert_eq!(log.kind, InteractionKind::Purchase);
        assert_eq!(log.amount, Some(Money::new(2_935, "USD")));
        assert_eq!(log.external_id, Some(ExternalId::new("woocommerce", "727")));
        assert_eq!(
            log.occurred_at,
            parse_rfc3339("2017-03-22T19:28:02Z").unwrap()
        );
        assert_eq!(log.subject.as_deref(), Some("WooCommerce order #727"));
        assert_eq!(attribute(log, "order_status"), text("processing"));
        assert_eq!(
            attribute(log, "item_quantity"),
            Some(AttributeValue::Number(3.0))
        );
        assert_eq!(
            attribute(log, "line_item.1"),
            text("2 x Woo Single #1 = 6.00 USD")
        );
        assert_eq!(
            attribute(log, "line_item.2"),
            text("1 x Ship Your Idea &ndash; Color: Black, Size: M Test (SKU SYI-M-B) = 12.00 USD")
        );
    }
}

#[test]
fn registered_customer_is_referred_to_by_customer_id() {
    let mut o = order();
    o["customer_id"] = json!(25);
    let output = handle_json("order.created", &o);
    let Action::UpsertCustomer(upsert) = &output.actions[0] else {
        panic!("{output:?}")
    };
    assert_eq!(
        upsert.external_id,
        Some(ExternalId::new("woocommerce", "25"))
    );
    assert_eq!(upsert.email.as_deref(), Some("john.doe@example.com"));
    assert_eq!(
        logs(&output)[0].customer,
        CustomerRef::External(ExternalId::new("woocommerce", "25"))
    );
}

#[test]
fn only_purchase_statuses_log_a_purchase() {
    for (status, purchase) in [
        ("pending", false),
        ("on-hold", false),
        ("failed", false),
        ("processing", true),
        ("completed", true),
        ("refunded", true),
    ] {
        let mut o = order();
        o["status"] = json!(status);
        let output = handle_json("order.updated", &o);
        assert_eq!(output.verdict, Verdict::Accepted);
        assert_eq!(logs(&output).len(), usize::from(purchase), "{status}");
    }
    let only_completed = r#"{"secret":"wc_test_secret","purchase_statuses":["completed"]}"#;
    let body = serde_json::to_vec(&order()).unwrap();
    let output = handle_with(only_completed, signed("order.created", body));
    assert!(logs(&output).is_empty());
}

#[test]
fn refunds_are_logged_positive_and_linked_to_the_purchase() {
    let mut o = order();
    o["status"] = json!("refunded");
    o["refunds"] = json!([
        { "id": 730, "reason": "Damaged", "total": "-10.00" },
        { "id": 731, "reason": "", "total": "-19.35" }
    ]);
    let output = handle_json("order.updated", &o);
    let logs = logs(&output);
    let [purchase, first, second] = logs.as_slice() else {
        panic!("{output:?}")
    };
    assert_eq!(purchase.kind, InteractionKind::Purchase);
    for (refund, id, minor) in [(first, "refund-730", 1_000), (second, "refund-731", 1_935)] {
        assert_eq!(refund.kind, InteractionKind::Refund);
        assert_eq!(refund.amount, Some(Money::new(minor, "USD")));
        assert_eq!(refund.external_id, Some(ExternalId::new("woocommerce", id)));
        assert_eq!(attribute(refund, "refund_of"), text("727"));
        assert_eq!(
            refund.occurred_at,
            parse_rfc3339("2017-03-22T19:28:08Z").unwrap()
        );
    }
    assert_eq!(attribute(first, "refund_reason"), text("Damaged"));
    assert_eq!(attribute(second, "refund_reason"), None);
}

#[test]
fn cancelled_order_logs_a_cancellation_and_no_purchase() {
    let mut o = order();
    o["status"] = json!("cancelled");
    let output = handle_json("order.updated", &o);
    let logs = logs(&output);
    let [cancellation] = logs.as_slice() else {
        panic!("{output:?}")
    };
    assert_eq!(cancellation.kind, InteractionKind::Other);
    assert_eq!(
        cancellation.external_id,
        Some(ExternalId::new("woocommerce", "cancel-727"))
    );
    assert_eq!(attribute(cancellation, "cancellation_of"), text("727"));
}

#[test]
fn customer_topics_upsert_the_account() {
    let customer = json!({
        "id": 25,
        "date_created_gmt": "2017-03-21T19:09:28",
        "email": "john.doe@example.com",
        "first_name": "John",
        "last_name": "Doe",
        "role": "customer",
        "username": "john.doe",
        "billing": {
            "first_name": "J.", "last_name": "D.", "city": "San Francisco", "state": "CA",
            "country": "US", "email": "billing@example.com", "phone": "(555) 555-5555"
        },
        "is_paying_customer": false
    });
    for topic in ["customer.created", "customer.updated"] {
        let output = handle_json(topic, &customer);
        let [Action::UpsertCustomer(upsert)] = output.actions.as_slice() else {
            panic!("{output:?}")
        };
        assert_eq!(
            upsert.external_id,
            Some(ExternalId::new("woocommerce", "25"))
        );
        assert_eq!(upsert.email.as_deref(), Some("john.doe@example.com"));
        assert_eq!(upsert.fields.display_name.as_deref(), Some("John Doe"));
        assert_eq!(upsert.fields.city.as_deref(), Some("San Francisco"));
    }
    let mut zero = customer.clone();
    zero["id"] = json!(0);
    assert!(matches!(
        handle_json("customer.created", &zero).verdict,
        Verdict::Rejected(r) if r.kind == RejectionKind::Malformed
    ));
}

#[test]
fn unsigned_ping_is_ignored_but_any_other_unsigned_body_is_rejected() {
    let ping = webhook("").body("webhook_id=17").build();
    let output = Harness::<WooCommerce>::new(CONFIG).handle(ping).unwrap();
    assert!(matches!(output.verdict, Verdict::Ignored(_)), "{output:?}");
    for body in ["webhook_id=", "webhook_id=17&x=1", "{\"id\":727}"] {
        let hook = webhook("order.created").body(body).build();
        let output = Harness::<WooCommerce>::new(CONFIG).handle(hook).unwrap();
        assert!(
            matches!(&output.verdict, Verdict::Rejected(r) if r.kind == RejectionKind::BadSignature),
            "{body}: {output:?}"
        );
    }
}

#[test]
fn bad_signatures_are_rejected() {
    let body = serde_json::to_vec(&order()).unwrap();
    let mut tampered = signed("order.created", body.clone()).build();
    tampered.body[3] ^= 1;
    for hook in [
        webhook("order.created")
            .header(SIGNATURE_HEADER, commerce::sign(b"guess", &body))
            .body(body.clone())
            .build(),
        webhook("order.created")
            .header(SIGNATURE_HEADER, "not/base64!")
            .body(body.clone())
            .build(),
        webhook("order.created")
            .header(SIGNATURE_HEADER, "")
            .body(body.clone())
            .build(),
        tampered,
    ] {
        let output = Harness::<WooCommerce>::new(CONFIG).handle(hook).unwrap();
        assert!(
            matches!(&output.verdict, Verdict::Rejected(r) if r.kind == RejectionKind::BadSignature),
            "{output:?}"
        );
        assert!(output.actions.is_empty());
    }
}

#[test]
fn topic_comes_from_the_header_when_the_delivery_has_none_and_others_are_ignored() {
    let body = serde_json::to_vec(&order()).unwrap();
    let hook = webhook("")
        .header("x-wc-webhook-topic", "order.created")
        .header(
            "x-wc-webhook-signature",
            commerce::sign(SECRET.as_bytes(), &body),
        )
        .body(body.clone());
    assert_eq!(handle_with(CONFIG, hook).verdict, Verdict::Accepted);
    for topic in [
        "order.deleted",
        "product.updated",
        "action.woocommerce_new_order",
    ] {
        let output = handle_with(CONFIG, signed(topic, body.clone()));
        assert!(matches!(output.verdict, Verdict::Ignored(_)), "{topic}");
    }
}

#[test]
fn anonymous_order_is_ignored() {
    let mut o = order();
    o["billing"]["email"] = json!("");
    let output = handle_json("order.created", &o);
    assert!(matches!(output.verdict, Verdict::Ignored(_)), "{output:?}");
}

#[test]
fn malformed_bodies_are_rejected_with_a_reason() {
    let with = |key: &str, value: serde_json::Value| {
        let mut o = order();
        o[key] = value;
        serde_json::to_vec(&o).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("order.created", b"".to_vec(), "empty"),
        ("order.created", b"{".to_vec(), "not an order"),
        ("order.created", b"webhook_id=1".to_vec(), "not an order"),
        ("order.created", b"[1,2]".to_vec(), "not an order"),
        (
            "order.created",
            with("total", json!(29.35)),
            "decimal string",
        ),
        (
            "order.created",
            with("total", json!("29.355")),
            "more precise",
        ),
        ("order.created", with("total", json!("-29.35")), "negative"),
        (
            "order.created",
            with("total", json!("1".repeat(40))),
            "too large",
        ),
        ("order.created", with("currency", json!("BTC")), "ISO 4217"),
        ("order.created", with("currency", json!(7)), "not an order"),
        (
            "order.created",
            with("status", json!(null)),
            "status is missing",
        ),
        ("order.created", with("id", json!(null)), "id is missing"),
        (
            "order.created",
            with("customer_id", json!(-1.5)),
            "customer_id",
        ),
        (
            "order.created",
            with("date_created_gmt", json!("22/03/2017")),
            "date_created_gmt",
        ),
        (
            "order.created",
            with("refunds", json!([{ "id": 9, "total": "-1.234" }])),
            "refund 9 total",
        ),
        (
            "order.created",
            with("refunds", json!([{ "id": 9 }])),
            "refund 9 total is missing",
        ),
        (
            "order.created",
            with("line_items", json!([{ "quantity": "two" }])),
            "not an order",
        ),
        (
            "order.created",
            with("billing", json!({ "email": "nobody" })),
            "not a valid email",
        ),
        (
            "customer.created",
            b"{\"email\": \"a@b.co\"}".to_vec(),
            "id is missing",
        ),
    ];
    for (topic, body, expected) in cases {
        let output = handle_with(CONFIG, signed(topic, body.clone()));
        let Verdict::Rejected(rejection) = &output.verdict else {
            panic!("{:?}: {output:?}", String::from_utf8_lossy(&body))
        };
        assert_eq!(rejection.kind, RejectionKind::Malformed);
        assert!(
            rejection.reason.contains(expected),
            "{:?}: {:?} lacks {expected:?}",
            String::from_utf8_lossy(&body),
            rejection.reason
        );
    }
}

#[test]
fn money_follows_the_currency_exponent() {
    for (currency, total, minor) in [
        ("JPY", "1500", 1_500),
        ("KWD", "2.125", 2_125),
        ("JPY", "1500.00", 1_500),
    ] {
        let mut o = order();
        o["currency"] = json!(currency);
        o["total"] = json!(total);
        o["line_items"] = json!([]);
        let output = handle_json("order.created", &o);
        assert_eq!(logs(&output)[0].amount, Some(Money::new(minor, currency)));
    }
    let mut o = order();
    o["currency"] = json!("JPY");
    o["total"] = json!("1500.50");
    assert!(matches!(
        handle_json("order.created", &o).verdict,
        Verdict::Rejected(_)
    ));
}

#[test]
fn missing_or_unusable_config_is_a_config_error() {
    for (config, field) in [
        ("{}", "secret"),
        (r#"{"secret":""}"#, "secret"),
        (r#"{"secret":"s","source":"Woo Shop"}"#, "source"),
        (
            r#"{"secret":"s","purchase_statuses":[""]}"#,
            "purchase_statuses",
        ),
        (
            r#"{"secret":"s","purchase_statuses":"completed"}"#,
            "purchase_statuses",
        ),
    ] {
        let err = Harness::<WooCommerce>::new(config)
            .handle(signed("order.created", "{}").build())
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidConfig(m) if m.contains(field)),
            "{config}: {err:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_signed_bodies_never_trap(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        topic in prop::sample::select(vec!["order.created", "order.updated", "customer.created"]),
    ) {
        let output = Harness::<WooCommerce>::new(CONFIG).handle(signed(topic, body).build());
        prop_assert!(output.is_ok());
    }

    #[test]
    fn mutated_orders_never_trap(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut o = order();
        o["refunds"] = json!([{ "id": 730, "reason": "x", "total": "-10.00" }]);
        let mut body = serde_json::to_vec(&o).unwrap();
        for (at, byte) in flips {
            let at = at.index(body.len());
            body[at] = byte;
        }
        let output = Harness::<WooCommerce>::new(CONFIG)
            .handle(signed("order.updated", body).build())
            .unwrap();
        for log in logs(&output) {
            prop_assert!(log.amount.as_ref().is_none_or(|m| m.amount >= 0));
        }
    }
}
