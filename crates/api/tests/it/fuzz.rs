//! Property tests of the whole router against hostile input: arbitrary search parameters, cursors, headers
//! and bodies on every kind of route. However a request is built, the answer is never a 5xx and nothing
//! panics, and the server answers normally afterwards.

use crate::{observation, patient, Server};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use std::sync::OnceLock;
use tower::ServiceExt;

/// One server with a little data, shared by every case (a runtime of its own, since proptest is sync).
fn fixture() -> &'static (tokio::runtime::Runtime, Server, String) {
    static FIXTURE: OnceLock<(tokio::runtime::Runtime, Server, String)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (server, token) = rt.block_on(async {
            let s = Server::new();
            for i in 0..3 {
                let p = s.create(patient(&format!("943476591{i}"))).await;
                s.create(observation(&p, &format!("7{i}.5"))).await;
            }
            let token = s.token().await;
            (s, token)
        });
        (rt, server, token)
    })
}

/// Sends a request built from raw parts; a request the HTTP types cannot even represent is skipped.
fn send(method: &str, uri: &str, headers: &[(String, String)], body: Vec<u8>) -> Option<(u16, String)> {
    let (rt, server, token) = fixture();
    let mut req = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Body::from(body)).ok()?;
    rt.block_on(async {
        let res = server.router().oneshot(req).await.expect("infallible");
        let status = res.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(res.into_body()).await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
        Some((status, String::from_utf8_lossy(&bytes).chars().take(400).collect()))
    })
}

fn assert_no_5xx(method: &str, uri: &str, answer: Option<(u16, String)>) {
    if let Some((status, body)) = answer {
        assert!(status < 500 || status == 503 && body.contains("transient"), "{method} {uri} answered {status}: {body}");
    }
    let (status, _) = send("GET", "/fhir/Patient?_count=1", &[], Vec::new()).expect("a plain request");
    assert_eq!(status, 200, "the server answers afterwards");
}

/// Search parameter names: real ones, with modifiers, chains and `_has`, and junk.
fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "family",
            "birthdate",
            "identifier",
            "gender",
            "_id",
            "_count",
            "_sort",
            "_total",
            "_summary",
            "_elements",
            "_include",
            "_revinclude",
            "_revinclude:iterate",
            "_cursor",
            "_before",
            "_type",
            "organization.name",
            "general-practitioner:Practitioner.name",
            "_has:Observation:patient:code",
            "_has:Observation:subject:value-quantity",
            "name:contains",
            "name:exact",
            "identifier:of-type",
            "gender:not",
            "birthdate:missing",
            "_lastUpdated",
            "_format",
        ])
        .prop_map(str::to_owned),
        "[a-z_:.\\-]{1,30}",
        "(organization\\.){1,8}name",
        "(_has:[A-Za-z]{0,12}:[a-z]{0,8}:){1,6}[a-z]{0,6}",
    ]
}

/// Values: prefixes, escapes, separators, numbers at the edges, JSON-ish cursors, and arbitrary text.
fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "(eq|ne|gt|lt|ge|le|sa|eb|ap)?[0-9T:\\-.+Z]{0,30}",
        "[a-zA-Z0-9|,$\\\\:/.%*\\-]{0,40}",
        "\\[[\\[\\]0-9eE.+\\-\",null{}:a-z]{0,30}\\]",
        prop::sample::select(vec!["1e999", "-1e999", "NaN", "[1]", "[[[[[]]]]]", "[1e999]", "[null,\"a\"]", "Patient:*", "*", "true", "count"])
            .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((param_name(), param_value()), 0..8)
        .prop_map(|pairs| form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish())
}

fn header() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec!["content-type", "accept", "prefer", "if-match", "if-none-exist", "if-none-match", "x-junk"]),
        prop_oneof![
            prop::sample::select(vec![
                "application/fhir+json",
                "application/json",
                "application/fhir+xml",
                "text/plain",
                "return=minimal",
                "respond-async",
                "handling=strict",
                "W/\"1\"",
                "W/\"x\"",
                "identifier=a|b",
                "*/*",
            ])
            .prop_map(str::to_owned),
            "[ -~]{0,60}",
        ],
    )
        .prop_map(|(k, v)| (k.to_owned(), v))
}

/// Bodies: valid-looking resources and Bundles with junk inside, truncated JSON, and raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (param_value(), param_value()).prop_map(|(a, b)| format!(
            r#"{{"resourceType":"Patient","id":{a:?},"name":[{{"family":{b:?}}}],"birthDate":{b:?}}}"#
        )
        .into_bytes()),
        (prop::sample::select(vec!["batch", "transaction", "searchset", "x"]), param_value(), query()).prop_map(|(kind, m, q)| format!(
            r#"{{"resourceType":"Bundle","type":"{kind}","entry":[{{"request":{{"method":{m:?},"url":"Patient?{q}"}}}},{{"request":{{"method":"GET","url":{m:?}}}}}]}}"#
        )
        .into_bytes()),
        "[\\[\\]{}\":,a-z0-9 ]{0,80}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_searches_never_answer_5xx(path in prop::sample::select(vec![
        "/fhir/Patient", "/fhir/Observation", "/fhir", "/fhir/Patient/_history", "/fhir/Patient/x/Observation", "/fhir/Patient/x/$everything",
    ]), q in query()) {
        let uri = format!("{path}?{q}");
        assert_no_5xx("GET", &uri, send("GET", &uri, &[], Vec::new()));
    }

    #[test]
    fn arbitrary_search_bodies_never_answer_5xx(q in query(), headers in prop::collection::vec(header(), 0..3)) {
        let mut headers = headers;
        headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        assert_no_5xx("POST", "/fhir/Patient/_search", send("POST", "/fhir/Patient/_search", &headers, q.into_bytes()));
    }

    #[test]
    fn arbitrary_writes_never_answer_5xx(
        route in prop::sample::select(vec![
            ("POST", "/fhir/Patient"), ("PUT", "/fhir/Patient/p1"), ("PATCH", "/fhir/Patient/p1"), ("POST", "/fhir"),
            ("PUT", "/fhir/Patient?identifier=a|b"), ("DELETE", "/fhir/Patient?identifier=a|b"), ("POST", "/fhir/Patient/$validate"),
        ]),
        headers in prop::collection::vec(header(), 0..4),
        body in body(),
    ) {
        let (method, uri) = route;
        assert_no_5xx(method, uri, send(method, uri, &headers, body));
    }
}
