//! One caller's access to the record: the session every use case that reads or writes a person's data runs
//! in, the visibility the store filters each of its reads by, and the guard around its units of work that
//! hides what the caller may not see and refuses writes outside their care relationships.

use crate::error::AppError;
use crate::App;
use care::access::{Caller, Decision, Moment, Role, View};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use store::access::{StaffVisibility, Visibility};
use store::{Method, NewVersion, StoreError, Stored, TokenCriterion, Tx};

/// The clock the access decision reads: the system's, or one a test sets.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }
    /// A clock that stands at `at` until set.
    pub fn manual(at: Moment) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(at.0))))
    }
    /// Moves a manual clock (a system clock ignores it).
    pub fn set(&self, at: Moment) {
        if let Some(t) = &self.0 {
            t.store(at.0, Ordering::SeqCst);
        }
    }
    pub fn now(&self) -> Moment {
        match &self.0 {
            Some(t) => Moment(t.load(Ordering::SeqCst)),
            None => Moment(chrono::Utc::now().timestamp_millis()),
        }
    }
}

/// Who writes, and when: what a unit stamps on the versions it writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Writing {
    /// The instant the versions are stamped with.
    pub now: String,
    /// `Organization/x`: the organisation a member of staff writes for, stamped as each version's
    /// `meta.source`; `None` keeps what the client sent (systems, people).
    pub source: Option<String>,
    /// The configured sensitive codes, which mark what is written restricted.
    pub sensitive: std::sync::Arc<crate::access::SensitiveCodes>,
    /// The configured cohorts, whose Group ids (with the registers') no version may be written under.
    pub cohorts: Option<std::sync::Arc<care::cohorts::Cohorts>>,
}

/// What one caller's reads are filtered by and their writes checked against.
#[derive(Debug, Clone)]
pub(crate) struct CallerAccess {
    pub visibility: Visibility,
    pub organisation: Option<String>,
    /// Analysts, administrators, privacy officers and carers read; they do not write into records.
    pub may_write: bool,
}

/// A caller's session: the use cases that touch a person's data are its methods, so that none runs without
/// the caller's access applied. Cheap to clone; one per request.
#[derive(Clone)]
pub struct Session {
    app: App,
    caller: Arc<Caller>,
    access: Arc<CallerAccess>,
    /// The people whose records this request touched (shared by the session's clones), for its audit event.
    pub(crate) touched: crate::audit::TouchedHandle,
}

impl std::ops::Deref for Session {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl App {
    /// The session of `caller`, with the access that holds now.
    pub async fn as_caller(&self, caller: &Caller) -> Result<Session, AppError> {
        let now = self.config.clock.now();
        let access = match caller {
            Caller::System { .. } => CallerAccess { visibility: Visibility::All, organisation: None, may_write: true },
            Caller::Person { patient, .. } => CallerAccess {
                visibility: Visibility::Person { patient: patient.clone(), types: None, restricted: true },
                organisation: None,
                may_write: true,
            },
            Caller::Carer { patient, .. } => {
                // A carer's grant names types and a period: decided from the person's own record.
                let visibility = match self.access_decision_at(caller, patient, now).await? {
                    Decision::Allowed { view: View::Types(types), .. } => {
                        Visibility::Person { patient: patient.clone(), types: (!types.is_empty()).then_some(types), restricted: false }
                    }
                    _ => Visibility::Shared,
                };
                CallerAccess { visibility, organisation: None, may_write: false }
            }
            Caller::Staff(s) if s.role.is_care_professional() => {
                let mut parties = vec![format!("Organization/{}", s.organisation)];
                parties.extend(s.practitioner.iter().map(|p| format!("Practitioner/{p}")));
                parties.extend(s.practitioner_role.iter().map(|r| format!("PractitionerRole/{r}")));
                let policy = &self.config.policy;
                CallerAccess {
                    visibility: Visibility::Staff(StaffVisibility {
                        parties,
                        organisation: s.organisation.clone(),
                        administrative: (s.role == Role::SupportStaff).then_some(&care::access::ADMINISTRATIVE[..]),
                        demographics: &care::access::DEMOGRAPHICS,
                        now: now.0,
                        encounters_since: now.minus(policy.encounter_window).0,
                        conferences_since: now.minus(policy.conference_grace).0,
                    }),
                    organisation: Some(s.organisation.clone()),
                    may_write: true,
                }
            }
            Caller::Staff(s) => CallerAccess { visibility: Visibility::Shared, organisation: Some(s.organisation.clone()), may_write: false },
        };
        Ok(Session { app: self.clone(), caller: Arc::new(caller.clone()), access: Arc::new(access), touched: Default::default() })
    }

