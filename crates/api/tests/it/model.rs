//! The access rules, checked against a model: a generated population with every kind of care relationship
//! (registrations, episodes with care managers, encounters inside and outside the window, care teams with
//! coordinators and memberships that end, case conferences, opt-outs, restricted items, carers' grants),
//! users of every role, and thousands of random requests across the read entry points (reads, versions,
//! history, type and compartment searches with totals and counts, `_include`, `_revinclude`, `_has`,
//! `$everything`, batches), at three moments of a manual clock. Each answer is compared with a simple model:
//! the pure decision (`care::access::decide` and `shows`) applied resource by resource to the generated
//! data, which the test knows whole. Prints how many requests ran and how many differed; only 0 passes.

use crate::{backend, Server};
use app::auth::{ActsAs, NewAccount};
use care::access::{decide, shows, Caller, Decision, Item, Moment, Policy, Role, Staff};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// 2030-06-01T00:00:00Z.
const NOW: i64 = 1_906_588_800_000;
const DAY: i64 = 86_400_000;
const PATIENTS: usize = 14;
const REQUESTS_PER_MOMENT: usize = 1_200;
const ORGS: [&str; 5] = ["gp0", "gp1", "hosp", "council", "charity"];
const CODES: [&str; 3] = ["c1", "c2", "c3"];

/// A small deterministic generator (SplitMix64): the same seed makes the same population and requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn at(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).expect("a valid moment").to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn reference(to: &str) -> Value {
    json!({ "reference": to })
}

/// The professionals: (PractitionerRole id, Practitioner id, organisation).
const ROLES: [(&str, &str, &str); 8] = [
    ("r0", "pr0", "gp0"),
    ("r1", "pr1", "gp1"),
    ("r2", "pr2", "hosp"),
    ("r3", "pr3", "hosp"),
    ("r4", "pr4", "council"),
    ("r5", "pr5", "charity"),
    ("r6", "pr6", "gp0"),
    ("r7", "pr7", "gp0"),
];

