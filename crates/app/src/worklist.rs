//! Worklists: the people to act on first, from the stored risk scores (`joinery risk refresh`, kept current
//! by incremental re-scores): in the top tiers without an active care plan, whose tier rose at the last
//! re-score, with an A&E attendance or emergency admission in the last 14 days, whose care plan's review is
//! overdue (an active CarePlan whose period has ended), or everyone; for practices, a network (the
//! practices that are part of it), a care coordinator's caseload, or everyone; highest risk first, in keyset
//! pages, and only people the caller may see (the access decision is part of the statement). Answered as a searchset Bundle of
//! Patients, each entry's `search.score` the probability and its extensions the tier, the tier before, the
//! segment and the latest emergency.

use crate::error::AppError;
use crate::present::resource_json;
use crate::session::Session;
use fhir::IssueCode;
use serde_json::{json, Value};
use store::{Worklist, WorklistQuery};

/// The extension on a worklist entry's `search` that carries the person's scores.
pub const WORKLIST_EXTENSION: &str = "urn:joinery:extension:worklist";
/// How many days back an emergency puts a person on `recent-emergency`.
pub const RECENT_DAYS: i64 = 14;

/// The worklists by name.
pub const LISTS: [&str; 5] = ["top-tiers-without-care-plan", "tier-rose", "recent-emergency", "review-overdue", "by-risk"];

