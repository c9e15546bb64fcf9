//! Code systems and the few codes of Joinery's own that the generated records use.
//!
//! Standard systems are named by their canonical URLs. Two small code systems of Joinery's own
//! name the kind of an organisation and the type of an episode of care, for which no UK or HL7
//! code system fits; they are placeholders until the project settles where such codes live.

pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
pub const ACT_PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/v3-ActPriority";
pub const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
pub const CONTACT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/v2-0131";
pub const APPOINTMENT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v2-0276";
pub const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
pub const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
pub const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
pub const ORGANIZATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/organization-type";
pub const PRACTITIONER_ROLE: &str = "http://terminology.hl7.org/CodeSystem/practitioner-role";
pub const SERVICE_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/service-category";
pub const ADMIT_SOURCE: &str = "http://terminology.hl7.org/CodeSystem/admit-source";
pub const DISCHARGE_DISPOSITION: &str = "http://terminology.hl7.org/CodeSystem/discharge-disposition";
pub const MEDICATION_REQUEST_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/medicationrequest-category";
pub const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
pub const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
pub const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";
/// Joinery's code for a care team member who coordinates the person's care (read by the access rules).
pub const CARE_TEAM_ROLE: &str = "urn:joinery:care-team-role";
pub const COURSE_OF_THERAPY: &str = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy";

/// Joinery's code system for the kind of an organisation in the provider network.
pub const ORGANISATION_KIND_SYSTEM: &str = "https://joinery.example/fhir/CodeSystem/organisation-kind";
/// Joinery's code system for the type of an episode of care.
pub const EPISODE_TYPE_SYSTEM: &str = "https://joinery.example/fhir/CodeSystem/episode-type";

/// The kinds of organisation, as (code, display) in `ORGANISATION_KIND_SYSTEM`.
pub mod organisation_kind {
    pub const BOROUGH: (&str, &str) = ("borough", "Borough");
    pub const PRIMARY_CARE_NETWORK: (&str, &str) = ("primary-care-network", "Primary care network");
    pub const GP_PRACTICE: (&str, &str) = ("gp-practice", "GP practice");
    pub const ACUTE_TRUST: (&str, &str) = ("acute-trust", "Hospital trust");
    pub const COMMUNITY_TRUST: (&str, &str) = ("community-trust", "Community health trust");
    pub const MENTAL_HEALTH_TRUST: (&str, &str) = ("mental-health-trust", "Mental health trust");
    pub const ADULT_SOCIAL_CARE: (&str, &str) = ("adult-social-care", "Council adult social care");
    pub const VOLUNTARY: (&str, &str) = ("voluntary-organisation", "Voluntary organisation");
}

/// The types of episode of care, as (code, display) in `EPISODE_TYPE_SYSTEM`.
pub mod episode_type {
    pub const GP_REGISTRATION: (&str, &str) = ("gp-registration", "Registration with a GP practice");
    pub const MENTAL_HEALTH: (&str, &str) = ("mental-health", "Mental health service");
    pub const ADULT_SOCIAL_CARE: (&str, &str) = ("adult-social-care", "Adult social care");
    pub const COMMUNITY_NURSING: (&str, &str) = ("community-nursing", "Community nursing");
}