/// The generated record, every resource with its type and id.
fn population(rng: &mut Rng) -> Vec<Value> {
    let mut out = Vec::new();
    for org in ORGS {
        out.push(json!({ "resourceType": "Organization", "id": org, "name": org }));
    }
    for (role, practitioner, org) in ROLES {
        out.push(json!({ "resourceType": "Practitioner", "id": practitioner }));
        out.push(json!({ "resourceType": "PractitionerRole", "id": role, "practitioner": reference(&format!("Practitioner/{practitioner}")),
                         "organization": reference(&format!("Organization/{org}")) }));
    }
    let source = |rng: &mut Rng| -> Value {
        let mut meta = json!({});
        if rng.chance(85) {
            meta["source"] = json!(format!("Organization/{}", rng.pick(&ORGS)));
        }
        if rng.chance(20) {
            meta["security"] = json!([{ "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R" }]);
        }
        meta
    };
    let party = |rng: &mut Rng| -> String {
        let (role, practitioner, org) = *rng.pick(&ROLES);
        match rng.below(3) {
            0 => format!("Practitioner/{practitioner}"),
            1 => format!("PractitionerRole/{role}"),
            _ => format!("Organization/{org}"),
        }
    };
    for i in 0..PATIENTS {
        let p = format!("p{i}");
        let subject = reference(&format!("Patient/{p}"));
        let mut patient = json!({ "resourceType": "Patient", "id": p, "name": [{ "family": format!("Family{i}") }], "meta": source(rng) });
        if rng.chance(80) {
            patient["generalPractitioner"] = json!([reference(&format!("Organization/{}", ORGS[rng.below(2)]))]);
        }
        out.push(patient);
        for k in 0..3 {
            out.push(json!({ "resourceType": "Observation", "id": format!("o{i}-{k}"), "meta": source(rng), "status": "final",
                             "code": { "coding": [{ "system": "urn:test", "code": rng.pick(&CODES) }] }, "subject": subject }));
        }
        for k in 0..rng.below(3) {
            let provider = *rng.pick(&ORGS);
            let ended = NOW - *rng.pick(&[DAY, 30 * DAY, 88 * DAY, 92 * DAY, 300 * DAY]);
            let mut period = json!({ "start": at(ended - DAY) });
            if rng.chance(80) {
                period["end"] = json!(at(ended));
            }
            out.push(json!({ "resourceType": "Encounter", "id": format!("e{i}-{k}"), "meta": { "source": format!("Organization/{provider}") },
                             "status": if rng.chance(85) { "finished" } else { "cancelled" }, "class": { "code": "AMB" },
                             "subject": subject, "serviceProvider": reference(&format!("Organization/{provider}")), "period": period }));
        }
        if rng.chance(50) {
            let mut period = json!({ "start": at(NOW - 100 * DAY) });
            if rng.chance(50) {
                period["end"] = json!(at(NOW + *rng.pick(&[2 * DAY, 20 * DAY])));
            }
            let (_, manager, _) = *rng.pick(&ROLES);
            out.push(json!({ "resourceType": "EpisodeOfCare", "id": format!("eoc{i}"), "meta": source(rng),
                             "status": if rng.chance(80) { "active" } else { "finished" }, "patient": subject,
                             "managingOrganization": reference(&format!("Organization/{}", rng.pick(&ORGS))),
                             "careManager": reference(&format!("Practitioner/{manager}")), "period": period }));
        }
        if rng.chance(50) {
            let mut participants = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let mut member = json!({ "member": reference(&party(rng)) });
                if rng.chance(50) {
                    member["period"] = json!({ "end": at(NOW + *rng.pick(&[-DAY, DAY, 10 * DAY])) });
                }
                if rng.chance(30) {
                    member["role"] = json!([{ "coding": [{ "system": "urn:joinery:care-team-role", "code": "care-coordinator" }] }]);
                }
                participants.push(member);
            }
            out.push(json!({ "resourceType": "CareTeam", "id": format!("team{i}"), "meta": source(rng),
                             "status": if rng.chance(85) { "active" } else { "inactive" }, "subject": subject, "participant": participants }));
        }
        if rng.chance(25) {
            let start = NOW - *rng.pick(&[DAY / 2, 2 * DAY]);
            out.push(
                json!({ "resourceType": "Encounter", "id": format!("conf{i}"), "meta": source(rng), "status": "finished", "class": { "code": "VR" },
                             "type": [{ "coding": [{ "system": "urn:joinery:encounter-type", "code": "case-conference" }] }],
                             "subject": subject, "participant": [{ "individual": reference(&party(rng)) }, { "individual": reference(&party(rng)) }],
                             "period": { "start": at(start), "end": at(start + 3_600_000) } }),
            );
        }
        if rng.chance(20) {
            out.push(consent(&format!("optout{i}"), &subject, source(rng), json!({ "type": "deny" }), NOW - 10 * DAY));
        }
        out.push(json!({ "resourceType": "Appointment", "id": format!("apt{i}"), "meta": source(rng), "status": "booked",
                         "participant": [{ "actor": subject, "status": "accepted" }] }));
        out.push(json!({ "resourceType": "Condition", "id": format!("con{i}"), "meta": source(rng), "subject": subject,
                         "code": { "coding": [{ "system": "urn:test", "code": rng.pick(&CODES) }] } }));
    }
    // Carers: a grant of two types, a grant of the whole record, and one that has ended.
    for (i, types, until) in [(1, vec!["Appointment", "Observation"], None), (2, vec![], None), (4, vec!["Observation"], Some(NOW - DAY))] {
        let subject = reference(&format!("Patient/p{i}"));
        out.push(json!({ "resourceType": "RelatedPerson", "id": format!("rp{i}"), "patient": subject }));
        let mut provision = json!({ "type": "permit", "actor": [{ "role": { "coding": [{ "code": "GRANTEE" }] }, "reference": reference(&format!("RelatedPerson/rp{i}")) }] });
        if !types.is_empty() {
            provision["class"] =
                json!(types.iter().map(|t| json!({ "system": "http://hl7.org/fhir/resource-types", "code": t })).collect::<Vec<_>>());
        }
        if let Some(until) = until {
            provision["period"] = json!({ "end": at(until) });
        }
        out.push(consent(&format!("grant{i}"), &subject, json!({}), provision, NOW - 20 * DAY));
    }
    for r in &mut out {
        if r["meta"] == json!({}) {
            r.as_object_mut().map(|o| o.remove("meta"));
        }
    }
    out
}

