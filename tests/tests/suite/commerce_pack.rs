//! The commerce pack (`shopify-orders`, `woocommerce`, `generic-orders`) as components through
//! the plugin runtime, on realistic payload fixtures from `tests/data/commerce/`: each topic's
//! actions as the host validates them, signatures, malformed bodies and arbitrary bytes.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use kith::model::{AttributeValue, Email, ExternalId, InteractionKind, Money, Timestamp};
use kith::plugin::{
    Action, CallReport, CustomerRef, HookOutput, Limits, LoadedPlugin, LogInteraction, Outcome,
    PluginErrorKind, PluginFailure, RejectionKind, Runtime, RuntimeConfig, Verdict, Webhook,
};
use kith_tests::plugins;
use sha2::Sha256;

const SHOPIFY_SECRET: &str = "shpss_commerce_pack";
const WOO_SECRET: &str = "wc_commerce_pack";
const GENERIC_SECRET: &str = "generic_commerce_pack";
const HOUR: i64 = 3_600_000_000;

/// When every delivery is received: 2024-06-01T00:00:00Z.
fn received_at() -> Timestamp {
    Timestamp::parse("received_at", "2024-06-01T00:00:00Z").unwrap()
}

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/data/commerce/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

/// One platform: its component, configuration and how it sends a delivery.
struct Platform {
    plugin: LoadedPlugin,
    config: String,
    secret: &'static str,
    signature_header: &'static str,
    topic_header: &'static str,
}

