//! The cost of search indexing on writes: writes the Synthea resources to fresh SQLite stores with their full search index and with no index rows, as `app::prepare::put` does, and prints resources/s both ways as JSON.
//!
//! `cargo run --release -p app --example index_cost [-- --synthea DIR] [--unit 500] [--rounds 3]`
//!
//! The resources of the Synthea transaction bundles are made plain (`urn:uuid:` references become `Type/id`,
//! conditional references the `Type/id` they name) and written in order, in units of `--unit` resources, each
//! unit one `Store::write` awaited before the next (so every unit is its own commit). Inside a unit each resource
//! goes through what `prepare::put` does: stamp the server-owned elements, extract the index (only in the indexed
//! run, and inside the measured loop), compute the person key and the local links, serialise, `tx.put`. Each
//! round writes to two fresh stores, once indexed and once not, alternating which goes first.

use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use store::{Method, NewVersion, SqliteOptions, SqliteStore, Store, StoreError};

fn main() {
    match run() {
        Ok(report) => match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("index_cost: cannot render the report: {e}");
                std::process::exit(2);
            }
        },
        Err(e) => {
            eprintln!("index_cost: {e}");
            std::process::exit(2);
        }
    }
}

struct Options {
    synthea: PathBuf,
    unit: usize,
    rounds: usize,
}

fn options() -> Result<Options, String> {
    let mut synthea: Option<PathBuf> = None;
    let mut unit = 500usize;
    let mut rounds = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--synthea" => synthea = Some(value()?.into()),
            "--unit" => unit = value()?.parse().map_err(|e| format!("--unit: {e}"))?,
            "--rounds" => rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            other => return Err(format!("unknown argument {other} (expected --synthea DIR, --unit N, --rounds N)")),
        }
    }
    let synthea = match synthea {
        Some(p) => p,
        None => {
            let relative = Path::new("../shared/data/synthea-r4");
            let from_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
            [relative.to_path_buf(), from_root]
                .into_iter()
                .find(|p| p.is_dir())
                .ok_or("no Synthea folder at ../shared/data/synthea-r4; pass --synthea DIR")?
        }
    };
    Ok(Options { synthea, unit: unit.max(1), rounds: rounds.max(1) })
}

/// One plain resource to write.
struct Resource {
    resource_type: String,
    id: String,
    value: Value,
}

/// The resources of every bundle in `dir` (hospital and practitioner bundles first), with bundle-internal
/// references rewritten to `Type/id`; the first copy of a resource that several bundles carry is kept.
fn load(dir: &Path) -> Result<(Vec<Resource>, usize, usize), String> {
    let listing = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            names.push(name);
        }
    }
    let rank = |n: &str| {
        if n.starts_with("hospitalInformation") {
            0
        } else if n.starts_with("practitionerInformation") {
            1
        } else {
            2
        }
    };
    names.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
    let mut resources = Vec::new();
    let mut seen = HashSet::new();
    let mut full_urls: HashMap<String, String> = HashMap::new();
    let mut by_identifier: HashMap<String, String> = HashMap::new();
    let mut bundles = 0;
    for name in &names {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let bundle: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        bundles += 1;
        for entry in bundle.get("entry").and_then(Value::as_array).into_iter().flatten() {
            let Some(resource) = entry.get("resource") else { continue };
            let Some(resource_type) = resource.get("resourceType").and_then(Value::as_str) else { continue };
            let full_url = entry.get("fullUrl").and_then(Value::as_str);
            let id = match resource.get("id").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => match full_url.and_then(|u| u.strip_prefix("urn:uuid:")) {
                    Some(uuid) => uuid.to_owned(),
                    None => return Err(format!("{}: a {resource_type} with neither an id nor a urn:uuid fullUrl", path.display())),
                },
            };
            let key = format!("{resource_type}/{id}");
            if let Some(u) = full_url {
                full_urls.insert(u.to_owned(), key.clone());
            }
            for identifier in resource.get("identifier").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(s), Some(v)) = (identifier.get("system").and_then(Value::as_str), identifier.get("value").and_then(Value::as_str)) {
                    by_identifier.insert(format!("{resource_type}?identifier={s}|{v}"), key.clone());
                }
            }
            if seen.insert(key) {
                resources.push(Resource { resource_type: resource_type.to_owned(), id, value: resource.clone() });
            }
        }
    }
    let mut unresolved = 0;
    for r in &mut resources {
        rewrite(&mut r.value, &full_urls, &by_identifier, &mut unresolved);
    }
    Ok((resources, bundles, unresolved))
}

