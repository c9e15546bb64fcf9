//! Reading the access facts from FHIR resources: each kind of relationship, the period bounds by precision, and the resources that must not count (cancelled encounters, inactive or non-privacy consents, other reference types).

use app::access::{gather, lower_bound, upper_bound, CARE_COORDINATOR, CASE_CONFERENCE};
use care::access::{decide, Basis, Caller, Decision, Moment, Party, Period, Policy, Role, Span, Staff, View};
use serde_json::{json, Value};

fn ms(s: &str) -> Moment {
    lower_bound(s).expect("a valid instant")
}

fn record() -> Vec<Value> {
    vec![
        json!({"resourceType": "Patient", "id": "p1", "generalPractitioner": [{"reference": "Organization/gp1"}, {"reference": "Practitioner/dr"}]}),
        json!({"resourceType": "EpisodeOfCare", "status": "active", "patient": {"reference": "Patient/p1"},
               "managingOrganization": {"reference": "Organization/community"},
               "period": {"start": "2025-01-01"}, "careManager": {"reference": "PractitionerRole/cc1"}}),
        json!({"resourceType": "EpisodeOfCare", "status": "finished", "managingOrganization": {"reference": "Organization/mh"},
               "period": {"start": "2024-01-01", "end": "2024-06-30"}}),
        json!({"resourceType": "Encounter", "status": "finished", "serviceProvider": {"reference": "Organization/trust"},
               "period": {"start": "2025-02-01T10:00:00Z", "end": "2025-02-03T12:00:00Z"}}),
        json!({"resourceType": "Encounter", "status": "cancelled", "serviceProvider": {"reference": "Organization/other"},
               "period": {"start": "2025-02-01"}}),
        json!({"resourceType": "Encounter", "status": "planned", "type": [{"coding": [{"system": CASE_CONFERENCE.0, "code": CASE_CONFERENCE.1}]}],
               "participant": [{"individual": {"reference": "PractitionerRole/sw1"}}, {"individual": {"reference": "RelatedPerson/x"}}],
               "period": {"start": "2025-03-10T14:00:00Z", "end": "2025-03-10T15:00:00Z"}}),
        json!({"resourceType": "CareTeam", "status": "active", "period": {"start": "2025-01-01"},
        "participant": [
            {"member": {"reference": "Practitioner/dn1"}, "period": {"end": "2025-04-30"}},
            {"member": {"reference": "PractitionerRole/cc2"}, "role": [{"coding": [{"system": CARE_COORDINATOR.0, "code": CARE_COORDINATOR.1}]}]},
            {"member": {"reference": "Patient/p1"}}
        ]}),
        json!({"resourceType": "Consent", "status": "active",
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
               "dateTime": "2025-05-01", "organization": [{"reference": "Organization/gp1"}], "provision": {"type": "deny"}}),
        json!({"resourceType": "Consent", "status": "inactive",
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
               "provision": {"type": "deny"}}),
        json!({"resourceType": "Consent", "status": "active",
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
               "provision": {"type": "deny"}}),
        json!({"resourceType": "Consent", "status": "active",
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
               "provision": {"type": "permit", "period": {"start": "2025-01-01", "end": "2025-12"},
                             "actor": [{"reference": {"reference": "RelatedPerson/rp1"}}],
                             "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Appointment"}]}}),
        json!({"resourceType": "Observation", "status": "final"}),
    ]
}

#[test]
fn every_relationship_is_read_from_its_resource() {
    let f = gather("p1", &record());
    assert_eq!(f.registered_with, ["gp1"]);
    assert_eq!(f.episodes.len(), 2);
    assert!(f.episodes[0].active && !f.episodes[1].active);
    assert_eq!(f.episodes[0].care_manager, Some(Party::PractitionerRole("cc1".into())));
    assert_eq!(f.episodes[1].period, Period::between(ms("2024-01-01"), ms("2024-07-01")), "a date end runs to the end of its day");
    assert_eq!(f.visits.len(), 1, "the cancelled encounter and the case conference are not visits");
    assert_eq!(f.visits[0].organisation, "trust");
    assert_eq!(f.conferences.len(), 1);
    assert_eq!(f.conferences[0].attendees, [Party::PractitionerRole("sw1".into())]);
    assert_eq!(f.conferences[0].start, ms("2025-03-10T14:00:00Z"));
    assert_eq!(f.teams.len(), 1);
    assert_eq!(f.teams[0].members.len(), 2, "a Patient is not a member of staff");
    assert_eq!(f.teams[0].coordinators, [Party::PractitionerRole("cc2".into())]);
    assert_eq!(f.opt_outs.len(), 1, "only the active privacy consent that denies");
    assert_eq!(f.opt_outs[0].recorded_by.as_deref(), Some("gp1"));
    assert_eq!(f.opt_outs[0].period.start, Some(ms("2025-05-01")));
    assert_eq!(f.carer_grants.len(), 1);
    assert_eq!(f.carer_grants[0].types, ["Appointment"]);
    assert_eq!(f.carer_grants[0].period.end, Some(ms("2026-01-01")));
}

#[test]
fn decisions_over_the_gathered_record() {
    let f = gather("p1", &record());
    let staff = |org: &str, pr: Option<&str>, prr: Option<&str>| {
        Caller::Staff(Staff {
            user: format!("u-{org}"),
            role: Role::Clinician,
            organisation: org.into(),
            practitioner: pr.map(str::to_owned),
            practitioner_role: prr.map(str::to_owned),
        })
    };
    let p = Policy::default();
    let march = ms("2025-03-10T14:30:00Z");
    assert_eq!(decide(&staff("gp1", None, None), &f, &p, march).basis(), Some(&Basis::RegisteredPractice { organisation: "gp1".into() }));
    assert_eq!(decide(&staff("x", None, Some("cc1")), &f, &p, march).basis(), Some(&Basis::CareCoordinator));
    assert_eq!(decide(&staff("x", Some("dn1"), None), &f, &p, march).basis(), Some(&Basis::CareTeam));
    assert!(!decide(&staff("x", Some("dn1"), None), &f, &p, ms("2025-05-01")).allowed(), "membership ended on 30 April");
    assert!(matches!(decide(&staff("x", None, Some("sw1")), &f, &p, march).basis(), Some(Basis::CaseConference { .. })));
    let trust = staff("trust", None, None);
    assert!(decide(&trust, &f, &p, ms("2025-02-03T12:00:00Z").plus(Span::days(90)).minus(Span::seconds(1))).allowed());
    assert!(!decide(&trust, &f, &p, ms("2025-02-03T12:00:00.001Z").plus(Span::days(90))).allowed());
    assert!(!decide(&staff("mh", None, None), &f, &p, march).allowed(), "the finished episode gives nothing");
    let Decision::Allowed { view, .. } = decide(&staff("gp1", None, None), &f, &p, ms("2025-05-01")) else { panic!("registered") };
    assert_eq!(view, View::OwnOrganisation, "the opt-out is in force from 1 May");
}

#[test]
fn bounds_follow_the_precision() {
    assert_eq!(upper_bound("2025"), lower_bound("2026"));
    assert_eq!(upper_bound("2025-12"), lower_bound("2026-01"));
    assert_eq!(upper_bound("2025-02-28"), lower_bound("2025-03-01"));
    assert_eq!(upper_bound("2025-02-28T10:00:00+01:00"), Some(ms("2025-02-28T09:00:00.001Z")));
    assert_eq!(lower_bound("2025-02-30"), None);
    assert_eq!(lower_bound("soon"), None);
}
