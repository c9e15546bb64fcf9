//! The values an expression produces: nodes of the input JSON with their FHIR type, and the
//! System values of FHIRPath (Boolean, Integer, Decimal, String, Date, DateTime, Time, Quantity).

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::decimal::Decimal;
use crate::model::{Model, OwnerId};
use crate::quantity::Quantity;
use crate::temporal::{Date, DateTime, Time};

/// JSON `null`: the value of a primitive that has only an extension, and of resources
/// known only by type (an unresolved `resolve()`).
pub(crate) static NULL: Value = Value::Null;

/// One item of a FHIRPath collection.
#[derive(Clone, Debug)]
pub enum Item<'a> {
    /// A node of the input: `value` is the JSON (`null` for a primitive that has only an
    /// extension, or for a resource known only by its type after `resolve()`), `type_name` its
    /// FHIR type when known (`HumanName`, `dateTime`, `Patient`, `BackboneElement`).
    Node {
        value: &'a Value,
        type_name: Option<Cow<'static, str>>,
        info: NodeInfo<'a>,
    },
    Boolean(bool),
    Integer(i64),
    Decimal(Decimal),
    String(String),
    Date(Date),
    DateTime(DateTime),
    Time(Time),
    Quantity(Quantity),
    /// What `type()` returns: a namespace (`System` or `FHIR`) and a name.
    Type(TypeInfo),
}

/// Where a node sits, for navigating further: its primitive extension (`_given`) and the
/// model entry describing its children.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo<'a> {
    pub(crate) ext: Option<&'a Value>,
    pub(crate) owner: Option<OwnerId>,
}

/// A type as `type()` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    pub namespace: &'static str,
    pub name: Cow<'static, str>,
}

