//! Load generation: HTTP/1.1 keep-alive connections, closed-loop clients (one task and one connection each,
//! requests back to back) bounded by a deadline and a request budget, and latency percentiles.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub const FHIR_JSON: &str = "application/fhir+json";

/// One request to send.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub body: Bytes,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Req {
    pub fn get(path: String) -> Req {
        Req { method: Method::GET, path, body: Bytes::new(), headers: vec![] }
    }

    pub fn post(path: String, body: Bytes) -> Req {
        Req { method: Method::POST, path, body, headers: vec![("content-type", FHIR_JSON)] }
    }
}

/// A response: its status and whole body.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    /// "status N: <body, cut to 2,000 characters>" for error reports.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let cut: String = text.chars().take(2000).collect();
        let more = if cut.len() < text.len() { " …" } else { "" };
        format!("status {}: {cut}{more}", self.status)
    }
}

/// The bearer token every request to the server under test carries (a system client's, made for it), and
/// that server's address: a peer measured beside it (`bench peer`) is sent none.
static AUTHORIZATION: std::sync::OnceLock<(SocketAddr, HeaderValue)> = std::sync::OnceLock::new();

/// Sets the token every request to `addr` carries from now on; the first one set stays.
pub fn set_token(token: &str, addr: SocketAddr) -> Result<(), String> {
    let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| format!("the token is not a header value: {e}"))?;
    let _ = AUTHORIZATION.set((addr, value));
    Ok(())
}

/// One HTTP/1.1 keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    /// The token its requests carry unless they bring their own.
    authorization: Option<HeaderValue>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| format!("bad host header: {e}"))?;
        let authorization = AUTHORIZATION.get().filter(|(a, _)| *a == addr).map(|(_, v)| v.clone());
        Ok(Conn { sender, host, authorization })
    }

    /// Sends one request and reads the whole response, within `timeout`.
    pub async fn send(&mut self, req: &Req, timeout: Duration) -> Result<Reply, String> {
        let exchange = async {
            self.sender.ready().await.map_err(|e| format!("the connection closed: {e}"))?;
            let mut builder =
                Request::builder().method(req.method.clone()).uri(req.path.as_str()).header(HOST, self.host.clone()).header(ACCEPT, FHIR_JSON);
            let own = req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
            if let (Some(auth), false) = (&self.authorization, own) {
                builder = builder.header(hyper::header::AUTHORIZATION, auth.clone());
            }
            for (k, v) in &req.headers {
                builder = builder.header(*k, *v);
            }
            if req.method == Method::POST && !req.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                builder = builder.header(CONTENT_TYPE, FHIR_JSON);
            }
            let request = builder.body(Full::new(req.body.clone())).map_err(|e| format!("cannot build the request: {e}"))?;
            let response = self.sender.send_request(request).await.map_err(|e| format!("{} {} failed: {e}", req.method, req.path))?;
            let status = response.status().as_u16();
            let body =
                response.into_body().collect().await.map_err(|e| format!("reading the response to {} {} failed: {e}", req.method, req.path))?;
            Ok(Reply { status, body: body.to_bytes() })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("{} {}: no answer within {timeout:?}", req.method, req.path)),
        }
    }
}

/// A small deterministic generator (splitmix64); quality is ample for picking ids and names.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What the clients of one phase send, and how a response is judged.
pub trait Work: Send + Sync + 'static {
    fn request(&self, rng: &mut Rng) -> Req;
    /// `Ok(Some(s))` keeps `s` (e.g. the id of a created resource); `Err` is the error to report.
    fn check(&self, reply: &Reply) -> Result<Option<String>, String>;
    /// Judges a reply knowing the request it answers (for work whose expected answer depends on what was
    /// asked); by default, `check`.
    fn check_reply(&self, _req: &Req, reply: &Reply) -> Result<Option<String>, String> {
        self.check(reply)
    }
}

/// Bounds of a phase: it stops at the deadline or when the request budget is spent, whichever comes first.
pub struct Limits {
    pub clients: usize,
    pub duration: Duration,
    pub max_requests: u64,
    pub timeout: Duration,
}

/// What a phase's clients did.
pub struct Outcome {
    pub clients: usize,
    pub elapsed: Duration,
    pub ok: u64,
    pub errors: u64,
    /// Latencies of the successful requests, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    pub kept: Vec<String>,
    pub first_error: Option<String>,
    /// Clients that lost their connection and could not open another.
    pub clients_lost: usize,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ok as f64 / s
        } else {
            0.0
        }
    }
}

struct ClientResult {
    ok: u64,
    errors: u64,
    latencies_ns: Vec<u64>,
    kept: Vec<String>,
    first_error: Option<(Instant, String)>,
    lost: bool,
}

