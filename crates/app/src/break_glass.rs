//! Break-glass: a care professional's emergency access to a record no relationship opens, for a stated
//! reason and a configured time, recorded as a relationship the access decision reads like any other and
//! flagged for a privacy officer, who lists the open grants and reviews each once, with an outcome.

use crate::error::AppError;
use crate::session::Session;
use care::access::{Caller, Moment, Party, Role};
use fhir::IssueCode;
use serde_json::{json, Value};
use store::{BreakGlassGrant, BreakGlassReview, GrantFilter};

/// Longest reason accepted, in characters.
const REASON_LIMIT: usize = 1_000;

/// The outcomes a privacy officer's review may record.
pub const REVIEW_OUTCOMES: [&str; 3] = ["appropriate", "inappropriate", "further-action"];

/// Most grants one page of the review listing returns (and its default).
const LIST_LIMIT: usize = 1_000;

fn at(name: &str) -> String {
    format!("Parameters.parameter.where(name = '{name}')")
}

fn parameters(body: &Value) -> Result<&Vec<Value>, AppError> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(AppError::bad_request(IssueCode::Invalid, "the body must be a Parameters resource", Some("resourceType")));
    }
    static EMPTY: Vec<Value> = Vec::new();
    Ok(body.get("parameter").and_then(Value::as_array).unwrap_or(&EMPTY))
}

/// The one parameter of this name, if given; a repeated one is an error.
fn one<'a>(list: &'a [Value], name: &str) -> Result<Option<&'a Value>, AppError> {
    let mut found = list.iter().filter(|p| p.get("name").and_then(Value::as_str) == Some(name));
    let first = found.next();
    if found.next().is_some() {
        return Err(AppError::bad_request(IssueCode::Invalid, format!("'{name}' is given more than once"), Some(&at(name))));
    }
    Ok(first)
}

/// A required or optional text parameter, trimmed, not empty, not longer than the limit.
fn text(list: &[Value], name: &str, value_key: &str) -> Result<Option<String>, AppError> {
    let Some(p) = one(list, name)? else { return Ok(None) };
    let Some(t) = p.get(value_key).and_then(Value::as_str).map(str::trim) else {
        return Err(AppError::bad_request(IssueCode::Invalid, format!("'{name}' must be given as {value_key}"), Some(&at(name))));
    };
    if t.is_empty() {
        return Err(AppError::bad_request(IssueCode::Required, format!("'{name}' is empty"), Some(&at(name))));
    }
    if t.chars().count() > REASON_LIMIT {
        return Err(AppError::bad_request(IssueCode::TooLong, format!("'{name}' is longer than {REASON_LIMIT} characters"), Some(&at(name))));
    }
    Ok(Some(t.to_owned()))
}

/// `reasonCode` as a Coding (or the first coding of a CodeableConcept): `system|code` and its display.
fn coded_reason(list: &[Value]) -> Result<Option<(String, Option<String>)>, AppError> {
    let Some(p) = one(list, "reasonCode")? else { return Ok(None) };
    let coding = p.get("valueCoding").or_else(|| p.get("valueCodeableConcept").and_then(|c| c.get("coding")).and_then(|c| c.get(0)));
    let system = coding.and_then(|c| c.get("system")).and_then(Value::as_str).filter(|s| !s.is_empty());
    let code = coding.and_then(|c| c.get("code")).and_then(Value::as_str).filter(|s| !s.is_empty() && !s.contains('|'));
    match (system, code) {
        (Some(system), Some(code)) => {
            Ok(Some((format!("{system}|{code}"), coding.and_then(|c| c.get("display")).and_then(Value::as_str).map(str::to_owned))))
        }
        _ => Err(AppError::bad_request(
            IssueCode::Invalid,
            "'reasonCode' must be a Coding (or CodeableConcept) with a system and a code",
            Some(&at("reasonCode")),
        )),
    }
}

fn instant(ms: i64) -> String {
    crate::instant::from_millis(ms).unwrap_or_default()
}

