//! The facts the access decision needs about a person, read from their FHIR resources: registrations, episodes of care, encounters, care teams, case conferences, opt-outs and carers' grants.

use care::access::CONFIDENTIALITY;
use care::access::{CarerGrant, Conference, Episode, Moment, OptOut, Party, Period, PersonFacts, Team, Visit};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde_json::Value;
use store::access::{Relation, RelationKind};

/// Joinery's code for a CareTeam participant's role of care coordinator (`participant.role`).
pub const CARE_COORDINATOR: (&str, &str) = ("urn:joinery:care-team-role", "care-coordinator");

/// Joinery's code for an Encounter that is a case conference about its subject (`Encounter.type`): its
/// participants are the attendees, its period the scheduled time.
pub const CASE_CONFERENCE: (&str, &str) = ("urn:joinery:encounter-type", "case-conference");

const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";

/// Reads what the decision needs about `patient` from resources of their record (any order; resources of
/// types that carry no relationship are passed over).
pub fn gather<'a>(patient: &str, resources: impl IntoIterator<Item = &'a Value>) -> PersonFacts {
    let mut facts = PersonFacts::new(patient);
    for r in resources {
        match r.get("resourceType").and_then(Value::as_str) {
            Some("Patient") => {
                facts.registered_with.extend(references(r.get("generalPractitioner"), "Organization"));
            }
            Some("EpisodeOfCare") => {
                if let Some(organisation) = reference_id(r.get("managingOrganization"), "Organization") {
                    facts.episodes.push(Episode {
                        organisation,
                        active: status(r) == Some("active"),
                        period: period(r.get("period")),
                        care_manager: r.get("careManager").and_then(party),
                    });
                }
            }
            Some("Encounter") if has_coding(r.get("type"), CASE_CONFERENCE) => {
                if let Some(c) = conference(r) {
                    facts.conferences.push(c);
                }
            }
            Some("Encounter") if !matches!(status(r), Some("cancelled" | "entered-in-error" | "planned")) => {
                if let Some(organisation) = reference_id(r.get("serviceProvider"), "Organization") {
                    facts.visits.push(Visit { organisation, period: period(r.get("period")) });
                }
            }
            Some("CareTeam") => facts.teams.push(team(r)),
            Some("Consent") if status(r) == Some("active") && is_privacy_consent(r) => consent(r, &mut facts),
            _ => {}
        }
    }
    facts
}

/// The care relationships one resource states about its person, as the store keeps them: the same reading
/// as `gather`, each relationship with the period in which it grants (an encounter's and a case
/// conference's end before the window the query adds).
pub fn relations(resource: &Value) -> Vec<Relation> {
    let facts = gather("", [resource]);
    let party = |p: &Party| match p {
        Party::Practitioner(id) => format!("Practitioner/{id}"),
        Party::PractitionerRole(id) => format!("PractitionerRole/{id}"),
        Party::Organisation(id) => format!("Organization/{id}"),
    };
    let mut out = Vec::new();
    // A relationship over a period; one that ends before it starts never holds and is not kept.
    let add = |out: &mut Vec<Relation>, party: String, kind: RelationKind, period: Period| {
        if period.start.zip(period.end).is_none_or(|(s, e)| s < e) {
            out.push(Relation { party, kind, start: period.start.map(|m| m.0), until: period.end.map(|m| m.0) });
        }
    };
    for o in &facts.registered_with {
        add(&mut out, format!("Organization/{o}"), RelationKind::Registered, Period::OPEN);
    }
    for e in facts.episodes.iter().filter(|e| e.active) {
        add(&mut out, format!("Organization/{}", e.organisation), RelationKind::Episode, e.period);
        if let Some(manager) = &e.care_manager {
            add(&mut out, party(manager), RelationKind::Coordinator, e.period);
        }
    }
    for v in &facts.visits {
        let Some(began) = v.period.start.or(v.period.end) else { continue };
        let until = v.period.end.unwrap_or(began).max(began);
        // Holds from its start until the window after `until`: the window is added by the query.
        out.push(Relation {
            party: format!("Organization/{}", v.organisation),
            kind: RelationKind::Encounter,
            start: Some(began.0),
            until: Some(until.0),
        });
    }
    for t in facts.teams.iter().filter(|t| t.active) {
        for (member, during) in &t.members {
            if !matches!(member, Party::Organisation(_)) {
                add(&mut out, party(member), RelationKind::Team, overlap(t.period, *during));
            }
        }
        for c in &t.coordinators {
            add(&mut out, party(c), RelationKind::Coordinator, t.period);
        }
    }
    for c in &facts.conferences {
        for a in &c.attendees {
            out.push(Relation { party: party(a), kind: RelationKind::Conference, start: Some(c.start.0), until: Some(c.end.max(c.start).0) });
        }
    }
    for o in &facts.opt_outs {
        add(&mut out, String::new(), RelationKind::OptOut, o.period);
    }
    out
}