impl Platform {
    fn shopify(rt: &Runtime) -> Platform {
        Platform {
            plugin: load(rt, plugins::SHOPIFY_ORDERS),
            config: format!(r#"{{"secret":"{SHOPIFY_SECRET}"}}"#),
            secret: SHOPIFY_SECRET,
            signature_header: "X-Shopify-Hmac-Sha256",
            topic_header: "X-Shopify-Topic",
        }
    }

    fn woo(rt: &Runtime) -> Platform {
        Platform {
            plugin: load(rt, plugins::WOOCOMMERCE),
            config: format!(r#"{{"secret":"{WOO_SECRET}"}}"#),
            secret: WOO_SECRET,
            signature_header: "X-WC-Webhook-Signature",
            topic_header: "X-WC-Webhook-Topic",
        }
    }

    fn generic(rt: &Runtime) -> Platform {
        Platform {
            plugin: load(rt, plugins::GENERIC_ORDERS),
            config: format!(r#"{{"secret":"{GENERIC_SECRET}"}}"#),
            secret: GENERIC_SECRET,
            signature_header: "X-Kith-Signature",
            topic_header: "X-Kith-Topic",
        }
    }

    /// A delivery as the platform sends it: topic header, signature over the exact bytes.
    /// The webhook's own topic is left empty, so the plugin reads the header.
    fn delivery(&self, topic: &str, body: Vec<u8>) -> Webhook {
        let signature = sign(&body, self.secret);
        self.delivery_signed(topic, body, Some(signature))
    }

    fn delivery_signed(&self, topic: &str, body: Vec<u8>, signature: Option<String>) -> Webhook {
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (self.topic_header.to_owned(), topic.to_owned()),
        ];
        if let Some(signature) = signature {
            headers.push((self.signature_header.to_owned(), signature));
        }
        Webhook {
            topic: String::new(),
            headers,
            body,
            delivery_id: Some(format!("delivery-{topic}")),
            received_at: received_at(),
        }
    }

    fn run(&self, rt: &Runtime, webhook: &Webhook) -> HookOutput {
        let (output, report) =
            rt.handle_webhook(&self.plugin, webhook, &self.config, &Limits::default());
        let output = output.unwrap_or_else(|e| {
            panic!(
                "{} on {:?}: {e:?}",
                self.plugin.manifest().id,
                String::from_utf8_lossy(&webhook.body)
            )
        });
        assert_eq!(report.outcome, Outcome::Ok);
        output
    }

    /// Handles the fixture at `path`, which must be accepted; the call's report.
    fn accepted(&self, rt: &Runtime, topic: &str, path: &str) -> CallReport {
        let delivery = self.delivery(topic, fixture(path));
        let (output, report) =
            rt.handle_webhook(&self.plugin, &delivery, &self.config, &Limits::default());
        assert_eq!(output.expect(path).verdict, Verdict::Accepted);
        report
    }

    fn handle(&self, rt: &Runtime, topic: &str, body: Vec<u8>) -> HookOutput {
        self.run(rt, &self.delivery(topic, body))
    }
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn load(rt: &Runtime, path: &str) -> LoadedPlugin {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    rt.load(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ext(source: &str, id: &str) -> ExternalId {
    ExternalId::new("test", source, id).unwrap()
}

fn by_ext(source: &str, id: &str) -> CustomerRef {
    CustomerRef::External(ext(source, id))
}

fn email(address: &str) -> Email {
    Email::parse("test", address).unwrap()
}

fn money(minor: i64, currency: &str) -> Money {
    Money::new(
        minor,
        kith::model::Currency::parse("test", currency).unwrap(),
    )
}

fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse("test", rfc3339).unwrap()
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::Text(s.to_owned())
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

fn attributes(log: &LogInteraction) -> &BTreeMap<String, AttributeValue> {
    &log.attributes
}

fn rejection(output: &HookOutput) -> Option<RejectionKind> {
    match &output.verdict {
        Verdict::Rejected { kind, .. } => Some(*kind),
        _ => None,
    }
}

#[test]
fn shopify_order_lifecycle_logs_purchase_refunds_and_cancellation_once_each() {
    let rt = runtime();
    let shop = Platform::shopify(&rt);
    assert_eq!(shop.plugin.manifest().version, "0.2.1");
    let john = by_ext("shopify", "115310627314723954");

    let created = shop.handle(&rt, "orders/create", fixture("shopify/orders-create.json"));
    assert_eq!(created.verdict, Verdict::Accepted);
    let [
        Action::UpsertCustomer {
            email: upsert_email,
            external_id,
            fields,
        },
        Action::LogInteraction(purchase),
    ] = created.actions.as_slice()
    else {
        panic!("{created:?}")
    };
    assert_eq!(upsert_email.as_ref(), Some(&email("john@example.com")));
    assert_eq!(
        external_id.as_ref(),
        Some(&ext("shopify", "115310627314723954"))
    );
    assert_eq!(fields.display_name.as_deref(), Some("John Smith"));
    assert_eq!(
        (fields.country.as_deref(), fields.city.as_deref()),
        (Some("CA"), Some("Ottawa"))
    );
    assert_eq!(fields.marketing_consent, Some(true));
    assert_eq!(purchase.customer, john);
    assert_eq!(purchase.kind, InteractionKind::Purchase);
    assert_eq!(purchase.amount, Some(money(40_300, "USD")));
    assert_eq!(purchase.occurred_at, at("2024-05-01T15:02:05Z"));
    assert_eq!(
        purchase.external_id,
        Some(ext("shopify", "820982911946154508"))
    );
    assert_eq!(
        attributes(purchase).get("line_item.2"),
        Some(&text("1 x IPod Nano - 8GB (SKU IPOD2008RED) @ 199.00 USD"))
    );

    let updated = shop.handle(
        &rt,
        "orders/updated",
        fixture("shopify/orders-updated.json"),
    );
    let updated_logs = logs(&updated);
    let [refund] = updated_logs.as_slice() else {
        panic!("{updated:?}")
    };
    assert_eq!(refund.customer, john);
    assert_eq!(refund.kind, InteractionKind::Refund);
    assert_eq!(refund.amount, Some(money(19_900, "USD")));
    assert_eq!(refund.external_id, Some(ext("shopify", "refund-929361464")));
    assert_eq!(
        attributes(refund).get("refund_of"),
        Some(&text("820982911946154508")),
        "the refund names its purchase's external id"
    );
    assert_eq!(
        attributes(refund).get("refund_note"),
        Some(&text("wrong size"))
    );

    let cancelled = shop.handle(
        &rt,
        "orders/cancelled",
        fixture("shopify/orders-cancelled.json"),
    );
    let cancelled_logs = logs(&cancelled);
    let [cancellation, first, second] = cancelled_logs.as_slice() else {
        panic!("{cancelled:?}")
    };
    assert_eq!(cancellation.kind, InteractionKind::Other);
    assert_eq!(
        cancellation.external_id,
        Some(ext("shopify", "cancel-820982911946154508"))
    );
    assert_eq!(cancellation.occurred_at, at("2024-05-05T12:00:00Z"));
    assert_eq!(
        attributes(cancellation).get("cancel_reason"),
        Some(&text("customer"))
    );
    // The first refund is the same interaction the update logged: same external id.
    assert_eq!(first.external_id, refund.external_id);
    assert_eq!(second.external_id, Some(ext("shopify", "refund-929361465")));
    let refunded: i64 = [first, second]
        .iter()
        .map(|r| r.amount.expect("amount").minor)
        .sum();
    assert_eq!(
        refunded,
        purchase.amount.expect("amount").minor,
        "a fully refunded order nets to zero"
    );

    let refunds_create = shop.handle(
        &rt,
        "refunds/create",
        fixture("shopify/refunds-create.json"),
    );
    assert!(
        matches!(&refunds_create.verdict, Verdict::Ignored { reason } if reason.contains("no customer")),
        "{refunds_create:?}"
    );
    assert!(refunds_create.actions.is_empty());
}

#[test]
fn shopify_customers_checkouts_and_redact_requests() {
    let rt = runtime();
    let shop = Platform::shopify(&rt);

    for topic in ["customers/create", "customers/update"] {
        let output = shop.handle(&rt, topic, fixture("shopify/customers-create.json"));
        let [
            Action::UpsertCustomer {
                email: e,
                external_id,
                fields,
            },
        ] = output.actions.as_slice()
        else {
            panic!("{output:?}")
        };
        assert_eq!(e.as_ref(), Some(&email("bob@biller.com")));
        assert_eq!(
            external_id.as_ref(),
            Some(&ext("shopify", "706405506930370084"))
        );
        assert_eq!(fields.display_name.as_deref(), Some("Bob Biller"));
        assert_eq!(fields.marketing_consent, Some(false));
    }

    let checkout = shop.handle(
        &rt,
        "checkouts/create",
        fixture("shopify/checkouts-create.json"),
    );
    let jane = by_ext("shopify", "603851970716743426");
    let [
        Action::UpsertCustomer { fields, .. },
        Action::AddTag {
            customer: tagged,
            tag,
        },
        Action::CreateTask {
            customer: tasked,
            subject,
            due_at,
        },
    ] = checkout.actions.as_slice()
    else {
        panic!("{checkout:?}")
    };
    assert_eq!(fields.city.as_deref(), Some("Louisville"));
    assert_eq!((tagged, tag.as_str()), (&jane, "abandoned-checkout"));
    assert_eq!(tasked, &jane);
    assert_eq!(
        subject,
        "Follow up abandoned checkout #981820079255243537: 398.00 USD, 1 item"
    );
    assert_eq!(
        *due_at,
        Some(Timestamp::from_micros(
            received_at().as_micros() + 24 * HOUR
        ))
    );

    let redact = shop.handle(
        &rt,
        "customers/redact",
        fixture("shopify/customers-redact.json"),
    );
    assert_eq!(
        redact.actions,
        [
            Action::EraseCustomer {
                customer: by_ext("shopify", "191167")
            },
            Action::EraseCustomer {
                customer: CustomerRef::Email(email("john@example.com"))
            },
        ]
    );
}

#[test]
fn woocommerce_orders_and_customers() {
    let rt = runtime();
    let woo = Platform::woo(&rt);
    let john = by_ext("woocommerce", "25");

    let created = woo.handle(
        &rt,
        "order.created",
        fixture("woocommerce/order-created.json"),
    );
    let [
        Action::UpsertCustomer {
            email: e,
            external_id,
            fields,
        },
        Action::LogInteraction(purchase),
    ] = created.actions.as_slice()
    else {
        panic!("{created:?}")
    };
    assert_eq!(e.as_ref(), Some(&email("john.doe@example.com")));
    assert_eq!(external_id.as_ref(), Some(&ext("woocommerce", "25")));
    assert_eq!(fields.region.as_deref(), Some("CA"));
    assert_eq!(purchase.customer, john);
    assert_eq!(purchase.amount, Some(money(2_935, "USD")));
    assert_eq!(purchase.external_id, Some(ext("woocommerce", "727")));
    assert_eq!(purchase.occurred_at, at("2024-05-01T19:28:02Z"));
    assert_eq!(
        attributes(purchase).get("payment_method"),
        Some(&text("Direct Bank Transfer"))
    );

    let refunded = woo.handle(
        &rt,
        "order.updated",
        fixture("woocommerce/order-updated-refunded.json"),
    );
    let refunded_logs = logs(&refunded);
    let [again, first, second] = refunded_logs.as_slice() else {
        panic!("{refunded:?}")
    };
    assert_eq!(
        again.external_id, purchase.external_id,
        "the same purchase, logged once"
    );
    for (refund, id, minor) in [(first, "refund-730", 1_000), (second, "refund-731", 1_935)] {
        assert_eq!(refund.kind, InteractionKind::Refund);
        assert_eq!(refund.amount, Some(money(minor, "USD")));
        assert_eq!(refund.external_id, Some(ext("woocommerce", id)));
        assert_eq!(attributes(refund).get("refund_of"), Some(&text("727")));
        assert_eq!(refund.occurred_at, at("2024-05-03T12:10:00Z"));
    }

    let guest = woo.handle(
        &rt,
        "order.created",
        fixture("woocommerce/order-created-guest-pending.json"),
    );
    let [
        Action::UpsertCustomer {
            email: e,
            external_id,
            ..
        },
    ] = guest.actions.as_slice()
    else {
        panic!("a pending order is no purchase yet: {guest:?}")
    };
    assert_eq!(e.as_ref(), Some(&email("guest.buyer@example.org")));
    assert_eq!(external_id, &None);

    let customer = woo.handle(
        &rt,
        "customer.created",
        fixture("woocommerce/customer-created.json"),
    );
    let [
        Action::UpsertCustomer {
            external_id,
            fields,
            ..
        },
    ] = customer.actions.as_slice()
    else {
        panic!("{customer:?}")
    };
    assert_eq!(external_id.as_ref(), Some(&ext("woocommerce", "25")));
    assert_eq!(fields.display_name.as_deref(), Some("John Doe"));

    let ping = woo.run(
        &rt,
        &woo.delivery_signed("", b"webhook_id=42".to_vec(), None),
    );
    assert!(matches!(ping.verdict, Verdict::Ignored { .. }), "{ping:?}");
}

#[test]
fn generic_orders_refunds_cancellations_and_a_cdnow_row() {
    let rt = runtime();
    let generic = Platform::generic(&rt);
    let ada = by_ext("generic", "c-42");

    let created = generic.handle(&rt, "order.created", fixture("generic/order-created.json"));
    let [
        Action::UpsertCustomer {
            email: e, fields, ..
        },
        Action::LogInteraction(purchase),
    ] = created.actions.as_slice()
    else {
        panic!("{created:?}")
    };
    assert_eq!(e.as_ref(), Some(&email("ada@example.com")));
    assert_eq!(fields.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(purchase.customer, ada);
    assert_eq!(purchase.amount, Some(money(4_250, "USD")));
    assert_eq!(purchase.external_id, Some(ext("generic", "1001")));

    let refund = generic.handle(
        &rt,
        "order.refunded",
        fixture("generic/order-refunded.json"),
    );
    let refund = logs(&refund)[0].clone();
    assert_eq!(refund.kind, InteractionKind::Refund);
    assert_eq!(refund.amount, Some(money(625, "USD")));
    assert_eq!(refund.external_id, Some(ext("generic", "refund-R-7")));
    assert_eq!(attributes(&refund).get("refund_of"), Some(&text("1001")));

    let cancelled = generic.handle(
        &rt,
        "order.cancelled",
        fixture("generic/order-cancelled.json"),
    );
    let cancellation = logs(&cancelled)[0].clone();
    assert_eq!(cancellation.amount, None);
    assert_eq!(
        cancellation.external_id,
        Some(ext("generic", "cancel-1001"))
    );

    let cdnow = generic.handle(&rt, "order.created", fixture("generic/cdnow-order.json"));
    let row = logs(&cdnow)[0].clone();
    assert_eq!(row.customer, by_ext("generic", "00001"));
    assert_eq!(row.amount, Some(money(1_177, "USD")));
    assert_eq!(row.occurred_at, at("1997-01-01T00:00:00Z"));
}

#[test]
fn every_fixture_is_handled_within_a_fraction_of_the_default_fuel() {
    let rt = runtime();
    let platforms = [
        (
            Platform::shopify(&rt),
            "shopify/orders-cancelled.json",
            "orders/cancelled",
        ),
        (
            Platform::woo(&rt),
            "woocommerce/order-updated-refunded.json",
            "order.updated",
        ),
        (
            Platform::generic(&rt),
            "generic/cdnow-order.json",
            "order.created",
        ),
    ];
    for (platform, path, topic) in platforms {
        let report = platform.accepted(&rt, topic, path);
        assert!(
            report.fuel_used < Limits::default().fuel / 4,
            "{path}: {} fuel of {}",
            report.fuel_used,
            Limits::default().fuel
        );
    }
}

/// Each platform with its order-created topic and fixture.
fn orders_created(rt: &Runtime) -> [(Platform, &'static str, &'static str); 3] {
    [
        (
            Platform::shopify(rt),
            "orders/create",
            "shopify/orders-create.json",
        ),
        (
            Platform::woo(rt),
            "order.created",
            "woocommerce/order-created.json",
        ),
        (
            Platform::generic(rt),
            "order.created",
            "generic/order-created.json",
        ),
    ]
}

#[test]
fn forged_missing_and_undecodable_signatures_are_rejected_by_every_plugin() {
    let rt = runtime();
    let cases = orders_created(&rt);
    for (platform, topic, path) in cases {
        let body = fixture(path);
        let mut tampered = platform.delivery(topic, body.clone());
        tampered.body.push(b' ');
        for webhook in [
            platform.delivery_signed(topic, body.clone(), Some(sign(&body, "a guess"))),
            platform.delivery_signed(topic, body.clone(), None),
            platform.delivery_signed(topic, body.clone(), Some("@@not base64@@".to_owned())),
            platform.delivery_signed(topic, body.clone(), Some(String::new())),
            tampered,
        ] {
            let output = platform.run(&rt, &webhook);
            assert_eq!(
                rejection(&output),
                Some(RejectionKind::BadSignature),
                "{path}: {output:?}"
            );
            assert!(output.actions.is_empty());
        }
    }
}

/// The digest `delivery`'s signature header carries.
fn digest(platform: &Platform, delivery: &Webhook) -> Vec<u8> {
    let (_, signature) = delivery
        .headers
        .iter()
        .find(|(name, _)| name == platform.signature_header)
        .unwrap();
    BASE64.decode(signature).unwrap()
}

/// Kith's attestation for `delivery` (whose signature header is valid), as the server makes it.
fn attestation(platform: &Platform, delivery: &Webhook) -> String {
    let digest = digest(platform, delivery);
    kith::service::plugins::attestation(platform.secret.as_bytes(), &digest, delivery)
}

#[test]
fn a_delivery_kith_verified_is_not_hashed_again_and_a_forged_attestation_is_worthless() {
    let rt = runtime();
    let cases = orders_created(&rt);
    let limits = Limits::default();
    for (platform, topic, path) in cases {
        let delivery = platform.delivery(topic, fixture(path));
        let attested = attestation(&platform, &delivery);
        let (plain, plain_report) =
            rt.handle_webhook(&platform.plugin, &delivery, &platform.config, &limits);
        let (verified, verified_report) = rt.handle_verified_webhook(
            &platform.plugin,
            &delivery,
            &attested,
            &platform.config,
            &limits,
        );
        // The same answer, without hashing the body: the guest's HMAC-SHA256 costs about 77
        // fuel a byte, less the attestation's own few blocks (56 a byte on the 462-byte
        // generic order), so at least 50 a byte less.
        assert_eq!(verified.unwrap(), plain.unwrap(), "{path}");
        let saved = plain_report.fuel_used - verified_report.fuel_used;
        assert!(
            saved > 50 * delivery.body.len() as u64,
            "{path}: {} fuel plain, {} verified",
            plain_report.fuel_used,
            verified_report.fuel_used
        );

        // A sender's own `kith-signature-verified` never reaches the plugin: even a genuine
        // attestation sent along with a tampered body of the same length is refused, because
        // the plugin hashes the body.
        let mut tampered = delivery.clone();
        let last = tampered.body.len() - 2;
        tampered.body[last] ^= 0x01;
        tampered
            .headers
            .push(("Kith-Signature-Verified".to_owned(), attested.clone()));
        let output = platform.run(&rt, &tampered);
        assert_eq!(
            rejection(&output),
            Some(RejectionKind::BadSignature),
            "{path}: {output:?}"
        );

        // An attestation made without the secret, or for another delivery, is ignored: the body
        // is hashed, so a genuine one is accepted at the plain cost and a tampered one refused.
        let mut later = delivery.clone();
        later.received_at = Timestamp::from_micros(delivery.received_at.as_micros() + 1);
        let forged = [
            kith::service::plugins::attestation(
                b"a guess",
                &digest(&platform, &delivery),
                &delivery,
            ),
            attestation(&platform, &later),
        ];
        for forged in forged {
            let (output, report) = rt.handle_verified_webhook(
                &platform.plugin,
                &delivery,
                &forged,
                &platform.config,
                &limits,
            );
            assert_eq!(output.unwrap().verdict, Verdict::Accepted, "{path}");
            assert!(report.fuel_used > verified_report.fuel_used + 50 * delivery.body.len() as u64);
            let mut tampered = delivery.clone();
            tampered.body[last] ^= 0x01;
            let (output, _) = rt.handle_verified_webhook(
                &platform.plugin,
                &tampered,
                &forged,
                &platform.config,
                &limits,
            );
            assert_eq!(
                rejection(&output.unwrap()),
                Some(RejectionKind::BadSignature),
                "{path}"
            );
        }
    }
}

#[test]
fn malformed_payloads_get_a_rejected_verdict_with_a_reason_never_a_failure() {
    let rt = runtime();
    let huge = "9".repeat(400);
    let cases: Vec<(Platform, &str, Vec<Vec<u8>>)> = vec![
        (
            Platform::shopify(&rt),
            "orders/create",
            vec![
                br#"{"id":1,"currency":"USD","total_price":"1.00","email":"a@b.co","customer":{"id":[]}}"#.to_vec(),
                br#"{"id":1,"currency":"ZZZ","total_price":"1.00","email":"a@b.co"}"#.to_vec(),
                br#"{"id":1,"currency":"JPY","total_price":"1.5","email":"a@b.co"}"#.to_vec(),
                format!(r#"{{"id":1,"currency":"USD","total_price":"{huge}","email":"a@b.co"}}"#).into_bytes(),
                format!(r#"{{"id":{huge},"currency":"USD","total_price":"1.00"}}"#).into_bytes(),
            ],
        ),
        (
            Platform::woo(&rt),
            "order.updated",
            vec![
                br#"{"id":727,"status":"processing","currency":"USD","total":29.35}"#.to_vec(),
                br#"{"id":727,"status":"processing","currency":"KWD","total":"1.2345","billing":{"email":"a@b.co"}}"#.to_vec(),
                br#"{"id":727,"status":"processing","currency":"USD","total":"-1.00","billing":{"email":"a@b.co"}}"#.to_vec(),
            ],
        ),
        (
            Platform::generic(&rt),
            "order.created",
            vec![
                br#"{"id":"1","occurred_at":"2024-01-01T00:00:00Z","customer":{"external_id":"c"},"currency":"USD","total":"1.001"}"#.to_vec(),
                br#"{"id":"1","occurred_at":"yesterday","customer":{"external_id":"c"},"currency":"USD","total":"1.00"}"#.to_vec(),
                br#"{"id":"1","occurred_at":"2024-01-01T00:00:00Z","customer":{},"currency":"USD","total":"1.00"}"#.to_vec(),
            ],
        ),
    ];
    let common: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not json".to_vec(),
        b"{\"id\":".to_vec(),
        b"[1,2,3]".to_vec(),
        b"42".to_vec(),
        vec![0xc3, 0x28, 0xff],
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
    ];
    for (platform, topic, specific) in cases {
        for body in common.iter().chain(&specific) {
            let output = platform.run(&rt, &platform.delivery(topic, body.clone()));
            let Verdict::Rejected { kind, reason } = &output.verdict else {
                panic!(
                    "{}: {:?}: {output:?}",
                    platform.plugin.manifest().id,
                    String::from_utf8_lossy(body)
                )
            };
            assert_eq!(*kind, RejectionKind::Malformed);
            assert!(!reason.is_empty());
            assert!(output.actions.is_empty());
        }
    }
}

#[test]
fn arbitrary_bytes_never_trap_a_component() {
    let rt = runtime();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let platforms = [
        (
            Platform::shopify(&rt),
            "orders/create",
            "shopify/orders-create.json",
        ),
        (
            Platform::woo(&rt),
            "order.created",
            "woocommerce/order-created.json",
        ),
        (
            Platform::generic(&rt),
            "order.created",
            "generic/order-created.json",
        ),
    ];
    for (platform, topic, path) in platforms {
        let template = fixture(path);
        for round in 0..60 {
            let body: Vec<u8> = if round % 3 == 0 {
                (0..next() % 300).map(|_| next() as u8).collect()
            } else {
                let mut body = template.clone();
                for _ in 0..=round % 7 {
                    let at = (next() as usize) % body.len();
                    body[at] = next() as u8;
                }
                body
            };
            // `run` asserts the call returned an output (no trap, no plugin error).
            let output = platform.run(&rt, &platform.delivery(topic, body));
            if output.verdict != Verdict::Accepted {
                assert!(output.actions.is_empty());
            }
        }
    }
}

#[test]
fn a_missing_secret_is_the_plugins_invalid_config_error() {
    let rt = runtime();
    for path in [
        plugins::SHOPIFY_ORDERS,
        plugins::WOOCOMMERCE,
        plugins::GENERIC_ORDERS,
    ] {
        let plugin = load(&rt, path);
        let webhook = Webhook {
            topic: "order.created".to_owned(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
            delivery_id: None,
            received_at: received_at(),
        };
        let (result, report) = rt.handle_webhook(&plugin, &webhook, "{}", &Limits::default());
        assert!(
            matches!(
                &result,
                Err(PluginFailure::PluginError { kind: PluginErrorKind::InvalidConfig, message })
                    if message.contains("secret")
            ),
            "{path}: {result:?}"
        );
        assert_eq!(report.outcome, Outcome::Failed("plugin-error"));
    }
}

/// shopify-orders and woocommerce, like every plugin built for `wasm32-unknown-unknown` here, are
/// linked with 2 MiB of memory (`.cargo/config.toml`) so that a realistic order is handled
/// without growing memory: in a fresh instance a grow costs the host two `mprotect` calls on
/// every call. With the linker's default both grew by a page on these fixtures (peak 1,179,648
/// bytes).
#[test]
fn commerce_hooks_handle_a_realistic_order_without_growing_memory() {
    let rt = runtime();
    let shopify = Platform::shopify(&rt);
    let report = shopify.accepted(&rt, "orders/create", "shopify/orders-create.json");
    assert_eq!(report.peak_memory_bytes, 2 * 1024 * 1024, "shopify-orders");
    let woo = Platform::woo(&rt);
    let report = woo.accepted(&rt, "order.created", "woocommerce/order-created.json");
    assert_eq!(report.peak_memory_bytes, 2 * 1024 * 1024, "woocommerce");
}
