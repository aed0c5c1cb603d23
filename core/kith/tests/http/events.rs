//! The event log over HTTP: reading from a sequence number, a long-poll woken by a write, and a
//! server-sent event stream. Waiting is bounded by a test timeout, never by a sleep.

use std::time::Duration;

use super::http_support::{Api, Backend, on_both_backends};
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

const BOUND: Duration = Duration::from_secs(20);

/// The sequence numbers of a page's events.
fn seqs(page: &serde_json::Value) -> Vec<u64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

async fn events_page_from_a_sequence_number(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", true).await;
    let admin = api.admin.clone();
    for i in 0..3 {
        api.customer("acme", &admin, json!({ "name": format!("C{i}") }))
            .await;
    }
    let r = api
        .call(
            "GET",
            "/v1/tenants/acme/events?after=1&limit=2",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(seqs(&r), vec![2, 3]);
    assert_eq!(r["next_after"], 3);
    let r = api
        .call("GET", "/v1/tenants/acme/events?after=4", Some(&key), None)
        .await
        .ok(200);
    assert!(r["items"].as_array().unwrap().is_empty());
    assert_eq!(r["next_after"], 4);
    // `tail`: the last events, without reading the log from the start; `after` wins over it,
    // and a tail longer than the log is the whole log.
    let last = api.last_seq("acme");
    let r = api
        .call("GET", "/v1/tenants/acme/events?tail=2", Some(&key), None)
        .await
        .ok(200);
    assert_eq!(seqs(&r), vec![last - 1, last]);
    let r = api
        .call(
            "GET",
            "/v1/tenants/acme/events?tail=2&after=1&limit=1",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(r["items"][0]["seq"], 2);
    let r = api
        .call(
            "GET",
            &format!("/v1/tenants/acme/events?tail={}", u64::MAX),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(r["items"][0]["seq"], 1);
    api.call("GET", "/v1/tenants/acme/events?tail=-1", Some(&key), None)
        .await
        .problem(400, "invalid_query");
}

async fn a_long_poll_is_woken_by_a_write(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let seq = api.last_seq("acme");
    let poll = {
        let router = api.router.clone();
        let req = Request::get(format!("/v1/tenants/acme/events?after={seq}&wait=60s"))
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        tokio::spawn(async move {
            let r = router.oneshot(req).await.unwrap();
            let bytes = r.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        })
    };
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let page = tokio::time::timeout(BOUND, poll)
        .await
        .expect("the long-poll was not woken by the commit")
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "customer-created");
    assert_eq!(items[0]["entity"]["customer"], c["id"]);
}

async fn a_server_sent_event_stream_follows_commits_and_resumes_after_last_event_id(
    backend: Backend,
) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let req = Request::get("/v1/tenants/acme/events")
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "text/event-stream")
        .header("last-event-id", "1")
        .body(Body::empty())
        .unwrap();
    let r = api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "text/event-stream"
    );
    let mut body = r.into_body();
    let mut seen = String::new();
    let mut wrote = false;
    let result = tokio::time::timeout(BOUND, async {
        loop {
            if seen.contains("id: 3\n") {
                return;
            }
            if !wrote {
                // The stream is open: now write, and the stream must deliver it.
                api.customer("acme", &key, json!({ "name": "Ada" })).await;
                api.customer("acme", &key, json!({ "name": "Bob" })).await;
                wrote = true;
            }
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await;
    assert!(result.is_ok(), "stream did not deliver: {seen}");
    assert!(
        !seen.contains("id: 1\n"),
        "Last-Event-ID resumes after it: {seen}"
    );
    assert!(seen.contains("event: event\n"));
    assert!(seen.contains(r#""kind":"customer-created""#));
}

on_both_backends! {
    a_server_sent_event_stream_follows_commits_and_resumes_after_last_event_id,
    a_long_poll_is_woken_by_a_write,
    events_page_from_a_sequence_number,
}
