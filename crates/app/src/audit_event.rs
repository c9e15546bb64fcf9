//! The audit log served as FHIR AuditEvent (after the IHE Basic Audit Log Patterns): to privacy officers,
//! every event, searchable by patient, agent, date and outcome; to a person (or their carer), the events
//! that touched their own record, saying which organisation and role looked, when and why, and the
//! individual only where their organisation's policy names them.

use crate::access::{lower_bound, upper_bound};
use crate::error::AppError;
use crate::session::Session;
use care::access::{Basis, Caller, Decision, PersonFacts, Role, Staff};
use fhir::IssueCode;
use serde_json::{json, Value};
use std::collections::HashMap;
use store::{AuditEntry, AuditQuery};

/// The most people of one event whose reasons are worked out when the event is read by id.
const WHY_LIMIT: usize = 20;

/// Events on one page unless `_count` says otherwise, and the most it may say.
const PAGE: usize = 50;
const PAGE_LIMIT: usize = 500;

/// How much of an event a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader<'a> {
    /// A privacy officer: the whole event.
    PrivacyOfficer,
    /// The person whose record it is (or their carer): only their own entity, no query text, and the
    /// individual only where their organisation is named in `named`; for a carer granted some types of the
    /// record (`types`), only those types.
    Person { patient: &'a str, named: &'a [String], types: Option<&'a [String]> },
}

/// The resource types an event says the request touched (none for events recorded before they were kept).
fn event_types(body: &Value) -> impl Iterator<Item = &str> {
    body["types"].as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Why an access was allowed or refused, as the event's entity says it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Why {
    code: &'static str,
    reason: Option<String>,
}

const BTG: (&str, &str, &str) = ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "BTG", "break the glass");

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// The FHIR outcome of an HTTP status (or of a command's exit status).
fn outcome_code(command: bool, status: i64) -> &'static str {
    match (command, status) {
        (true, 0) => "0",
        (true, _) => "8",
        (false, s) if s < 400 => "0",
        (false, s) if s < 500 => "4",
        _ => "8",
    }
}

/// The statuses an `outcome` code stands for, as ranges of the log's outcome column.
fn outcome_ranges(code: &str) -> Option<Vec<(i64, i64)>> {
    Some(match code {
        "0" => vec![(0, 1), (100, 400)],
        "4" => vec![(400, 500)],
        "8" => vec![(1, 100), (500, 1000)],
        "12" => vec![(0, 0)],
        _ => return None,
    })
}

/// The RESTful interaction a request was, from its method and path (under `/fhir`).
fn interaction(method: &str, path: &str) -> (&'static str, &'static str) {
    let segments: Vec<&str> = path.trim_start_matches("/fhir").split('/').filter(|s| !s.is_empty()).collect();
    let operation = segments.iter().any(|s| s.starts_with('$'));
    match (method, segments.as_slice()) {
        (_, _) if operation => ("operation", "E"),
        ("GET", [_, _, "_history", _]) => ("vread", "R"),
        ("GET", [.., "_history"]) => ("history-instance", "R"),
        ("GET", [] | ["_search"]) => ("search-system", "E"),
        ("GET", [_]) | ("POST", [_, "_search"]) => ("search-type", "E"),
        ("GET", [_, _]) => ("read", "R"),
        ("GET", [_, _, _]) => ("search-compartment", "E"),
        ("POST", []) => ("batch", "E"),
        ("POST", _) => ("create", "C"),
        ("PUT", _) => ("update", "U"),
        ("PATCH", _) => ("patch", "U"),
        ("DELETE", _) => ("delete", "D"),
        _ => ("operation", "E"),
    }
}

/// The member of staff an event's agent was, rebuilt from what the event says.
fn staff_of(agent: &Value) -> Option<Staff> {
    let id = |k: &str, prefix: &str| agent[k].as_str().and_then(|r| r.strip_prefix(prefix)).map(str::to_owned);
    Some(Staff {
        user: agent["user"].as_str()?.to_owned(),
        role: Role::parse(agent["role"].as_str()?)?,
        organisation: id("organisation", "Organization/")?,
        practitioner: id("practitioner", "Practitioner/"),
        practitioner_role: id("practitionerRole", "PractitionerRole/"),
    })
}

