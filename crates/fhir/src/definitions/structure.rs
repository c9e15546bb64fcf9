//! Element structures: for each resource, complex data type and backbone element, its child elements (cardinality, allowed types, required binding) and a table from every JSON property name it accepts to the element and type it sets.

use super::fast_map::FastMap;
use super::terminology::ValueSet;
use std::collections::HashMap;

/// Index of a structure in [`Structures`].
pub(crate) type StructureId = u32;

/// The R4 primitive data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    Boolean,
    Integer,
    PositiveInt,
    UnsignedInt,
    Decimal,
    String,
    Markdown,
    Code,
    Id,
    Uri,
    Url,
    Canonical,
    Oid,
    Uuid,
    Date,
    DateTime,
    Instant,
    Time,
    Base64Binary,
    Xhtml,
}

impl Primitive {
    pub const ALL: [Primitive; 20] = [
        Primitive::Boolean,
        Primitive::Integer,
        Primitive::PositiveInt,
        Primitive::UnsignedInt,
        Primitive::Decimal,
        Primitive::String,
        Primitive::Markdown,
        Primitive::Code,
        Primitive::Id,
        Primitive::Uri,
        Primitive::Url,
        Primitive::Canonical,
        Primitive::Oid,
        Primitive::Uuid,
        Primitive::Date,
        Primitive::DateTime,
        Primitive::Instant,
        Primitive::Time,
        Primitive::Base64Binary,
        Primitive::Xhtml,
    ];

    /// The type code, as in StructureDefinitions (`dateTime`, `base64Binary`…).
    pub fn code(self) -> &'static str {
        match self {
            Primitive::Boolean => "boolean",
            Primitive::Integer => "integer",
            Primitive::PositiveInt => "positiveInt",
            Primitive::UnsignedInt => "unsignedInt",
            Primitive::Decimal => "decimal",
            Primitive::String => "string",
            Primitive::Markdown => "markdown",
            Primitive::Code => "code",
            Primitive::Id => "id",
            Primitive::Uri => "uri",
            Primitive::Url => "url",
            Primitive::Canonical => "canonical",
            Primitive::Oid => "oid",
            Primitive::Uuid => "uuid",
            Primitive::Date => "date",
            Primitive::DateTime => "dateTime",
            Primitive::Instant => "instant",
            Primitive::Time => "time",
            Primitive::Base64Binary => "base64Binary",
            Primitive::Xhtml => "xhtml",
        }
    }

    /// The primitive type with this type code, if it is one.
    pub fn from_code(code: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.code() == code)
    }
}

/// What an element (or one choice of a choice element) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElementType {
    Primitive(Primitive),
    /// A complex data type or a backbone element.
    Complex(StructureId),
    /// A resource: any type (`Resource`), or the one named (e.g. `OperationOutcome`).
    Resource(Option<StructureId>),
}

/// One child element of a structure, as the snapshot defines it.
#[derive(Debug)]
pub(crate) struct Element {
    /// The JSON name, without `[x]` for choice elements (`value` for `value[x]`).
    pub name: String,
    pub choice: bool,
    pub min: u32,
    /// None when unbounded (`*`).
    pub max: Option<u32>,
    /// Represented as a JSON array (max other than "1").
    pub array: bool,
    pub types: Vec<ElementType>,
    /// The type codes as the definition names them, in the order of `types`, for messages and choice names.
    pub type_codes: Vec<String>,
    /// The expanded value set of a required binding; None when there is none or it cannot be expanded.
    pub binding: Option<u32>,
    /// Per type, the JSON property name (`valueQuantity`, or just `status`).
    pub keys: Vec<String>,
    /// Per type, the name of the sibling that carries a primitive's id and extensions (`_status`), if primitive.
    pub extension_keys: Vec<Option<String>>,
}

