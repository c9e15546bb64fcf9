//! What the store needs to apply the access decision inside its queries: the care relationships a resource
//! states (kept current on every write) and the visibility a caller's reads are filtered by.

/// The kind of a care relationship, as `access_relation.kind` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelationKind {
    /// The organisation is the person's registered GP practice.
    Registered,
    /// The organisation has an active episode of care with the person.
    Episode,
    /// The party is the person's care coordinator (care manager of an episode, coordinator on a care team).
    Coordinator,
    /// The party is a member of an active care team for the person.
    Team,
    /// The organisation saw the person in an encounter: from its start until its end, plus the encounter
    /// window the query is given.
    Encounter,
    /// The party attends a case conference about the person: from its start until its end, plus the grace
    /// period the query is given.
    Conference,
    /// The person opted out of sharing (party '').
    OptOut,
    /// The party broke the glass: a grant of its own (resource type `BreakGlass`), for its window.
    BreakGlass,
}

impl RelationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RelationKind::Registered => "registered",
            RelationKind::Episode => "episode",
            RelationKind::Coordinator => "coordinator",
            RelationKind::Team => "team",
            RelationKind::Encounter => "encounter",
            RelationKind::Conference => "conference",
            RelationKind::OptOut => "opt-out",
            RelationKind::BreakGlass => "break-glass",
        }
    }
}

/// One care relationship a resource states about the person it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// `Organization/x`, `Practitioner/x` or `PractitionerRole/x`; empty for an opt-out.
    pub party: String,
    pub kind: RelationKind,
    /// Milliseconds since 1970, inclusive; `None`: always was.
    pub start: Option<i64>,
    /// Milliseconds since 1970, exclusive; `None`: still is.
    pub until: Option<i64>,
}

/// Which resources a caller's reads may return. Every read of the store that can return a person's data
/// takes one, and the store applies it inside the statement, so totals, counts and pages are exact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Visibility {
    /// Every resource (a trusted integration system).
    All,
    /// Only resources that belong to no person (reference data): analysts, administrators, privacy officers,
    /// and anyone the decision refuses. The default, so that a query built without thought shows nothing
    /// personal.
    #[default]
    Shared,
    /// Shared resources and one person's record: the person themself (`restricted` items included, every
    /// type), or a carer (only the types granted, if listed; never restricted items).
    Person { patient: String, types: Option<Vec<String>>, restricted: bool },
    /// A member of staff: shared resources, and the records of the people a current relationship connects
    /// to one of `parties`, as the relationship's view shows them.
    Staff(StaffVisibility),
}

/// What a member of staff's reads are filtered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffVisibility {
    /// Who they are in relationships: `Organization/x` (their organisation), `Practitioner/x`,
    /// `PractitionerRole/x`.
    pub parties: Vec<String>,
    /// Their organisation's id: what it recorded stays visible to it after an opt-out, and restricted
    /// items are visible to it alone.
    pub organisation: String,
    /// Support staff: relationships of their organisation only (registered, episode, encounter), and only
    /// the resource types listed (the rules' demographics and appointments).
    pub administrative: Option<&'static [&'static str]>,
    /// The resource types that identify a person, shown after an opt-out too (the rules' demographics).
    pub demographics: &'static [&'static str],
    /// The moment the decision is made (ms).
    pub now: i64,
    /// Encounters that ended after this still grant (now minus the encounter window).
    pub encounters_since: i64,
    /// Case conferences that ended after this still grant (now minus the grace period).
    pub conferences_since: i64,
}