/// Both periods at once.
fn overlap(a: Period, b: Period) -> Period {
    let start = match (a.start, b.start) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let end = match (a.end, b.end) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    Period { start, end }
}

/// The organisation that recorded a resource: its `meta.source` when that names an Organization
/// (`Organization/x`, or a URL or URI ending in it).
pub fn recorded_by(resource: &Value) -> Option<String> {
    let source = resource.get("meta")?.get("source")?.as_str()?;
    let tail = source.rsplit('#').next()?;
    let mut parts = tail.rsplit('/');
    let id = parts.next()?;
    (parts.next() == Some("Organization") && fhir::id::is_valid_id(id)).then(|| id.to_owned())
}

/// Codes that make an item sensitive (configured): an item whose `code` or `medicationCodeableConcept`
/// carries one of them is seen only by the organisation that recorded it, as if labelled restricted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SensitiveCodes(std::collections::BTreeSet<(String, String)>);

impl SensitiveCodes {
    /// From `system|code` strings (both parts required).
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<SensitiveCodes, String> {
        let mut set = std::collections::BTreeSet::new();
        for entry in list {
            let entry = entry.as_ref();
            match entry.split_once('|') {
                Some((system, code)) if !system.is_empty() && !code.is_empty() && !code.contains('|') => {
                    set.insert((system.to_owned(), code.to_owned()));
                }
                _ => return Err(format!("sensitive code '{entry}' is not system|code")),
            }
        }
        Ok(SensitiveCodes(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn codes(&self, concept: Option<&Value>) -> bool {
        array(concept.and_then(|c| c.get("coding"))).any(|c| match (c.get("system").and_then(Value::as_str), c.get("code").and_then(Value::as_str)) {
            (Some(system), Some(code)) => self.0.iter().any(|(s, k)| s == system && k == code),
            _ => false,
        })
    }

    /// Whether the code is one of them.
    pub fn contains(&self, system: &str, code: &str) -> bool {
        self.0.iter().any(|(s, k)| s == system && k == code)
    }

    /// Whether `resource` is coded with one of the codes.
    pub fn matches(&self, resource: &Value) -> bool {
        !self.0.is_empty() && (self.codes(resource.get("code")) || self.codes(resource.get("medicationCodeableConcept")))
    }
}

/// Whether a resource is restricted: labelled so in `meta.security` (R or V of v3-Confidentiality), or coded
/// with one of the configured sensitive codes.
pub fn restricted(resource: &Value, sensitive: &SensitiveCodes) -> bool {
    array(resource.get("meta").and_then(|m| m.get("security")))
        .any(|c| c.get("system").and_then(Value::as_str) == Some(CONFIDENTIALITY) && matches!(c.get("code").and_then(Value::as_str), Some("R" | "V")))
        || sensitive.matches(resource)
}

fn team(r: &Value) -> Team {
    let mut members = Vec::new();
    let mut coordinators = Vec::new();
    for p in array(r.get("participant")) {
        let Some(member) = p.get("member").and_then(party) else { continue };
        if array(p.get("role")).any(|role| has_coding(Some(role), CARE_COORDINATOR)) {
            coordinators.push(member.clone());
        }
        members.push((member, period(p.get("period"))));
    }
    Team { active: status(r) == Some("active"), period: period(r.get("period")), members, coordinators }
}

fn conference(r: &Value) -> Option<Conference> {
    if matches!(status(r), Some("cancelled" | "entered-in-error")) {
        return None;
    }
    let when = r.get("period");
    let start = when.and_then(|p| p.get("start")).and_then(Value::as_str).and_then(lower_bound)?;
    let end = when.and_then(|p| p.get("end")).and_then(Value::as_str).and_then(upper_bound).unwrap_or(start);
    let attendees = array(r.get("participant")).filter_map(|p| p.get("individual").and_then(party)).collect();
    Some(Conference { attendees, start, end })
}

/// An opt-out (provision `deny`) or a carer's grant (provision `permit` naming a RelatedPerson).
fn consent(r: &Value, facts: &mut PersonFacts) {
    let provision = r.get("provision");
    let kind = provision.and_then(|p| p.get("type")).and_then(Value::as_str);
    let mut span = period(provision.and_then(|p| p.get("period")));
    if span.start.is_none() {
        span.start = r.get("dateTime").and_then(Value::as_str).and_then(lower_bound);
    }
    match kind {
        Some("deny") => {
            facts.opt_outs.push(OptOut { recorded_by: references(r.get("organization"), "Organization").into_iter().next(), period: span })
        }
        Some("permit") => {
            let types: Vec<String> = array(provision.and_then(|p| p.get("class")))
                .filter(|c| c.get("system").and_then(Value::as_str) == Some(RESOURCE_TYPES))
                .filter_map(|c| c.get("code").and_then(Value::as_str).map(str::to_owned))
                .collect();
            for actor in array(provision.and_then(|p| p.get("actor"))) {
                if let Some(related_person) = reference_id(actor.get("reference"), "RelatedPerson") {
                    facts.carer_grants.push(CarerGrant { related_person, types: types.clone(), period: span });
                }
            }
        }
        _ => {}
    }
}

fn is_privacy_consent(r: &Value) -> bool {
    r.get("scope").and_then(|s| s.get("coding")).and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| {
            c.get("system").and_then(Value::as_str) == Some(CONSENT_SCOPE) && c.get("code").and_then(Value::as_str) == Some("patient-privacy")
        })
    })
}

