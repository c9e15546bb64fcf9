//! The provider network of a preset: boroughs, primary care networks and GP practices, hospital, community and mental-health trusts, councils' adult social care, voluntary organisations and their services, and the professionals in each.

use crate::names::{PRACTICE_KINDS, PRACTICE_WORDS, STREETS};
use crate::output::{Chunk, ResourceType};
use crate::population::{ons_borough, people_by_age, postcode_districts, OnsBorough, AGES, INWARD_LETTERS};
use crate::random::Random;
use crate::vocabulary::{self as vocab, organisation_kind};
use crate::Preset;
use serde_json::{json, Value};
use std::collections::HashSet;

/// A hospital trust and the boroughs it mainly serves.
struct TrustPlan {
    name: &'static str,
    boroughs: &'static [&'static str],
}

/// Where a preset's people live and which trusts serve them.
struct Geography {
    region: &'static str,
    boroughs: &'static [&'static str],
    trusts: &'static [TrustPlan],
    /// The preset's published size: registered people and GP practices.
    people: usize,
    practices: usize,
}

const NORTH_WEST_LONDON: Geography = Geography {
    region: "North West London",
    boroughs: &["Brent", "Ealing", "Hammersmith and Fulham", "Harrow", "Hillingdon", "Hounslow", "Kensington and Chelsea", "Westminster"],
    trusts: &[
        TrustPlan { name: "Inner West London Hospitals NHS Trust", boroughs: &["Westminster", "Kensington and Chelsea", "Hammersmith and Fulham"] },
        TrustPlan { name: "Brent and Harrow Hospitals NHS Trust", boroughs: &["Brent", "Harrow"] },
        TrustPlan { name: "Ealing and Hounslow Hospitals NHS Trust", boroughs: &["Ealing", "Hounslow"] },
        TrustPlan { name: "Hillingdon and Uxbridge Hospitals NHS Trust", boroughs: &["Hillingdon"] },
    ],
    people: 2_111_469,
    practices: 360,
};

const CENTRAL_LONDON: Geography = Geography {
    region: "Central London",
    boroughs: &["Westminster"],
    trusts: &[
        TrustPlan { name: "Central London Hospitals NHS Trust", boroughs: &["Westminster"] },
        TrustPlan { name: "Paddington and Marylebone Hospitals NHS Trust", boroughs: &["Westminster"] },
    ],
    people: 199_000,
    practices: 35,
};

fn geography(preset: Preset) -> &'static Geography {
    match preset {
        Preset::CentralLondon => &CENTRAL_LONDON,
        Preset::NorthWestLondon | Preset::Custom => &NORTH_WEST_LONDON,
    }
}

/// The published size of a preset: (people, GP practices).
pub(crate) fn preset_size(preset: Preset) -> (usize, usize) {
    let geography = geography(preset);
    (geography.people, geography.practices)
}

/// GP practices for `people`: see `Preset::practices_for`.
pub(crate) fn practices_for(preset: Preset, people: usize) -> usize {
    let geography = geography(preset);
    if people == geography.people {
        geography.practices
    } else {
        ((people as f64 * geography.practices as f64 / geography.people as f64).round() as usize).max(geography.boroughs.len())
    }
}

/// Hospital specialties, with their SNOMED CT codes (from the FHIR practice-codes value set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Specialty {
    AccidentAndEmergency,
    GeneralMedicine,
    Cardiology,
    RespiratoryMedicine,
    DiabeticMedicine,
    GeriatricMedicine,
    MedicalOncology,
    Rheumatology,
    Neurology,
    Nephrology,
}

pub(crate) const SPECIALTIES: [Specialty; 10] = [
    Specialty::AccidentAndEmergency,
    Specialty::GeneralMedicine,
    Specialty::Cardiology,
    Specialty::RespiratoryMedicine,
    Specialty::DiabeticMedicine,
    Specialty::GeriatricMedicine,
    Specialty::MedicalOncology,
    Specialty::Rheumatology,
    Specialty::Neurology,
    Specialty::Nephrology,
];

