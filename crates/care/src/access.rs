//! The access decision: whether a caller may see a person's record, which care relationship allows it, and which part of the record each relationship shows. Pure: the caller, the facts about the person, the policy and the time are arguments.
//!
//! The rules are the information-sharing rules of the product brief:
//! - a professional sees a person's record only while at least one relationship holds between them (or their
//!   organisation) and the person: the registered GP practice, an active episode of care, a recent encounter,
//!   an active care team, being the person's care coordinator, attending a case conference that discusses the
//!   person (from its start until a grace period after its end), or a break-glass grant they made themself;
//! - support staff see, through their organisation's relationships only, the demographics and appointments;
//! - analysts, administrators and privacy officers see no person-level record through this decision (the
//!   privacy officer reviews the audit, not the record);
//! - a person sees their own record; a carer sees what the person granted them, while the grant lasts;
//! - an integration system sees everything (and is audited like everyone else);
//! - after an opt-out, each organisation sees only what it recorded itself, plus the demographics needed to
//!   identify the person and the fact of the opt-out; a break-glass grant does not undo an opt-out;
//! - restricted or sensitive items are seen only by the organisation that recorded them (and by the person).

use std::fmt;

/// The confidentiality code system whose R (restricted) and V (very restricted) mark an item as visible
/// only to the organisation that recorded it.
pub const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";

/// A moment in time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(pub i64);

impl Moment {
    pub const fn from_millis(ms: i64) -> Moment {
        Moment(ms)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// This moment moved by `by` (saturating at the ends of time).
    pub const fn plus(self, by: Span) -> Moment {
        Moment(self.0.saturating_add(by.0))
    }
    pub const fn minus(self, by: Span) -> Moment {
        Moment(self.0.saturating_sub(by.0))
    }
}

/// A length of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

impl Span {
    pub const fn seconds(s: i64) -> Span {
        Span(s.saturating_mul(1_000))
    }
    pub const fn hours(h: i64) -> Span {
        Span::seconds(h.saturating_mul(3_600))
    }
    pub const fn days(d: i64) -> Span {
        Span::hours(d.saturating_mul(24))
    }
}

/// A period with an optional start and end, both inclusive of the start and exclusive of the end: a missing
/// start is "always was", a missing end "still is".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Period {
    pub start: Option<Moment>,
    pub end: Option<Moment>,
}

impl Period {
    pub const OPEN: Period = Period { start: None, end: None };

    pub const fn between(start: Moment, end: Moment) -> Period {
        Period { start: Some(start), end: Some(end) }
    }
    pub const fn from(start: Moment) -> Period {
        Period { start: Some(start), end: None }
    }
    /// Whether `at` falls inside the period.
    pub fn covers(&self, at: Moment) -> bool {
        self.start.is_none_or(|s| s <= at) && self.end.is_none_or(|e| at < e)
    }
}

/// The role a user acts in. Scopes in a token may narrow what a role allows, never widen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Clinician,
    CareCoordinator,
    SocialCarePractitioner,
    VoluntarySectorWorker,
    SupportStaff,
    PrivacyOfficer,
    Analyst,
    IntegrationSystem,
    Administrator,
    Person,
    Carer,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::Clinician,
        Role::CareCoordinator,
        Role::SocialCarePractitioner,
        Role::VoluntarySectorWorker,
        Role::SupportStaff,
        Role::PrivacyOfficer,
        Role::Analyst,
        Role::IntegrationSystem,
        Role::Administrator,
        Role::Person,
        Role::Carer,
    ];

    /// The role's code, as accounts, tokens and audit events write it.
    pub const fn code(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::CareCoordinator => "care-coordinator",
            Role::SocialCarePractitioner => "social-care-practitioner",
            Role::VoluntarySectorWorker => "voluntary-sector-worker",
            Role::SupportStaff => "support-staff",
            Role::PrivacyOfficer => "privacy-officer",
            Role::Analyst => "analyst",
            Role::IntegrationSystem => "integration-system",
            Role::Administrator => "administrator",
            Role::Person => "person",
            Role::Carer => "carer",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether the role is one that works with people's records through care relationships.
    pub const fn is_care_professional(self) -> bool {
        matches!(self, Role::Clinician | Role::CareCoordinator | Role::SocialCarePractitioner | Role::VoluntarySectorWorker | Role::SupportStaff)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who is asking. Ids are the FHIR logical ids of the resources named (Organization, Practitioner,
/// PractitionerRole, Patient, RelatedPerson).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A member of staff of an organisation, acting in a role there.
    Staff(Staff),
    /// The person themself.
    Person { user: String, patient: String },
    /// A carer acting for a person, as the RelatedPerson the person named.
    Carer { user: String, related_person: String, patient: String },
    /// A trusted integration system (bulk import and export, feeds).
    System { name: String },
}

/// A member of staff: the user, their role and where they work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub user: String,
    pub role: Role,
    pub organisation: String,
    pub practitioner: Option<String>,
    pub practitioner_role: Option<String>,
}

impl Caller {
    pub fn user(&self) -> &str {
        match self {
            Caller::Staff(s) => &s.user,
            Caller::Person { user, .. } | Caller::Carer { user, .. } => user,
            Caller::System { name } => name,
        }
    }
    pub fn role(&self) -> Role {
        match self {
            Caller::Staff(s) => s.role,
            Caller::Person { .. } => Role::Person,
            Caller::Carer { .. } => Role::Carer,
            Caller::System { .. } => Role::IntegrationSystem,
        }
    }
    pub fn organisation(&self) -> Option<&str> {
        match self {
            Caller::Staff(s) => Some(&s.organisation),
            _ => None,
        }
    }
}

/// Someone named in a care team or at a case conference: a practitioner, one of their roles, or an
/// organisation as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Practitioner(String),
    PractitionerRole(String),
    Organisation(String),
}

