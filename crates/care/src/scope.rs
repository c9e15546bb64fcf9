//! SMART on FHIR scopes: parsing (`patient/*.rs`, `user/Observation.cruds`, `system/*.*`, and the v1 forms
//! `.read`, `.write`, `.*`), the scopes each kind of account may hold, and whether a set of scopes allows an
//! interaction on a resource type. Scopes only ever narrow what the care relationship rules allow.

use crate::access::Role;
use std::fmt;

/// Whose data a scope speaks of: the person in context, whatever the user may see, or a system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Patient,
    User,
    System,
}

impl Context {
    pub const fn code(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }

    /// The context an account's scopes are in: people and carers act in their person's context, staff as
    /// users, integration systems as systems.
    pub const fn of(role: Role) -> Context {
        match role {
            Role::Person | Role::Carer => Context::Patient,
            Role::IntegrationSystem => Context::System,
            _ => Context::User,
        }
    }
}

/// The SMART v2 interactions, in their canonical order `c r u d s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Perm {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Perm {
    const ALL: [Perm; 5] = [Perm::Create, Perm::Read, Perm::Update, Perm::Delete, Perm::Search];

    const fn letter(self) -> char {
        match self {
            Perm::Create => 'c',
            Perm::Read => 'r',
            Perm::Update => 'u',
            Perm::Delete => 'd',
            Perm::Search => 's',
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// One scope: a context, a resource type (`None` for `*`) and the interactions it grants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub context: Context,
    pub resource_type: Option<String>,
    perms: u8,
}

/// Why a scope string was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScope(pub String);

impl fmt::Display for InvalidScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not a SMART scope (context/Type.perms, as in patient/*.rs or user/Observation.cruds)", self.0)
    }
}

impl Scope {
    /// Parses one scope. `is_resource_type` says which type names are real.
    pub fn parse(text: &str, is_resource_type: impl Fn(&str) -> bool) -> Result<Scope, InvalidScope> {
        let bad = || InvalidScope(text.to_owned());
        let (context, rest) = text.split_once('/').ok_or_else(bad)?;
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return Err(bad()),
        };
        let (resource, perms) = rest.split_once('.').ok_or_else(bad)?;
        let resource_type = match resource {
            "*" => None,
            t if is_resource_type(t) => Some(t.to_owned()),
            _ => return Err(bad()),
        };
        let perms = match perms {
            "read" => Perm::Read.bit() | Perm::Search.bit(),
            "write" => Perm::Create.bit() | Perm::Update.bit() | Perm::Delete.bit(),
            "*" => Perm::ALL.iter().fold(0, |acc, p| acc | p.bit()),
            letters => {
                // v2: a non-empty subsequence of "cruds", in that order.
                let mut bits = 0u8;
                let mut order = Perm::ALL.iter();
                for ch in letters.chars() {
                    let p = order.by_ref().find(|p| p.letter() == ch).ok_or_else(bad)?;
                    bits |= p.bit();
                }
                if bits == 0 {
                    return Err(bad());
                }
                bits
            }
        };
        Ok(Scope { context, resource_type, perms })
    }

    pub fn allows(&self, resource_type: &str, perm: Perm) -> bool {
        self.perms & perm.bit() != 0 && self.resource_type.as_deref().is_none_or(|t| t == resource_type)
    }

    /// Every interaction on every type, in a context.
    pub fn all(context: Context) -> Scope {
        Scope { context, resource_type: None, perms: Perm::ALL.iter().fold(0, |acc, p| acc | p.bit()) }
    }

    /// Whether everything this scope grants, `wider` grants too.
    fn within(&self, wider: &Scope) -> bool {
        self.context == wider.context
            && self.perms & !wider.perms == 0
            && (wider.resource_type.is_none() || wider.resource_type == self.resource_type)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let perms: String = Perm::ALL.iter().filter(|p| self.perms & p.bit() != 0).map(|p| p.letter()).collect();
        write!(f, "{}/{}.{perms}", self.context.code(), self.resource_type.as_deref().unwrap_or("*"))
    }
}

/// The scopes a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(pub Vec<Scope>);

impl Scopes {
    /// Parses a space-separated list.
    pub fn parse(text: &str, is_resource_type: impl Fn(&str) -> bool + Copy) -> Result<Scopes, InvalidScope> {
        text.split_whitespace().map(|s| Scope::parse(s, is_resource_type)).collect::<Result<Vec<_>, _>>().map(Scopes)
    }

    /// The most an account of this role may hold: every interaction on every type, in its context. The
    /// relationship rules still decide whose data that reaches.
    pub fn ceiling(role: Role) -> Scopes {
        Scopes(vec![Scope::all(Context::of(role))])
    }

    /// The scopes granted for a request: all of `asked` if the role's ceiling covers each, else the scope
    /// that is not covered.
    pub fn grant(role: Role, asked: Scopes) -> Result<Scopes, Scope> {
        let ceiling = Scopes::ceiling(role);
        match asked.0.iter().find(|s| !ceiling.0.iter().any(|c| s.within(c))) {
            Some(over) => Err(over.clone()),
            None => Ok(asked),
        }
    }

    pub fn allows(&self, resource_type: &str, perm: Perm) -> bool {
        self.0.iter().any(|s| s.allows(resource_type, perm))
    }

    /// Whether one scope grants `perm` on every resource type (`*`).
    pub fn allows_every_type(&self, perm: Perm) -> bool {
        self.0.iter().any(|s| s.resource_type.is_none() && s.perms & perm.bit() != 0)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Scope::to_string).collect();
        f.write_str(&parts.join(" "))
    }
}