impl Specialty {
    pub fn coding(self) -> (&'static str, &'static str) {
        match self {
            Specialty::AccidentAndEmergency => ("394576009", "Accident & emergency"),
            Specialty::GeneralMedicine => ("394802001", "General medicine"),
            Specialty::Cardiology => ("394579002", "Cardiology"),
            Specialty::RespiratoryMedicine => ("418112009", "Pulmonary medicine"),
            Specialty::DiabeticMedicine => ("408475000", "Diabetic medicine"),
            Specialty::GeriatricMedicine => ("394811001", "Geriatric medicine"),
            Specialty::MedicalOncology => ("394593009", "Medical oncology"),
            Specialty::Rheumatology => ("394810000", "Rheumatology"),
            Specialty::Neurology => ("394591006", "Neurology"),
            Specialty::Nephrology => ("394589003", "Nephrology"),
        }
    }
}

/// What a professional does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    GeneralPractitioner,
    PracticeNurse,
    Consultant(Specialty),
    Psychiatrist,
    MentalHealthNurse,
    DistrictNurse,
    SocialWorker,
    VolunteerCoordinator,
}

/// A code and its display.
type Code = (&'static str, &'static str);

/// How a role is coded on a PractitionerRole.
struct RoleCodes {
    /// HL7 practitioner-role code.
    hl7: Option<Code>,
    /// SNOMED CT occupation.
    occupation: Option<Code>,
    /// SNOMED CT specialty.
    specialty: Option<Code>,
    title: &'static str,
}

impl Role {
    fn codes(self) -> RoleCodes {
        const DOCTOR: Option<Code> = Some(("doctor", "Doctor"));
        const NURSE: Option<Code> = Some(("nurse", "Nurse"));
        const REGISTERED_NURSE: Option<Code> = Some(("224535009", "Registered nurse"));
        const PHYSICIAN: Option<Code> = Some(("309343006", "Physician"));
        const GENERAL_PRACTICE: Option<Code> = Some(("394814009", "General practice"));
        const PSYCHIATRY: Option<Code> = Some(("394587001", "Psychiatry"));
        let codes = |hl7, occupation, specialty, title| RoleCodes { hl7, occupation, specialty, title };
        match self {
            Role::GeneralPractitioner => codes(DOCTOR, Some(("62247001", "General practitioner")), GENERAL_PRACTICE, "General practitioner"),
            Role::PracticeNurse => codes(NURSE, REGISTERED_NURSE, GENERAL_PRACTICE, "Practice nurse"),
            Role::Consultant(specialty) => codes(DOCTOR, PHYSICIAN, Some(specialty.coding()), "Consultant"),
            Role::Psychiatrist => codes(DOCTOR, PHYSICIAN, PSYCHIATRY, "Consultant psychiatrist"),
            Role::MentalHealthNurse => codes(NURSE, REGISTERED_NURSE, PSYCHIATRY, "Community mental health nurse"),
            Role::DistrictNurse => codes(NURSE, REGISTERED_NURSE, Some(("394581000", "Community medicine")), "District nurse"),
            Role::SocialWorker => codes(None, Some(("106328005", "Social worker")), None, "Social worker"),
            Role::VolunteerCoordinator => codes(None, None, None, "Volunteer coordinator"),
        }
    }

    fn is_doctor(self) -> bool {
        matches!(self, Role::GeneralPractitioner | Role::Consultant(_) | Role::Psychiatrist)
    }
}

/// A postal address in a borough.
#[derive(Clone, Debug)]
pub(crate) struct Address {
    pub line: String,
    pub borough: &'static str,
    pub postcode: String,
}

impl Address {
    pub fn generate(random: &mut Random, borough: &'static str) -> Address {
        let number = random.between(1, 180);
        let street = random.pick(STREETS);
        let district = random.pick(postcode_districts(borough));
        let sector = random.below(10);
        let first = INWARD_LETTERS[random.below(INWARD_LETTERS.len() as u64) as usize] as char;
        let second = INWARD_LETTERS[random.below(INWARD_LETTERS.len() as u64) as usize] as char;
        Address { line: format!("{number} {street}"), borough, postcode: format!("{district} {sector}{first}{second}") }
    }

    pub fn to_json(&self, usage: &str) -> Value {
        json!({
            "use": usage,
            "line": [self.line],
            "city": "London",
            "district": self.borough,
            "postalCode": self.postcode,
            "country": "GB",
        })
    }
}

/// A London landline from the range Ofcom keeps for drama (020 7946 0000 to 0999), so no real line is named.
pub(crate) fn landline(random: &mut Random) -> String {
    format!("020 7946 0{:03}", random.below(1000))
}