impl Element {
    /// The element's name as FHIRPath and definitions show it: `value[x]` for a choice.
    pub fn definition_name(&self) -> String {
        if self.choice {
            format!("{}[x]", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// What a JSON property of an object sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// Index in [`Structure::elements`].
    pub element: u16,
    /// Which of the element's types (index in `types`).
    pub variant: u16,
    /// True for the `_name` sibling of a primitive.
    pub primitive_extension: bool,
}

/// A resource, complex data type or backbone element.
#[derive(Debug)]
pub(crate) struct Structure {
    /// The type name, or the element path for a backbone element (`Patient.contact`).
    pub name: String,
    pub is_resource: bool,
    pub elements: Vec<Element>,
    /// Indexes of the elements with min ≥ 1.
    pub required: Vec<u16>,
    fields: FastMap<Field>,
}

impl Structure {
    /// What the JSON property `key` sets in this structure, if it is known here.
    #[inline]
    pub fn field(&self, key: &str) -> Option<Field> {
        self.fields.get(key).copied()
    }

    pub fn element(&self, field: Field) -> &Element {
        &self.elements[usize::from(field.element)]
    }
}

/// All structures, with lookups by name.
pub(crate) struct Structures {
    all: Vec<Structure>,
    by_name: HashMap<String, StructureId>,
    /// The `Element` structure, which describes the `_name` object of a primitive (id and extensions).
    pub primitive_extension: StructureId,
    pub coding: StructureId,
    pub codeable_concept: StructureId,
}

impl std::ops::Index<StructureId> for Structures {
    type Output = Structure;
    fn index(&self, id: StructureId) -> &Structure {
        &self.all[id as usize]
    }
}

impl Structures {
    /// Any structure by name: a resource, a data type, or a backbone element by its path.
    pub fn named(&self, name: &str) -> Option<StructureId> {
        self.by_name.get(name).copied()
    }

    pub fn resource(&self, name: &str) -> Option<StructureId> {
        self.by_name.get(name).copied().filter(|&id| self[id].is_resource)
    }

    /// Builds the structures from the condensed ones, resolving type codes and value-set urls.
    pub fn build(raw: Vec<RawStructure>, resource_types: &[String], value_sets: &[ValueSet]) -> Structures {
        let by_name: HashMap<String, StructureId> =
            raw.iter().enumerate().map(|(i, s)| (s.name.clone(), StructureId::try_from(i).expect("invariant: fewer than 2^32 structures"))).collect();
        let value_set_ids: HashMap<&str, u32> =
            value_sets.iter().enumerate().map(|(i, vs)| (vs.url.as_str(), u32::try_from(i).expect("invariant: few value sets"))).collect();
        let resolve = |code: &str| -> ElementType {
            if let Some(primitive) = Primitive::from_code(code) {
                return ElementType::Primitive(primitive);
            }
            if code == "Resource" {
                return ElementType::Resource(None);
            }
            let id = *by_name.get(code).unwrap_or_else(|| panic!("invariant: the definitions define every type they use ({code})"));
            if resource_types.binary_search_by(|t| t.as_str().cmp(code)).is_ok() {
                ElementType::Resource(Some(id))
            } else {
                ElementType::Complex(id)
            }
        };
        let all = raw
            .into_iter()
            .map(|s| {
                let is_resource = resource_types.binary_search(&s.name).is_ok();
                let elements: Vec<Element> = s
                    .elements
                    .into_iter()
                    .map(|(name, min, max, type_codes, binding)| {
                        let types: Vec<ElementType> = type_codes.iter().map(|c| resolve(c)).collect();
                        let bindable = type_codes.iter().any(|c| matches!(c.as_str(), "code" | "Coding" | "CodeableConcept"));
                        let binding = binding.filter(|_| bindable).and_then(|url| value_set_ids.get(url.as_str()).copied());
                        element(name, min, &max, types, type_codes, binding)
                    })
                    .collect();
                let fields = fields(&elements);
                let required = (0..elements.len())
                    .filter(|&i| elements[i].min > 0)
                    .map(|i| u16::try_from(i).expect("invariant: few elements per structure"))
                    .collect();
                Structure { name: s.name, is_resource, elements, required, fields }
            })
            .collect();
        let id_of = |name: &str| *by_name.get(name).unwrap_or_else(|| panic!("invariant: {name} is defined"));
        Structures { primitive_extension: id_of("Element"), coding: id_of("Coding"), codeable_concept: id_of("CodeableConcept"), all, by_name }
    }
}

/// The table from every JSON property name the elements accept to what it sets.
fn fields(elements: &[Element]) -> FastMap<Field> {
    let mut fields = FastMap::default();
    for (i, e) in elements.iter().enumerate() {
        let element = u16::try_from(i).expect("invariant: few elements per structure");
        for (v, key) in e.keys.iter().enumerate() {
            let variant = u16::try_from(v).expect("invariant: few types per element");
            fields.insert(key.clone(), Field { element, variant, primitive_extension: false });
            if let Some(extension_key) = &e.extension_keys[v] {
                fields.insert(extension_key.clone(), Field { element, variant, primitive_extension: true });
            }
        }
    }
    fields
}

/// A structure as the condensed file gives it.
#[derive(serde::Deserialize)]
pub(crate) struct RawStructure {
    name: String,
    elements: Vec<RawElement>,
}

/// An element as the condensed file gives it: (name, min, max, type codes, required binding's value set).
type RawElement = (String, u32, String, Vec<String>, Option<String>);

fn element(name: String, min: u32, max: &str, types: Vec<ElementType>, type_codes: Vec<String>, binding: Option<u32>) -> Element {
    let (name, choice) = match name.strip_suffix("[x]") {
        Some(base) => (base.to_string(), true),
        None => (name, false),
    };
    let keys: Vec<String> = if choice {
        type_codes.iter().map(|code| format!("{name}{}", capitalised(code))).collect()
    } else {
        assert_eq!(types.len(), 1, "invariant: only choice elements have several types ({name})");
        vec![name.clone()]
    };
    let extension_keys = keys.iter().zip(&types).map(|(key, ty)| matches!(ty, ElementType::Primitive(_)).then(|| format!("_{key}"))).collect();
    Element {
        name,
        choice,
        min,
        max: if max == "*" { None } else { Some(max.parse().expect("invariant: max is * or a number")) },
        array: max != "1",
        types,
        type_codes,
        binding,
        keys,
        extension_keys,
    }
}

fn capitalised(code: &str) -> String {
    let mut chars = code.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}