fn status(r: &Value) -> Option<&str> {
    r.get("status").and_then(Value::as_str)
}

fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn has_coding(concepts: Option<&Value>, (system, code): (&str, &str)) -> bool {
    let one = |cc: &Value| {
        array(cc.get("coding"))
            .any(|c| c.get("system").and_then(Value::as_str) == Some(system) && c.get("code").and_then(Value::as_str) == Some(code))
    };
    match concepts {
        Some(Value::Array(list)) => list.iter().any(one),
        Some(cc) => one(cc),
        None => false,
    }
}

/// The id in a relative reference `Type/id` (a Reference object, or the reference string itself).
fn reference_id(v: Option<&Value>, resource_type: &str) -> Option<String> {
    let text = match v? {
        Value::String(s) => s.as_str(),
        other => other.get("reference")?.as_str()?,
    };
    let (ty, id) = text.rsplit_once('/').map(|(head, id)| (head.rsplit('/').next().unwrap_or(head), id))?;
    (ty == resource_type && !id.is_empty()).then(|| id.to_owned())
}

fn references(v: Option<&Value>, resource_type: &str) -> Vec<String> {
    array(v).filter_map(|r| reference_id(Some(r), resource_type)).collect()
}

fn party(v: &Value) -> Option<Party> {
    let text = v.get("reference")?.as_str()?;
    let (ty, id) = text.split_once('/')?;
    match ty {
        "Practitioner" => Some(Party::Practitioner(id.to_owned())),
        "PractitionerRole" => Some(Party::PractitionerRole(id.to_owned())),
        "Organization" => Some(Party::Organisation(id.to_owned())),
        _ => None,
    }
}