/// A mobile number from the range Ofcom keeps for drama (07700 900000 to 900999).
pub(crate) fn mobile(random: &mut Random) -> String {
    format!("07700 900{:03}", random.below(1000))
}

pub(crate) struct Organisation {
    pub id: String,
    name: String,
    kind: (&'static str, &'static str),
    hl7_type: (&'static str, &'static str),
    part_of: Option<usize>,
    address: Option<Address>,
    phone: Option<String>,
}

pub(crate) struct Professional {
    pub id: String,
    role_id: String,
    given: &'static str,
    family: &'static str,
    female: bool,
    organisation: usize,
    role: Role,
}

struct Service {
    id: String,
    organisation: usize,
    offer: &'static Offer,
}

pub(crate) struct Practice {
    pub organisation: usize,
    pub gps: Vec<usize>,
    pub nurses: Vec<usize>,
}

pub(crate) struct Borough {
    pub name: &'static str,
    pub council: usize,
    pub practices: Vec<usize>,
    practice_weights: Vec<f64>,
    ages: Vec<f64>,
    pub social_workers: Vec<usize>,
    /// Acute trusts serving the borough (indexes into `Network::trusts`), with running weights.
    trusts: Vec<usize>,
    trust_weights: Vec<f64>,
}

pub(crate) struct Trust {
    pub organisation: usize,
    /// Consultants by `Specialty`.
    pub consultants: Vec<Vec<usize>>,
}

/// The whole provider network; shared read-only by the threads that generate people.
pub(crate) struct Network {
    pub organisations: Vec<Organisation>,
    pub professionals: Vec<Professional>,
    services: Vec<Service>,
    pub boroughs: Vec<Borough>,
    borough_weights: Vec<f64>,
    pub practices: Vec<Practice>,
    pub trusts: Vec<Trust>,
    pub community_trust: usize,
    pub district_nurses: Vec<usize>,
    pub mental_health_trust: usize,
    pub mental_health_nurses: Vec<usize>,
    /// People by single year of age over the whole geography.
    pub people_by_age: [f64; AGES],
}

/// Builds professionals one by one.
struct Staffing<'a> {
    random: &'a mut Random,
    professionals: Vec<Professional>,
}

impl Staffing<'_> {
    fn hire(&mut self, organisation: usize, role: Role, count: usize) -> Vec<usize> {
        (0..count)
            .map(|_| {
                let index = self.professionals.len();
                let female = self.random.chance(0.55);
                let given = if female { self.random.pick(crate::names::YOUNGER_FEMALE) } else { self.random.pick(crate::names::YOUNGER_MALE) };
                let family = self.random.pick(crate::names::SURNAMES);
                self.professionals.push(Professional {
                    id: format!("prac-{index}"),
                    role_id: format!("role-{index}"),
                    given,
                    family,
                    female,
                    organisation,
                    role,
                });
                index
            })
            .collect()
    }
}

fn scaled(population: f64, per: f64, min: usize, max: usize) -> usize {
    ((population / per).round() as usize).clamp(min, max)
}

