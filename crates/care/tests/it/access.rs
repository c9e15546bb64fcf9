//! The access decision: each relationship, its window edges to the second, the roles that see nothing, support staff, opt-outs, restricted items and carers; and properties over random facts.

use care::access::*;
use proptest::prelude::*;

const T0: Moment = Moment(1_735_689_600_000); // 2025-01-01T00:00:00Z
const SECOND: Span = Span::seconds(1);

fn staff(role: Role, org: &str) -> Staff {
    Staff {
        user: format!("u-{org}"),
        role,
        organisation: org.to_owned(),
        practitioner: Some(format!("pr-{org}")),
        practitioner_role: Some(format!("prr-{org}")),
    }
}

fn clinician(org: &str) -> Caller {
    Caller::Staff(staff(Role::Clinician, org))
}

fn at(c: &Caller, f: &PersonFacts, now: Moment) -> Decision {
    decide(c, f, &Policy::default(), now)
}

fn basis_codes(d: &Decision) -> Vec<&'static str> {
    match d {
        Decision::Allowed { bases, .. } => bases.iter().map(Basis::code).collect(),
        Decision::Denied(_) => vec![],
    }
}

#[test]
fn registered_practice_allows_its_staff_and_no_one_else() {
    let mut f = PersonFacts::new("p1");
    f.registered_with.push("gp1".into());
    let d = at(&clinician("gp1"), &f, T0);
    assert_eq!(d.basis(), Some(&Basis::RegisteredPractice { organisation: "gp1".into() }));
    assert!(matches!(d, Decision::Allowed { view: View::Whole, .. }));
    assert_eq!(at(&clinician("gp2"), &f, T0), Decision::Denied(Denial::NoRelationship));
}

#[test]
fn an_episode_counts_only_while_active_and_current() {
    let mut f = PersonFacts::new("p1");
    f.episodes.push(Episode { organisation: "mh".into(), active: true, period: Period::between(T0, T0.plus(Span::days(10))), care_manager: None });
    assert_eq!(basis_codes(&at(&clinician("mh"), &f, T0)), ["episode-of-care"]);
    assert!(!at(&clinician("mh"), &f, T0.minus(SECOND)).allowed());
    assert!(at(&clinician("mh"), &f, T0.plus(Span::days(10)).minus(SECOND)).allowed());
    assert!(!at(&clinician("mh"), &f, T0.plus(Span::days(10))).allowed());
    f.episodes[0].active = false;
    assert!(!at(&clinician("mh"), &f, T0).allowed());
}

#[test]
fn an_encounter_gives_its_organisation_the_configured_window_after_it_ends() {
    let mut f = PersonFacts::new("p1");
    let end = T0.plus(Span::hours(6));
    f.visits.push(Visit { organisation: "trust".into(), period: Period::between(T0, end) });
    let policy = Policy { encounter_window: Span::days(30), ..Policy::default() };
    let c = clinician("trust");
    assert!(!decide(&c, &f, &policy, T0.minus(SECOND)).allowed(), "not before it starts");
    assert!(decide(&c, &f, &policy, T0).allowed());
    let last = end.plus(Span::days(30)).minus(SECOND);
    assert_eq!(
        decide(&c, &f, &policy, last).basis(),
        Some(&Basis::RecentEncounter { organisation: "trust".into(), until: end.plus(Span::days(30)) })
    );
    assert!(!decide(&c, &f, &policy, end.plus(Span::days(30))).allowed());
    assert!(!decide(&c, &f, &policy, end.plus(Span::days(30)).plus(SECOND)).allowed());
    assert!(!decide(&clinician("other"), &f, &policy, T0).allowed());
}

