//! The synthetic population behind a search run: reads the NDJSON that was imported (one file per type) and
//! picks real query values with their expected answers, computed from the files rather than from the server.

use crate::load::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

pub const NHS_NUMBER_SYSTEM: &str = crate::data::NHS_NUMBER_SYSTEM;

/// Most identifier values kept for the identifier search.
const MAX_IDENTIFIERS: usize = 20_000;
/// About how many people are sampled for the Observation searches.
const OBSERVATION_PEOPLE: u64 = 2_000;
/// Most (patient, code) cases kept for the Observation search.
const MAX_OBSERVATION_CASES: usize = 20_000;
/// The count searches should count at least this many matches.
pub const COUNT_MATCHES: u64 = 100_000;
/// The page sizes the searches ask for.
pub const OBSERVATION_PAGE: usize = 10;
pub const NAME_PAGE: usize = 20;
pub const TOTAL_PAGE: usize = 10;

/// What the NDJSON holds, and the values the searches use.
pub struct Population {
    pub dir: PathBuf,
    /// Lines per type (file stem), and their sum.
    pub counts: BTreeMap<String, u64>,
    pub resources: u64,
    pub bytes: u64,
    pub people: u64,
    /// (NHS number, Patient id), a sample.
    pub identifiers: Vec<(String, String)>,
    pub patients_without_nhs_number: u64,
    /// The most common family name, as written, and how many Patients `family=` (starts-with) matches.
    pub family: String,
    pub family_matches: u64,
    /// A prefix of it, and how many Patients `name=` (any part of any name starts with it) matches.
    pub name_prefix: String,
    pub name_matches: u64,
    /// `date=ge…` of the Observation search: the median day of the sampled people's Observations.
    pub date_from: String,
    pub observation_cases: Vec<ObservationCase>,
    pub observation_people_sampled: usize,
    /// (patient, code) pairs left out because no Observation of theirs is on or after `date_from`.
    pub observation_cases_without_match: usize,
    /// The count searches: `param=system|code` on Observation and how many it matches.
    pub count: TokenCount,
    /// Every candidate the count was chosen among (the largest few), for the report.
    pub count_candidates: Vec<TokenCount>,
    /// The practice with the most registered people, for the searches made as its GP.
    pub practice: Option<Practice>,
    /// The primary care network (the organisation practices are `partOf`) with the most registered people,
    /// for the worklists.
    pub network: Option<Network>,
}

/// A primary care network: its Organization id, its practices and the people registered with them.
pub struct Network {
    pub organisation: String,
    pub practices: usize,
    pub registered: u64,
}

/// A GP practice: a role there to sign in as, the people registered with it (a sample), and how many of them
/// `family=` (the population's most common family name) matches.
pub struct Practice {
    pub organisation: String,
    pub role: String,
    pub registered: u64,
    pub patients: Vec<String>,
    pub family_matches: u64,
}

/// The organisation a Patient is registered with (`generalPractitioner`), if one.
fn practice_of(p: &Value) -> Option<&str> {
    p.get("generalPractitioner")?.as_array()?.iter().find_map(|g| g.get("reference")?.as_str()?.strip_prefix("Organization/"))
}

/// One Observation search: a patient, one of their codes, and the expected first page.
pub struct ObservationCase {
    pub patient: String,
    /// `system|code`.
    pub code: String,
    pub matches: usize,
    /// Ids of the first page, newest first (then by id).
    pub expected: Vec<String>,
}

/// A token value of an Observation parameter and how many Observations have it.
#[derive(Clone)]
pub struct TokenCount {
    pub param: String,
    /// `system|code`.
    pub value: String,
    pub display: Option<String>,
    pub matches: u64,
}

impl TokenCount {
    fn to_json(&self) -> Value {
        json!({ "param": self.param, "value": self.value, "display": self.display, "matches": self.matches })
    }
}

/// Lower case without accents, as the server's string index (the generator writes ASCII names; other letters are only
/// lower-cased here).
pub fn normalize(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// FNV-1a: a stable hash for sampling people by id.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Calls `f` on every line of `path` parsed as JSON.
fn each_line(path: &Path, mut f: impl FnMut(Value) -> Result<(), String>) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if read == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        n += 1;
        let value: Value = serde_json::from_str(&line).map_err(|e| format!("{} line {n} is not JSON: {e}", path.display()))?;
        f(value)?;
    }
    Ok(n)
}