fn consent(id: &str, subject: &Value, meta: Value, provision: Value, when: i64) -> Value {
    json!({ "resourceType": "Consent", "id": id, "meta": meta, "status": "active",
            "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
            "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0" }] }],
            "patient": subject, "dateTime": at(when),
            "policyRule": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
            "provision": provision })
}

/// The users: one or more of every role, each with the caller the model decides for.
fn users() -> Vec<(String, Role, ActsAs, Caller)> {
    let staff = |user: &str, role: Role, index: usize| {
        let (r, practitioner, org) = ROLES[index];
        let caller = Caller::Staff(Staff {
            user: user.into(),
            role,
            organisation: org.into(),
            practitioner: Some(practitioner.into()),
            practitioner_role: Some(r.into()),
        });
        (user.to_owned(), role, ActsAs::PractitionerRole(r.into()), caller)
    };
    let mut out = vec![
        staff("clin-gp0", Role::Clinician, 0),
        staff("clin-gp1", Role::Clinician, 1),
        staff("coord-hosp", Role::CareCoordinator, 2),
        staff("clin-hosp", Role::Clinician, 3),
        staff("social", Role::SocialCarePractitioner, 4),
        staff("voluntary", Role::VoluntarySectorWorker, 5),
        staff("desk", Role::SupportStaff, 6),
        staff("analyst", Role::Analyst, 7),
        staff("privacy", Role::PrivacyOfficer, 7),
        staff("admin", Role::Administrator, 7),
    ];
    out.push(("system".into(), Role::IntegrationSystem, ActsAs::System, Caller::System { name: "system".into() }));
    for p in ["p0", "p3"] {
        let user = format!("person-{p}");
        out.push((user.clone(), Role::Person, ActsAs::Patient(p.into()), Caller::Person { user, patient: p.into() }));
    }
    for i in [1, 2, 4] {
        let user = format!("carer-{i}");
        let caller = Caller::Carer { user: user.clone(), related_person: format!("rp{i}"), patient: format!("p{i}") };
        out.push((user, Role::Carer, ActsAs::RelatedPerson(format!("rp{i}")), caller));
    }
    out
}

fn key(r: &Value) -> String {
    format!("{}/{}", r["resourceType"].as_str().unwrap_or("?"), r["id"].as_str().unwrap_or("?"))
}

/// The model: which resources each user may see at `now`, by the pure decision applied resource by resource.
fn model(resources: &[Value], users: &[(String, Role, ActsAs, Caller)], now: Moment) -> HashMap<String, BTreeSet<String>> {
    let policy = Policy::default();
    let mut by_person: HashMap<String, Vec<&Value>> = HashMap::new();
    for r in resources {
        if let Some(p) = fhir::index::person_key(r) {
            by_person.entry(p).or_default().push(r);
        }
    }
    let facts: HashMap<String, care::access::PersonFacts> =
        by_person.iter().map(|(p, rs)| (p.clone(), app::access::gather(p, rs.iter().copied()))).collect();
    let mut out = HashMap::new();
    for (user, _, _, caller) in users {
        let mut seen = BTreeSet::new();
        for r in resources {
            let visible = match fhir::index::person_key(r) {
                None => true,
                Some(p) => match decide(caller, &facts[&p], &policy, now) {
                    Decision::Allowed { view, .. } => {
                        let recorded_by = app::access::recorded_by(r);
                        let item = Item {
                            resource_type: r["resourceType"].as_str().unwrap_or(""),
                            recorded_by: recorded_by.as_deref(),
                            restricted: app::access::restricted(r, &Default::default()),
                            is_opt_out: !app::access::gather(&p, [r]).opt_outs.is_empty(),
                        };
                        shows(&view, caller, &item)
                    }
                    Decision::Denied(_) => false,
                },
            };
            if visible {
                seen.insert(key(r));
            }
        }
        out.insert(user.clone(), seen);
    }
    out
}