/// A grant as the parts of a Parameters `grant` (or the whole answer to `$break-glass`).
pub fn grant_parts(g: &BreakGlassGrant) -> Vec<Value> {
    let mut parts = vec![
        json!({ "name": "id", "valueId": g.id }),
        json!({ "name": "patient", "valueReference": { "reference": format!("Patient/{}", g.patient) } }),
        json!({ "name": "user", "valueString": g.username }),
        json!({ "name": "agent", "valueReference": { "reference": g.party } }),
        json!({ "name": "organization", "valueReference": { "reference": format!("Organization/{}", g.organisation) } }),
        json!({ "name": "role", "valueCode": g.role }),
        json!({ "name": "reason", "valueString": g.reason }),
    ];
    if let Some((system, code)) = g.reason_code.as_deref().and_then(|c| c.split_once('|')) {
        let mut coding = json!({ "system": system, "code": code });
        if let Some(d) = &g.reason_display {
            coding["display"] = json!(d);
        }
        parts.push(json!({ "name": "reasonCode", "valueCoding": coding }));
    }
    parts.push(json!({ "name": "start", "valueDateTime": instant(g.from_ms) }));
    parts.push(json!({ "name": "end", "valueDateTime": instant(g.until_ms) }));
    match &g.review {
        None => parts.push(json!({ "name": "reviewed", "valueBoolean": false })),
        Some(r) => {
            parts.push(json!({ "name": "reviewed", "valueBoolean": true }));
            parts.push(json!({ "name": "reviewedAt", "valueDateTime": instant(r.at_ms) }));
            parts.push(json!({ "name": "reviewer", "valueString": r.reviewer }));
            parts.push(json!({ "name": "outcome", "valueCode": r.outcome }));
            if let Some(n) = &r.note {
                parts.push(json!({ "name": "note", "valueString": n }));
            }
        }
    }
    parts
}

/// The party a grant is to, as the access decision names it.
pub(crate) fn party_of(reference: &str) -> Option<Party> {
    match reference.split_once('/')? {
        ("PractitionerRole", id) => Some(Party::PractitionerRole(id.to_owned())),
        ("Practitioner", id) => Some(Party::Practitioner(id.to_owned())),
        _ => None,
    }
}

impl Session {
    /// `POST Patient/{id}/$break-glass`: grants the caller access to the person's record from now for the
    /// configured time, for the reason given (`reason`, required; `reasonCode`, optional). Only care
    /// professionals acting as a PractitionerRole or Practitioner break the glass; support staff do not.
    pub async fn break_glass(&self, patient: &str, body: &Value) -> Result<Value, AppError> {
        let list = parameters(body)?;
        let reason = text(list, "reason", "valueString")?
            .ok_or_else(|| AppError::bad_request(IssueCode::Required, "a break-glass needs a stated reason ('reason')", Some(&at("reason"))))?;
        let reason_code = coded_reason(list)?;
        let Caller::Staff(staff) = self.caller() else {
            return Err(AppError::Forbidden("only members of staff break the glass".into()));
        };
        if !staff.role.is_care_professional() || staff.role == Role::SupportStaff {
            return Err(AppError::Forbidden(format!("the role {} does not break the glass", staff.role)));
        }
        let party = match (&staff.practitioner_role, &staff.practitioner) {
            (Some(r), _) => format!("PractitionerRole/{r}"),
            (None, Some(p)) => format!("Practitioner/{p}"),
            (None, None) => {
                return Err(AppError::Forbidden("break-glass is granted to a PractitionerRole or Practitioner; this account acts as neither".into()))
            }
        };
        // The person must exist (a grant to no one would only fill the review list).
        let exists = self.store.read("Patient", patient, &store::Visibility::All).await?.is_some_and(|s| !s.deleted);
        if !exists {
            return Err(AppError::NotFound(format!("Patient/{patient} does not exist")));
        }
        let now = self.config.clock.now();
        let grant = BreakGlassGrant {
            id: uuid::Uuid::new_v4().to_string(),
            patient: patient.to_owned(),
            username: staff.user.clone(),
            party,
            organisation: staff.organisation.clone(),
            role: staff.role.code().to_owned(),
            reason,
            reason_code: reason_code.as_ref().map(|(c, _)| c.clone()),
            reason_display: reason_code.and_then(|(_, d)| d),
            from_ms: now.0,
            until_ms: now.plus(self.config.policy.break_glass_duration).0,
            review: None,
        };
        self.store.add_break_glass(grant.clone()).await?;
        self.touch(Some(patient), "Patient");
        self.touched.break_glass(&grant.id, &grant.reason, &instant(grant.until_ms));
        Ok(json!({ "resourceType": "Parameters", "parameter": grant_parts(&grant) }))
    }

    fn privacy_officer(&self) -> Result<&str, AppError> {
        match self.caller() {
            Caller::Staff(s) if s.role == Role::PrivacyOfficer => Ok(&s.user),
            _ => Err(AppError::Forbidden("break-glass review is for privacy officers".into())),
        }
    }