impl Session {
    /// `GET [base]/Patient/$worklist?list=…[&practice=Organization/x,…][&network=Organization/y]
    /// [&caseload=me|Practitioner/x|PractitionerRole/x,…][&_count=n][&_cursor=…]`.
    pub async fn worklist(&self, params: &[(String, String)]) -> Result<Value, AppError> {
        let bad = |msg: String, at: &str| AppError::bad_request(IssueCode::Value, msg, Some(at));
        let (mut list, mut practices, mut network, mut count, mut cursor) = (None, None::<Vec<String>>, None, None, None);
        let mut coordinators: Option<Vec<String>> = None;
        for (name, value) in params {
            match name.as_str() {
                "list" => list = Some(value.as_str()),
                "practice" => {
                    let ids = value
                        .split(',')
                        .map(|p| organisation_id(p).ok_or_else(|| bad(format!("practice '{p}' is not an Organization reference"), "practice")));
                    practices.get_or_insert_with(Vec::new).extend(ids.collect::<Result<Vec<_>, _>>()?);
                }
                "network" => {
                    network =
                        Some(organisation_id(value).ok_or_else(|| bad(format!("network '{value}' is not an Organization reference"), "network"))?)
                }
                "caseload" => {
                    for party in value.split(',') {
                        let parties = self.caseload_parties(party).ok_or_else(|| {
                            bad(
                                format!("caseload '{party}' is not 'me' (a member of staff), a Practitioner or a PractitionerRole reference"),
                                "caseload",
                            )
                        })?;
                        coordinators.get_or_insert_with(Vec::new).extend(parties);
                    }
                }
                "_count" => count = Some(value.parse::<usize>().map_err(|_| bad(format!("_count '{value}' is not a number"), "_count"))?),
                "_cursor" => {
                    cursor = Some(parse_cursor(value).ok_or_else(|| bad(format!("_cursor '{value}' is not a cursor this server made"), "_cursor"))?)
                }
                "_format" | "_pretty" => {}
                other => return Err(bad(format!("$worklist has no parameter '{other}'"), other)),
            }
        }
        let today = self.today()?;
        let list = match list {
            Some("top-tiers-without-care-plan") => Worklist::TopTiersWithoutCarePlan,
            Some("tier-rose") => Worklist::TierRose,
            Some("recent-emergency") => Worklist::RecentEmergency { since: today.add_days(-RECENT_DAYS).to_string() },
            Some("review-overdue") => Worklist::ReviewOverdue { before_ms: day_start_ms(today) },
            Some("by-risk") => Worklist::ByRisk,
            Some(other) => return Err(bad(format!("list '{other}' is not one of {}", LISTS.join(", ")), "list")),
            None => {
                return Err(AppError::bad_request(IssueCode::Required, format!("$worklist needs list (one of {})", LISTS.join(", ")), Some("list")))
            }
        };
        if let Some(n) = &network {
            // The practices that are part of the network, as the caller may see them (organisations are shared).
            let query = [("partof".to_owned(), format!("Organization/{n}")), ("_count".to_owned(), self.config.limits.max_count.to_string())];
            let page = self.search("Organization", &query, Default::default()).await?;
            practices.get_or_insert_with(Vec::new).extend(page.matches.iter().map(|o| o.id.clone()));
        }
        let limit = count.unwrap_or(self.config.limits.default_count).min(self.config.limits.max_count).max(1);
        let query = WorklistQuery {
            list,
            practices,
            coordinators,
            now_ms: self.config.clock.now().0,
            after: cursor,
            limit: limit + 1,
            visibility: self.visibility().clone(),
        };
        let mut rows = self.store.worklist(query).await?;
        let next = (rows.len() > limit).then(|| {
            rows.truncate(limit);
            rows.last().map(|(_, s)| format!("{:?}|{}", s.probability, s.person))
        });
        let base = &self.config.base_url;
        let link = |cursor: Option<&str>| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.extend_pairs(params.iter().filter(|(k, _)| k != "_cursor"));
            if let Some(c) = cursor {
                query.append_pair("_cursor", c);
            }
            format!("{base}/Patient/$worklist?{}", query.finish())
        };
        let mut links = vec![json!({ "relation": "self", "url": link(params.iter().find(|(k, _)| k == "_cursor").map(|(_, v)| v.as_str())) })];
        if let Some(Some(n)) = &next {
            links.push(json!({ "relation": "next", "url": link(Some(n)) }));
        }
        let mut entries = Vec::with_capacity(rows.len());
        for (patient, score) in &rows {
            self.touch(patient.person_key.as_deref(), "Patient");
            let mut scores = vec![json!({ "url": "tier", "valueCoding": { "system": crate::risk::TIER_SYSTEM, "code": score.tier } })];
            if let Some(before) = &score.previous_tier {
                scores.push(json!({ "url": "previousTier", "valueCoding": { "system": crate::risk::TIER_SYSTEM, "code": before } }));
            }
            if let Some(segment) = score.segment {
                scores.push(json!({ "url": "segment", "valueCoding": { "system": crate::registers::SEGMENT_SYSTEM, "code": segment.to_string() } }));
            }
            scores.push(json!({ "url": "efiBand", "valueCoding": { "system": crate::risk::EFI_BAND_SYSTEM, "code": score.efi_band } }));
            if let Some(day) = &score.last_emergency {
                scores.push(json!({ "url": "lastEmergency", "valueDate": day }));
            }
            entries.push(json!({
                "fullUrl": format!("{base}/Patient/{}", patient.id),
                "resource": resource_json(patient)?,
                "search": {
                    "extension": [{ "url": WORKLIST_EXTENSION, "extension": scores }],
                    "mode": "match",
                    "score": Value::Number(serde_json::Number::from_string_unchecked(format!("{:.4}", score.probability))),
                },
            }));
        }
        Ok(json!({ "resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries }))
    }
}

impl Session {
    /// The parties a `caseload` value names: `me` (the caller's own Practitioner and PractitionerRole), or
    /// a `Practitioner/x` or `PractitionerRole/x` reference.
    fn caseload_parties(&self, value: &str) -> Option<Vec<String>> {
        if value == "me" {
            let care::access::Caller::Staff(s) = self.caller() else { return None };
            let mut mine: Vec<String> = s.practitioner.iter().map(|p| format!("Practitioner/{p}")).collect();
            mine.extend(s.practitioner_role.iter().map(|r| format!("PractitionerRole/{r}")));
            return (!mine.is_empty()).then_some(mine);
        }
        let (kind, id) = value.split_once('/')?;
        (matches!(kind, "Practitioner" | "PractitionerRole") && fhir::id::is_valid_id(id)).then(|| vec![value.to_owned()])
    }
}

/// The first millisecond of a day (UTC).
fn day_start_ms(day: care::registers::Day) -> i64 {
    let epoch = care::registers::Day { year: 1970, month: 1, day: 1 };
    epoch.days_to(day) * 86_400_000
}

/// `Organization/x` or `x`: the id.
fn organisation_id(text: &str) -> Option<String> {
    let id = text.strip_prefix("Organization/").unwrap_or(text);
    (!id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')).then(|| id.to_owned())
}

/// `probability|id`, as `worklist` writes it.
fn parse_cursor(text: &str) -> Option<(f64, String)> {
    let (p, id) = text.split_once('|')?;
    let p: f64 = p.parse().ok()?;
    (p.is_finite() && !id.is_empty()).then(|| (p, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_odd_ones_are_refused() {
        let p = 0.123_456_789_012_345_67_f64;
        assert_eq!(parse_cursor(&format!("{p:?}|abc")), Some((p, "abc".into())));
        assert_eq!(parse_cursor("x|abc"), None);
        assert_eq!(parse_cursor("0.5|"), None);
        assert_eq!(parse_cursor("NaN|a"), None);
    }
}