/// Runs `limits.clients` closed-loop clients against `addr` and gathers what they saw.
pub async fn run(addr: SocketAddr, limits: &Limits, work: Arc<dyn Work>, seed: u64) -> Outcome {
    let mut conns = Vec::with_capacity(limits.clients);
    let mut open_errors: Vec<(Instant, String)> = vec![];
    for _ in 0..limits.clients {
        match Conn::open(addr).await {
            Ok(c) => conns.push(c),
            Err(e) => open_errors.push((Instant::now(), e)),
        }
    }
    let budget = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + limits.duration;
    let mut tasks = Vec::with_capacity(conns.len());
    for (i, conn) in conns.into_iter().enumerate() {
        let work = work.clone();
        let budget = budget.clone();
        let (max, timeout) = (limits.max_requests, limits.timeout);
        let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        tasks.push(tokio::spawn(async move { client(addr, conn, work, &mut rng, deadline, &budget, max, timeout).await }));
    }
    let mut out = Outcome {
        clients: limits.clients,
        elapsed: Duration::ZERO,
        ok: 0,
        errors: open_errors.len() as u64,
        latencies_ns: vec![],
        kept: vec![],
        first_error: None,
        clients_lost: open_errors.len(),
    };
    let mut first: Option<(Instant, String)> = open_errors.into_iter().next();
    for t in tasks {
        match t.await {
            Ok(r) => {
                out.ok += r.ok;
                out.errors += r.errors;
                out.latencies_ns.extend(r.latencies_ns);
                out.kept.extend(r.kept);
                out.clients_lost += usize::from(r.lost);
                if let Some((at, e)) = r.first_error {
                    if first.as_ref().map(|(f, _)| at < *f).unwrap_or(true) {
                        first = Some((at, e));
                    }
                }
            }
            Err(e) => {
                out.errors += 1;
                out.clients_lost += 1;
                first.get_or_insert((Instant::now(), format!("a client task failed: {e}")));
            }
        }
    }
    out.elapsed = started.elapsed();
    out.first_error = first.map(|(_, e)| e);
    out
}

#[allow(clippy::too_many_arguments)]
async fn client(
    addr: SocketAddr,
    mut conn: Conn,
    work: Arc<dyn Work>,
    rng: &mut Rng,
    deadline: Instant,
    budget: &AtomicU64,
    max: u64,
    timeout: Duration,
) -> ClientResult {
    let mut r = ClientResult { ok: 0, errors: 0, latencies_ns: Vec::with_capacity(4096), kept: vec![], first_error: None, lost: false };
    let note = |r: &mut ClientResult, e: String| {
        r.errors += 1;
        r.first_error.get_or_insert((Instant::now(), e));
    };
    while Instant::now() < deadline && budget.fetch_add(1, Ordering::Relaxed) < max {
        let req = work.request(rng);
        let t0 = Instant::now();
        match conn.send(&req, timeout).await {
            Ok(reply) => {
                let took = t0.elapsed();
                match work.check_reply(&req, &reply) {
                    Ok(kept) => {
                        r.ok += 1;
                        r.latencies_ns.push(took.as_nanos() as u64);
                        if let Some(k) = kept {
                            r.kept.push(k);
                        }
                    }
                    Err(e) => note(&mut r, e),
                }
            }
            Err(e) => {
                // The connection is in an unknown state: count the error and open another.
                note(&mut r, e);
                match Conn::open(addr).await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        note(&mut r, e);
                        r.lost = true;
                        break;
                    }
                }
            }
        }
    }
    r
}

/// Latency percentiles (nearest rank) of a set of durations.
pub struct Summary {
    pub count: usize,
    pub min_ns: u64,
    pub mean_ns: f64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl Summary {
    pub fn of(latencies_ns: &[u64]) -> Summary {
        let mut v = latencies_ns.to_vec();
        v.sort_unstable();
        let n = v.len();
        let rank = |p: f64| -> u64 {
            if n == 0 {
                return 0;
            }
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            v[i]
        };
        let mean = if n == 0 { 0.0 } else { v.iter().map(|&x| x as f64).sum::<f64>() / n as f64 };
        Summary {
            count: n,
            min_ns: v.first().copied().unwrap_or(0),
            mean_ns: mean,
            p50_ns: rank(0.50),
            p90_ns: rank(0.90),
            p99_ns: rank(0.99),
            max_ns: v.last().copied().unwrap_or(0),
        }
    }

    /// `{"min_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"}`, rounded to microseconds.
    pub fn to_json(&self) -> Value {
        let ms = |ns: f64| crate::round3(ns / 1e6);
        json!({
            "min_ms": ms(self.min_ns as f64),
            "mean_ms": ms(self.mean_ns),
            "p50_ms": ms(self.p50_ns as f64),
            "p90_ms": ms(self.p90_ns as f64),
            "p99_ms": ms(self.p99_ns as f64),
            "max_ms": ms(self.max_ns as f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).rev().collect();
        let s = Summary::of(&v);
        assert_eq!((s.min_ns, s.p50_ns, s.p90_ns, s.p99_ns, s.max_ns), (1, 50, 90, 99, 100));
        assert_eq!(s.mean_ns, 50.5);
        let empty = Summary::of(&[]);
        assert_eq!((empty.count, empty.p99_ns), (0, 0));
    }
}
