//! The CapabilityStatement, generated from the interactions this crate routes and the search parameters
//! the `fhir` crate indexes, never written by hand.

use fhir::definitions::SearchParamKind;
use serde_json::{json, Value};

/// Instance- and type-level interactions routed for every resource type.
pub const TYPE_INTERACTIONS: &[&str] = &["read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"];

/// System-level interactions routed.
pub const SYSTEM_INTERACTIONS: &[&str] = &["transaction", "batch", "history-system", "search-system"];

/// The most entries one page may hold.
pub const MAX_COUNT: usize = 1000;

/// `rest.security`: SMART on FHIR bearer tokens, with the token endpoint beside the FHIR base.
fn security(base_url: &str) -> Value {
    let origin = base_url.strip_suffix("/fhir").unwrap_or(base_url);
    json!({
        "cors": false,
        "service": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR" }] }],
        "description": "Every request but this CapabilityStatement needs a bearer token (a signed JWT with SMART v2 scopes), \
            from the token endpoint: grant_type=password for people and professionals, client_credentials for systems.",
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{ "url": "token", "valueUri": format!("{origin}/auth/token") }]
        }]
    })
}

pub fn statement(base_url: &str, date: &str) -> Value {
    let resources: Vec<Value> = fhir::definitions::resource_types().map(resource).collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Joinery",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "software": { "name": "Joinery", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Joinery shared care record", "url": base_url },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "security": security(base_url),
            "documentation": format!("Search pages hold at most {MAX_COUNT} entries (_count above that is reduced); default 50. \
                Paging is by keyset cursors. Unknown parameters are ignored and reported under Prefer: handling=lenient \
                (the default) and refused under handling=strict; unparseable values are always refused."),
            "resource": resources,
            "interaction": SYSTEM_INTERACTIONS.iter().map(|i| json!({ "code": i })).collect::<Vec<_>>(),
            "searchParam": [
                { "name": "_type", "type": "token", "documentation": "required for a system-level search" },
                { "name": "_count", "type": "number" },
            ],
            "operation": [
                { "name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything" },
                { "name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export" },
                { "name": "patient-export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export" },
                { "name": "group-export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export" },
                { "name": "break-glass-review", "definition": "urn:joinery:operation:break-glass-review",
                  "documentation": "privacy officers: GET lists break-glass grants (status=open|reviewed|all); POST grant, outcome, note reviews one, once" },
            ],
        }]
    })
}

/// AuditEvent: the audit log, read and searched (by the parameters `app` evaluates), never written.
fn audit_event() -> Value {
    let param = |name: &str, kind: &str, doc: &str| json!({ "name": name, "type": kind, "definition": format!("http://hl7.org/fhir/SearchParameter/AuditEvent-{name}"), "documentation": doc });
    json!({
        "type": "AuditEvent",
        "interaction": [{ "code": "read" }, { "code": "search-type" }],
        "documentation": "The audit log: every request to the record, one event each, hash-chained. Privacy officers read all of it;             a person (or their carer) reads the events about their own record (patient= their id), by organisation and role.             Newest first; paged with _count and next links.",
        "searchParam": [
            param("patient", "reference", "the person whose record the request touched (Patient/id or id)"),
            param("agent", "reference", "the user name of who asked (also as altid)"),
            param("altid", "token", "the user name of who asked"),
            param("date", "date", "when: prefixes eq ge gt le lt"),
            param("outcome", "token", "0 success, 4 refused or invalid, 8 failed; several separated by commas"),
        ],
    })
}