/// What a searchset holds: its matches (or included resources) as `Type/id`, sorted.
fn members(body: &Value, mode: &str) -> BTreeSet<String> {
    body["entry"].as_array().into_iter().flatten().filter(|e| e["search"]["mode"] == mode).map(|e| key(&e["resource"])).collect()
}

fn references_to(r: &Value, target: &str) -> bool {
    r.to_string().contains(&format!("\"reference\":\"{target}\""))
}

#[tokio::test]
async fn every_answer_agrees_with_the_model_of_the_rules() {
    let s = Server::configured(api::Options::default(), |c| c.clock = app::Clock::manual(Moment(NOW)), |_| {});
    let mut rng = Rng(0x5eed_0f_ac_ce55);
    let resources = population(&mut rng);
    for r in &resources {
        let res = s.put(&format!("/fhir/{}", key(r)), r).await;
        assert!(res.status < 300, "{}: {}", key(r), res.text());
    }
    let users = users();
    let mut tokens = HashMap::new();
    for (user, role, acts_as, _) in &users {
        s.app().add_account(NewAccount { username: user.clone(), role: *role, acts_as: acts_as.clone(), password: None }).await.expect("account");
        tokens.insert(user.clone(), format!("Bearer {}", s.app().issue_token(user, None).await.expect("token").token));
    }
    let of_type = |t: &str| resources.iter().filter(|r| r["resourceType"] == t).map(key).collect::<BTreeSet<_>>();
    let observations_of = |p: &str| {
        resources.iter().filter(|r| r["resourceType"] == "Observation" && references_to(r, &format!("Patient/{p}"))).map(key).collect::<BTreeSet<_>>()
    };
    let patients: Vec<String> = (0..PATIENTS).map(|i| format!("p{i}")).chain(["nobody".to_owned()]).collect();
    let types =
        ["Patient", "Observation", "Encounter", "EpisodeOfCare", "CareTeam", "Consent", "Appointment", "Condition", "Organization", "RelatedPerson"];

    let (mut requests, mut differed) = (0usize, 0usize);
    let mut examples: Vec<String> = Vec::new();
    for moment in [NOW, NOW + 3 * DAY, NOW + 40 * DAY] {
        s.app().config().clock.set(Moment(moment));
        let visible = model(&resources, &users, Moment(moment));
        for _ in 0..REQUESTS_PER_MOMENT {
            let (user, ..) = rng.pick(&users);
            let seen = &visible[user];
            let sees = |k: &str| seen.contains(k);
            let patient = rng.pick(&patients).clone();
            let code = *rng.pick(&CODES);
            // Each request: its path (or batch body), and the answer the model expects, as text.
            let (method, path, body, expected): (&str, String, Option<Value>, String) = match rng.below(12) {
                0 | 1 => {
                    let k = if rng.chance(10) { "Observation/none".to_owned() } else { key(rng.pick(&resources)) };
                    let suffix = *rng.pick(&["", "/_history/1", "/_history"]);
                    ("GET", format!("/fhir/{k}{suffix}"), None, if sees(&k) { "200".into() } else { "404".into() })
                }
                2 => {
                    let t = *rng.pick(&types);
                    let want: BTreeSet<String> = of_type(t).into_iter().filter(|k| sees(k)).collect();
                    // In one page with its total, as a count, or in pages of three followed to the end (in id order).
                    let p = match rng.below(3) {
                        0 => format!("/fhir/{t}?_count=1000&_total=accurate"),
                        1 => format!("/fhir/{t}?_summary=count"),
                        _ => format!("/fhir/{t}?_count=3"),
                    };
                    ("GET", p, None, format!("{}:{want:?}", want.len()))
                }
                3 => {
                    let want: BTreeSet<String> = observations_of(&patient).into_iter().filter(|k| sees(k)).collect();
                    (
                        "GET",
                        format!("/fhir/Observation?subject=Patient/{patient}&_count=1000&_total=accurate"),
                        None,
                        format!("{}:{want:?}", want.len()),
                    )
                }
                4 => {
                    let want: BTreeSet<String> = resources
                        .iter()
                        .filter(|r| r["resourceType"] == "Observation" && r["code"]["coding"][0]["code"] == code)
                        .map(key)
                        .filter(|k| sees(k))
                        .collect();
                    ("GET", format!("/fhir/Observation?code=urn:test|{code}&_count=1000&_total=accurate"), None, format!("{}:{want:?}", want.len()))
                }
                5 => {
                    let expected = if sees(&format!("Patient/{patient}")) {
                        let want: BTreeSet<String> = resources
                            .iter()
                            .filter(|r| fhir::index::person_key(r).as_deref() == Some(patient.as_str()))
                            .map(key)
                            .filter(|k| sees(k))
                            .collect();
                        format!("{want:?}")
                    } else {
                        "404".into()
                    };
                    ("GET", format!("/fhir/Patient/{patient}/$everything?_count=1000"), None, expected)
                }
                6 => {
                    let expected = if sees(&format!("Patient/{patient}")) {
                        let want: BTreeSet<String> = observations_of(&patient).into_iter().filter(|k| sees(k)).collect();
                        format!("{}:{want:?}", want.len())
                    } else {
                        "404".into()
                    };
                    ("GET", format!("/fhir/Patient/{patient}/Observation?_count=1000&_total=accurate"), None, expected)
                }
                7 => {
                    // _include: the subjects of the visible matches that are visible themselves.
                    let matches: Vec<&Value> = resources
                        .iter()
                        .filter(|r| r["resourceType"] == "Observation" && r["code"]["coding"][0]["code"] == code && sees(&key(r)))
                        .collect();
                    let included: BTreeSet<String> =
                        matches.iter().filter_map(|r| r["subject"]["reference"].as_str().map(str::to_owned)).filter(|k| sees(k)).collect();
                    (
                        "GET",
                        format!("/fhir/Observation?code=urn:test|{code}&_include=Observation:subject&_count=1000"),
                        None,
                        format!("include {included:?}"),
                    )
                }
                8 => {
                    let target = format!("Patient/{patient}");
                    let included: BTreeSet<String> =
                        if sees(&target) { observations_of(&patient).into_iter().filter(|k| sees(k)).collect() } else { BTreeSet::new() };
                    ("GET", format!("/fhir/Patient?_id={patient}&_revinclude=Observation:subject&_count=1000"), None, format!("include {included:?}"))
                }
                9 => {
                    // `_has` with the code, or negated (`:not`: an observation the caller may see with another
                    // code; one they may not see does not exist).
                    let negated = rng.chance(50);
                    let want: BTreeSet<String> = (0..PATIENTS)
                        .map(|i| format!("Patient/p{i}"))
                        .filter(|p| sees(p))
                        .filter(|p| {
                            resources.iter().any(|r| {
                                r["resourceType"] == "Observation"
                                    && (r["code"]["coding"][0]["code"] == code) != negated
                                    && references_to(r, p)
                                    && sees(&key(r))
                            })
                        })
                        .collect();
                    let modifier = if negated { ":not" } else { "" };
                    (
                        "GET",
                        format!("/fhir/Patient?_has:Observation:subject:code{modifier}=urn:test|{code}&_count=1000&_total=accurate"),
                        None,
                        format!("{}:{want:?}", want.len()),
                    )
                }
                10 => {
                    let picked: Vec<String> = (0..3).map(|_| key(rng.pick(&resources))).collect();
                    let entries: Vec<Value> = picked.iter().map(|k| json!({ "request": { "method": "GET", "url": k } })).collect();
                    let want: Vec<&str> = picked.iter().map(|k| if sees(k) { "200 OK" } else { "404 Not Found" }).collect();
                    ("POST", "/fhir".into(), Some(json!({ "resourceType": "Bundle", "type": "batch", "entry": entries })), format!("{want:?}"))
                }
                _ => {
                    let want: BTreeSet<String> = of_type("Encounter").into_iter().filter(|k| sees(k)).collect();
                    ("GET", "/fhir/Encounter/_history?_count=1000".into(), None, format!("{want:?}"))
                }
            };
            let text = body.as_ref().map(Value::to_string);
            let r = s.send(method, &path, &[("authorization", &tokens[user])], text.as_deref().map(str::as_bytes)).await;
            let got = if method == "POST" {
                let statuses: Vec<String> =
                    r.json()["entry"].as_array().into_iter().flatten().map(|e| e["response"]["status"].as_str().unwrap_or("").to_owned()).collect();
                format!("{statuses:?}")
            } else if r.status != 200 || expected == "200" {
                r.status.to_string()
            } else if expected.starts_with("include") {
                format!("include {:?}", members(&r.json(), "include"))
            } else if path.ends_with("_count=3") {
                paged(&s, &tokens[user], r.json()).await
            } else if path.contains("_history?") || path.contains("$everything") {
                format!("{:?}", members(&r.json(), "match").into_iter().chain(history_keys(&r.json())).collect::<BTreeSet<_>>())
            } else {
                let body = r.json();
                let listed = if path.contains("_summary=count") { "{}".to_owned() } else { format!("{:?}", members(&body, "match")) };
                format!("{}:{listed}", body["total"])
            };
            let expected = if path.contains("_summary=count") { format!("{}:{{}}", expected.split(':').next().unwrap_or("")) } else { expected };
            requests += 1;
            if got != expected {
                differed += 1;
                if examples.len() < 5 {
                    examples.push(format!("{user} {method} {path} at {}: expected {expected}, got {got}", at(moment)));
                }
            }
        }
    }
    println!(
        "{}",
        json!({ "test": "access-model", "backend": backend(), "users": users.len(), "resources": resources.len(), "requests": requests, "differed": differed })
    );
    assert_eq!(differed, 0, "{differed} of {requests} answers differed from the model, for example:\n{}", examples.join("\n"));
}