/// Why `agent` could see `patient` at the event's moment, by the relationships the record states (read now,
/// evaluated at that moment), and the grants made.
fn why(body: &Value, facts: Option<&PersonFacts>, policy: &care::access::Policy) -> Why {
    let status = body["outcome"].as_i64().unwrap_or(0);
    if let Some(g) = body.get("breakGlass") {
        return Why { code: "break-glass", reason: g["reason"].as_str().map(str::to_owned) };
    }
    if (400..500).contains(&status) {
        return Why { code: "refused", reason: None };
    }
    let agent = &body["agent"];
    match agent["role"].as_str() {
        Some("person") => return Why { code: "own-record", reason: None },
        Some("carer") => return Why { code: "carer-grant", reason: None },
        Some("integration-system") => return Why { code: "integration-system", reason: None },
        _ => {}
    }
    let at = body["at"].as_str().and_then(lower_bound);
    match (staff_of(agent), facts, at) {
        (Some(staff), Some(facts), Some(at)) => match care::access::decide(&Caller::Staff(staff), facts, policy, at) {
            Decision::Allowed { bases, .. } => {
                let reason = bases.iter().find_map(|b| match b {
                    Basis::BreakGlass { reason, .. } => Some(reason.clone()),
                    _ => None,
                });
                // A grant that held is named first: it is what opened the record.
                match reason {
                    Some(r) => Why { code: "break-glass", reason: Some(r) },
                    None => Why { code: bases.first().map_or("unknown", Basis::code), reason: None },
                }
            }
            Decision::Denied(_) => Why { code: "no-current-relationship", reason: None },
        },
        _ => Why { code: "unknown", reason: None },
    }
}

/// One event as a FHIR AuditEvent, as `reader` may see it.
fn render(entry: &AuditEntry, body: &Value, reader: Reader<'_>, whys: &HashMap<String, Why>) -> Result<Value, AppError> {
    let method = body["action"]["method"].as_str().unwrap_or_default();
    let path = body["action"]["path"].as_str().unwrap_or_default();
    let command = method == "CLI";
    let (subtype, action) = if command { ("command", "E") } else { interaction(method, path) };
    let agent = &body["agent"];
    let organisation = agent["organisation"].as_str();
    let named = match reader {
        Reader::PrivacyOfficer => true,
        Reader::Person { named, .. } => organisation.is_some_and(|o| named.iter().any(|n| o == format!("Organization/{n}"))),
    };
    let role = agent["role"].as_str();
    let mut user = json!({
        "type": { "coding": [coding("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser", "human user")] },
        "requestor": true,
    });
    if let Some(r) = role {
        user["role"] = json!([{ "coding": [{ "system": "urn:joinery:role", "code": r }] }]);
    }
    let who = ["practitionerRole", "practitioner", "relatedPerson", "patient"].iter().find_map(|k| agent[*k].as_str());
    let own = matches!(role, Some("person" | "carer"));
    if named || own {
        if let Some(w) = who {
            user["who"] = json!({ "reference": w });
        }
        if let Some(u) = agent["user"].as_str() {
            user["altId"] = json!(u);
            user["name"] = json!(u);
        }
    }
    let mut agents = vec![user];
    if let Some(o) = organisation {
        agents.push(json!({
            "type": { "coding": [coding("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV", "healthcare provider")] },
            "who": { "reference": o },
            "requestor": false,
        }));
    }
    let mut entities = Vec::new();
    for p in body["patients"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let id = p.trim_start_matches("Patient/");
        if let Reader::Person { patient, .. } = reader {
            if id != patient {
                continue;
            }
        }
        let mut e = json!({
            "what": { "reference": p },
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"),
        });
        if let Some(w) = whys.get(id) {
            let mut detail = vec![json!({ "type": "basis", "valueString": w.code })];
            if let Some(r) = &w.reason {
                detail.push(json!({ "type": "break-glass-reason", "valueString": r }));
            }
            e["detail"] = json!(detail);
        }
        entities.push(e);
    }
    for t in event_types(body) {
        if let Reader::Person { types: Some(granted), .. } = reader {
            if !granted.iter().any(|g| g == t) {
                continue;
            }
        }
        entities.push(json!({
            "what": { "type": t },
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"),
        }));
    }
    if reader == Reader::PrivacyOfficer {
        let query = body["action"]["query"].as_str();
        let mut q = json!({
            "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
            "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "24", "Query"),
            "description": match query { Some(q) => format!("{method} {path}?{q}"), None => format!("{method} {path}") },
        });
        if let Some(text) = query {
            use base64::Engine;
            q["query"] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
        entities.push(q);
    }
    let status = entry.record.outcome;
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": entry.seq.to_string(),
        "type": if command {
            coding("http://dicom.nema.org/resources/ontology/DCM", "110100", "Application Activity")
        } else {
            coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "Restful Operation")
        },
        "subtype": [if command { json!({ "system": "urn:joinery:command", "code": path }) } else { coding("http://hl7.org/fhir/restful-interaction", subtype, subtype) }],
        "action": action,
        "recorded": body["at"],
        "outcome": outcome_code(command, status),
        "outcomeDesc": if command { format!("exit status {status}") } else { format!("HTTP {status}") },
        "agent": agents,
        "source": {
            "observer": { "display": "Joinery" },
            "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")],
        },
    });
    if body.get("breakGlass").is_some() || whys.values().any(|w| w.code == "break-glass") {
        event["purposeOfEvent"] = json!([{ "coding": [coding(BTG.0, BTG.1, BTG.2)] }]);
    }
    if !entities.is_empty() {
        event["entity"] = json!(entities);
    }
    Ok(event)
}

