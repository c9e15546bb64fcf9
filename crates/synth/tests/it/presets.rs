//! Presets and the provider network: names, published sizes, the organisation hierarchy, voluntary services and professionals.

use crate::fixture::population;
use serde_json::Value;
use std::collections::HashMap;
use synth::vocabulary::ORGANISATION_KIND_SYSTEM;
use synth::{Options, Preset};

#[test]
fn presets_parse_by_name() {
    assert_eq!(Preset::parse("central-london"), Ok(Preset::CentralLondon));
    assert_eq!(Preset::parse("north-west-london"), Ok(Preset::NorthWestLondon));
    assert_eq!(Preset::parse("custom"), Ok(Preset::Custom));
    assert!(Preset::parse("london").is_err());
    for preset in Preset::ALL {
        assert_eq!(Preset::parse(preset.name()), Ok(preset));
    }
}

#[test]
fn presets_have_their_published_sizes() {
    assert_eq!(Preset::CentralLondon.default_people(), Some(199_000));
    assert_eq!(Preset::CentralLondon.practices_for(199_000), 35);
    assert_eq!(Preset::NorthWestLondon.default_people(), Some(2_111_469));
    assert_eq!(Preset::NorthWestLondon.practices_for(2_111_469), 360);
    assert_eq!(Preset::Custom.default_people(), None);
    // Other sizes keep the list size, with a practice in each borough at least.
    assert_eq!(Preset::Custom.practices_for(1_000_000), 170);
    assert_eq!(Preset::Custom.practices_for(100), 8);
    assert_eq!(Preset::CentralLondon.practices_for(100), 1);
    let options = Options::for_preset(Preset::CentralLondon, 1, crate::fixture::reference_date());
    assert_eq!(options.people, 199_000);
}

fn kind(organisation: &Value) -> &str {
    organisation["type"][0]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|coding| coding["system"] == ORGANISATION_KIND_SYSTEM)
        .and_then(|coding| coding["code"].as_str())
        .unwrap_or("")
}

#[test]
fn organisations_form_the_network_hierarchy() {
    let population = population();
    let by_id: HashMap<String, &Value> = population
        .organisations
        .iter()
        .map(|organisation| (format!("Organization/{}", organisation["id"].as_str().unwrap_or("")), organisation))
        .collect();
    let parent_kind = |organisation: &Value| {
        organisation["partOf"]["reference"].as_str().and_then(|parent| by_id.get(parent)).map(|parent| kind(parent).to_owned())
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for organisation in &population.organisations {
        let own = kind(organisation);
        *counts.entry(own).or_insert(0) += 1;
        match own {
            "gp-practice" => assert_eq!(parent_kind(organisation).as_deref(), Some("primary-care-network")),
            "primary-care-network" | "adult-social-care" => {
                assert_eq!(parent_kind(organisation).as_deref(), Some("borough"))
            }
            "borough" | "acute-trust" | "community-trust" | "mental-health-trust" | "voluntary-organisation" => {
                assert!(organisation.get("partOf").is_none(), "{organisation}")
            }
            other => panic!("unexpected organisation kind {other:?}"),
        }
    }
    assert_eq!(counts["borough"], 8);
    assert_eq!(counts["gp-practice"], Preset::Custom.practices_for(crate::fixture::PEOPLE));
    assert_eq!(counts["acute-trust"], 4);
    assert_eq!(counts["community-trust"], 1);
    assert_eq!(counts["mental-health-trust"], 1);
    assert_eq!(counts["adult-social-care"], 8);
    assert_eq!(counts["voluntary-organisation"], 24, "an Age UK branch, a buddying scheme and exercise groups in each borough");
    assert!(population.organisations.iter().any(|organisation| organisation["name"].as_str().is_some_and(|name| name.starts_with("Age UK "))));
}

#[test]
fn voluntary_organisations_offer_services() {
    let population = population();
    assert_eq!(population.services.len(), 8 * 6);
    let names: Vec<&str> = population.services.iter().filter_map(|service| service["name"].as_str()).collect();
    for expected in ["Befriending", "Buddying for people with long-term conditions", "Strength and balance classes"] {
        assert!(names.contains(&expected), "no {expected} service");
    }
}

#[test]
fn professionals_work_in_every_kind_of_organisation() {
    let population = population();
    assert_eq!(population.summary.counts["Practitioner"], population.summary.counts["PractitionerRole"]);
    let employers: std::collections::HashSet<&str> = population
        .references
        .iter()
        .filter(|(from, target)| from.starts_with("PractitionerRole/") && target.starts_with("Organization/"))
        .map(|(_, target)| target.as_str())
        .collect();
    let by_id: HashMap<String, &Value> = population
        .organisations
        .iter()
        .map(|organisation| (format!("Organization/{}", organisation["id"].as_str().unwrap_or("")), organisation))
        .collect();
    let kinds: std::collections::HashSet<&str> = employers.iter().filter_map(|id| by_id.get(*id)).map(|organisation| kind(organisation)).collect();
    for expected in ["gp-practice", "acute-trust", "community-trust", "mental-health-trust", "adult-social-care", "voluntary-organisation"] {
        assert!(kinds.contains(expected), "nobody works in a {expected}");
    }
}