impl Network {
    /// The network of `preset` sized for `people`: the preset's published number of practices
    /// at its published size, and the same list size per practice at any other size.
    pub fn build(preset: Preset, people: usize, random: &mut Random) -> Network {
        let geography = geography(preset);
        let onss: Vec<&'static OnsBorough> = geography.boroughs.iter().map(|name| ons_borough(name)).collect();
        let ons_total: f64 = onss.iter().map(|ons| f64::from(ons.total)).sum();
        let practice_total = practices_for(preset, people);
        let per_borough = largest_remainder(&onss.iter().map(|ons| f64::from(ons.total)).collect::<Vec<_>>(), practice_total, 1);

        let mut organisations: Vec<Organisation> = Vec::new();
        let mut staffing = Staffing { random, professionals: Vec::new() };
        let mut practices = Vec::new();
        let mut boroughs = Vec::new();
        let mut services = Vec::new();
        let mut practice_names = HashSet::new();
        let mut people_by_age_total = [0.0; AGES];

        for (borough_index, (name, ons)) in geography.boroughs.iter().zip(&onss).enumerate() {
            let expected_people = people as f64 * f64::from(ons.total) / ons_total;
            let borough_org = organisations.len();
            organisations.push(Organisation {
                id: format!("org-borough-{borough_index}"),
                name: name.to_string(),
                kind: organisation_kind::BOROUGH,
                hl7_type: ("govt", "Government"),
                part_of: None,
                address: None,
                phone: None,
            });
            let council = organisations.len();
            organisations.push(Organisation {
                id: format!("org-social-care-{borough_index}"),
                name: format!("{} Adult Social Care", council_name(name)),
                kind: organisation_kind::ADULT_SOCIAL_CARE,
                hl7_type: ("govt", "Government"),
                part_of: Some(borough_org),
                address: Some(Address::generate(staffing.random, name)),
                phone: Some(landline(staffing.random)),
            });
            let social_workers = staffing.hire(council, Role::SocialWorker, scaled(expected_people, 15_000.0, 3, 400));

            let count = per_borough[borough_index];
            let networks = ((count as f64 / 7.0).round() as usize).max(1);
            let network_orgs: Vec<usize> = (0..networks)
                .map(|network| {
                    let index = organisations.len();
                    organisations.push(Organisation {
                        id: format!("org-pcn-{borough_index}-{network}"),
                        name: format!("{name} Primary Care Network {}", network + 1),
                        kind: organisation_kind::PRIMARY_CARE_NETWORK,
                        hl7_type: ("prov", "Healthcare Provider"),
                        part_of: Some(borough_org),
                        address: None,
                        phone: None,
                    });
                    index
                })
                .collect();
            let weights: Vec<f64> = (0..count).map(|_| (0.45 * staffing.random.normal()).exp()).collect();
            let weight_total: f64 = weights.iter().sum();
            let mut borough_practices = Vec::with_capacity(count);
            for (within, weight) in weights.iter().enumerate() {
                let practice_index = practices.len();
                let address = Address::generate(staffing.random, name);
                let name_text = practice_name(staffing.random, &mut practice_names, &address);
                let organisation = organisations.len();
                organisations.push(Organisation {
                    id: format!("org-practice-{practice_index}"),
                    name: name_text,
                    kind: organisation_kind::GP_PRACTICE,
                    hl7_type: ("prov", "Healthcare Provider"),
                    part_of: Some(network_orgs[within * networks / count]),
                    address: Some(address),
                    phone: Some(landline(staffing.random)),
                });
                let list = expected_people * weight / weight_total;
                let gps = staffing.hire(organisation, Role::GeneralPractitioner, scaled(list, 2_000.0, 2, 40));
                let nurses = staffing.hire(organisation, Role::PracticeNurse, scaled(list, 4_000.0, 1, 20));
                practices.push(Practice { organisation, gps, nurses });
                borough_practices.push(practice_index);
            }

            let by_age = people_by_age(ons);
            for (total, count) in people_by_age_total.iter_mut().zip(by_age.iter()) {
                *total += count;
            }
            services.extend(voluntary_sector(&mut organisations, &mut staffing, borough_index, name, expected_people));
            boroughs.push(Borough {
                name,
                council,
                practices: borough_practices,
                practice_weights: running(&weights),
                ages: running(&by_age),
                social_workers,
                trusts: Vec::new(),
                trust_weights: Vec::new(),
            });
        }

        let mut trusts = Vec::new();
        for (trust_index, plan) in geography.trusts.iter().enumerate() {
            let organisation = organisations.len();
            organisations.push(Organisation {
                id: format!("org-trust-{trust_index}"),
                name: plan.name.to_owned(),
                kind: organisation_kind::ACUTE_TRUST,
                hl7_type: ("prov", "Healthcare Provider"),
                part_of: None,
                address: Some(Address::generate(staffing.random, plan.boroughs[0])),
                phone: Some(landline(staffing.random)),
            });
            let served: f64 = plan
                .boroughs
                .iter()
                .map(|name| {
                    people as f64 * f64::from(ons_borough(name).total)
                        / ons_total
                        / geography.trusts.iter().filter(|t| t.boroughs.contains(name)).count() as f64
                })
                .sum();
            let consultants = SPECIALTIES
                .iter()
                .map(|specialty| {
                    let per = if *specialty == Specialty::AccidentAndEmergency { 40_000.0 } else { 80_000.0 };
                    staffing.hire(organisation, Role::Consultant(*specialty), scaled(served, per, 2, 60))
                })
                .collect();
            trusts.push(Trust { organisation, consultants });
        }
        for borough in &mut boroughs {
            let serving: Vec<usize> = (0..geography.trusts.len()).filter(|t| geography.trusts[*t].boroughs.contains(&borough.name)).collect();
            // Most people use a trust that serves their borough (split 60/40 where two do); some go further afield.
            let others = geography.trusts.len() - serving.len();
            let local = if others == 0 { 1.0 } else { 0.85 };
            let weights: Vec<f64> = (0..geography.trusts.len())
                .map(|trust| match serving.iter().position(|t| *t == trust) {
                    Some(_) if serving.len() == 1 => local,
                    Some(0) => local * 0.6,
                    Some(_) => local * 0.4 / (serving.len() - 1) as f64,
                    None => (1.0 - local) / others as f64,
                })
                .collect();
            borough.trusts = (0..geography.trusts.len()).collect();
            borough.trust_weights = running(&weights);
        }

        let region = geography.region;
        let community_trust = organisations.len();
        organisations.push(Organisation {
            id: "org-community-trust".to_owned(),
            name: format!("{region} Community Health NHS Trust"),
            kind: organisation_kind::COMMUNITY_TRUST,
            hl7_type: ("prov", "Healthcare Provider"),
            part_of: None,
            address: Some(Address::generate(staffing.random, geography.boroughs[0])),
            phone: Some(landline(staffing.random)),
        });
        let district_nurses = staffing.hire(community_trust, Role::DistrictNurse, scaled(people as f64, 8_000.0, 4, 2_000));
        let mental_health_trust = organisations.len();
        organisations.push(Organisation {
            id: "org-mental-health-trust".to_owned(),
            name: format!("{region} Mental Health NHS Trust"),
            kind: organisation_kind::MENTAL_HEALTH_TRUST,
            hl7_type: ("prov", "Healthcare Provider"),
            part_of: None,
            address: Some(Address::generate(staffing.random, geography.boroughs[0])),
            phone: Some(landline(staffing.random)),
        });
        staffing.hire(mental_health_trust, Role::Psychiatrist, scaled(people as f64, 40_000.0, 2, 200));
        let mental_health_nurses = staffing.hire(mental_health_trust, Role::MentalHealthNurse, scaled(people as f64, 10_000.0, 3, 800));

        let borough_weights = running(&onss.iter().map(|ons| f64::from(ons.total)).collect::<Vec<_>>());
        Network {
            organisations,
            professionals: staffing.professionals,
            services,
            boroughs,
            borough_weights,
            practices,
            trusts,
            community_trust,
            district_nurses,
            mental_health_trust,
            mental_health_nurses,
            people_by_age: people_by_age_total,
        }
    }