/// A FHIR Period: its start as the earliest moment it denotes, its end as the first moment after it
/// (an end of `2025-03-01` runs to the end of that day).
fn period(v: Option<&Value>) -> Period {
    let Some(v) = v else { return Period::OPEN };
    Period { start: v.get("start").and_then(Value::as_str).and_then(lower_bound), end: v.get("end").and_then(Value::as_str).and_then(upper_bound) }
}

fn moment(t: DateTime<Utc>) -> Moment {
    Moment(t.timestamp_millis())
}

/// The earliest moment a FHIR date, dateTime or instant denotes.
pub fn lower_bound(s: &str) -> Option<Moment> {
    bounds(s).map(|(lo, _)| lo)
}

/// The first moment after a FHIR date, dateTime or instant (a full dateTime: one millisecond after it).
pub fn upper_bound(s: &str) -> Option<Moment> {
    bounds(s).map(|(_, hi)| hi)
}

fn bounds(s: &str) -> Option<(Moment, Moment)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        let lo = moment(t.with_timezone(&Utc));
        return Some((lo, Moment(lo.0 + 1)));
    }
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| moment(Utc.from_utc_datetime(&t)));
    let (lo, hi) = match s.len() {
        4 => {
            let y: i32 = s.parse().ok()?;
            (NaiveDate::from_ymd_opt(y, 1, 1)?, NaiveDate::from_ymd_opt(y + 1, 1, 1)?)
        }
        7 => {
            let (y, m) = s.split_once('-')?;
            let first = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
            };
            (first, next)
        }
        10 => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            (d, d.succ_opt()?)
        }
        _ => return None,
    };
    Some((day(lo)?, day(hi)?))
}

/// The resource types a person's care relationships, opt-outs and grants are read from.
const RELATIONSHIP_TYPES: [&str; 5] = ["Patient", "EpisodeOfCare", "Encounter", "CareTeam", "Consent"];

/// Resources read per page while gathering a person's facts.
const GATHER_PAGE: usize = 1000;

impl crate::App {
    /// The access decision for `caller` about the person `patient`, now: the facts are read from the
    /// person's own record. A person who does not exist is answered as one the caller has no
    /// relationship with, so the answer reveals nothing of who is on the record.
    pub async fn access_decision(&self, caller: &care::access::Caller, patient: &str) -> Result<care::access::Decision, crate::AppError> {
        self.access_decision_at(caller, patient, self.config().clock.now()).await
    }

    pub(crate) async fn access_decision_at(
        &self,
        caller: &care::access::Caller,
        patient: &str,
        now: Moment,
    ) -> Result<care::access::Decision, crate::AppError> {
        // Break-glass grants are staff's: a carer's or a person's decision (every carer request) need not read them.
        let facts = self.person_facts(patient, matches!(caller, care::access::Caller::Staff(_))).await?;
        Ok(care::access::decide(caller, &facts, &self.config().policy, now))
    }

    /// What the decision needs about a person, from the resources of their record that carry it, and the
    /// break-glass grants made for them if `grants`.
    pub(crate) async fn person_facts(&self, patient: &str, grants: bool) -> Result<PersonFacts, crate::AppError> {
        let mut resources: Vec<Value> = Vec::new();
        let mut after = None;
        loop {
            let query = store::search::RecordQuery {
                person: patient.to_owned(),
                types: Some(RELATIONSHIP_TYPES.iter().map(|t| (*t).to_owned()).collect()),
                after: after.take(),
                since: None,
                limit: GATHER_PAGE,
                visibility: store::Visibility::All,
            };
            let page = self.store.person_record(query).await?;
            let full = page.len() == GATHER_PAGE;
            for stored in &page {
                resources.push(crate::present::resource_json(stored)?);
            }
            match (full, page.last()) {
                (true, Some(last)) => after = Some((last.resource_type.clone(), last.id.clone())),
                _ => break,
            }
        }
        let mut facts = gather(patient, resources.iter());
        if grants {
            facts.break_glass = crate::break_glass::facts_of(&self.store.break_glass_for(patient).await?);
        }
        Ok(facts)
    }
}