/// Counts the lines of `path` that are not blank.
fn count_lines(path: &Path) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if read == 0 {
            break;
        }
        if buf.iter().any(|b| !b.is_ascii_whitespace()) {
            n += 1;
        }
    }
    Ok(n)
}

fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// Normalised family names of a Patient, and every normalised part the `name` parameter indexes (text, family,
/// given, prefix, suffix).
fn name_parts(p: &Value) -> (Vec<String>, Vec<String>) {
    let mut families = Vec::new();
    let mut parts = Vec::new();
    for name in p.get("name").and_then(Value::as_array).into_iter().flatten() {
        for key in ["text", "family"] {
            if let Some(s) = name.get(key).and_then(Value::as_str) {
                parts.push(normalize(s));
                if key == "family" {
                    families.push(normalize(s));
                }
            }
        }
        for key in ["given", "prefix", "suffix"] {
            parts.extend(strings(name.get(key)).map(normalize));
        }
    }
    (families, parts)
}

/// `system|code` of each coding of a CodeableConcept (list), without repeats.
fn tokens(concepts: &[&Value]) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for concept in concepts {
        for coding in concept.get("coding").and_then(Value::as_array).into_iter().flatten() {
            let Some(code) = coding.get("code").and_then(Value::as_str) else { continue };
            let system = coding.get("system").and_then(Value::as_str).unwrap_or("");
            let token = format!("{system}|{code}");
            if !out.iter().any(|(t, _)| t == &token) {
                out.push((token, coding.get("display").and_then(Value::as_str).map(str::to_owned)));
            }
        }
    }
    out
}