    /// A borough, in proportion to its people.
    pub fn pick_borough(&self, random: &mut Random) -> usize {
        random.weighted(&self.borough_weights)
    }

    /// An age in a borough, in proportion to its people of each age.
    pub fn pick_age(&self, random: &mut Random, borough: usize) -> u32 {
        random.weighted(&self.boroughs[borough].ages) as u32
    }

    /// A practice in a borough, in proportion to its list size.
    pub fn pick_practice(&self, random: &mut Random, borough: usize) -> usize {
        let borough = &self.boroughs[borough];
        borough.practices[random.weighted(&borough.practice_weights)]
    }

    /// The acute trust a person of a borough uses.
    pub fn pick_trust(&self, random: &mut Random, borough: usize) -> usize {
        let borough = &self.boroughs[borough];
        borough.trusts[random.weighted(&borough.trust_weights)]
    }

    pub fn organisation_id(&self, organisation: usize) -> &str {
        &self.organisations[organisation].id
    }

    pub fn professional_id(&self, professional: usize) -> &str {
        &self.professionals[professional].id
    }

    /// The organisation a professional works for.
    pub fn professional_organisation(&self, professional: usize) -> usize {
        self.professionals[professional].organisation
    }

    /// Writes every Organization, HealthcareService, Practitioner and PractitionerRole.
    pub fn write(&self, chunk: &mut Chunk) {
        for organisation in &self.organisations {
            let mut resource = json!({
                "resourceType": "Organization",
                "id": organisation.id,
                "active": true,
                "type": [{"coding": [
                    {"system": vocab::ORGANIZATION_TYPE, "code": organisation.hl7_type.0, "display": organisation.hl7_type.1},
                    {"system": vocab::ORGANISATION_KIND_SYSTEM, "code": organisation.kind.0, "display": organisation.kind.1},
                ]}],
                "name": organisation.name,
            });
            if let Some(phone) = &organisation.phone {
                resource["telecom"] = json!([{"system": "phone", "value": phone, "use": "work"}]);
            }
            if let Some(address) = &organisation.address {
                resource["address"] = json!([address.to_json("work")]);
            }
            if let Some(parent) = organisation.part_of {
                resource["partOf"] = json!({"reference": format!("Organization/{}", self.organisations[parent].id)});
            }
            chunk.push(ResourceType::Organization, &resource);
        }
        for service in &self.services {
            let resource = json!({
                "resourceType": "HealthcareService",
                "id": service.id,
                "active": true,
                "providedBy": {"reference": format!("Organization/{}", self.organisations[service.organisation].id)},
                "category": [{"coding": [{"system": vocab::SERVICE_CATEGORY, "code": service.offer.category.0, "display": service.offer.category.1}]}],
                "type": [{"text": service.offer.kind}],
                "name": service.offer.name,
                "eligibility": [{"code": {"text": service.offer.eligibility}}],
                "availableTime": [{"daysOfWeek": service.offer.days, "availableStartTime": service.offer.hours.0, "availableEndTime": service.offer.hours.1}],
            });
            chunk.push(ResourceType::HealthcareService, &resource);
        }
        for professional in &self.professionals {
            let mut name = json!({"family": professional.family, "given": [professional.given]});
            if professional.role.is_doctor() {
                name["prefix"] = json!(["Dr"]);
            }
            chunk.push(
                ResourceType::Practitioner,
                &json!({
                    "resourceType": "Practitioner",
                    "id": professional.id,
                    "active": true,
                    "name": [name],
                    "gender": if professional.female { "female" } else { "male" },
                }),
            );
            let RoleCodes { hl7, occupation, specialty, title } = professional.role.codes();
            let mut codings = Vec::new();
            if let Some((code, display)) = hl7 {
                codings.push(json!({"system": vocab::PRACTITIONER_ROLE, "code": code, "display": display}));
            }
            if let Some((code, display)) = occupation {
                codings.push(json!({"system": vocab::SNOMED, "code": code, "display": display}));
            }
            let mut role = json!({
                "resourceType": "PractitionerRole",
                "id": professional.role_id,
                "active": true,
                "practitioner": {"reference": format!("Practitioner/{}", professional.id)},
                "organization": {"reference": format!("Organization/{}", self.organisations[professional.organisation].id)},
            });
            // A role with no code in either system (a volunteer coordinator) is named by its text alone:
            // FHIR forbids an empty `coding` array.
            role["code"] = if codings.is_empty() { json!([{"text": title}]) } else { json!([{"coding": codings, "text": title}]) };
            if let Some((code, display)) = specialty {
                role["specialty"] = json!([{"coding": [{"system": vocab::SNOMED, "code": code, "display": display}]}]);
            }
            chunk.push(ResourceType::PractitionerRole, &role);
        }
    }
}