/// Rewrites every `reference` that names a bundle entry (`urn:uuid:…`) or a resource by identifier (`Type?identifier=s|v`).
fn rewrite(value: &mut Value, full_urls: &HashMap<String, String>, by_identifier: &HashMap<String, String>, unresolved: &mut usize) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "reference" {
                    if let Value::String(s) = v {
                        let conditional = s.split_once('?').is_some_and(|(t, _)| !t.contains('/') && !t.contains(':'));
                        if s.starts_with("urn:uuid:") || conditional {
                            match full_urls.get(s.as_str()).or_else(|| by_identifier.get(s.as_str())) {
                                Some(to) => *s = to.clone(),
                                None => *unresolved += 1,
                            }
                        }
                        continue;
                    }
                }
                rewrite(v, full_urls, by_identifier, unresolved);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, full_urls, by_identifier, unresolved)),
        _ => {}
    }
}

/// `prepare::stamp`: resourceType, id, meta (versionId, lastUpdated, then the client's other meta), then the rest.
fn stamp(value: Value, id: &str, version: i64, last_updated: &str) -> Value {
    let Value::Object(mut obj) = value else { return value };
    let resource_type = obj.shift_remove("resourceType").unwrap_or(Value::Null);
    obj.shift_remove("id");
    let client_meta = match obj.shift_remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut meta = Map::new();
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert("lastUpdated".into(), Value::String(last_updated.to_owned()));
    for (k, v) in client_meta {
        if k != "versionId" && k != "lastUpdated" {
            meta.insert(k, v);
        }
    }
    let mut out = Map::with_capacity(obj.len() + 3);
    out.insert("resourceType".into(), resource_type);
    out.insert("id".into(), Value::String(id.to_owned()));
    out.insert("meta".into(), Value::Object(meta));
    out.extend(obj);
    Value::Object(out)
}

/// `prepare::put` for a first version, with or without the index. Returns the index entries written.
fn put(tx: &mut dyn store::Tx, r: Resource, indexed: bool, now: &str) -> Result<usize, StoreError> {
    let value = stamp(r.value, &r.id, 1, now);
    let index = if indexed { fhir::search::extract(&value) } else { Vec::new() };
    let person_key = fhir::index::person_key(&value);
    let links: Vec<(String, String)> = fhir::reference::references(&value)
        .into_iter()
        .filter_map(|s| match fhir::reference::parse(s, None) {
            fhir::reference::Target::Local { resource_type, id, .. } => Some((resource_type.to_owned(), id.to_owned())),
            _ => None,
        })
        .collect();
    let body = serde_json::to_string(&value).map_err(|e| StoreError::Internal(Box::new(e)))?;
    tx.put(NewVersion {
        resource_type: &r.resource_type,
        id: &r.id,
        version: 1,
        person_key: person_key.as_deref(),
        last_updated: now,
        method: Method::Post,
        body: Some(&body),
        index: if indexed { &index } else { &[] },
        links: &links,
        recorded_by: None,
        restricted: false,
        relations: &[],
    })?;
    Ok(index.len())
}

/// One run on a fresh store.
struct Run {
    indexed: bool,
    resources: usize,
    index_entries: usize,
    elapsed: Duration,
    /// CPU time of this process during the run (all threads), when `/proc/self/stat` can be read.
    cpu: Option<Duration>,
    database_bytes: u64,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.resources as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn to_json(&self) -> Value {
        json!({
            "indexed": self.indexed,
            "resources": self.resources,
            "index_entries": self.index_entries,
            "seconds": round3(self.elapsed.as_secs_f64()),
            "resources_per_s": round3(self.per_second()),
            "cpu_s": self.cpu.map(|c| round3(c.as_secs_f64())),
            "database_bytes": self.database_bytes,
        })
    }
}

async fn write_all(resources: &[Resource], unit: usize, indexed: bool, dir: &Path) -> Result<Run, String> {
    let path = dir.join("index_cost.db");
    let store = Store::Sqlite(SqliteStore::open(SqliteOptions::new(&path)).map_err(|e| format!("cannot open a store at {}: {e}", path.display()))?);
    // The copies are made before the clock starts: only the write path is timed.
    let mut units: Vec<Vec<Resource>> = Vec::new();
    for chunk in resources.chunks(unit) {
        units.push(chunk.iter().map(|r| Resource { resource_type: r.resource_type.clone(), id: r.id.clone(), value: r.value.clone() }).collect());
    }
    let mut index_entries = 0;
    let cpu_started = process_cpu();
    let started = Instant::now();
    for chunk in units {
        let written = store
            .write(move |tx| {
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let mut entries = 0;
                for r in chunk {
                    entries += put(tx, r, indexed, &now)?;
                }
                Ok::<usize, StoreError>(entries)
            })
            .await
            .map_err(|e| format!("a write failed: {e:?}"))?;
        index_entries += written;
    }
    let elapsed = started.elapsed();
    let cpu = match (cpu_started, process_cpu()) {
        (Some(a), Some(b)) => b.checked_sub(a),
        _ => None,
    };
    store.close().await.map_err(|e| format!("cannot close the store: {e}"))?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let database_bytes = size(&path) + size(&dir.join("index_cost.db-wal"));
    Ok(Run { indexed, resources: resources.len(), index_entries, elapsed, cpu, database_bytes })
}

