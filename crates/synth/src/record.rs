//! Writes a person as FHIR R4 resources: Patient, RelatedPerson, EpisodeOfCare, CareTeam, Condition, MedicationRequest, Observation, Appointment, Encounter and Consent (opt-outs and carers' grants), each with the organisation that recorded it in `meta.source`, with ids made from the person's index so that every reference is known without lookup.

use crate::calendar::IsoDate;
use crate::catalogue::CONDITIONS;
use crate::json_writer::Object;
use crate::medicine::MEDICINES;
use crate::morbidity::Sex;
use crate::network::{Address, Specialty};
use crate::output::{Chunk, ResourceType};
use crate::person::{AppointmentStatus, Emergency, Measurement, Person, Visit};
use crate::vocabulary as vocab;
use crate::Model;
use care::nhs_number::NHS_NUMBER_SYSTEM;

/// Writes every resource of one person into the chunk.
pub(crate) fn write_person(model: &Model, person: &Person, chunk: &mut Chunk) {
    let writer = PersonWriter { model, person, index: person.index };
    writer.patient(chunk);
    writer.related_person(chunk);
    writer.episodes(chunk);
    writer.care_team(chunk);
    writer.consents(chunk);
    writer.conditions(chunk);
    writer.prescriptions(chunk);
    writer.observations(chunk);
    writer.visits(chunk);
    chunk.people += 1;
    if person.death.is_some() {
        chunk.deceased += 1;
    }
    if person.nhs_number.is_none() {
        chunk.without_nhs_number += 1;
    }
}

struct PersonWriter<'a> {
    model: &'a Model,
    person: &'a Person,
    index: u64,
}

fn gender(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "female",
        Sex::Male => "male",
    }
}

/// A postal address, as FHIR writes it.
pub(crate) fn write_address(address: &mut Object<'_>, value: &Address, usage: &str) {
    address
        .string("use", usage)
        .array("line", |lines| {
            lines.string(&value.line);
        })
        .string("city", "London")
        .string("district", value.borough)
        .string("postalCode", &value.postcode)
        .string("country", "GB");
}

/// A number in 0..100 drawn from the person's index and a salt, without touching the generator's stream, so
/// that what it decides (opt-outs, grants, restricted items) leaves the rest of the population as it was.
fn percent(index: u64, salt: u64) -> u64 {
    let mut z = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100
}

/// Per cent of people who opt out of sharing; of people with next of kin, who grant them access; of
/// conditions, labelled restricted.
const OPT_OUT_PERCENT: u64 = 3;
const CARER_GRANT_PERCENT: u64 = 30;
const RESTRICTED_PERCENT: u64 = 3;

