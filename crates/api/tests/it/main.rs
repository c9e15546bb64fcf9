//! HTTP integration tests of the FHIR API: the router runs in process over a fresh store per test, SQLite
//! by default, PostgreSQL when `JOINERY_TEST_BACKEND=postgres` (a fresh database per test on the server
//! `JOINERY_TEST_POSTGRES_URL` names, dropped afterwards).

mod access;
mod audit;
mod auth;
mod break_glass;
mod bulk_export;
mod bundles;
mod concurrency;
mod conditional;
mod crud;
mod errors;
mod fuzz;
mod history;
mod limits;
mod model;
mod registers;
mod search;
mod sharding;
mod synthea;
mod validate;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const BASE: &str = "http://joinery.test/fhir";

/// A server over a temporary database.
pub struct Server {
    router: Router,
    app: app::App,
    /// A system client's bearer token, made on first use and sent with every request that names none.
    token: tokio::sync::OnceCell<String>,
    /// The PostgreSQL store, when the tests run on it (it records the statements it issues).
    pub pg: Option<store::PgStore>,
    _keep: Keep,
}

/// What keeps the test's database alive until the server is dropped.
enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Pg(#[allow(dead_code)] store::PgTestDatabase, #[allow(dead_code)] tempfile::TempDir),
}

/// The backend the tests run on, from `JOINERY_TEST_BACKEND` (`sqlite`, the default, or `postgres`).
pub fn backend() -> &'static str {
    match std::env::var("JOINERY_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

impl Server {
    pub fn new() -> Self {
        Self::with_options(api::Options::default())
    }

    pub fn with_options(options: api::Options) -> Self {
        Self::build(options, app::Limits::default(), |_| {})
    }

    /// A server with the given HTTP options, request limits and (on SQLite) store options.
    pub fn build(options: api::Options, limits: app::Limits, sqlite: impl FnOnce(&mut store::SqliteOptions)) -> Self {
        Self::configured(options, |c| c.limits = limits, sqlite)
    }

    /// A server with changes to the use cases' configuration.
    pub fn configured(options: api::Options, configure: impl FnOnce(&mut app::Config), sqlite: impl FnOnce(&mut store::SqliteOptions)) -> Self {
        let mut pg_store = None;
        let (store, keep) = if backend() == "postgres" {
            let admin = store::PgTestDatabase::admin_url_from_env().expect("JOINERY_TEST_BACKEND=postgres needs JOINERY_TEST_POSTGRES_URL");
            let db = store::PgTestDatabase::create(&admin).expect("create a PostgreSQL test database");
            let files = tempfile::tempdir().expect("temp dir");
            let mut pg = store::PgOptions::new(db.url());
            pg.pool_size = 8;
            pg.data_dir = Some(files.path().to_path_buf());
            pg.record_statements = true;
            let opened = store::PgStore::open(pg).expect("open store");
            pg_store = Some(opened.clone());
            (store::Store::Postgres(opened), Keep::Pg(db, files))
        } else {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut sqlite_options = store::SqliteOptions::new(dir.path().join("test.db"));
            sqlite(&mut sqlite_options);
            let opened = store::SqliteStore::open(sqlite_options).expect("open store");
            (store::Store::Sqlite(opened), Keep::Dir(dir))
        };
        let mut config = app::Config::new(BASE);
        configure(&mut config);
        let app = app::App::new(store, config);
        Server { router: api::router(app.clone(), options), app, token: tokio::sync::OnceCell::new(), pg: pg_store, _keep: keep }
    }

    /// The router itself, for tests that drive a request by hand.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The tests' system client token (`system/*.cruds`).
    pub async fn token(&self) -> String {
        self.token
            .get_or_init(|| async {
                let client = app::auth::NewAccount {
                    username: "tests".into(),
                    role: care::access::Role::IntegrationSystem,
                    acts_as: app::auth::ActsAs::System,
                    password: None,
                };
                self.app.add_account(client).await.expect("the tests' system account");
                self.app.issue_token("tests", None).await.expect("a token").token
            })
            .await
            .clone()
    }

    /// The app behind the router, for tests that make accounts.
    pub fn app(&self) -> &app::App {
        &self.app
    }

    /// Sends a request. It carries the tests' system token unless `headers` names an `authorization` (an
    /// empty one sends none).
    pub async fn send(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Res {
        let mut req = Request::builder().method(Method::from_bytes(method.as_bytes()).expect("method")).uri(uri);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            req = req.header("authorization", format!("Bearer {}", self.token().await));
        }
        let has_type = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_type {
            req = req.header("content-type", "application/fhir+json");
        }
        for (k, v) in headers.iter().filter(|(k, v)| !(k.eq_ignore_ascii_case("authorization") && v.is_empty())) {
            req = req.header(*k, *v);
        }
        let req = req.body(Body::from(body.map(<[u8]>::to_vec).unwrap_or_default())).expect("request");
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes().to_vec();
        Res { status, headers, body }
    }

    pub async fn get(&self, uri: &str) -> Res {
        self.send("GET", uri, &[], None).await
    }

    pub async fn post(&self, uri: &str, body: &Value) -> Res {
        self.send("POST", uri, &[], Some(body.to_string().as_bytes())).await
    }

    pub async fn put(&self, uri: &str, body: &Value) -> Res {
        self.send("PUT", uri, &[], Some(body.to_string().as_bytes())).await
    }

    pub async fn delete(&self, uri: &str) -> Res {
        self.send("DELETE", uri, &[], None).await
    }

    /// Creates a resource and returns its id.
    pub async fn create(&self, resource: Value) -> String {
        let t = resource["resourceType"].as_str().expect("resourceType").to_owned();
        let r = self.post(&format!("/fhir/{t}"), &resource).await;
        assert_eq!(r.status, 201, "create {t}: {}", r.text());
        r.json()["id"].as_str().expect("id").to_owned()
    }
}

pub struct Res {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text, cut to a length that keeps failure messages readable.
    pub fn text(&self) -> String {
        let t = String::from_utf8_lossy(&self.body);
        if t.len() > 1500 {
            format!("{}… ({} bytes)", &t[..t.floor_char_boundary(1500)], t.len())
        } else {
            t.into_owned()
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an OperationOutcome with this status, issue code and (if given) element path.
    pub fn assert_outcome(&self, status: u16, code: &str, expression: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.text());
        let oo = self.json();
        assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
        let issues = oo["issue"].as_array().expect("issues");
        let hit = issues
            .iter()
            .any(|i| i["code"] == code && expression.is_none_or(|e| i["expression"].as_array().is_some_and(|x| x.iter().any(|p| p == e))));
        assert!(hit, "expected issue {code} at {expression:?} in {oo}");
    }
}

pub fn patient(nhs: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs }],
        "name": [{ "family": "Example", "given": ["Test"] }],
        "gender": "female",
        "birthDate": "1940-05-17"
    })
}

pub fn observation(patient_id: &str, value: &str) -> Value {
    let text = format!(
        r#"{{"resourceType":"Observation","status":"final","code":{{"coding":[{{"system":"http://loinc.org","code":"29463-7"}}]}},"subject":{{"reference":"Patient/{patient_id}"}},"valueQuantity":{{"value":{value},"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}}}"#
    );
    serde_json::from_str(&text).expect("observation JSON")
}
