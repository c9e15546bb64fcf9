//! The registers and eligibility cohorts as FHIR Groups Joinery keeps (`Group/register-dm`,
//! `Group/integrated-care-central-london`): not written by anyone, but derived by the re-scores (full and
//! incremental) from the record, read with the members the caller may see, each member with the reason that
//! admitted them, its evidence, and since when they have been a member. Their ids are reserved: no client
//! may write a Group with one.

use crate::error::AppError;
use crate::released::Released;
use crate::session::Session;
use care::cohorts::{register_group, Admission, Cohort, Cohorts, REGISTER_PREFIX};
use care::registers::{Day, Facts, Membership, Register, Registers};
use serde_json::{json, Value};

/// The extension on a Group member that says why they are a member (`reason`, and each `evidence`).
pub const MEMBER_REASON_EXTENSION: &str = "urn:joinery:extension:group-member-reason";
/// The code system of the reasons (a cohort's rules, a register's code), one per Group: this prefix and
/// the Group's id.
pub const REASON_SYSTEM: &str = "urn:joinery:group-reason";
/// The tag of a kept Group (`register` or `cohort`).
pub const KIND_SYSTEM: &str = "urn:joinery:group-kind";

/// A Group Joinery keeps.
enum Kept<'a> {
    Register(&'a Register),
    Cohort(&'a Cohort),
}

/// The registers and cohorts a person is in, as the store keeps them: each admission with whether its
/// evidence is for fewer eyes (a resource labelled restricted, or coded with a configured sensitive code).
pub fn person_groups(
    person: &str,
    facts: &Facts,
    memberships: &[Membership],
    on: Day,
    cohorts: &Cohorts,
    sensitive: &crate::access::SensitiveCodes,
) -> Vec<store::GroupMember> {
    let patient = format!("Patient/{person}");
    let sensitive_evidence = |reference: &str| {
        facts.labelled_restricted.iter().any(|r| r == reference)
            || (!sensitive.is_empty()
                && facts.diagnoses.iter().chain(&facts.medicines).any(|c| c.reference == reference && sensitive.contains(&c.system, &c.code)))
    };
    memberships
        .iter()
        .map(Admission::from_register)
        .chain(cohorts.admissions(facts, &patient, memberships, on))
        .map(|a| {
            let restricted = a.because.iter().any(|b| sensitive_evidence(b));
            store::GroupMember { group: a.group, reason: a.reason, because: a.because, restricted }
        })
        .collect()
}

/// The kept Group `id` names, if any: a register's, or one of `cohorts`.
fn kept<'a>(id: &str, cohorts: Option<&'a Cohorts>) -> Option<Kept<'a>> {
    if id.starts_with(REGISTER_PREFIX) {
        return Registers::builtin().all().iter().find(|r| register_group(&r.code) == id).map(Kept::Register);
    }
    cohorts?.get(id).map(Kept::Cohort)
}

/// Refuses to write, or delete, `Group/{id}` when it is one Joinery keeps (checked where every version is
/// prepared, and by a delete).
pub(crate) fn refuse_kept(id: &str, cohorts: Option<&Cohorts>) -> Result<(), AppError> {
    match kept(id, cohorts) {
        Some(_) => Err(AppError::Conflict(format!(
            "Group/{id} is a register or cohort Joinery keeps from the record (by `joinery risk refresh` and as records change); it cannot be written"
        ))),
        None => Ok(()),
    }
}