#[test]
fn care_team_members_and_coordinators_while_the_team_and_membership_last() {
    let mut f = PersonFacts::new("p1");
    f.teams.push(Team {
        active: true,
        period: Period::from(T0),
        members: vec![
            (Party::PractitionerRole("prr-dn".into()), Period::OPEN),
            (Party::Practitioner("pr-sw".into()), Period::between(T0, T0.plus(Span::days(1)))),
            (Party::Organisation("vol".into()), Period::OPEN),
        ],
        coordinators: vec![Party::PractitionerRole("prr-cc".into())],
    });
    assert_eq!(basis_codes(&at(&clinician("dn"), &f, T0)), ["care-team"]);
    assert!(at(&Caller::Staff(staff(Role::SocialCarePractitioner, "sw")), &f, T0).allowed());
    assert!(!at(&Caller::Staff(staff(Role::SocialCarePractitioner, "sw")), &f, T0.plus(Span::days(1))).allowed());
    assert!(!at(&clinician("vol"), &f, T0).allowed(), "an organisation named on a team is not a member of staff on it");
    assert_eq!(basis_codes(&at(&Caller::Staff(staff(Role::CareCoordinator, "cc")), &f, T0)), ["care-coordinator"]);
    assert!(!at(&clinician("dn"), &f, T0.minus(SECOND)).allowed());
    f.teams[0].active = false;
    assert!(!at(&clinician("dn"), &f, T0).allowed());
}

#[test]
fn the_care_manager_of_an_active_episode_is_the_care_coordinator() {
    let mut f = PersonFacts::new("p1");
    f.episodes.push(Episode {
        organisation: "community".into(),
        active: true,
        period: Period::from(T0),
        care_manager: Some(Party::Practitioner("pr-cc".into())),
    });
    let d = at(&Caller::Staff(staff(Role::CareCoordinator, "cc")), &f, T0);
    assert_eq!(basis_codes(&d), ["care-coordinator"]);
    let both = at(&Caller::Staff(Staff { organisation: "community".into(), ..staff(Role::CareCoordinator, "cc") }), &f, T0);
    assert_eq!(basis_codes(&both), ["care-coordinator", "episode-of-care"], "every basis that holds, the first named");
}

#[test]
fn a_case_conference_from_its_start_until_the_grace_after_its_end() {
    let mut f = PersonFacts::new("p1");
    let end = T0.plus(Span::hours(2));
    f.conferences.push(Conference { attendees: vec![Party::PractitionerRole("prr-x".into())], start: T0, end });
    let policy = Policy { conference_grace: Span::hours(12), ..Policy::default() };
    let c = clinician("x");
    assert!(!decide(&c, &f, &policy, T0.minus(SECOND)).allowed());
    assert_eq!(decide(&c, &f, &policy, T0).basis(), Some(&Basis::CaseConference { until: end.plus(Span::hours(12)) }));
    assert!(decide(&c, &f, &policy, end.plus(Span::hours(12)).minus(SECOND)).allowed());
    assert!(!decide(&c, &f, &policy, end.plus(Span::hours(12)).plus(SECOND)).allowed(), "one second after expiry");
    assert!(!decide(&clinician("y"), &f, &policy, T0).allowed());
}

#[test]
fn break_glass_is_the_users_own_and_ends_on_time() {
    let mut f = PersonFacts::new("p1");
    let until = T0.plus(Policy::default().break_glass_duration);
    f.break_glass.push(BreakGlass { party: Party::PractitionerRole("prr-ed".into()), reason: "unconscious in ED".into(), from: T0, until });
    let d = at(&clinician("ed"), &f, T0);
    assert_eq!(d.basis(), Some(&Basis::BreakGlass { reason: "unconscious in ED".into(), until }));
    assert!(at(&clinician("ed"), &f, until.minus(SECOND)).allowed());
    assert!(!at(&clinician("ed"), &f, until.plus(SECOND)).allowed(), "one second after expiry");
    let colleague = Caller::Staff(Staff { user: "u-other".into(), practitioner_role: Some("prr-other".into()), ..staff(Role::Clinician, "ed") });
    assert!(!at(&colleague, &f, T0).allowed(), "a grant is the role's that broke the glass, not their organisation's");
    f.break_glass.push(BreakGlass { party: Party::Organisation("ed".into()), reason: "r".into(), from: T0, until });
    assert!(!at(&colleague, &f, T0).allowed(), "never an organisation's");
}