/// Follows a search's `next` links from its first page: its matches, in the order served (written as the
/// model's sorted set when they came in id order, once each), and how many.
async fn paged(s: &Server, auth: &str, mut page: Value) -> String {
    let mut all: Vec<String> = Vec::new();
    for _ in 0..100 {
        all.extend(page["entry"].as_array().into_iter().flatten().filter(|e| e["search"]["mode"] == "match").map(|e| key(&e["resource"])));
        let next = page["link"].as_array().into_iter().flatten().find(|l| l["relation"] == "next").and_then(|l| l["url"].as_str());
        let Some(next) = next else { break };
        let path = format!("/fhir{}", next.strip_prefix(crate::BASE).unwrap_or(next));
        let r = s.send("GET", &path, &[("authorization", auth)], None).await;
        if r.status != 200 {
            return format!("page {path}: {}", r.status);
        }
        page = r.json();
    }
    let set: BTreeSet<String> = all.iter().cloned().collect();
    if set.len() != all.len() || !all.windows(2).all(|w| w[0] < w[1]) {
        return format!("out of order or repeated: {all:?}");
    }
    format!("{}:{set:?}", set.len())
}

/// The resources of a history bundle (its entries have no search mode).
fn history_keys(body: &Value) -> BTreeSet<String> {
    if body["type"] != "history" {
        return BTreeSet::new();
    }
    body["entry"].as_array().into_iter().flatten().filter(|e| e["resource"].is_object()).map(|e| key(&e["resource"])).collect()
}