    /// The session of a trusted integration system inside this process (the command line's import and
    /// export, the demo's seeding): it sees and writes everything.
    pub fn as_system(&self, name: &str) -> Session {
        Session {
            app: self.clone(),
            caller: Arc::new(Caller::System { name: name.to_owned() }),
            access: Arc::new(CallerAccess { visibility: Visibility::All, organisation: None, may_write: true }),
            touched: Default::default(),
        }
    }
}

impl Session {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// What the store filters this caller's reads by.
    pub(crate) fn visibility(&self) -> &Visibility {
        &self.access.visibility
    }

    /// Whether the caller is a trusted integration system.
    pub(crate) fn is_system(&self) -> bool {
        matches!(*self.caller, Caller::System { .. })
    }

    /// Who writes now.
    pub(crate) fn writing(&self) -> Writing {
        Writing {
            now: crate::instant::now(),
            source: self.access.organisation.as_ref().map(|o| format!("Organization/{o}")),
            sensitive: self.config.sensitive_codes.clone(),
            cohorts: Some(self.config.cohorts.clone()),
        }
    }

    /// Runs a unit of work as this caller: inside it, what the caller may not see does not exist, and a
    /// write into a record outside their relationships is refused (403) and rolled back.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        unit: impl FnOnce(&mut dyn Tx) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        if !self.access.may_write {
            return Err(AppError::Forbidden(format!("the role {} does not write into records", self.caller.role())));
        }
        let access = self.access.clone();
        self.app.store.write(move |tx| if access.visibility == Visibility::All { unit(tx) } else { unit(&mut Guarded { tx, access: &access }) }).await
    }
}

/// A unit's view of the store as one caller: reads of what they may not see find nothing; a write must
/// leave the written resource visible to them (a new Patient apart: registering a person starts a record
/// before any relationship exists), and may not overwrite what they cannot see.
struct Guarded<'a> {
    tx: &'a mut dyn Tx,
    access: &'a CallerAccess,
}

fn refused(resource_type: &str, id: &str) -> StoreError {
    StoreError::Forbidden(format!("no care relationship gives you access to write {resource_type}/{id}"))
}

impl Tx for Guarded<'_> {
    fn current(&mut self, resource_type: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        match self.tx.current(resource_type, id)? {
            Some(s) if self.tx.sees(resource_type, id, &self.access.visibility)? => Ok(Some(s)),
            _ => Ok(None),
        }
    }

    /// Finds among what the caller may see.
    fn find(&mut self, resource_type: &str, criteria: &[TokenCriterion], limit: usize) -> Result<Vec<String>, StoreError> {
        self.tx.find_visible(resource_type, criteria, limit, &self.access.visibility)
    }

    /// Never wider than what the caller may see, whatever visibility is asked for.
    fn find_visible(&mut self, resource_type: &str, criteria: &[TokenCriterion], limit: usize, _: &Visibility) -> Result<Vec<String>, StoreError> {
        self.find(resource_type, criteria, limit)
    }

    fn sees(&mut self, resource_type: &str, id: &str, _: &Visibility) -> Result<bool, StoreError> {
        self.tx.sees(resource_type, id, &self.access.visibility)
    }

    fn referrers(&mut self, resource_type: &str, id: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        self.tx.referrers(resource_type, id, limit)
    }

    fn put(&mut self, v: NewVersion<'_>) -> Result<Stored, StoreError> {
        let vis = &self.access.visibility;
        // A version 1 written by PUT is an update that would create at an id the client chose. An id the
        // caller may not see is taken, so the two cannot be told apart only if neither is allowed: callers
        // behind the guard create with POST (the server chooses the id), and both answer 404 alike.
        if v.version == 1 && v.method == Method::Put {
            return Err(StoreError::NotFound(format!(
                "{}/{} does not exist; a new resource is created with POST, which gives it its id",
                v.resource_type, v.id
            )));
        }
        if self.tx.current(v.resource_type, v.id)?.is_some() && !self.tx.sees(v.resource_type, v.id, vis)? {
            return Err(refused(v.resource_type, v.id));
        }
        let registering = v.resource_type == "Patient" && v.version == 1;
        let (resource_type, id, deletion) = (v.resource_type.to_owned(), v.id.to_owned(), v.body.is_none());
        let stored = self.tx.put(v)?;
        if !deletion && !registering && !self.tx.sees(&resource_type, &id, vis)? {
            return Err(refused(&resource_type, &id));
        }
        Ok(stored)
    }
}