#[test]
fn support_staff_see_only_demographics_and_appointments_through_their_organisation() {
    let mut f = PersonFacts::new("p1");
    f.registered_with.push("gp1".into());
    f.teams.push(Team {
        active: true,
        period: Period::OPEN,
        members: vec![(Party::PractitionerRole("prr-gp2".into()), Period::OPEN)],
        coordinators: vec![],
    });
    f.break_glass.push(BreakGlass { party: Party::PractitionerRole("prr-gp3".into()), reason: "r".into(), from: T0, until: T0.plus(Span::hours(4)) });
    let support = |org: &str| Caller::Staff(staff(Role::SupportStaff, org));
    let d = at(&support("gp1"), &f, T0);
    assert!(matches!(&d, Decision::Allowed { view: View::Administrative, .. }));
    assert!(!at(&support("gp2"), &f, T0).allowed(), "care-team membership is not theirs");
    assert!(!at(&support("gp3"), &f, T0).allowed(), "nor is break-glass");
    let c = support("gp1");
    let item = |t| Item { resource_type: t, recorded_by: Some("gp1"), restricted: false, is_opt_out: false };
    assert!(shows(&View::Administrative, &c, &item("Patient")));
    assert!(shows(&View::Administrative, &c, &item("Appointment")));
    assert!(!shows(&View::Administrative, &c, &item("Observation")));
    assert!(!shows(&View::Administrative, &c, &item("Condition")));
}

#[test]
fn analysts_administrators_and_privacy_officers_see_no_records() {
    let mut f = PersonFacts::new("p1");
    f.registered_with.push("gp1".into());
    for role in [Role::Analyst, Role::Administrator, Role::PrivacyOfficer] {
        assert_eq!(at(&Caller::Staff(staff(role, "gp1")), &f, T0), Decision::Denied(Denial::RoleSeesNoRecords), "{role}");
    }
}

#[test]
fn a_person_sees_their_own_record_and_a_carer_what_was_granted() {
    let mut f = PersonFacts::new("p1");
    let me = Caller::Person { user: "me".into(), patient: "p1".into() };
    assert_eq!(basis_codes(&at(&me, &f, T0)), ["own-record"]);
    let other = Caller::Person { user: "me".into(), patient: "p2".into() };
    assert_eq!(at(&other, &f, T0), Decision::Denied(Denial::NotTheirRecord));
    let carer = Caller::Carer { user: "c".into(), related_person: "rp1".into(), patient: "p1".into() };
    assert!(!at(&carer, &f, T0).allowed(), "no grant yet");
    f.carer_grants.push(CarerGrant {
        related_person: "rp1".into(),
        types: vec!["Appointment".into()],
        period: Period::between(T0, T0.plus(Span::days(7))),
    });
    let d = at(&carer, &f, T0);
    let Decision::Allowed { view, .. } = &d else { panic!("the grant holds: {d:?}") };
    let item = |t, restricted| Item { resource_type: t, recorded_by: None, restricted, is_opt_out: false };
    assert!(shows(view, &carer, &item("Appointment", false)));
    assert!(!shows(view, &carer, &item("Appointment", true)), "never restricted items");
    assert!(!shows(view, &carer, &item("Observation", false)));
    assert!(!at(&carer, &f, T0.plus(Span::days(7))).allowed(), "the grant ended");
    assert!(shows(&View::Everything, &me, &item("Observation", true)), "a person sees all of their own record");
}

