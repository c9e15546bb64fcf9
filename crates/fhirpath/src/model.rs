//! The FHIR R4 type model: which elements each type (or backbone path) has, their types, which
//! repeat, which are choices (`value[x]`), and the type hierarchy. Loaded once, at first use,
//! from the data file that build.rs condenses from the specification's tables.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

const DATA: &str = include_str!("../generated/fhir-r4-model.txt");

/// FNV-1a: the model's keys are short type names and paths, hashed on every navigation step,
/// where SipHash's DoS resistance buys nothing (the keys are fixed at build time).
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Index of an owner: a type or backbone path whose elements are known.
pub(crate) type OwnerId = u32;

#[derive(Debug)]
pub(crate) struct Target {
    /// FHIR type name (`HumanName`, `code`, `BackboneElement`, `Resource`).
    pub ty: &'static str,
    /// Where this element's own children are described, if anywhere.
    pub owner: Option<OwnerId>,
}

#[derive(Debug)]
pub(crate) enum ElementKind {
    Single(Target),
    /// `value[x]`: one target per allowed type, with its JSON key suffix (`Quantity`).
    Choice(Vec<(&'static str, Target)>),
}

#[derive(Debug)]
pub(crate) struct Element {
    pub name: &'static str,
    pub kind: ElementKind,
}

#[derive(Debug, Default)]
struct Owner {
    /// Sorted by name.
    elements: Vec<Element>,
}

pub(crate) struct Model {
    parents: Map<&'static str, &'static str>,
    /// Type names as interned `&'static str`, so node types never allocate.
    type_names: Map<&'static str, ()>,
    owner_ids: Map<&'static str, OwnerId>,
    owners: Vec<Owner>,
}

pub(crate) fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::load(DATA))
}

