//! Conditional-operation and basic search criteria: `_id` and `identifier` tokens parsed from a query string.
//! Anything else is refused, so that a criterion we cannot evaluate never matches everything.

use crate::error::AppError;
use fhir::IssueCode;
use store::TokenCriterion;

/// Parameters every search and conditional operation understands here.
pub const SUPPORTED: &[&str] = &["_id", "identifier"];

/// Whether `name` is a parameter we evaluate for `resource_type`.
pub fn supports(resource_type: &str, name: &str) -> bool {
    match name {
        "_id" => true,
        "identifier" => fhir::index::has_identifier(resource_type),
        _ => false,
    }
}

/// Parses one `name=value` pair into a criterion; `Ok(None)` if `name` is not a criterion we support here.
pub fn criterion(resource_type: &str, name: &str, value: &str) -> Result<Option<TokenCriterion>, AppError> {
    if !supports(resource_type, name) {
        return Ok(None);
    }
    let bad = |msg: String| AppError::bad_request(IssueCode::Value, msg, Some(name));
    if value.is_empty() {
        return Err(bad(format!("search parameter '{name}' has an empty value")));
    }
    if value.contains(',') {
        return Err(bad(format!("search parameter '{name}': several values joined by ',' are not supported yet")));
    }
    if name == "_id" {
        if !fhir::id::is_valid_id(value) {
            return Err(bad(format!("'{value}' is not a valid resource id")));
        }
        return Ok(Some(TokenCriterion { param: "_id".into(), system: None, code: value.to_owned() }));
    }
    let (system, code) = match value.split_once('|') {
        None => (None, value),
        Some(("", code)) => (Some(None), code),
        Some((system, code)) => (Some(Some(system.to_owned())), code),
    };
    if code.is_empty() {
        return Err(bad(format!("search parameter '{name}': a system without a value ('{value}') is not supported yet")));
    }
    Ok(Some(TokenCriterion { param: name.to_owned(), system, code: code.to_owned() }))
}

/// Parses the query of a conditional operation (`If-None-Exist`, conditional update/delete, conditional
/// references). Every parameter must be understood and there must be at least one.
pub fn conditional(resource_type: &str, query: &str) -> Result<Vec<TokenCriterion>, AppError> {
    let mut out = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match criterion(resource_type, &name, &value)? {
            Some(c) => out.push(c),
            None => {
                return Err(AppError::bad_request(
                    IssueCode::NotSupported,
                    format!("conditional operations on {resource_type} support only {SUPPORTED:?}; '{name}' is not supported"),
                    Some(&name),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(AppError::bad_request(IssueCode::Required, "a conditional operation needs at least one search parameter", None));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_forms() {
        let c = conditional("Patient", "identifier=http://a|1&_id=x").expect("valid");
        assert_eq!(c[0].system, Some(Some("http://a".into())));
        assert_eq!(c[0].code, "1");
        assert_eq!(c[1].param, "_id");
        assert_eq!(conditional("Patient", "identifier=|1").expect("valid")[0].system, Some(None));
        assert_eq!(conditional("Patient", "identifier=1").expect("valid")[0].system, None);
        assert_eq!(conditional("Patient", "identifier=a%7C1").expect("valid")[0].code, "1");
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        for q in ["", "name=smith", "identifier=", "identifier=a|", "identifier=1,2", "_id=a_b"] {
            assert!(conditional("Patient", q).is_err(), "{q} should be refused");
        }
    }
}