fn resource(t: &str) -> Value {
    if t == "AuditEvent" {
        return audit_event();
    }
    let mut params: Vec<Value> = vec![json!({ "name": "_id", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id" })];
    let mut includes = Vec::new();
    for c in fhir::search::params_of(t) {
        let p = c.param;
        params.push(json!({ "name": p.code, "type": p.kind.as_str(), "definition": p.url, "documentation": modifiers(p.kind) }));
        if p.kind == SearchParamKind::Reference {
            includes.push(format!("{t}:{}", p.code));
        }
    }
    let mut revincludes: Vec<String> = fhir::definitions::resource_types()
        .flat_map(|source| {
            fhir::search::params_of(source)
                .iter()
                .filter(move |c| c.param.kind == SearchParamKind::Reference && (c.param.target.is_empty() || c.param.target.iter().any(|x| x == t)))
                .map(move |c| format!("{source}:{}", c.param.code))
        })
        .collect();
    revincludes.sort();
    includes.push("*".into());
    let mut resource = json!({
        "type": t,
        "interaction": TYPE_INTERACTIONS.iter().map(|i| json!({ "code": i })).collect::<Vec<_>>(),
        "versioning": "versioned-update",
        "readHistory": true,
        "updateCreate": true,
        "conditionalCreate": true,
        "conditionalRead": "not-supported",
        "conditionalUpdate": true,
        "conditionalDelete": "single",
        "searchInclude": includes,
        "searchRevInclude": revincludes,
        "searchParam": params,
    });
    if t == "Encounter" {
        resource["operation"] = json!([
            { "name": "readmission-risk", "definition": "urn:joinery:operation:readmission-risk",
              "documentation": "GET: the stay's LACE index as a RiskAssessment (length of stay, acute admission, Charlson index with each group, emergency department visits in the 6 months before, each with its points and evidence), from what the caller may see; provisional while the stay goes on" },
        ]);
    }
    if t == "Patient" {
        resource["operation"] = json!([
            { "name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything" },
            { "name": "worklist", "definition": "urn:joinery:operation:worklist",
              "documentation": "GET ?list=top-tiers-without-care-plan|tier-rose|recent-emergency[&practice=Organization/x,…][&network=Organization/y]: the people to act on first, highest risk first, in pages, as the caller may see (searchset Bundle of Patients; search.score the probability)" },
            { "name": "access", "definition": "urn:joinery:operation:access",
              "documentation": "GET: whether, and why, the caller may see the person's record now (Parameters)" },
            { "name": "break-glass", "definition": "urn:joinery:operation:break-glass",
              "documentation": "POST Parameters with reason (required) and reasonCode: emergency access for the configured time, flagged for review" },
            { "name": "registers", "definition": "urn:joinery:operation:registers",
              "documentation": "GET: the long-term-condition registers (QOF groups) the person is on today, each with the resources that admitted them, from what the caller may see (Parameters)" },
            { "name": "segment", "definition": "urn:joinery:operation:segment",
              "documentation": "GET: the person's North West London population segment today (one of 15, the most severe need first), with the resources that placed them, from what the caller may see (Parameters)" },
            { "name": "frailty", "definition": "urn:joinery:operation:frailty",
              "documentation": "GET: the person's electronic Frailty Index today as a RiskAssessment (band, index, each deficit with its evidence), from what the caller may see" },
            { "name": "admission-risk", "definition": "urn:joinery:operation:admission-risk",
              "documentation": "GET: the person's risk of an emergency admission within a year as a RiskAssessment (probability; the intercept and each input with its value, coefficient, contribution and evidence), from what the caller may see" },
        ]);
    }
    resource
}

/// The modifiers and forms supported for a parameter type, as documentation.
fn modifiers(kind: SearchParamKind) -> &'static str {
    match kind {
        SearchParamKind::String => "modifiers: :exact, :contains, :missing; default is a case- and accent-insensitive prefix match",
        SearchParamKind::Token => "forms: code, system|code, |code, system|; modifiers: :not, :text, :of-type (identifiers), :missing",
        SearchParamKind::Reference => "forms: id, Type/id, absolute URL; modifiers: :[Type], :identifier, :missing; chaining and _has",
        SearchParamKind::Date => "prefixes: eq ne gt lt ge le sa eb ap; modifier :missing",
        SearchParamKind::Number => "prefixes: eq ne gt lt ge le sa eb ap; modifier :missing",
        SearchParamKind::Quantity => "forms: [prefix]number, number|system|code, number||unit; modifier :missing",
        SearchParamKind::Uri => "modifiers: :below, :above, :missing",
        SearchParamKind::Composite => "form: token$value (token$quantity, token$token or token$date)",
        SearchParamKind::Special => "",
    }
}
