//! The specification's search parameters, indexed by the resource types they apply to.

use std::collections::HashMap;

/// A search parameter as the specification defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchParam {
    /// The name used in queries (`birthdate`, `_id`).
    pub code: String,
    /// The resource types it is defined on (`Resource` and `DomainResource` for the common ones).
    pub base: Vec<String>,
    pub kind: SearchParamKind,
    /// The FHIRPath expression; None for `_text`, `_content`, `_query` and the like.
    pub expression: Option<String>,
    /// For reference parameters, the resource types they may point at.
    pub target: Vec<String>,
    /// For composite parameters: (the component's definition URL, its expression relative to the parameter's).
    pub components: Vec<(String, String)>,
    /// The canonical URL (`http://hl7.org/fhir/SearchParameter/Patient-birthdate`).
    pub url: String,
}

/// The search parameter type (value set `search-param-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchParamKind {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl SearchParamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchParamKind::Number => "number",
            SearchParamKind::Date => "date",
            SearchParamKind::String => "string",
            SearchParamKind::Token => "token",
            SearchParamKind::Reference => "reference",
            SearchParamKind::Composite => "composite",
            SearchParamKind::Quantity => "quantity",
            SearchParamKind::Uri => "uri",
            SearchParamKind::Special => "special",
        }
    }

    /// The kind named by a `SearchParameter.type` code.
    pub fn from_code(code: &str) -> Option<SearchParamKind> {
        Some(match code {
            "number" => SearchParamKind::Number,
            "date" => SearchParamKind::Date,
            "string" => SearchParamKind::String,
            "token" => SearchParamKind::Token,
            "reference" => SearchParamKind::Reference,
            "composite" => SearchParamKind::Composite,
            "quantity" => SearchParamKind::Quantity,
            "uri" => SearchParamKind::Uri,
            "special" => SearchParamKind::Special,
            _ => return None,
        })
    }
}

/// All parameters, and for each resource type the ones that apply to it, sorted by code.
pub(crate) struct SearchIndex {
    params: Vec<SearchParam>,
    by_type: HashMap<String, Vec<usize>>,
}

impl SearchIndex {
    /// Indexes `params` for every resource type; `resources` gives each concrete type with the type it specialises.
    pub fn new(params: Vec<SearchParam>, resources: &[(String, String)]) -> SearchIndex {
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        let types = resources.iter().map(|(name, base)| (name.as_str(), base.as_str())).chain([("Resource", ""), ("DomainResource", "Resource")]);
        for (name, base) in types {
            let domain = base == "DomainResource" || name == "DomainResource";
            let mut applicable: Vec<usize> = (0..params.len())
                .filter(|&i| params[i].base.iter().any(|b| b == name || b == "Resource" || (domain && b == "DomainResource")))
                .collect();
            applicable.sort_by(|&a, &b| params[a].code.cmp(&params[b].code));
            by_type.insert(name.to_string(), applicable);
        }
        SearchIndex { params, by_type }
    }

    pub fn for_type<'a>(&'a self, resource_type: &str) -> impl Iterator<Item = &'a SearchParam> + use<'a> {
        let indexes = self.by_type.get(resource_type).map(Vec::as_slice).unwrap_or(&[]);
        indexes.iter().map(|&i| &self.params[i])
    }

    pub fn find(&self, resource_type: &str, code: &str) -> Option<&SearchParam> {
        let indexes = self.by_type.get(resource_type)?;
        let at = indexes.binary_search_by(|&i| self.params[i].code.as_str().cmp(code)).ok()?;
        Some(&self.params[indexes[at]])
    }
}