impl Session {
    fn kept(&self, id: &str) -> Option<Kept<'_>> {
        kept(id, Some(&self.config.cohorts))
    }

    /// Whether `Group/{id}` is one Joinery keeps (a register or a configured cohort): clients may not write it.
    pub fn is_kept_group(&self, id: &str) -> bool {
        self.kept(id).is_some()
    }

    /// The Patient ids of a kept Group's members the caller may see (`None`: not a kept Group).
    pub(crate) async fn kept_group_members(&self, id: &str) -> Result<Option<Vec<store::GroupMemberRow>>, AppError> {
        if self.kept(id).is_none() {
            return Ok(None);
        }
        let members = self.store.group_members(id, self.visibility()).await?;
        for m in &members {
            self.touch(Some(&m.person), "Group");
        }
        Ok(Some(members))
    }

    /// `GET [base]/Group/{id}` for a kept Group: its definition and the members the caller may see (`None`:
    /// not a kept Group). Its version is worked out from what the caller is answered, so that it changes
    /// whenever that does (an incremental re-score changes members between full ones): an `If-None-Match`
    /// never keeps a stale list.
    pub(crate) async fn read_kept_group(&self, id: &str) -> Result<Option<Released>, AppError> {
        let Some(kept) = self.kept(id) else { return Ok(None) };
        let Some(members) = self.kept_group_members(id).await? else { return Ok(None) };
        let run = self.store.latest_risk_run().await?;
        let updated_ms = run.as_ref().map(|r| r.at_ms).into_iter().chain(members.iter().map(|m| m.since_ms)).max();
        let last_updated = updated_ms.and_then(crate::instant::from_millis).unwrap_or_else(crate::instant::now);
        let reason_system = format!("{REASON_SYSTEM}:{id}");
        let (kind, name, code, reasons, description) = match kept {
            Kept::Register(r) => (
                "register",
                r.name.clone(),
                json!({ "coding": [{ "system": crate::registers::REGISTER_SYSTEM, "code": r.code, "display": r.name }] }),
                vec![(r.code.clone(), r.name.clone())],
                format!(
                    "The {} register ({}): everyone alive with a current diagnosis in its value set{}{}.",
                    r.name,
                    r.indicator,
                    r.min_age.map(|a| format!(", aged {a} or over")).unwrap_or_default(),
                    r.treated_within.as_ref().map(|t| format!(", treated in the last {} months", t.months)).unwrap_or_default()
                ),
            ),
            Kept::Cohort(c) => (
                "cohort",
                c.name.clone(),
                json!({ "text": c.name }),
                c.rules.iter().map(|r| (r.reason.clone(), r.display.clone())).collect(),
                format!(
                    "{}: people alive living in {} who meet one of these rules (the first they meet is their reason): {}.",
                    c.name,
                    if c.localities.is_empty() { "any locality".to_owned() } else { c.localities.join(", ") },
                    c.rules.iter().map(|r| r.display.as_str()).collect::<Vec<_>>().join("; ")
                ),
            ),
        };
        let display = |reason: &str| reasons.iter().find(|(r, _)| r == reason).map(|(_, d)| d.clone()).unwrap_or_default();
        let member: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut why =
                    vec![json!({ "url": "reason", "valueCoding": { "system": reason_system, "code": m.reason, "display": display(&m.reason) } })];
                why.extend(m.because.iter().map(|b| json!({ "url": "evidence", "valueReference": { "reference": b } })));
                let mut entry = json!({
                    "extension": [{ "url": MEMBER_REASON_EXTENSION, "extension": why }],
                    "entity": { "reference": format!("Patient/{}", m.person) },
                });
                if let Some(since) = crate::instant::from_millis(m.since_ms) {
                    entry["period"] = json!({ "start": since });
                }
                entry
            })
            .collect();
        let mut group = json!({
            "resourceType": "Group",
            "id": id,
            "meta": { "lastUpdated": last_updated, "tag": [{ "system": KIND_SYSTEM, "code": kind }] },
            "text": { "status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", escape(&description)) },
            "active": true,
            "type": "person",
            "actual": true,
            "code": code,
            "name": name,
            "quantity": member.len(),
        });
        if !member.is_empty() {
            group["member"] = Value::Array(member);
        }
        let unversioned = serde_json::to_string(&group).map_err(|e| AppError::Internal(Box::new(e)))?;
        let version = content_version(&unversioned);
        group["meta"]["versionId"] = json!(version.to_string());
        let body = serde_json::to_string(&group).map_err(|e| AppError::Internal(Box::new(e)))?;
        Ok(Some(Released::new(store::Stored {
            seq: 0,
            resource_type: "Group".into(),
            id: id.to_owned(),
            version,
            person_key: None,
            last_updated,
            method: store::Method::Put,
            deleted: false,
            body: Some(body),
            recorded_by: None,
            restricted: false,
        })))
    }
}

/// A positive version number that follows from a body's text (the same text, the same number; a new build
/// may number it differently, which costs a client one full answer).
fn content_version(text: &str) -> i64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    text.hash(&mut h);
    (i64::from_ne_bytes(h.finish().to_ne_bytes()) & i64::MAX).max(1)
}

/// Text for XHTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