impl Model {
    fn load(data: &'static str) -> Model {
        let mut parents = Map::default();
        let mut type_names = Map::default();
        let mut owner_ids: Map<&'static str, OwnerId> = Map::default();
        // First pass: owners, so that child-owner references can be resolved.
        for line in data.lines() {
            let mut f = line.split('\t');
            match f.next() {
                Some("T") => {
                    if let (Some(t), Some(p)) = (f.next(), f.next()) {
                        type_names.insert(t, ());
                        if p != "-" {
                            parents.insert(t, p);
                        }
                    }
                }
                Some("O") => {
                    if let Some(o) = f.next() {
                        let id = owner_ids.len() as OwnerId;
                        owner_ids.entry(o).or_insert(id);
                    }
                }
                _ => {}
            }
        }
        let mut owners: Vec<Owner> = (0..owner_ids.len()).map(|_| Owner::default()).collect();
        // Where a target's children are described: its backbone path, else its type (walking
        // up the hierarchy, as SimpleQuantity uses Quantity's), resolved once here.
        let type_owner = |ty: &str| -> Option<OwnerId> {
            let mut cur = ty;
            for _ in 0..8 {
                if let Some(id) = owner_ids.get(cur) {
                    return Some(*id);
                }
                cur = parents.get(cur)?;
            }
            None
        };
        let target = |ty: &'static str, child: &str| -> Target {
            let owner = if child != "-" {
                owner_ids.get(child).copied()
            } else if Model::is_primitive(ty) || ty == "Resource" {
                None
            } else {
                type_owner(ty)
            };
            Target { ty, owner }
        };
        let mut current: Option<OwnerId> = None;
        for line in data.lines() {
            let mut f = line.split('\t');
            match f.next() {
                Some("O") => current = f.next().and_then(|o| owner_ids.get(o).copied()),
                Some("E") => {
                    let (Some(name), Some(ty), Some(_flags), Some(child), Some(cur)) = (f.next(), f.next(), f.next(), f.next(), current) else {
                        continue;
                    };
                    owners[cur as usize].elements.push(Element { name, kind: ElementKind::Single(target(ty, child)) });
                }
                Some("C") => {
                    let (Some(name), Some(_flags), Some(alts), Some(cur)) = (f.next(), f.next(), f.next(), current) else {
                        continue;
                    };
                    let mut choices = Vec::new();
                    for alt in alts.split(',') {
                        let Some((suffix, rest)) = alt.split_once('=') else {
                            continue;
                        };
                        let (ty, child) = rest.split_once('/').unwrap_or((rest, "-"));
                        choices.push((suffix, target(ty, child)));
                    }
                    owners[cur as usize].elements.push(Element { name, kind: ElementKind::Choice(choices) });
                }
                _ => {}
            }
        }
        for o in &mut owners {
            o.elements.sort_by(|a, b| a.name.cmp(b.name));
        }
        Model { parents, type_names, owner_ids, owners }
    }

    /// The owner describing the children of a type, walking up the hierarchy
    /// (`SimpleQuantity` uses `Quantity`'s elements).
    pub(crate) fn type_owner(&self, ty: &str) -> Option<OwnerId> {
        let mut cur = ty;
        for _ in 0..8 {
            if let Some(id) = self.owner_ids.get(cur) {
                return Some(*id);
            }
            cur = self.parents.get(cur)?;
        }
        None
    }

    pub(crate) fn element(&self, owner: OwnerId, name: &str) -> Option<&Element> {
        let els = &self.owners.get(owner as usize)?.elements;
        els.binary_search_by(|e| e.name.cmp(name)).ok().map(|i| &els[i])
    }

    /// Finds the element a JSON key belongs to: `name` itself or a choice `name` + `Type`.
    pub(crate) fn element_for_key<'m>(&'m self, owner: OwnerId, key: &str) -> Option<(&'m Element, &'m Target)> {
        if let Some(e) = self.element(owner, key) {
            if let ElementKind::Single(t) = &e.kind {
                return Some((e, t));
            }
        }
        // A choice key: the longest lowercase-led prefix before an uppercase letter.
        let split = key.char_indices().skip(1).find(|(_, c)| c.is_ascii_uppercase()).map(|(i, _)| i)?;
        let (name, suffix) = key.split_at(split);
        let e = self.element(owner, name)?;
        match &e.kind {
            ElementKind::Choice(alts) => alts.iter().find(|(s, _)| *s == suffix).map(|(_, t)| (e, t)),
            ElementKind::Single(_) => None,
        }
    }

    /// The interned name of a known FHIR type.
    pub(crate) fn type_name(&self, name: &str) -> Option<&'static str> {
        self.type_names.get_key_value(name).map(|(k, _)| *k)
    }

    /// `ty` is `base` or derives from it.
    pub(crate) fn is_subtype(&self, ty: &str, base: &str) -> bool {
        let mut cur = ty;
        for _ in 0..10 {
            if cur == base {
                return true;
            }
            match self.parents.get(cur) {
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
    }

    pub(crate) fn is_resource(&self, ty: &str) -> bool {
        self.is_subtype(ty, "Resource")
    }

    /// FHIR primitive types are the lower-case ones (`string`, `dateTime`, `xhtml`).
    pub(crate) fn is_primitive(ty: &str) -> bool {
        ty.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo test --release -p fhirpath --lib model_load_time -- --ignored --nocapture`
    #[test]
    #[ignore = "timing"]
    fn model_load_time() {
        let start = std::time::Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            std::hint::black_box(Model::load(DATA));
        }
        println!("model: {} bytes, loaded in {:?}", DATA.len(), start.elapsed() / rounds);
    }

    #[test]
    fn knows_elements_choices_and_backbones() {
        let m = model();
        let obs = m.type_owner("Observation").expect("Observation");
        let value = m.element(obs, "value").expect("Observation.value");
        assert!(matches!(value.kind, ElementKind::Choice(_)));
        let (_, t) = m.element_for_key(obs, "valueQuantity").expect("valueQuantity");
        assert_eq!(t.ty, "Quantity");
        let comp = m.element(obs, "component").expect("component");
        let ElementKind::Single(t) = &comp.kind else { panic!("component is single-typed") };
        assert!(t.owner.is_some());
        let q = m.type_owner("Questionnaire").expect("Questionnaire");
        let item = m.element(q, "item").expect("item");
        let ElementKind::Single(it) = &item.kind else { panic!("item") };
        assert!(m.element(it.owner.expect("item owner"), "item").is_some());
        assert!(m.is_subtype("Age", "Quantity"));
        assert!(m.is_subtype("code", "string"));
        assert!(m.type_owner("SimpleQuantity").is_some());
        let pat = m.type_owner("Patient").expect("Patient");
        let ElementKind::Single(id) = &m.element(pat, "id").expect("id").kind else { panic!("id") };
        assert_eq!(id.ty, "id");
    }
}