/// The council that runs adult social care in a borough.
fn council_name(borough: &str) -> String {
    match borough {
        "Westminster" => "Westminster City Council".to_owned(),
        "Kensington and Chelsea" => "Royal Borough of Kensington and Chelsea".to_owned(),
        other => format!("London Borough of {other}"),
    }
}

/// A practice name not used before in the network.
fn practice_name(random: &mut Random, used: &mut HashSet<String>, address: &Address) -> String {
    for _ in 0..8 {
        let name = format!("{} {}", random.pick(PRACTICE_WORDS), random.pick(PRACTICE_KINDS));
        if used.insert(name.clone()) {
            return name;
        }
    }
    let name = format!("{} {}, {}", random.pick(PRACTICE_WORDS), random.pick(PRACTICE_KINDS), address.line);
    used.insert(name.clone());
    name
}

/// A service a voluntary organisation offers, for the directory.
struct Offer {
    name: &'static str,
    category: Code,
    kind: &'static str,
    eligibility: &'static str,
    days: &'static [&'static str],
    hours: (&'static str, &'static str),
}

const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];
const AGED_CARE: Code = ("2", "Aged Care");
const SUPPORT_GROUPS: Code = ("32", "Support Group/s");
const PHYSICAL_ACTIVITY: Code = ("23", "Physical Activity & Recreation");