/// Each event with its body parsed (once, for the reasons and the rendering).
fn with_bodies(entries: Vec<AuditEntry>) -> Result<Vec<(AuditEntry, Value)>, AppError> {
    entries
        .into_iter()
        .map(|e| {
            let body = serde_json::from_str(&e.record.body).map_err(|err| AppError::Internal(Box::new(err)))?;
            Ok((e, body))
        })
        .collect()
}

/// A `date` value with its prefix as a range of moments (ms): `[from, until)`.
fn date_range(value: &str) -> Option<(Option<i64>, Option<i64>)> {
    let (prefix, rest) = if value.len() > 2 && value.as_bytes()[..2].iter().all(u8::is_ascii_alphabetic) { value.split_at(2) } else { ("eq", value) };
    let (lo, hi) = (lower_bound(rest)?.0, upper_bound(rest)?.0);
    Some(match prefix {
        "eq" => (Some(lo), Some(hi)),
        "ge" => (Some(lo), None),
        "gt" => (Some(hi), None),
        "le" => (None, Some(hi)),
        "lt" => (None, Some(lo)),
        _ => return None,
    })
}

/// The patient id a `patient` value names (`Patient/x` or `x`).
fn patient_id(value: &str) -> Option<&str> {
    let id = value.strip_prefix("Patient/").unwrap_or(value);
    fhir::id::is_valid_id(id).then_some(id)
}

impl Session {
    /// Who may read the log, and how much of it: privacy officers all of it; a person, and a carer with a
    /// current grant, the events about the person.
    /// The types a carer's grant limits them to (`None`: everyone else, and carers granted the whole record).
    fn granted_types(&self) -> Option<&[String]> {
        match (self.caller(), self.visibility()) {
            (Caller::Carer { .. }, store::Visibility::Person { types: Some(types), .. }) => Some(types),
            _ => None,
        }
    }

    fn audit_reader(&self) -> Result<Option<&str>, AppError> {
        match self.caller() {
            Caller::Staff(s) if s.role == Role::PrivacyOfficer => Ok(None),
            Caller::Person { patient, .. } => Ok(Some(patient)),
            Caller::Carer { patient, .. } if matches!(self.visibility(), store::Visibility::Person { .. }) => Ok(Some(patient)),
            _ => Err(AppError::Forbidden("the audit log is read by privacy officers, and by each person about their own record".into())),
        }
    }