impl Party {
    /// Whether this party is the member of staff, or (for an organisation) where they work.
    pub fn is(&self, staff: &Staff) -> bool {
        match self {
            Party::Practitioner(id) => staff.practitioner.as_deref() == Some(id.as_str()),
            Party::PractitionerRole(id) => staff.practitioner_role.as_deref() == Some(id.as_str()),
            Party::Organisation(id) => staff.organisation == *id,
        }
    }
}

/// An episode of care with an organisation (EpisodeOfCare): active while its status is active and its period
/// covers now; its care manager is the person's care coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub organisation: String,
    pub active: bool,
    pub period: Period,
    pub care_manager: Option<Party>,
}

/// An encounter with an organisation (Encounter.serviceProvider), by when it started and (if it has) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub organisation: String,
    pub period: Period,
}

/// A care team for the person (CareTeam): active while its status is active and its period covers now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub active: bool,
    pub period: Period,
    /// The members, each with the period of their membership.
    pub members: Vec<(Party, Period)>,
    /// Members whose role in the team is care coordinator.
    pub coordinators: Vec<Party>,
}

/// A case conference that discusses the person: its attendees and its scheduled time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    pub attendees: Vec<Party>,
    pub start: Moment,
    pub end: Moment,
}

/// A break-glass grant: to the party a member of staff acts as (their PractitionerRole, or their Practitioner
/// if they act as no role), for a stated reason, from a moment until a later one. Never to an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlass {
    pub party: Party,
    pub reason: String,
    pub from: Moment,
    pub until: Moment,
}

/// An opt-out of sharing (a Consent of scope patient-privacy that denies sharing), active over its period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    pub recorded_by: Option<String>,
    pub period: Period,
}

/// What a person has granted a carer (a RelatedPerson): the resource types (none listed: the whole record,
/// sensitive items apart) and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarerGrant {
    pub related_person: String,
    pub types: Vec<String>,
    pub period: Period,
}

/// Everything the decision needs to know about one person, gathered from their record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonFacts {
    pub patient: String,
    /// Organisations named as the person's general practice (Patient.generalPractitioner).
    pub registered_with: Vec<String>,
    pub episodes: Vec<Episode>,
    pub visits: Vec<Visit>,
    pub teams: Vec<Team>,
    pub conferences: Vec<Conference>,
    pub break_glass: Vec<BreakGlass>,
    pub opt_outs: Vec<OptOut>,
    pub carer_grants: Vec<CarerGrant>,
}

impl PersonFacts {
    pub fn new(patient: impl Into<String>) -> PersonFacts {
        PersonFacts { patient: patient.into(), ..PersonFacts::default() }
    }

    /// Whether an opt-out of sharing is in force at `now`.
    pub fn opted_out(&self, now: Moment) -> bool {
        self.opt_outs.iter().any(|o| o.period.covers(now))
    }
}