#[test]
fn after_an_opt_out_each_organisation_sees_what_it_recorded_and_the_demographics() {
    let mut f = PersonFacts::new("p1");
    f.registered_with.push("gp1".into());
    f.opt_outs.push(OptOut { recorded_by: Some("gp1".into()), period: Period::from(T0) });
    let before = at(&clinician("gp1"), &f, T0.minus(SECOND));
    assert!(matches!(before, Decision::Allowed { view: View::Whole, .. }));
    let Decision::Allowed { view, .. } = at(&clinician("gp1"), &f, T0) else { panic!("still registered") };
    assert_eq!(view, View::OwnOrganisation);
    let c = clinician("gp1");
    let item = |t, by, opt| Item { resource_type: t, recorded_by: by, restricted: false, is_opt_out: opt };
    assert!(shows(&view, &c, &item("Patient", Some("hospital"), false)));
    assert!(shows(&view, &c, &item("Consent", Some("hospital"), true)));
    assert!(shows(&view, &c, &item("Observation", Some("gp1"), false)));
    assert!(!shows(&view, &c, &item("Observation", Some("hospital"), false)));
    assert!(!shows(&view, &c, &item("Observation", None, false)));
    // Withdrawn (the period ended): the whole record again.
    f.opt_outs[0].period.end = Some(T0.plus(Span::days(1)));
    assert!(matches!(at(&clinician("gp1"), &f, T0.plus(Span::days(1))), Decision::Allowed { view: View::Whole, .. }));
    // Break-glass does not undo an opt-out.
    f.opt_outs[0].period.end = None;
    f.break_glass.push(BreakGlass { party: Party::PractitionerRole("prr-ed".into()), reason: "r".into(), from: T0, until: T0.plus(Span::hours(4)) });
    assert!(matches!(at(&clinician("ed"), &f, T0), Decision::Allowed { view: View::OwnOrganisation, .. }));
}

#[test]
fn restricted_items_only_to_the_organisation_that_recorded_them() {
    let c = clinician("gp1");
    let item = |by| Item { resource_type: "Condition", recorded_by: by, restricted: true, is_opt_out: false };
    assert!(shows(&View::Whole, &c, &item(Some("gp1"))));
    assert!(!shows(&View::Whole, &c, &item(Some("sexual-health"))));
    assert!(!shows(&View::Whole, &c, &item(None)));
    assert!(shows(&View::Everything, &Caller::System { name: "feed".into() }, &item(None)));
}

#[test]
fn roles_round_trip_through_their_codes() {
    for role in Role::ALL {
        assert_eq!(Role::parse(role.code()), Some(role));
    }
    assert_eq!(Role::parse("superuser"), None);
}

// Properties over random facts.

fn moment() -> impl Strategy<Value = Moment> {
    (-30i64..30).prop_map(|h| T0.plus(Span::hours(h)))
}

fn period() -> impl Strategy<Value = Period> {
    (proptest::option::of(moment()), proptest::option::of(moment())).prop_map(|(start, end)| Period { start, end })
}

fn org() -> impl Strategy<Value = String> {
    prop_oneof![Just("a".to_owned()), Just("b".to_owned()), Just("c".to_owned())]
}

fn party() -> impl Strategy<Value = Party> {
    prop_oneof![
        org().prop_map(|o| Party::Practitioner(format!("pr-{o}"))),
        org().prop_map(|o| Party::PractitionerRole(format!("prr-{o}"))),
        org().prop_map(Party::Organisation),
    ]
}