/// Reads the population in `dir` (which must hold `Patient.ndjson` and `Observation.ndjson`).
pub fn read(dir: &Path, seed: u64) -> Result<Population, String> {
    let mut counts = BTreeMap::new();
    let mut bytes = 0u64;
    let listing = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) == Some("ndjson") {
            files.push(path);
        }
    }
    files.sort();
    for path in &files {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if stem == "Patient" || stem == "Observation" {
            continue; // counted while they are read below
        }
        bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        counts.insert(stem, count_lines(path)?);
    }
    let patient_file = dir.join("Patient.ndjson");
    let observation_file = dir.join("Observation.ndjson");
    for f in [&patient_file, &observation_file] {
        bytes += std::fs::metadata(f).map(|m| m.len()).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
    }

    // Patients, first pass: identifiers and family names.
    let mut identifiers = Vec::new();
    let mut without_nhs = 0u64;
    let mut family_counts: HashMap<String, (u64, String)> = HashMap::new();
    let mut registered: HashMap<String, Vec<String>> = HashMap::new();
    let people = each_line(&patient_file, |p| {
        if let (Some(org), Some(id)) = (practice_of(&p), p.get("id").and_then(Value::as_str)) {
            registered.entry(org.to_owned()).or_default().push(id.to_owned());
        }
        let id = p.get("id").and_then(Value::as_str).ok_or("a Patient without an id")?.to_owned();
        let nhs = p
            .get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|i| i.get("system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM))
            .and_then(|i| i.get("value").and_then(Value::as_str));
        match nhs {
            Some(n) => identifiers.push((n.to_owned(), id)),
            None => without_nhs += 1,
        }
        let mut seen = HashSet::new();
        for name in p.get("name").and_then(Value::as_array).into_iter().flatten() {
            if let Some(f) = name.get("family").and_then(Value::as_str) {
                if seen.insert(normalize(f)) {
                    family_counts.entry(normalize(f)).or_insert((0, f.to_owned())).0 += 1;
                }
            }
        }
        Ok(())
    })?;
    counts.insert("Patient".into(), people);
    // A sample of the identifiers, in a random order.
    let mut rng = Rng::new(seed ^ 0x1D);
    for i in (1..identifiers.len()).rev() {
        identifiers.swap(i, rng.below(i as u64 + 1) as usize);
    }
    identifiers.truncate(MAX_IDENTIFIERS);
    let Some((family_norm, (_, family))) = family_counts.into_iter().max_by(|(a, (ca, _)), (b, (cb, _))| ca.cmp(cb).then_with(|| b.cmp(a))) else {
        return Err(format!("no Patient in {} has a family name", patient_file.display()));
    };
    let name_prefix: String = family_norm.chars().take(3).collect();

    // The network with the most people registered with its practices (ties: the first id).
    let mut network = None;
    let organisation_file = dir.join("Organization.ndjson");
    if organisation_file.is_file() {
        let mut part_of: HashMap<String, String> = HashMap::new();
        each_line(&organisation_file, |o| {
            if let (Some(id), Some(parent)) = (
                o.get("id").and_then(Value::as_str),
                o.pointer("/partOf/reference").and_then(Value::as_str).and_then(|r| r.strip_prefix("Organization/")),
            ) {
                part_of.insert(id.to_owned(), parent.to_owned());
            }
            Ok(())
        })?;
        let mut by_network: HashMap<&str, (usize, u64)> = HashMap::new();
        for (practice, people) in &registered {
            if let Some(parent) = part_of.get(practice) {
                let entry = by_network.entry(parent.as_str()).or_default();
                entry.0 += 1;
                entry.1 += people.len() as u64;
            }
        }
        network = by_network
            .into_iter()
            .max_by(|(a, x), (b, y)| x.1.cmp(&y.1).then_with(|| b.cmp(a)))
            .map(|(organisation, (practices, registered))| Network { organisation: organisation.to_owned(), practices, registered });
    }

    // The practice with the most registered people (ties: the first id), and a role there.
    let chosen = registered.into_iter().max_by(|(a, x), (b, y)| x.len().cmp(&y.len()).then_with(|| b.cmp(a)));
    let role_file = dir.join("PractitionerRole.ndjson");
    let mut practice = None;
    if let Some((organisation, mut patients)) = chosen.filter(|_| role_file.is_file()) {
        let mut role = None;
        let wanted = format!("Organization/{organisation}");
        each_line(&role_file, |r| {
            if role.is_none() && r.pointer("/organization/reference").and_then(Value::as_str) == Some(wanted.as_str()) {
                role = r.get("id").and_then(Value::as_str).map(str::to_owned);
            }
            Ok(())
        })?;
        if let Some(role) = role {
            let registered = patients.len() as u64;
            for i in (1..patients.len()).rev() {
                patients.swap(i, rng.below(i as u64 + 1) as usize);
            }
            patients.truncate(MAX_IDENTIFIERS);
            practice = Some(Practice { organisation, role, registered, patients, family_matches: 0 });
        }
    }

    // Patients, second pass: what `family=` and `name=` match (and, for the practice's GP, among its people).
    let (mut family_matches, mut name_matches) = (0u64, 0u64);
    each_line(&patient_file, |p| {
        let (families, parts) = name_parts(&p);
        let family_match = families.iter().any(|f| f.starts_with(&family_norm));
        family_matches += u64::from(family_match);
        if let Some(practice) = practice.as_mut().filter(|pr| family_match && practice_of(&p) == Some(pr.organisation.as_str())) {
            practice.family_matches += 1;
        }
        name_matches += u64::from(parts.iter().any(|f| f.starts_with(&name_prefix)));
        Ok(())
    })?;

    // Observations: counts by code and category over all; the sampled people's Observations kept.
    let modulus = (people / OBSERVATION_PEOPLE).max(1);
    let mut code_counts: HashMap<String, (u64, Option<String>)> = HashMap::new();
    let mut category_counts: HashMap<String, (u64, Option<String>)> = HashMap::new();
    // patient -> [(effective, id, codes)]
    let mut sampled: BTreeMap<String, Vec<(String, String, Vec<String>)>> = BTreeMap::new();
    let observations = each_line(&observation_file, |o| {
        let codes = tokens(&o.get("code").into_iter().collect::<Vec<_>>());
        for (t, display) in &codes {
            code_counts.entry(t.clone()).or_insert((0, display.clone())).0 += 1;
        }
        let categories: Vec<&Value> = o.get("category").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
        for (t, display) in tokens(&categories) {
            category_counts.entry(t).or_insert((0, display)).0 += 1;
        }
        let subject = o.pointer("/subject/reference").and_then(Value::as_str).and_then(|r| r.strip_prefix("Patient/"));
        if let Some(patient) = subject {
            if fnv(patient).is_multiple_of(modulus) {
                let id = o.get("id").and_then(Value::as_str).ok_or("an Observation without an id")?.to_owned();
                // Only effectiveDateTime in UTC is modelled here; others are kept out of the expected pages.
                if let Some(effective) = o.get("effectiveDateTime").and_then(Value::as_str) {
                    sampled.entry(patient.to_owned()).or_default().push((effective.to_owned(), id, codes.into_iter().map(|(t, _)| t).collect()));
                }
            }
        }
        Ok(())
    })?;
    counts.insert("Observation".into(), observations);

    // The date bound: the median day of the sampled Observations.
    let mut days: Vec<&str> = sampled.values().flatten().filter_map(|(e, _, _)| e.get(..10)).collect();
    days.sort_unstable();
    let date_from = days.get(days.len() / 2).map(|d| d.to_string()).ok_or("no sampled person has an Observation")?;
    let mut cases = Vec::new();
    let mut cases_without_match = 0usize;
    for (patient, obs) in &sampled {
        let mut codes: Vec<&String> = obs.iter().flat_map(|(_, _, c)| c).collect();
        codes.sort();
        codes.dedup();
        for code in codes {
            let mut hits: Vec<(&str, &str)> = obs
                .iter()
                .filter(|(e, _, c)| c.contains(code) && e.get(..10).is_some_and(|d| d >= date_from.as_str()))
                .map(|(e, id, _)| (e.as_str(), id.as_str()))
                .collect();
            hits.sort_by(|a, b| b.0.cmp(a.0).then_with(|| a.1.cmp(b.1)));
            if hits.is_empty() {
                // A clinician asks for the recent results a person has: codes with none since the bound are left out.
                cases_without_match += 1;
                continue;
            }
            cases.push(ObservationCase {
                patient: patient.clone(),
                code: code.clone(),
                matches: hits.len(),
                expected: hits.iter().take(OBSERVATION_PAGE).map(|(_, id)| id.to_string()).collect(),
            });
        }
    }
    for i in (1..cases.len()).rev() {
        cases.swap(i, rng.below(i as u64 + 1) as usize);
    }
    cases.truncate(MAX_OBSERVATION_CASES);

    // The count searches: the Observation code or category with the fewest matches that are still at least
    // COUNT_MATCHES (or the most common one, in a small population).
    let mut candidates: Vec<TokenCount> = code_counts
        .into_iter()
        .map(|(value, (matches, display))| TokenCount { param: "code".into(), value, display, matches })
        .chain(category_counts.into_iter().map(|(value, (matches, display))| TokenCount { param: "category".into(), value, display, matches }))
        .collect();
    candidates.sort_by(|a, b| b.matches.cmp(&a.matches).then_with(|| a.value.cmp(&b.value)));
    let count = candidates.iter().rfind(|c| c.matches >= COUNT_MATCHES).or_else(|| candidates.first()).cloned().ok_or("no Observation has a code")?;
    candidates.truncate(8);

    let resources = counts.values().sum();
    Ok(Population {
        dir: dir.to_path_buf(),
        counts,
        resources,
        bytes,
        people,
        identifiers,
        patients_without_nhs_number: without_nhs,
        family,
        family_matches,
        name_prefix,
        name_matches,
        date_from,
        observation_people_sampled: sampled.len(),
        observation_cases_without_match: cases_without_match,
        observation_cases: cases,
        count,
        count_candidates: candidates,
        practice,
        network,
    })
}