const AGE_UK_OFFERS: &[Offer] = &[
    Offer {
        name: "Information and advice",
        category: AGED_CARE,
        kind: "Advice",
        eligibility: "Aged 60 and over, and their carers",
        days: WEEKDAYS,
        hours: ("09:30:00", "16:30:00"),
    },
    Offer {
        name: "Befriending",
        category: SUPPORT_GROUPS,
        kind: "Befriending",
        eligibility: "Aged 60 and over who live alone or feel lonely",
        days: WEEKDAYS,
        hours: ("10:00:00", "16:00:00"),
    },
    Offer {
        name: "Day centre",
        category: AGED_CARE,
        kind: "Day care",
        eligibility: "Aged 65 and over",
        days: WEEKDAYS,
        hours: ("10:00:00", "15:00:00"),
    },
];

const BUDDYING_OFFERS: &[Offer] = &[Offer {
    name: "Buddying for people with long-term conditions",
    category: SUPPORT_GROUPS,
    kind: "Buddying",
    eligibility: "Adults with a long-term condition who would like support to get out and about",
    days: WEEKDAYS,
    hours: ("09:00:00", "17:00:00"),
}];

const EXERCISE_OFFERS: &[Offer] = &[
    Offer {
        name: "Strength and balance classes",
        category: PHYSICAL_ACTIVITY,
        kind: "Falls prevention exercise",
        eligibility: "Aged 60 and over, or at risk of falls",
        days: &["tue", "thu"],
        hours: ("10:30:00", "11:30:00"),
    },
    Offer {
        name: "Walking group",
        category: PHYSICAL_ACTIVITY,
        kind: "Walking group",
        eligibility: "Anyone able to walk for 30 minutes",
        days: &["wed"],
        hours: ("11:00:00", "12:30:00"),
    },
];

/// A borough's voluntary organisations (an Age UK branch, a buddying scheme, exercise groups) and their services.
fn voluntary_sector(
    organisations: &mut Vec<Organisation>,
    staffing: &mut Staffing<'_>,
    borough_index: usize,
    borough: &'static str,
    expected_people: f64,
) -> Vec<Service> {
    let groups: [(&str, String, &'static [Offer]); 3] = [
        ("age-uk", format!("Age UK {borough}"), AGE_UK_OFFERS),
        ("buddying", format!("{borough} Buddying Scheme"), BUDDYING_OFFERS),
        ("exercise", format!("{borough} Active Ageing Exercise Groups"), EXERCISE_OFFERS),
    ];
    let mut services = Vec::new();
    for (key, name, offers) in groups {
        let organisation = organisations.len();
        organisations.push(Organisation {
            id: format!("org-voluntary-{key}-{borough_index}"),
            name,
            kind: organisation_kind::VOLUNTARY,
            hl7_type: ("cg", "Community Group"),
            part_of: None,
            address: Some(Address::generate(staffing.random, borough)),
            phone: Some(landline(staffing.random)),
        });
        staffing.hire(organisation, Role::VolunteerCoordinator, scaled(expected_people, 100_000.0, 1, 5));
        for offer in offers {
            services.push(Service { id: format!("svc-{key}-{borough_index}-{}", services.len()), organisation, offer });
        }
    }
    services
}

/// Splits `total` into whole parts in proportion to `weights`, each at least `min` (largest remainder).
fn largest_remainder(weights: &[f64], total: usize, min: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let spare = total.saturating_sub(min * weights.len()) as f64;
    let exact: Vec<f64> = weights.iter().map(|weight| spare * weight / sum).collect();
    let mut parts: Vec<usize> = exact.iter().map(|share| min + share.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor())).then(a.cmp(b)));
    let mut missing = total.saturating_sub(parts.iter().sum());
    for index in order.iter().cycle() {
        if missing == 0 {
            break;
        }
        parts[*index] += 1;
        missing -= 1;
    }
    parts
}

/// Running totals of weights, for `Random::weighted`.
fn running(weights: &[f64]) -> Vec<f64> {
    weights
        .iter()
        .scan(0.0, |total, weight| {
            *total += weight;
            Some(*total)
        })
        .collect()
}