fn facts() -> impl Strategy<Value = PersonFacts> {
    (
        proptest::collection::vec(org(), 0..2),
        proptest::collection::vec(
            (org(), any::<bool>(), period(), proptest::option::of(party())).prop_map(|(organisation, active, period, care_manager)| Episode {
                organisation,
                active,
                period,
                care_manager,
            }),
            0..3,
        ),
        proptest::collection::vec((org(), period()).prop_map(|(organisation, period)| Visit { organisation, period }), 0..3),
        proptest::collection::vec(
            (any::<bool>(), period(), proptest::collection::vec((party(), period()), 0..3), proptest::collection::vec(party(), 0..2))
                .prop_map(|(active, period, members, coordinators)| Team { active, period, members, coordinators }),
            0..2,
        ),
        proptest::collection::vec(
            (proptest::collection::vec(party(), 0..3), moment(), 0i64..5).prop_map(|(attendees, start, h)| Conference {
                attendees,
                start,
                end: start.plus(Span::hours(h)),
            }),
            0..2,
        ),
        proptest::collection::vec(
            (org(), moment()).prop_map(|(o, from)| BreakGlass {
                party: Party::PractitionerRole(format!("prr-{o}")),
                reason: "r".into(),
                from,
                until: from.plus(Span::hours(4)),
            }),
            0..2,
        ),
        proptest::collection::vec((proptest::option::of(org()), period()).prop_map(|(recorded_by, period)| OptOut { recorded_by, period }), 0..2),
    )
        .prop_map(|(registered_with, episodes, visits, teams, conferences, break_glass, opt_outs)| PersonFacts {
            patient: "p".into(),
            registered_with,
            episodes,
            visits,
            teams,
            conferences,
            break_glass,
            opt_outs,
            carer_grants: vec![],
        })
}

fn any_staff() -> impl Strategy<Value = Staff> {
    (org(), proptest::sample::select(Role::ALL.to_vec())).prop_map(|(o, role)| staff(role, &o))
}

proptest! {
    /// Adding a relationship never takes access away (opt-outs apart, which narrow the view, not the access).
    #[test]
    fn more_relationships_never_deny(f in facts(), extra in facts(), s in any_staff(), now in moment()) {
        let caller = Caller::Staff(s);
        let policy = Policy::default();
        let mut more = f.clone();
        more.registered_with.extend(extra.registered_with);
        more.episodes.extend(extra.episodes);
        more.visits.extend(extra.visits);
        more.teams.extend(extra.teams);
        more.conferences.extend(extra.conferences);
        more.break_glass.extend(extra.break_glass);
        if decide(&caller, &f, &policy, now).allowed() {
            prop_assert!(decide(&caller, &more, &policy, now).allowed());
        }
    }

    /// Every basis named is one that really holds for the caller's organisation or person.
    #[test]
    fn named_organisation_is_the_callers(f in facts(), s in any_staff(), now in moment()) {
        let org = s.organisation.clone();
        if let Decision::Allowed { bases, .. } = decide(&Caller::Staff(s), &f, &Policy::default(), now) {
            for b in bases {
                match b {
                    Basis::RegisteredPractice { organisation } => prop_assert!(organisation == org && f.registered_with.contains(&org)),
                    Basis::EpisodeOfCare { organisation } | Basis::RecentEncounter { organisation, .. } => prop_assert_eq!(&organisation, &org),
                    Basis::CaseConference { until } | Basis::BreakGlass { until, .. } => prop_assert!(now < until),
                    Basis::CareTeam | Basis::CareCoordinator => {}
                    other => prop_assert!(false, "a member of staff got {:?}", other),
                }
            }
        }
    }

    /// An opt-out only ever narrows what is shown, and only care professionals see anything of a stranger's record.
    #[test]
    fn opt_out_narrows(
        s in any_staff(),
        ty in prop_oneof![Just("Patient"), Just("Observation"), Just("Appointment"), Just("Consent")],
        by in proptest::option::of(org()),
        restricted in any::<bool>(),
        is_opt_out in any::<bool>(),
    ) {
        let caller = Caller::Staff(s);
        let item = Item { resource_type: ty, recorded_by: by.as_deref(), restricted, is_opt_out };
        if shows(&View::OwnOrganisation, &caller, &item) {
            prop_assert!(shows(&View::Whole, &caller, &item));
        }
        if shows(&View::Administrative, &caller, &item) {
            prop_assert!(shows(&View::Whole, &caller, &item));
        }
    }
}