impl Population {
    /// What was read and picked, for the report.
    pub fn to_json(&self) -> Value {
        let cases = &self.observation_cases;
        let mean = if cases.is_empty() { 0.0 } else { cases.iter().map(|c| c.matches as f64).sum::<f64>() / cases.len() as f64 };
        json!({
            "ndjson_dir": self.dir.display().to_string(),
            "ndjson_bytes": self.bytes,
            "people": self.people,
            "resources": self.resources,
            "resources_by_type": self.counts,
            "patients_without_nhs_number": self.patients_without_nhs_number,
            "identifier_values": self.identifiers.len(),
            "family": { "value": self.family, "matches": self.family_matches },
            "name": { "value": self.name_prefix, "matches": self.name_matches },
            "observation": {
                "people_sampled": self.observation_people_sampled,
                "cases": cases.len(),
                "date_from": self.date_from,
                "mean_matches": crate::round3(mean),
                "max_matches": cases.iter().map(|c| c.matches).max(),
                "pairs_left_out_without_match": self.observation_cases_without_match,
            },
            "count": self.count.to_json(),
            "practice": self.practice.as_ref().map(|p| json!({
                "organization": p.organisation, "practitioner_role": p.role, "registered": p.registered,
                "family_matches": p.family_matches,
            })),
            "network": self.network.as_ref().map(|n| json!({ "organization": n.organisation, "practices": n.practices, "registered": n.registered })),
            "count_candidates": self.count_candidates.iter().map(TokenCount::to_json).collect::<Vec<_>>(),
        })
    }
}