    /// The reasons of each person's accesses in `entries`, from their record as it stands: for `only` (a search
    /// by patient, the person's own list), or for every person of an event that lists at most `WHY_LIMIT`
    /// (one event read by id); a listing of everyone's events gives none, as working them out would read the
    /// records of every person each event lists.
    async fn whys(&self, entries: &[(AuditEntry, Value)], only: Option<&str>) -> Result<Vec<HashMap<String, Why>>, AppError> {
        let mut facts: HashMap<String, PersonFacts> = HashMap::new();
        let mut out = Vec::with_capacity(entries.len());
        for (e, body) in entries {
            let mut whys = HashMap::new();
            let every = only.is_none() && entries.len() == 1 && e.record.patients.len() <= WHY_LIMIT;
            for p in e.record.patients.iter().filter(|p| every || only.is_some_and(|o| o == p.as_str())) {
                if !facts.contains_key(p) {
                    facts.insert(p.clone(), self.person_facts(p, true).await?);
                }
                whys.insert(p.clone(), why(body, facts.get(p), &self.config.policy));
            }
            out.push(whys);
        }
        Ok(out)
    }

    /// `GET AuditEvent?patient=&agent=&date=&outcome=&_count=&_before=`: events newest first, in pages.
    pub async fn audit_events(&self, params: &[(String, String)]) -> Result<Value, AppError> {
        let own = self.audit_reader()?;
        let mut q = AuditQuery { newest_first: true, limit: PAGE, ..AuditQuery::default() };
        let bad = |name: &str, why: String| AppError::bad_request(IssueCode::Value, why, Some(name));
        for (name, value) in params {
            match name.as_str() {
                "patient" => {
                    let id = patient_id(value).ok_or_else(|| bad("patient", format!("'{value}' is not a Patient id")))?;
                    q.patient = Some(id.to_owned());
                }
                "agent" | "altid" => q.username = Some(value.clone()),
                "date" => {
                    let (from, until) = date_range(value)
                        .ok_or_else(|| bad("date", format!("'{value}' is not a date with an optional prefix (eq, ge, gt, le, lt)")))?;
                    q.from_ms = from.max(q.from_ms);
                    q.until_ms = match (until, q.until_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                "outcome" => {
                    let mut ranges = Vec::new();
                    for code in value.split(',') {
                        ranges.extend(outcome_ranges(code.trim()).ok_or_else(|| bad("outcome", format!("outcome '{code}' is not 0, 4, 8 or 12")))?);
                    }
                    q.outcomes = ranges;
                }
                "_count" => {
                    let n: usize = value.parse().map_err(|_| bad("_count", format!("_count '{value}' is not a number")))?;
                    q.limit = n.min(PAGE_LIMIT);
                }
                "_before" => q.before = Some(value.parse().map_err(|_| bad("_before", format!("'{value}' is not a position in the log")))?),
                "_format" | "_pretty" => {}
                other => {
                    return Err(AppError::bad_request(
                        IssueCode::NotSupported,
                        format!("AuditEvent is searched by patient, agent, date and outcome; '{other}' is not supported"),
                        Some(other),
                    ))
                }
            }
        }
        if let Some(mine) = own {
            match q.patient.as_deref() {
                Some(p) if p == mine => {}
                _ => return Err(AppError::Forbidden(format!("a person lists who looked at their own record: AuditEvent?patient={mine}"))),
            }
        }
        if let Some(p) = &q.patient {
            self.touch(Some(p), "AuditEvent");
        }
        let mut entries = if q.limit == 0 { Vec::new() } else { with_bodies(self.store.audit_search(q.clone()).await?)? };
        // The next page starts after the last event read, whether or not a carer may see it.
        let last_read = (entries.len() == q.limit && q.limit > 0).then(|| entries.last().map(|(e, _)| e.seq)).flatten();
        let granted = self.granted_types();
        if let Some(granted) = granted {
            // A carer granted some types sees the accesses that touched one of them.
            entries.retain(|(_, body)| event_types(body).any(|t| granted.iter().any(|g| g == t)));
        }
        let whys = self.whys(&entries, q.patient.as_deref()).await?;
        let named = self.config.named_organisations.clone();
        let reader = match own {
            Some(patient) => Reader::Person { patient, named: &named, types: granted },
            None => Reader::PrivacyOfficer,
        };
        let base = &self.config.base_url;
        let mut events = Vec::with_capacity(entries.len());
        for ((e, body), w) in entries.iter().zip(&whys) {
            events.push(json!({
                "fullUrl": format!("{base}/AuditEvent/{}", e.seq),
                "resource": render(e, body, reader, w)?,
                "search": { "mode": "match" },
            }));
        }
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter().filter(|(k, _)| k != "_before")).finish();
        let mut links = vec![json!({ "relation": "self", "url": format!("{base}/AuditEvent?{query}") })];
        if let Some(last) = last_read {
            let sep = if query.is_empty() { "" } else { "&" };
            links.push(json!({ "relation": "next", "url": format!("{base}/AuditEvent?{query}{sep}_before={last}") }));
        }
        Ok(json!({ "resourceType": "Bundle", "type": "searchset", "link": links, "entry": events }))
    }

    /// `GET AuditEvent/{id}`: one event, to a privacy officer, or to the person it is about.
    pub async fn audit_event(&self, id: &str) -> Result<Value, AppError> {
        let own = self.audit_reader()?;
        let missing = || AppError::NotFound(format!("AuditEvent/{id} is not in the log"));
        let seq: i64 = id.parse().map_err(|_| missing())?;
        let (after, before) = seq.checked_sub(1).zip(seq.checked_add(1)).ok_or_else(missing)?;
        let found = self.store.audit_search(AuditQuery { after: Some(after), before: Some(before), limit: 1, ..AuditQuery::default() }).await?;
        let mut found = with_bodies(found)?;
        let (entry, body) = found.pop().ok_or_else(missing)?;
        if own.is_some_and(|p| !entry.record.patients.iter().any(|x| x == p)) {
            return Err(missing());
        }
        let granted = self.granted_types();
        if granted.is_some_and(|g| !event_types(&body).any(|t| g.iter().any(|x| x == t))) {
            return Err(missing());
        }
        // A person sees only their own part of the event: only their record is touched by reading it.
        match own {
            Some(p) => self.touch(Some(p), "AuditEvent"),
            None => entry.record.patients.iter().for_each(|p| self.touch(Some(p), "AuditEvent")),
        }
        let pair = [(entry, body)];
        let whys = self.whys(&pair, own).await?;
        let named = self.config.named_organisations.clone();
        let reader = match own {
            Some(patient) => Reader::Person { patient, named: &named, types: granted },
            None => Reader::PrivacyOfficer,
        };
        render(&pair[0].0, &pair[0].1, reader, &whys[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_and_outcomes_follow_the_request() {
        assert_eq!(interaction("GET", "/fhir/Patient/p1"), ("read", "R"));
        assert_eq!(interaction("GET", "/fhir/Patient"), ("search-type", "E"));
        assert_eq!(interaction("GET", "/fhir/Patient/p1/_history/2"), ("vread", "R"));
        assert_eq!(interaction("GET", "/fhir/Patient/p1/_history"), ("history-instance", "R"));
        assert_eq!(interaction("POST", "/fhir/Patient/p1/$break-glass"), ("operation", "E"));
        assert_eq!(interaction("POST", "/fhir"), ("batch", "E"));
        assert_eq!(interaction("DELETE", "/fhir/Patient/p1"), ("delete", "D"));
        assert_eq!(outcome_code(false, 200), "0");
        assert_eq!(outcome_code(false, 403), "4");
        assert_eq!(outcome_code(false, 503), "8");
        assert_eq!(outcome_code(true, 0), "0");
        assert_eq!(outcome_code(true, 1), "8");
        for (code, status, command) in [("0", 200, false), ("4", 404, false), ("8", 503, false), ("0", 0, true), ("8", 1, true)] {
            let ranges = outcome_ranges(code).expect("a code");
            assert!(ranges.iter().any(|(lo, hi)| (*lo..*hi).contains(&status)), "{code} holds {status}");
            assert_eq!(outcome_code(command, status), code);
        }
    }

    #[test]
    fn dates_take_prefixes() {
        let day = date_range("2026-01-02").expect("a day");
        assert_eq!(day, (Some(lower_bound("2026-01-02").expect("lo").0), Some(upper_bound("2026-01-02").expect("hi").0)));
        assert_eq!(date_range("ge2026-01-02"), Some((day.0, None)));
        assert_eq!(date_range("gt2026-01-02"), Some((day.1, None)));
        assert_eq!(date_range("lt2026-01-02"), Some((None, day.0)));
        assert_eq!(date_range("le2026-01-02"), Some((None, day.1)));
        assert_eq!(date_range("xx2026"), None);
        assert_eq!(date_range("yesterday"), None);
    }
}