impl PersonWriter<'_> {
    /// `meta`: the organisation that recorded the resource and, if so, its restricted label.
    fn source(&self, resource: &mut Object<'_>, organisation: usize, restricted: bool) {
        resource.object("meta", |meta| {
            meta.formatted("source", format_args!("Organization/{}", self.model.network.organisation_id(organisation)));
            if restricted {
                meta.array("security", |labels| {
                    labels.coding(vocab::CONFIDENTIALITY, "R", "restricted");
                });
            }
        });
    }

    fn subject(&self, resource: &mut Object<'_>, key: &str) {
        resource.reference(key, format_args!("Patient/pat-{}", self.index));
    }

    fn organisation(&self, resource: &mut Object<'_>, key: &str, organisation: usize) {
        resource.reference(key, format_args!("Organization/{}", self.model.network.organisation_id(organisation)));
    }

    fn practitioner(&self, resource: &mut Object<'_>, key: &str, professional: usize) {
        resource.reference(key, format_args!("Practitioner/{}", self.model.network.professional_id(professional)));
    }

    fn date(&self, resource: &mut Object<'_>, key: &str, day: i32) {
        resource.formatted(key, format_args!("{}", self.model.calendar.day(day)));
    }

    fn instant(&self, resource: &mut Object<'_>, key: &str, minutes: i64) {
        resource.formatted(key, format_args!("{}", self.model.calendar.at(minutes)));
    }

    fn practice(&self) -> usize {
        self.model.network.practices[self.person.practice].organisation
    }

    fn patient(&self, chunk: &mut Chunk) {
        let person = self.person;
        chunk.write(ResourceType::Patient, |resource| {
            resource.formatted("id", format_args!("pat-{}", self.index));
            self.source(resource, self.practice(), false);
            if let Some(number) = person.nhs_number {
                resource.array("identifier", |identifiers| {
                    identifiers.object(|identifier| {
                        identifier.string("system", NHS_NUMBER_SYSTEM).string("value", number.as_str());
                    });
                });
            }
            resource.boolean("active", true).array("name", |names| {
                names.object(|name| {
                    name.string("use", "official").string("family", person.family).array("given", |given| {
                        given.string(person.given);
                    });
                });
            });
            if person.home_phone.is_some() || person.mobile_phone.is_some() {
                resource.array("telecom", |telecoms| {
                    for (phone, usage) in [(&person.home_phone, "home"), (&person.mobile_phone, "mobile")] {
                        if let Some(phone) = phone {
                            telecoms.object(|telecom| {
                                telecom.string("system", "phone").string("value", phone).string("use", usage);
                            });
                        }
                    }
                });
            }
            resource.string("gender", gender(person.sex)).formatted("birthDate", format_args!("{}", IsoDate(person.birth)));
            if let Some(death) = person.death {
                self.date(resource, "deceasedDateTime", death);
            }
            resource.array("address", |addresses| {
                addresses.object(|address| write_address(address, &person.address, "home"));
            });
            resource.array("generalPractitioner", |practitioners| {
                practitioners.reference(format_args!("Organization/{}", self.model.network.organisation_id(self.practice())));
            });
            self.organisation(resource, "managingOrganization", self.practice());
        });
    }

    fn related_person(&self, chunk: &mut Chunk) {
        let Some(kin) = &self.person.kin else { return };
        chunk.write(ResourceType::RelatedPerson, |resource| {
            resource.formatted("id", format_args!("rel-{}", self.index));
            self.source(resource, self.practice(), false);
            resource.boolean("active", true);
            self.subject(resource, "patient");
            resource
                .array("relationship", |relationships| {
                    relationships.object(|relationship| {
                        relationship.array("coding", |codings| {
                            codings.coding(vocab::CONTACT_ROLE, "N", "Next-of-Kin").coding(vocab::ROLE_CODE, kin.relationship.0, kin.relationship.1);
                        });
                    });
                })
                .array("name", |names| {
                    names.object(|name| {
                        name.string("family", kin.family).array("given", |given| {
                            given.string(kin.given);
                        });
                    });
                })
                .array("telecom", |telecoms| {
                    telecoms.object(|telecom| {
                        telecom.string("system", "phone").string("value", &kin.phone).string("use", "mobile");
                    });
                })
                .string("gender", if kin.female { "female" } else { "male" });
        });
    }

    fn episodes(&self, chunk: &mut Chunk) {
        for (k, episode) in self.person.episodes.iter().enumerate() {
            chunk.write(ResourceType::EpisodeOfCare, |resource| {
                resource.formatted("id", format_args!("eoc-{}-{k}", self.index));
                self.source(resource, episode.organisation, false);
                resource.string("status", if episode.end.is_some() { "finished" } else { "active" }).array("type", |types| {
                    types.concept(vocab::EPISODE_TYPE_SYSTEM, episode.kind.0, episode.kind.1);
                });
                self.subject(resource, "patient");
                self.organisation(resource, "managingOrganization", episode.organisation);
                resource.object("period", |period| {
                    self.date(period, "start", episode.start);
                    if let Some(end) = episode.end {
                        self.date(period, "end", end);
                    }
                });
                self.practitioner(resource, "careManager", episode.manager);
            });
        }
    }

    /// The care team of the person's first open episode of community, mental-health or social care (not the GP
    /// registration): its care manager as coordinator, and the person's usual GP.
    fn care_team(&self, chunk: &mut Chunk) {
        let open = |e: &&crate::person::Episode| e.end.is_none() && e.kind != vocab::episode_type::GP_REGISTRATION;
        let Some(episode) = self.person.episodes.iter().find(open) else { return };
        chunk.write(ResourceType::CareTeam, |resource| {
            resource.formatted("id", format_args!("team-{}", self.index));
            self.source(resource, episode.organisation, false);
            resource.string("status", "active");
            self.subject(resource, "subject");
            resource.object("period", |period| self.date(period, "start", episode.start));
            resource.array("participant", |participants| {
                participants.object(|participant| {
                    participant.array("role", |roles| {
                        roles.concept(vocab::CARE_TEAM_ROLE, "care-coordinator", "Care coordinator");
                    });
                    self.practitioner(participant, "member", episode.manager);
                    self.organisation(participant, "onBehalfOf", self.model.network.professional_organisation(episode.manager));
                });
                if self.person.usual_gp != episode.manager {
                    participants.object(|participant| {
                        self.practitioner(participant, "member", self.person.usual_gp);
                        self.organisation(participant, "onBehalfOf", self.practice());
                    });
                }
            });
            resource.array("managingOrganization", |organisations| {
                organisations.reference(format_args!("Organization/{}", self.model.network.organisation_id(episode.organisation)));
            });
        });
    }

    /// An opt-out of sharing (a few per cent of people), and a grant to their next of kin (some of those who
    /// have one): appointments, medicines and conditions.
    fn consents(&self, chunk: &mut Chunk) {
        let consent = |resource: &mut Object<'_>, id: &str, policy: (&str, &str)| {
            resource.formatted("id", format_args!("{id}-{}", self.index));
            self.source(resource, self.practice(), false);
            resource.string("status", "active").concept("scope", vocab::CONSENT_SCOPE, "patient-privacy", "Privacy Consent").array("category", |c| {
                c.concept(vocab::LOINC, "59284-0", "Patient Consent");
            });
            self.subject(resource, "patient");
            resource.concept("policyRule", vocab::ACT_CODE, policy.0, policy.1);
        };
        if percent(self.index, 1) < OPT_OUT_PERCENT {
            chunk.write(ResourceType::Consent, |resource| {
                consent(resource, "optout", ("OPTOUT", "opt-out"));
                resource.object("provision", |provision| {
                    provision.string("type", "deny");
                });
            });
        }
        if self.person.kin.is_some() && percent(self.index, 2) < CARER_GRANT_PERCENT {
            chunk.write(ResourceType::Consent, |resource| {
                consent(resource, "carer", ("OPTIN", "opt-in"));
                resource.object("provision", |provision| {
                    provision.string("type", "permit").array("actor", |actors| {
                        actors.object(|actor| {
                            actor.concept("role", vocab::PARTICIPATION_TYPE, "IRCP", "information recipient");
                            actor.reference("reference", format_args!("RelatedPerson/rel-{}", self.index));
                        });
                    });
                    provision.array("class", |classes| {
                        for t in ["Appointment", "MedicationRequest", "Condition"] {
                            classes.coding(vocab::RESOURCE_TYPES, t, t);
                        }
                    });
                });
            });
        }
    }

    fn conditions(&self, chunk: &mut Chunk) {
        for (k, diagnosis) in self.person.diagnoses.iter().enumerate() {
            let variant = &CONDITIONS[diagnosis.condition].variants[diagnosis.variant];
            let (status, status_display) = if diagnosis.abated.is_some() { ("resolved", "Resolved") } else { ("active", "Active") };
            chunk.write(ResourceType::Condition, |resource| {
                resource.formatted("id", format_args!("con-{}-{k}", self.index));
                self.source(resource, self.practice(), percent(self.index * 64 + k as u64, 3) < RESTRICTED_PERCENT);
                resource
                    .concept("clinicalStatus", vocab::CONDITION_CLINICAL, status, status_display)
                    .concept("verificationStatus", vocab::CONDITION_VERIFICATION, "confirmed", "Confirmed")
                    .array("category", |categories| {
                        categories.concept(vocab::CONDITION_CATEGORY, "problem-list-item", "Problem List Item");
                    })
                    .concept("code", vocab::SNOMED, variant.code, variant.display);
                self.subject(resource, "subject");
                self.date(resource, "onsetDateTime", diagnosis.onset);
                if let Some(abated) = diagnosis.abated {
                    self.date(resource, "abatementDateTime", abated);
                }
                self.date(resource, "recordedDate", diagnosis.onset);
            });
        }
    }

    fn prescriptions(&self, chunk: &mut Chunk) {
        let status = if self.person.death.is_some() { "stopped" } else { "active" };
        for (k, prescription) in self.person.prescriptions.iter().enumerate() {
            let medicine = &MEDICINES[prescription.drug];
            chunk.write(ResourceType::MedicationRequest, |resource| {
                resource.formatted("id", format_args!("med-{}-{k}", self.index));
                self.source(resource, self.practice(), false);
                resource
                    .string("status", status)
                    .string("intent", "order")
                    .array("category", |categories| {
                        categories.concept(vocab::MEDICATION_REQUEST_CATEGORY, "community", "Community");
                    })
                    .concept("medicationCodeableConcept", vocab::SNOMED, medicine.code, medicine.display);
                self.subject(resource, "subject");
                self.date(resource, "authoredOn", prescription.issued);
                self.practitioner(resource, "requester", self.person.usual_gp);
                resource
                    .array("reasonReference", |reasons| {
                        reasons.reference(format_args!("Condition/con-{}-{}", self.index, prescription.reason));
                    })
                    .concept("courseOfTherapyType", vocab::COURSE_OF_THERAPY, "continuous", "Continuous long term therapy")
                    .array("dosageInstruction", |dosages| {
                        dosages.object(|dosage| {
                            dosage.string("text", medicine.dose);
                        });
                    });
            });
        }
    }

    fn observations(&self, chunk: &mut Chunk) {
        let mut k = 0;
        for measured in &self.person.measurements {
            let mut observation = |category: (&str, &str), codes: &[(&str, &str, &str)], value: &dyn Fn(&mut Object<'_>)| {
                chunk.write(ResourceType::Observation, |resource| {
                    resource.formatted("id", format_args!("obs-{}-{k}", self.index));
                    self.source(resource, self.model.network.professional_organisation(measured.by), false);
                    resource
                        .string("status", "final")
                        .array("category", |categories| {
                            categories.concept(vocab::OBSERVATION_CATEGORY, category.0, category.1);
                        })
                        .object("code", |code| {
                            code.array("coding", |codings| {
                                for (system, code, display) in codes {
                                    codings.coding(system, code, display);
                                }
                            });
                        });
                    self.subject(resource, "subject");
                    self.instant(resource, "effectiveDateTime", measured.time);
                    resource.array("performer", |performers| {
                        performers.reference(format_args!("Practitioner/{}", self.model.network.professional_id(measured.by)));
                    });
                    value(resource);
                });
                k += 1;
            };
            const VITAL: (&str, &str) = ("vital-signs", "Vital Signs");
            const LABORATORY: (&str, &str) = ("laboratory", "Laboratory");
            match &measured.what {
                Measurement::BloodPressure { systolic, diastolic } => observation(
                    VITAL,
                    &[(vocab::LOINC, "85354-9", "Blood pressure panel with all children optional"), (vocab::SNOMED, "75367002", "Blood pressure")],
                    &|resource| {
                        resource.array("component", |components| {
                            for (code, display, value) in [("8480-6", "Systolic blood pressure", systolic), ("8462-4", "Diastolic blood pressure", diastolic)] {
                                components.object(|component| {
                                    component.concept("code", vocab::LOINC, code, display);
                                    quantity(component, *value, "mmHg", "mm[Hg]");
                                });
                            }
                        });
                    },
                ),
                Measurement::HbA1c(value) => observation(
                    LABORATORY,
                    &[(vocab::LOINC, "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol")],
                    &|resource| quantity(resource, *value, "mmol/mol", "mmol/mol"),
                ),
                Measurement::Egfr(value) => observation(
                    LABORATORY,
                    &[(
                        vocab::LOINC,
                        "62238-1",
                        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI)",
                    )],
                    &|resource| quantity(resource, *value, "mL/min/1.73m2", "mL/min/{1.73_m2}"),
                ),
                Measurement::BodyMass { bmi, weight } => {
                    observation(VITAL, &[(vocab::LOINC, "29463-7", "Body weight"), (vocab::SNOMED, "27113001", "Body weight")], &|resource| {
                        quantity(resource, *weight, "kg", "kg")
                    });
                    observation(VITAL, &[(vocab::LOINC, "39156-5", "Body mass index (BMI) [Ratio]"), (vocab::SNOMED, "60621009", "Body mass index")], &|resource| {
                        quantity(resource, *bmi, "kg/m2", "kg/m2")
                    });
                }
            }
        }
    }

    /// Appointments and the encounters that happened, GP then outpatient then emergency, each in time order.
    fn visits(&self, chunk: &mut Chunk) {
        let mut encounter = 0;
        for (appointment, visit) in self.person.gp_visits.iter().chain(&self.person.outpatient_visits).enumerate() {
            self.appointment(chunk, appointment, visit);
            if visit.status == AppointmentStatus::Fulfilled {
                self.ambulatory_encounter(chunk, encounter, appointment, visit);
                encounter += 1;
            }
        }
        for emergency in &self.person.emergencies {
            self.emergency(chunk, emergency, &mut encounter);
        }
    }

    fn appointment(&self, chunk: &mut Chunk, number: usize, visit: &Visit) {
        let participant_status = if visit.status == AppointmentStatus::Cancelled { "declined" } else { "accepted" };
        let (reason_code, reason_display) = if visit.follow_up {
            ("FOLLOWUP", "A follow up visit from a previous appointment")
        } else {
            ("ROUTINE", "Routine appointment - default if not valued")
        };
        chunk.write(ResourceType::Appointment, |resource| {
            resource.formatted("id", format_args!("apt-{}-{number}", self.index));
            self.source(resource, visit.organisation, false);
            resource.string("status", visit.status.code());
            resource.array("serviceType", |types| {
                let (code, display) = service_type(visit);
                types.concept(vocab::SNOMED, code, display);
            });
            resource.concept("appointmentType", vocab::APPOINTMENT_REASON, reason_code, reason_display);
            self.instant(resource, "start", visit.time);
            self.instant(resource, "end", visit.time + visit.minutes);
            resource.number("minutesDuration", visit.minutes).array("participant", |participants| {
                participants.object(|participant| {
                    self.subject(participant, "actor");
                    participant.string("required", "required").string("status", participant_status);
                });
                participants.object(|participant| {
                    self.practitioner(participant, "actor", visit.professional);
                    participant.string("required", "required").string("status", "accepted");
                });
            });
        });
    }

    fn ambulatory_encounter(&self, chunk: &mut Chunk, number: usize, appointment: usize, visit: &Visit) {
        chunk.write(ResourceType::Encounter, |resource| {
            resource.formatted("id", format_args!("enc-{}-{number}", self.index));
            self.source(resource, visit.organisation, false);
            resource.string("status", "finished").coding("class", vocab::ACT_CODE, "AMB", "ambulatory").array("type", |types| {
                types.concept(vocab::SNOMED, "11429006", "Consultation");
            });
            let (code, display) = service_type(visit);
            resource.concept("serviceType", vocab::SNOMED, code, display);
            self.subject(resource, "subject");
            if visit.specialty.is_none() {
                resource.array("episodeOfCare", |episodes| {
                    episodes.reference(format_args!("EpisodeOfCare/eoc-{}-0", self.index));
                });
            }
            resource.array("participant", |participants| {
                participants.object(|participant| self.practitioner(participant, "individual", visit.professional));
            });
            resource.array("appointment", |appointments| {
                appointments.reference(format_args!("Appointment/apt-{}-{appointment}", self.index));
            });
            resource.object("period", |period| {
                self.instant(period, "start", visit.time);
                self.instant(period, "end", visit.time + visit.minutes);
            });
            self.organisation(resource, "serviceProvider", visit.organisation);
        });
    }

    fn emergency(&self, chunk: &mut Chunk, emergency: &Emergency, encounter: &mut usize) {
        let trust = self.model.network.trusts[emergency.trust].organisation;
        let reason = |resource: &mut Object<'_>| {
            resource.array("reasonCode", |reasons| {
                reasons.concept(vocab::SNOMED, emergency.reason.0, emergency.reason.1);
            });
        };
        if let Some(attendance) = &emergency.attendance {
            let end = attendance.end.expect("invariant: A&E attendances always end");
            chunk.write(ResourceType::Encounter, |resource| {
                resource.formatted("id", format_args!("enc-{}-{}", self.index, *encounter));
                self.source(resource, trust, false);
                resource
                    .string("status", "finished")
                    .coding("class", vocab::ACT_CODE, "EMER", "emergency")
                    .array("type", |types| {
                        types.concept(vocab::SNOMED, "4525004", "Emergency department patient visit");
                    })
                    .concept("priority", vocab::ACT_PRIORITY, "EM", "emergency");
                self.subject(resource, "subject");
                resource.array("participant", |participants| {
                    participants.object(|participant| self.practitioner(participant, "individual", emergency.emergency_doctor));
                });
                resource.object("period", |period| {
                    self.instant(period, "start", attendance.start);
                    self.instant(period, "end", end);
                });
                reason(resource);
                self.organisation(resource, "serviceProvider", trust);
            });
            *encounter += 1;
        }
        if let Some(stay) = &emergency.admission {
            let (source, source_display) =
                if emergency.attendance.is_some() { ("emd", "From accident/emergency department") } else { ("gp", "General Practitioner referral") };
            chunk.write(ResourceType::Encounter, |resource| {
                resource.formatted("id", format_args!("enc-{}-{}", self.index, *encounter));
                self.source(resource, trust, false);
                resource
                    .string("status", if stay.end.is_some() { "finished" } else { "in-progress" })
                    .coding("class", vocab::ACT_CODE, "IMP", "inpatient encounter")
                    .array("type", |types| {
                        types.concept(vocab::SNOMED, "32485007", "Hospital admission");
                    })
                    .concept("priority", vocab::ACT_PRIORITY, "EM", "emergency");
                self.subject(resource, "subject");
                resource.array("participant", |participants| {
                    participants.object(|participant| self.practitioner(participant, "individual", emergency.consultant));
                });
                resource.object("period", |period| {
                    self.instant(period, "start", stay.start);
                    if let Some(end) = stay.end {
                        self.instant(period, "end", end);
                    }
                });
                reason(resource);
                resource.object("hospitalization", |hospitalization| {
                    hospitalization.concept("admitSource", vocab::ADMIT_SOURCE, source, source_display);
                    if stay.end.is_some() {
                        let (code, display) = if emergency.died { ("exp", "Expired") } else { ("home", "Home") };
                        hospitalization.concept("dischargeDisposition", vocab::DISCHARGE_DISPOSITION, code, display);
                    }
                });
                self.organisation(resource, "serviceProvider", trust);
            });
            *encounter += 1;
        }
    }
}

fn service_type(visit: &Visit) -> (&'static str, &'static str) {
    visit.specialty.map_or(("394814009", "General practice"), Specialty::coding)
}

/// `valueQuantity` with a UCUM unit.
fn quantity(resource: &mut Object<'_>, value: impl std::fmt::Display, unit: &str, code: &str) {
    resource.object("valueQuantity", |quantity| {
        quantity.number("value", value).string("unit", unit).string("system", vocab::UCUM).string("code", code);
    });
}
