//! SMART scopes: the v2 and v1 forms, what each allows, and that a grant never widens a role's ceiling.

use care::access::Role;
use care::scope::{Context, Perm, Scope, Scopes};

fn types(t: &str) -> bool {
    ["Patient", "Observation", "Appointment"].contains(&t)
}

#[test]
fn v2_and_v1_forms_parse_and_print_canonically() {
    for (text, printed) in [
        ("patient/*.rs", "patient/*.rs"),
        ("user/Observation.cruds", "user/Observation.cruds"),
        ("system/*.*", "system/*.cruds"),
        ("user/*.read", "user/*.rs"),
        ("user/Patient.write", "user/Patient.cud"),
        ("patient/Appointment.s", "patient/Appointment.s"),
    ] {
        assert_eq!(Scope::parse(text, types).map(|s| s.to_string()), Ok(printed.to_owned()), "{text}");
    }
    for bad in ["", "patient", "patient/*", "patient/*.", "patient/*.sr", "patient/*.rx", "admin/*.rs", "user/Unicorn.rs", "user/*.rr", "openid"] {
        assert!(Scope::parse(bad, types).is_err(), "{bad}");
    }
}

#[test]
fn scopes_allow_only_what_they_name() {
    let s = Scopes::parse("user/Observation.rs user/Patient.r", types).expect("scopes");
    assert!(s.allows("Observation", Perm::Search) && s.allows("Observation", Perm::Read));
    assert!(s.allows("Patient", Perm::Read));
    assert!(!s.allows("Patient", Perm::Search));
    assert!(!s.allows("Observation", Perm::Create));
    assert!(!s.allows("Appointment", Perm::Read));
}

#[test]
fn a_grant_never_widens_the_role() {
    let asked = |t: &str| Scopes::parse(t, types).expect("scopes");
    assert!(Scopes::grant(Role::Clinician, asked("user/Observation.rs")).is_ok());
    assert!(Scopes::grant(Role::Clinician, asked("system/*.rs")).is_err(), "staff are not systems");
    assert!(Scopes::grant(Role::Person, asked("patient/*.rs")).is_ok());
    assert!(Scopes::grant(Role::Person, asked("user/*.rs")).is_err(), "a person acts in their own context");
    assert!(Scopes::grant(Role::IntegrationSystem, asked("system/*.cruds")).is_ok());
    assert_eq!(Context::of(Role::Carer), Context::Patient);
    assert_eq!(Scopes::ceiling(Role::SupportStaff).to_string(), "user/*.cruds");
}