/// User and system CPU time of this process so far (Linux: `/proc/self/stat`, in ticks of 1/100 s).
fn process_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = text.get(text.rfind(')')? + 1..)?.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn run() -> Result<Value, String> {
    let opts = options()?;
    let started = Instant::now();
    eprintln!("index_cost: reading {}", opts.synthea.display());
    let (resources, bundles, unresolved) = load(&opts.synthea)?;
    eprintln!("index_cost: {} resources from {bundles} bundles ({unresolved} references left unresolved)", resources.len());
    // The definitions and compiled expressions are built once, before any clock starts.
    if let Some(r) = resources.first() {
        let _ = fhir::search::extract(&r.value);
        let _ = fhir::index::person_key(&r.value);
    }
    // Where the indexed run's time goes: the extraction alone (stamp and extract, no store), on this thread.
    let extract_started = Instant::now();
    let mut extracted = 0usize;
    for r in &resources {
        let value = stamp(r.value.clone(), &r.id, 1, "2026-01-01T00:00:00.000Z");
        extracted += fhir::search::extract(&value).len();
    }
    let extract_only = extract_started.elapsed();
    eprintln!("index_cost: extraction alone: {extracted} entries in {:.2} s", extract_only.as_secs_f64());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let mut runs: Vec<Run> = Vec::new();
    for round in 0..opts.rounds {
        let order = if round % 2 == 0 { [true, false] } else { [false, true] };
        for indexed in order {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            let dir = std::env::temp_dir().join(format!("index-cost-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let result = runtime.block_on(write_all(&resources, opts.unit, indexed, &dir));
            let _ = std::fs::remove_dir_all(&dir);
            let r = result?;
            eprintln!(
                "index_cost: round {} {}: {} resources in {:.2} s = {:.0}/s",
                round + 1,
                if indexed { "indexed" } else { "no index" },
                r.resources,
                r.elapsed.as_secs_f64(),
                r.per_second()
            );
            runs.push(r);
        }
    }
    let rate = |indexed: bool| median(runs.iter().filter(|r| r.indexed == indexed).map(Run::per_second).collect());
    let (with_index, without_index) = (rate(true), rate(false));
    let entries = runs.iter().find(|r| r.indexed).map(|r| r.index_entries).unwrap_or(0);
    let cost_ratio = if with_index > 0.0 { without_index / with_index } else { 0.0 };
    let cpu_of = |indexed: bool| {
        let v: Vec<f64> = runs.iter().filter(|r| r.indexed == indexed).filter_map(|r| r.cpu).map(|c| c.as_secs_f64()).collect();
        if v.is_empty() {
            None
        } else {
            Some(median(v))
        }
    };
    let cpu_ratio = match (cpu_of(true), cpu_of(false)) {
        (Some(a), Some(b)) if b > 0.0 => Some(round3(a / b)),
        _ => None,
    };
    let mut types: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for r in &resources {
        *types.entry(r.resource_type.as_str()).or_default() += 1;
    }
    Ok(json!({
        "synthea_dir": opts.synthea.display().to_string(),
        "bundles": bundles,
        "resources": resources.len(),
        "resources_by_type": types,
        "references_unresolved": unresolved,
        "unit": opts.unit,
        "rounds": opts.rounds,
        "index_entries": entries,
        "index_entries_per_resource": round3(entries as f64 / resources.len().max(1) as f64),
        "extract_only_s": round3(extract_only.as_secs_f64()),
        "extract_only_resources_per_s": round3(resources.len() as f64 / extract_only.as_secs_f64().max(1e-9)),
        "indexed_resources_per_s": round3(with_index),
        "unindexed_resources_per_s": round3(without_index),
        "write_cost_ratio_indexed_to_unindexed": round3(cost_ratio),
        "indexing_adds_percent": round3((cost_ratio - 1.0) * 100.0),
        "cpu_s_indexed_median": cpu_of(true).map(round3),
        "cpu_s_unindexed_median": cpu_of(false).map(round3),
        "cpu_ratio_indexed_to_unindexed": cpu_ratio,
        "target_adds_percent_max": 50,
        "meets_target": cost_ratio <= 1.5,
        "runs": runs.iter().map(Run::to_json).collect::<Vec<_>>(),
        "total_s": round3(started.elapsed().as_secs_f64()),
    }))
}
