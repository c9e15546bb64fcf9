//! `$validate`: checks a resource as a create or update would (the specification's rules, the URL's type
//! and id, references to resources that exist), or a delete as it would run (the resource exists, nothing
//! live points at it), and answers every issue with its element path. Nothing is stored.

use crate::error::AppError;
use crate::Session;
use fhir::reference::{self, Target};
use fhir::{Issue, IssueCode, OperationOutcome};
use serde_json::Value;

/// What `$validate` is asked to check (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Would this resource be accepted as new? (also the default when no mode is given)
    Create,
    /// Would it be accepted as the new version of the resource the URL names?
    Update,
    /// Could the resource the URL names be deleted?
    Delete,
}

impl Mode {
    pub fn parse(code: &str) -> Result<Mode, AppError> {
        match code {
            "create" => Ok(Mode::Create),
            "update" => Ok(Mode::Update),
            "delete" => Ok(Mode::Delete),
            other => Err(AppError::bad_request(IssueCode::Value, format!("mode '{other}' is not create, update or delete"), Some("mode"))),
        }
    }
}

/// A `$validate` request, from the body (a resource, or Parameters with `resource`, `mode` and `profile`)
/// and the query (`mode`, `profile`).
#[derive(Debug, Clone)]
pub struct ValidateRequest {
    pub resource: Option<Value>,
    pub mode: Option<Mode>,
    pub profile: Option<String>,
}

impl ValidateRequest {
    pub fn from_parts(body: Option<Value>, query: &[(String, String)]) -> Result<ValidateRequest, AppError> {
        let mut request = ValidateRequest { resource: None, mode: None, profile: None };
        for (k, v) in query {
            match k.as_str() {
                "mode" => request.mode = Some(Mode::parse(v)?),
                "profile" => request.profile = Some(v.clone()),
                _ => {}
            }
        }
        match body {
            Some(b) if b.get("resourceType").and_then(Value::as_str) == Some("Parameters") => {
                for (i, p) in b.get("parameter").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    match p.get("name").and_then(Value::as_str) {
                        Some("resource") => request.resource = p.get("resource").cloned(),
                        Some("mode") => {
                            let code = p.get("valueCode").and_then(Value::as_str).ok_or_else(|| {
                                AppError::bad_request(
                                    IssueCode::Required,
                                    "the mode parameter needs a valueCode",
                                    Some(&format!("Parameters.parameter[{i}]")),
                                )
                            })?;
                            request.mode = Some(Mode::parse(code)?);
                        }
                        Some("profile") => {
                            request.profile = p.get("valueUri").or_else(|| p.get("valueCanonical")).and_then(Value::as_str).map(str::to_owned);
                        }
                        _ => {}
                    }
                }
            }
            other => request.resource = other,
        }
        Ok(request)
    }
}

impl Session {
    /// `POST [base]/[type]/$validate` (no id) and `POST [base]/[type]/[id]/$validate`.
    pub async fn validate(&self, resource_type: &str, id: Option<&str>, request: ValidateRequest) -> Result<OperationOutcome, AppError> {
        crate::record::ensure_type(resource_type)?;
        let mode = request.mode.unwrap_or(if id.is_some() { Mode::Update } else { Mode::Create });
        let mut issues: Vec<Issue> = Vec::new();
        if let Some(profile) = &request.profile {
            let base = format!("http://hl7.org/fhir/StructureDefinition/{resource_type}");
            if profile.split('|').next() != Some(base.as_str()) {
                issues.push(
                    Issue::error(IssueCode::NotSupported, format!("only the base definition {base} is known, not the profile {profile}"))
                        .at("profile"),
                );
            }
        }
        match mode {
            Mode::Delete => {
                let id = id.ok_or_else(|| {
                    AppError::bad_request(IssueCode::Required, "mode delete validates the resource the URL names: [type]/[id]/$validate", None)
                })?;
                match self.read(resource_type, id).await {
                    Ok(_) => {
                        let links = self.store.links_to(resource_type, vec![id.to_owned()], None, None).await?;
                        let mut referrers: Vec<(String, String)> = links.into_iter().map(|l| (l.resource_type, l.id)).collect();
                        referrers.sort();
                        referrers.dedup();
                        if !referrers.is_empty() {
                            // Only a referrer the caller may see is named.
                            let seen = self.store.read_many(referrers.clone(), self.visibility().clone()).await?;
                            let first = seen.first().map(|s| format!(", {}/{} among them", s.resource_type, s.id)).unwrap_or_default();
                            issues.push(Issue::error(
                                IssueCode::Conflict,
                                format!("{resource_type}/{id} cannot be deleted: {} live resource(s) refer to it{first}", referrers.len()),
                            ));
                        }
                    }
                    Err(AppError::NotFound(m) | AppError::Gone(m)) => issues.push(Issue::error(IssueCode::NotFound, m)),
                    Err(e) => return Err(e),
                }
            }
            Mode::Create | Mode::Update => {
                let resource = request
                    .resource
                    .ok_or_else(|| AppError::bad_request(IssueCode::Required, "there is no resource to validate", Some("resource")))?;
                let found = resource.get("resourceType").and_then(Value::as_str).unwrap_or("");
                if found != resource_type {
                    issues.push(
                        Issue::error(IssueCode::Invalid, format!("the resource is a {found}, but the URL is for {resource_type}")).at("resourceType"),
                    );
                }
                if mode == Mode::Update {
                    let body_id = resource.get("id").and_then(Value::as_str);
                    match (id, body_id) {
                        (Some(url), Some(body)) if url != body => issues.push(
                            Issue::error(IssueCode::Invalid, format!("the resource's id {body} is not the URL's {url}"))
                                .at(&format!("{resource_type}.id")),
                        ),
                        (_, None) => {
                            issues.push(Issue::error(IssueCode::Required, "an update needs the resource's id").at(&format!("{resource_type}.id")))
                        }
                        _ => {}
                    }
                }
                if let Err(found) = fhir::validate::validate_resource(&resource) {
                    issues.extend(found);
                }
                issues.extend(self.missing_references(&resource).await?);
            }
        }
        if issues.is_empty() {
            issues.push(Issue::information("no issues found"));
        }
        Ok(OperationOutcome::new(issues))
    }

    /// An issue for each local reference that points at nothing.
    async fn missing_references(&self, resource: &Value) -> Result<Vec<Issue>, AppError> {
        let root = resource.get("resourceType").and_then(Value::as_str).unwrap_or("Resource");
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for (path, r) in reference::references_with_paths(resource, root) {
            if let Target::Local { resource_type, id, .. } = reference::parse(r, Some(&self.config.base_url)) {
                wanted.push((path, resource_type.to_owned(), id.to_owned()));
            }
        }
        let keys: Vec<(String, String)> = wanted.iter().map(|(_, t, id)| (t.clone(), id.clone())).collect();
        let found = self.store.read_many(keys, self.visibility().clone()).await?;
        Ok(wanted
            .into_iter()
            .filter(|(_, t, id)| !found.iter().any(|s| &s.resource_type == t && &s.id == id))
            .map(|(path, t, id)| {
                Issue::error(IssueCode::NotFound, format!("reference '{t}/{id}' points to a resource that does not exist")).at(&path)
            })
            .collect())
    }
}