/// The `$access` answer as a FHIR Parameters resource: `allowed`, each `basis` (its code, the organisation
/// it names, until when it holds, the break-glass reason), the `view` it gives, or the `reason` it is refused.
pub fn decision_parameters(decision: &care::access::Decision) -> Value {
    use care::access::{Basis, Decision, Denial, View};
    let instant = |m: &Moment| crate::instant::from_millis(m.0);
    let mut parameters = vec![serde_json::json!({ "name": "allowed", "valueBoolean": decision.allowed() })];
    match decision {
        Decision::Allowed { bases, view } => {
            for basis in bases {
                let mut part = vec![serde_json::json!({ "name": "code", "valueCode": basis.code() })];
                match basis {
                    Basis::RegisteredPractice { organisation } | Basis::EpisodeOfCare { organisation } => {
                        part.push(
                            serde_json::json!({ "name": "organization", "valueReference": { "reference": format!("Organization/{organisation}") } }),
                        );
                    }
                    Basis::RecentEncounter { organisation, until } => {
                        part.push(
                            serde_json::json!({ "name": "organization", "valueReference": { "reference": format!("Organization/{organisation}") } }),
                        );
                        part.extend(instant(until).map(|t| serde_json::json!({ "name": "until", "valueDateTime": t })));
                    }
                    Basis::CaseConference { until } => {
                        part.extend(instant(until).map(|t| serde_json::json!({ "name": "until", "valueDateTime": t })))
                    }
                    Basis::BreakGlass { reason, until } => {
                        part.push(serde_json::json!({ "name": "reason", "valueString": reason }));
                        part.extend(instant(until).map(|t| serde_json::json!({ "name": "until", "valueDateTime": t })));
                    }
                    _ => {}
                }
                parameters.push(serde_json::json!({ "name": "basis", "part": part }));
            }
            let view = match view {
                View::Whole => "whole".to_owned(),
                View::Administrative => "demographics-and-appointments".to_owned(),
                View::OwnOrganisation => "own-organisation-only".to_owned(),
                View::Types(types) if types.is_empty() => "whole".to_owned(),
                View::Types(types) => format!("types:{}", types.join(",")),
                View::Everything => "everything".to_owned(),
            };
            parameters.push(serde_json::json!({ "name": "view", "valueString": view }));
        }
        Decision::Denied(why) => {
            let code = match why {
                Denial::NoRelationship => "no-relationship",
                Denial::RoleSeesNoRecords => "role-sees-no-records",
                Denial::NotTheirRecord => "not-their-record",
            };
            parameters.push(serde_json::json!({ "name": "reason", "valueCode": code }));
        }
    }
    serde_json::json!({ "resourceType": "Parameters", "parameter": parameters })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_codes_are_system_and_code_and_mark_what_carries_them() {
        assert!(SensitiveCodes::parse(&["http://snomed.info/sct"]).is_err());
        assert!(SensitiveCodes::parse(&["|123"]).is_err());
        assert!(SensitiveCodes::parse(&["http://snomed.info/sct|"]).is_err());
        let codes = SensitiveCodes::parse(&["http://snomed.info/sct|123", "http://loinc.org|9-9"]).expect("codes");
        let coded = |element: &str, system: &str, code: &str| json!({ element: { "coding": [{ "system": system, "code": code }] } });
        assert!(restricted(&coded("code", "http://snomed.info/sct", "123"), &codes));
        assert!(restricted(&coded("medicationCodeableConcept", "http://loinc.org", "9-9"), &codes));
        assert!(!restricted(&coded("code", "http://loinc.org", "123"), &codes), "the code in another system");
        assert!(!restricted(&coded("category", "http://snomed.info/sct", "123"), &codes), "only the item's own code");
        assert!(!restricted(&coded("code", "http://snomed.info/sct", "123"), &SensitiveCodes::default()));
        let labelled = json!({ "meta": { "security": [{ "system": CONFIDENTIALITY, "code": "R" }] } });
        assert!(restricted(&labelled, &SensitiveCodes::default()));
    }
}