/// The configurable part of the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// How long after an encounter its organisation keeps access (default 90 days).
    pub encounter_window: Span,
    /// How long after a case conference's scheduled end its attendees keep access (default 24 hours).
    pub conference_grace: Span,
    /// How long a break-glass grant lasts (default 4 hours).
    pub break_glass_duration: Span,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy { encounter_window: Span::days(90), conference_grace: Span::hours(24), break_glass_duration: Span::hours(4) }
    }
}

/// Why access is allowed: the relationship (or standing) that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// The caller's organisation is the person's registered GP practice.
    RegisteredPractice { organisation: String },
    /// The caller is the person's care coordinator (care manager of an active episode, or coordinator on an
    /// active care team).
    CareCoordinator,
    /// The caller is a member of an active care team for the person.
    CareTeam,
    /// The caller's organisation has an active episode of care with the person.
    EpisodeOfCare { organisation: String },
    /// The caller's organisation had an encounter with the person within the window.
    RecentEncounter { organisation: String, until: Moment },
    /// The caller attends a case conference that discusses the person.
    CaseConference { until: Moment },
    /// The caller broke the glass.
    BreakGlass { reason: String, until: Moment },
    /// The caller is the person.
    OwnRecord,
    /// The caller is a carer the person granted access to.
    CarerGrant,
    /// A trusted integration system.
    IntegrationSystem,
}

impl Basis {
    /// The basis as a code, as `$access` and the audit log write it.
    pub const fn code(&self) -> &'static str {
        match self {
            Basis::RegisteredPractice { .. } => "registered-practice",
            Basis::CareCoordinator => "care-coordinator",
            Basis::CareTeam => "care-team",
            Basis::EpisodeOfCare { .. } => "episode-of-care",
            Basis::RecentEncounter { .. } => "recent-encounter",
            Basis::CaseConference { .. } => "case-conference",
            Basis::BreakGlass { .. } => "break-glass",
            Basis::OwnRecord => "own-record",
            Basis::CarerGrant => "carer-grant",
            Basis::IntegrationSystem => "integration-system",
        }
    }
}

/// Which part of the record a grant shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// The whole shared record (restricted items apart, which only their recording organisation sees).
    Whole,
    /// Demographics and appointments only (support staff).
    Administrative,
    /// After an opt-out: what the caller's organisation recorded, plus demographics and the opt-out itself.
    OwnOrganisation,
    /// A carer's grant: the resource types named (empty: the whole record), never restricted items.
    Types(Vec<String>),
    /// Everything, restricted items included (the person themself; an integration system).
    Everything,
}

/// The answer: allowed, with every basis that holds (the first is the one named) and the view; or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed { bases: Vec<Basis>, view: View },
    Denied(Denial),
}

/// Why access is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No relationship holds between the caller and the person.
    NoRelationship,
    /// The caller's role sees no person-level records.
    RoleSeesNoRecords,
    /// The caller is a person (or carer) asking about someone else.
    NotTheirRecord,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
    /// The basis named for the access, if allowed.
    pub fn basis(&self) -> Option<&Basis> {
        match self {
            Decision::Allowed { bases, .. } => bases.first(),
            Decision::Denied(_) => None,
        }
    }
}

/// Decides whether `caller` may see the record of the person the facts describe, at `now`.
pub fn decide(caller: &Caller, facts: &PersonFacts, policy: &Policy, now: Moment) -> Decision {
    match caller {
        Caller::System { .. } => Decision::Allowed { bases: vec![Basis::IntegrationSystem], view: View::Everything },
        Caller::Person { patient, .. } => {
            if *patient == facts.patient {
                Decision::Allowed { bases: vec![Basis::OwnRecord], view: View::Everything }
            } else {
                Decision::Denied(Denial::NotTheirRecord)
            }
        }
        Caller::Carer { related_person, patient, .. } => {
            if *patient != facts.patient {
                return Decision::Denied(Denial::NotTheirRecord);
            }
            let grant = facts.carer_grants.iter().find(|g| g.related_person == *related_person && g.period.covers(now));
            match grant {
                Some(g) => Decision::Allowed { bases: vec![Basis::CarerGrant], view: View::Types(g.types.clone()) },
                None => Decision::Denied(Denial::NoRelationship),
            }
        }
        Caller::Staff(staff) => decide_for_staff(staff, facts, policy, now),
    }
}