impl<'a> Item<'a> {
    pub(crate) fn node(value: &'a Value, type_name: Option<Cow<'static, str>>, ext: Option<&'a Value>, owner: Option<OwnerId>) -> Item<'a> {
        Item::Node { value, type_name, info: NodeInfo { ext, owner } }
    }

    /// The JSON node behind this item, if it came from the input.
    pub fn json(&self) -> Option<&'a Value> {
        match self {
            Item::Node { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The primitive's extension object (`_birthDate`), if any.
    pub fn primitive_extension(&self) -> Option<&'a Value> {
        match self {
            Item::Node { info, .. } => info.ext,
            _ => None,
        }
    }

    /// The FHIR type of a node (`Reference`, `CodeableConcept`, `dateTime`, `Patient`).
    pub fn fhir_type(&self) -> Option<&str> {
        match self {
            Item::Node { type_name, .. } => type_name.as_deref(),
            _ => None,
        }
    }

    /// The type as FHIRPath names it: (`FHIR`, `HumanName`) or (`System`, `Integer`).
    pub fn type_info(&self) -> TypeInfo {
        let system = |n: &'static str| TypeInfo { namespace: "System", name: Cow::Borrowed(n) };
        match self {
            Item::Node { type_name: Some(t), .. } => TypeInfo { namespace: "FHIR", name: t.clone() },
            Item::Node { value, .. } => match value {
                Value::Bool(_) => system("Boolean"),
                Value::Number(n) if Decimal::parse(n.as_str()).is_some_and(|d| d.scale() == 0) => system("Integer"),
                Value::Number(_) => system("Decimal"),
                Value::String(_) => system("String"),
                _ => TypeInfo { namespace: "FHIR", name: Cow::Borrowed("Element") },
            },
            Item::Boolean(_) => system("Boolean"),
            Item::Integer(_) => system("Integer"),
            Item::Decimal(_) => system("Decimal"),
            Item::String(_) => system("String"),
            Item::Date(_) => system("Date"),
            Item::DateTime(_) => system("DateTime"),
            Item::Time(_) => system("Time"),
            Item::Quantity(_) => system("Quantity"),
            Item::Type(_) => system("TypeInfo"),
        }
    }

    /// The System value of a primitive node (`"1974-12-25"` typed `date` → Date), a Quantity for
    /// nodes of the Quantity family; other items as they are. `None` for a primitive without a
    /// value.
    pub fn to_system(&self) -> Option<Cow<'_, Item<'a>>> {
        let Item::Node { value, type_name, .. } = self else {
            return Some(Cow::Borrowed(self));
        };
        let ty = type_name.as_deref();
        let converted = match (ty, value) {
            (_, Value::Null) => return None,
            (Some("boolean") | None, Value::Bool(b)) => Item::Boolean(*b),
            (Some("integer" | "positiveInt" | "unsignedInt" | "integer64") | None, Value::Number(n)) => match n.as_str().parse::<i64>() {
                Ok(i) => Item::Integer(i),
                Err(_) => Item::Decimal(Decimal::parse(n.as_str())?),
            },
            (Some("decimal"), Value::Number(n)) => Item::Decimal(Decimal::parse(n.as_str())?),
            (Some("date"), Value::String(s)) => Date::parse(s).map(Item::Date).unwrap_or_else(|| Item::String(s.clone())),
            (Some("dateTime" | "instant"), Value::String(s)) => DateTime::parse(s).map(Item::DateTime).unwrap_or_else(|| Item::String(s.clone())),
            (Some("time"), Value::String(s)) => Time::parse(s).map(Item::Time).unwrap_or_else(|| Item::String(s.clone())),
            (Some(t), Value::String(s)) if Model::is_primitive(t) => Item::String(s.clone()),
            (None, Value::String(s)) => Item::String(s.clone()),
            (Some(t), Value::Object(o)) if is_quantity_type(t) => match o.get("value") {
                Some(Value::Number(n)) => {
                    let v = Decimal::parse(n.as_str())?;
                    let unit = o.get("code").or_else(|| o.get("unit")).and_then(Value::as_str).unwrap_or("1");
                    Item::Quantity(Quantity::new(v, unit))
                }
                _ => return Some(Cow::Borrowed(self)),
            },
            (Some(t), Value::Number(n)) if Model::is_primitive(t) => Item::Decimal(Decimal::parse(n.as_str())?),
            (Some(t), Value::Bool(b)) if Model::is_primitive(t) => Item::Boolean(*b),
            _ => return Some(Cow::Borrowed(self)),
        };
        Some(Cow::Owned(converted))
    }

    /// A node without a System value: a complex element or resource.
    pub(crate) fn is_complex_node(&self) -> bool {
        match self {
            Item::Node { value, type_name, .. } => match type_name.as_deref() {
                Some(t) => !Model::is_primitive(t),
                None => value.is_object() || value.is_array(),
            },
            _ => false,
        }
    }

    /// The string value of a String item or a string-like primitive node.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Item::String(s) => Some(s),
            Item::Node { value: Value::String(s), type_name, .. } => match type_name.as_deref() {
                None => Some(s),
                Some(t) if Model::is_primitive(t) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Quantity and its profiles/specialisations, which convert to System.Quantity.
pub(crate) fn is_quantity_type(t: &str) -> bool {
    matches!(t, "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity" | "MoneyQuantity")
}

impl fmt::Display for Item<'_> {
    /// The FHIRPath string form of the item (as `toString()` gives it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Node { value, .. } => match value {
                Value::String(s) => f.write_str(s),
                Value::Number(n) => f.write_str(n.as_str()),
                Value::Bool(b) => write!(f, "{b}"),
                Value::Null => Ok(()),
                other => write!(f, "{other}"),
            },
            Item::Boolean(b) => write!(f, "{b}"),
            Item::Integer(i) => write!(f, "{i}"),
            Item::Decimal(d) => write!(f, "{d}"),
            Item::String(s) => f.write_str(s),
            Item::Date(d) => write!(f, "{d}"),
            Item::DateTime(d) => write!(f, "{d}"),
            Item::Time(t) => write!(f, "{t}"),
            Item::Quantity(q) => write!(f, "{q}"),
            Item::Type(t) => write!(f, "{}.{}", t.namespace, t.name),
        }
    }
}

impl From<bool> for Item<'_> {
    fn from(v: bool) -> Self {
        Item::Boolean(v)
    }
}

impl From<i64> for Item<'_> {
    fn from(v: i64) -> Self {
        Item::Integer(v)
    }
}

impl From<&str> for Item<'_> {
    fn from(v: &str) -> Self {
        Item::String(v.to_owned())
    }
}

impl From<String> for Item<'_> {
    fn from(v: String) -> Self {
        Item::String(v)
    }
}

impl<'a> From<&'a Value> for Item<'a> {
    /// An untyped node (for variables holding JSON); resources get their type from
    /// `resourceType`.
    fn from(v: &'a Value) -> Self {
        crate::navigation::root_item(v).unwrap_or(Item::Node { value: v, type_name: None, info: NodeInfo::default() })
    }
}