    /// `GET $break-glass-review[?status=open|reviewed|all][&_count=n][&_cursor=…]`: the grants to review (open
    /// by default), oldest first, in keyset pages, as a Parameters resource with one `grant` per grant and a
    /// `next` (the URL of the next page) while there are more.
    pub async fn break_glass_reviews(&self, params: &[(String, String)]) -> Result<Value, AppError> {
        self.privacy_officer()?;
        let bad = |msg: String, at: &str| AppError::bad_request(IssueCode::Value, msg, Some(at));
        let (mut filter, mut limit, mut after) = (GrantFilter::Open, LIST_LIMIT, None);
        for (name, value) in params {
            match name.as_str() {
                "status" => {
                    filter = match value.as_str() {
                        "open" => GrantFilter::Open,
                        "reviewed" => GrantFilter::Reviewed,
                        "all" => GrantFilter::All,
                        other => return Err(bad(format!("status '{other}' is not open, reviewed or all"), "status")),
                    }
                }
                "_count" => {
                    limit = value.parse::<usize>().map_err(|_| bad(format!("_count '{value}' is not a number"), "_count"))?.clamp(1, LIST_LIMIT)
                }
                "_cursor" => {
                    let cursor = value.split_once('|').and_then(|(from, id)| Some((from.parse::<i64>().ok()?, id.to_owned())));
                    after = Some(
                        cursor
                            .filter(|(_, id)| !id.is_empty())
                            .ok_or_else(|| bad(format!("_cursor '{value}' is not a cursor this server made"), "_cursor"))?,
                    );
                }
                "_format" | "_pretty" => {}
                other => return Err(bad(format!("$break-glass-review has no parameter '{other}'"), other)),
            }
        }
        let mut grants = self.store.break_glass_list(filter, after, limit + 1).await?;
        let more = grants.len() > limit;
        grants.truncate(limit);
        for g in &grants {
            self.touch(Some(&g.patient), "Patient");
        }
        let mut parameter: Vec<Value> = grants.iter().map(|g| json!({ "name": "grant", "part": grant_parts(g) })).collect();
        if let (true, Some(last)) = (more, grants.last()) {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.extend_pairs(params.iter().filter(|(k, _)| k != "_cursor"));
            query.append_pair("_cursor", &format!("{}|{}", last.from_ms, last.id));
            parameter.push(json!({ "name": "next", "valueUri": format!("{}/$break-glass-review?{}", self.config.base_url, query.finish()) }));
        }
        Ok(json!({ "resourceType": "Parameters", "parameter": parameter }))
    }

    /// `POST $break-glass-review` with `grant` (its id), `outcome` (appropriate, inappropriate or
    /// further-action) and an optional `note`: records the review once (409 if the grant was reviewed).
    pub async fn review_break_glass(&self, body: &Value) -> Result<Value, AppError> {
        let reviewer = self.privacy_officer()?.to_owned();
        let list = parameters(body)?;
        let id = one(list, "grant")?
            .and_then(|p| p.get("valueId").or_else(|| p.get("valueString")).and_then(Value::as_str))
            .ok_or_else(|| AppError::bad_request(IssueCode::Required, "'grant' (the grant's id) is required", Some(&at("grant"))))?
            .to_owned();
        let outcome = one(list, "outcome")?
            .and_then(|p| p.get("valueCode").and_then(Value::as_str))
            .ok_or_else(|| AppError::bad_request(IssueCode::Required, "'outcome' (a code) is required", Some(&at("outcome"))))?;
        if !REVIEW_OUTCOMES.contains(&outcome) {
            return Err(AppError::bad_request(
                IssueCode::CodeInvalid,
                format!("outcome '{outcome}' is not one of {}", REVIEW_OUTCOMES.join(", ")),
                Some(&at("outcome")),
            ));
        }
        let note = text(list, "note", "valueString")?;
        let review = BreakGlassReview { at_ms: self.config.clock.now().0, reviewer, outcome: outcome.to_owned(), note };
        if !self.store.review_break_glass(&id, review).await? {
            return Err(AppError::Conflict(format!("break-glass grant {id} has been reviewed already")));
        }
        let grant = self.store.break_glass_grant(&id).await?.ok_or_else(|| AppError::NotFound(format!("there is no break-glass grant {id}")))?;
        self.touch(Some(&grant.patient), "Patient");
        Ok(json!({ "resourceType": "Parameters", "parameter": grant_parts(&grant) }))
    }
}

/// The grants of a person as the access decision's facts.
pub(crate) fn facts_of(grants: &[BreakGlassGrant]) -> Vec<care::access::BreakGlass> {
    grants
        .iter()
        .filter_map(|g| {
            Some(care::access::BreakGlass {
                party: party_of(&g.party)?,
                reason: g.reason.clone(),
                from: Moment(g.from_ms),
                until: Moment(g.until_ms),
            })
        })
        .collect()
}