fn decide_for_staff(staff: &Staff, facts: &PersonFacts, policy: &Policy, now: Moment) -> Decision {
    if !staff.role.is_care_professional() {
        return Decision::Denied(Denial::RoleSeesNoRecords);
    }
    let support = staff.role == Role::SupportStaff;
    let org = staff.organisation.as_str();
    let mut bases = Vec::new();
    if facts.registered_with.iter().any(|o| o == org) {
        bases.push(Basis::RegisteredPractice { organisation: org.to_owned() });
    }
    // Support staff organise appointments for their organisation: personal relationships (care teams, case
    // conferences, coordination, break-glass) are not theirs.
    if !support {
        let coordinator =
            facts.episodes.iter().filter(|e| e.active && e.period.covers(now)).any(|e| e.care_manager.as_ref().is_some_and(|p| p.is(staff)))
                || facts.teams.iter().filter(|t| t.active && t.period.covers(now)).any(|t| t.coordinators.iter().any(|p| p.is(staff)));
        if coordinator {
            bases.push(Basis::CareCoordinator);
        }
        let on_team = facts
            .teams
            .iter()
            .filter(|t| t.active && t.period.covers(now))
            .any(|t| t.members.iter().any(|(p, during)| !matches!(p, Party::Organisation(_)) && p.is(staff) && during.covers(now)));
        if on_team {
            bases.push(Basis::CareTeam);
        }
    }
    if facts.episodes.iter().any(|e| e.active && e.period.covers(now) && e.organisation == org) {
        bases.push(Basis::EpisodeOfCare { organisation: org.to_owned() });
    }
    // An encounter counts from its start until the window after its end (or after its start, if it has no end).
    let recent = facts
        .visits
        .iter()
        .filter(|v| v.organisation == org)
        .filter_map(|v| {
            let began = v.period.start.or(v.period.end)?;
            let until = v.period.end.unwrap_or(began).max(began).plus(policy.encounter_window);
            (began <= now && now < until).then_some(until)
        })
        .max();
    if let Some(until) = recent {
        bases.push(Basis::RecentEncounter { organisation: org.to_owned(), until });
    }
    if !support {
        let conference = facts
            .conferences
            .iter()
            .filter(|c| c.attendees.iter().any(|p| p.is(staff)))
            .filter_map(|c| {
                let until = c.end.max(c.start).plus(policy.conference_grace);
                (c.start <= now && now < until).then_some(until)
            })
            .max();
        if let Some(until) = conference {
            bases.push(Basis::CaseConference { until });
        }
        let glass = facts
            .break_glass
            .iter()
            .filter(|g| !matches!(g.party, Party::Organisation(_)) && g.party.is(staff) && g.from <= now && now < g.until)
            .max_by_key(|g| g.until);
        if let Some(g) = glass {
            bases.push(Basis::BreakGlass { reason: g.reason.clone(), until: g.until });
        }
    }
    if bases.is_empty() {
        return Decision::Denied(Denial::NoRelationship);
    }
    let view = if support {
        View::Administrative
    } else if facts.opted_out(now) {
        View::OwnOrganisation
    } else {
        View::Whole
    };
    Decision::Allowed { bases, view }
}

/// What the decision needs to know about one item of a person's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    pub resource_type: &'a str,
    /// The organisation that recorded it (from its provenance: `meta.source`, the author or performer).
    pub recorded_by: Option<&'a str>,
    /// Labelled restricted in `meta.security`, or coded with a configured sensitive code.
    pub restricted: bool,
    /// The person's opt-out itself (a patient-privacy Consent).
    pub is_opt_out: bool,
}

/// The resource types that identify a person: always shown under any grant.
pub const DEMOGRAPHICS: [&str; 1] = ["Patient"];

/// The resource types support staff see.
pub const ADMINISTRATIVE: [&str; 2] = ["Patient", "Appointment"];

/// Whether a grant's view shows `item` to `caller`. Only called once `decide` has allowed access.
pub fn shows(view: &View, caller: &Caller, item: &Item<'_>) -> bool {
    let own = caller.organisation().is_some_and(|org| item.recorded_by == Some(org));
    match view {
        View::Everything => true,
        View::Whole => !item.restricted || own,
        View::Administrative => ADMINISTRATIVE.contains(&item.resource_type) && (!item.restricted || own),
        View::OwnOrganisation => ((DEMOGRAPHICS.contains(&item.resource_type) || item.is_opt_out) && !item.restricted) || own,
        View::Types(types) => !item.restricted && (types.is_empty() || types.iter().any(|t| t == item.resource_type)),
    }
}
