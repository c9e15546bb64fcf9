//! OperationOutcome: the issues a request raised, each with a severity, an issue-type code and the FHIRPath of the element at fault.

use serde_json::{json, Map, Value};

/// Issue severity (value set `issue-severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl IssueSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueSeverity::Fatal => "fatal",
            IssueSeverity::Error => "error",
            IssueSeverity::Warning => "warning",
            IssueSeverity::Information => "information",
        }
    }
}

/// Issue type (value set `issue-type`); only the codes Joinery raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueCode {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    Security,
    Login,
    Forbidden,
    Processing,
    NotSupported,
    Duplicate,
    MultipleMatches,
    NotFound,
    Deleted,
    TooLong,
    CodeInvalid,
    Conflict,
    Exception,
    Timeout,
    Transient,
    Informational,
    TooCostly,
    Incomplete,
    Throttled,
}

impl IssueCode {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Invalid => "invalid",
            IssueCode::Structure => "structure",
            IssueCode::Required => "required",
            IssueCode::Value => "value",
            IssueCode::Invariant => "invariant",
            IssueCode::Security => "security",
            IssueCode::Login => "login",
            IssueCode::Forbidden => "forbidden",
            IssueCode::Processing => "processing",
            IssueCode::NotSupported => "not-supported",
            IssueCode::Duplicate => "duplicate",
            IssueCode::MultipleMatches => "multiple-matches",
            IssueCode::NotFound => "not-found",
            IssueCode::Deleted => "deleted",
            IssueCode::TooLong => "too-long",
            IssueCode::CodeInvalid => "code-invalid",
            IssueCode::Conflict => "conflict",
            IssueCode::Exception => "exception",
            IssueCode::Timeout => "timeout",
            IssueCode::Transient => "transient",
            IssueCode::Informational => "informational",
            IssueCode::TooCostly => "too-costly",
            IssueCode::Incomplete => "incomplete",
            IssueCode::Throttled => "throttled",
        }
    }
}

/// One issue: what went wrong and, where it is about an element, that element's FHIRPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: IssueSeverity,
    pub code: IssueCode,
    pub diagnostics: String,
    /// FHIRPath expressions of the elements at fault, e.g. `Patient.birthDate`.
    pub expression: Vec<String>,
}

impl Issue {
    pub fn error(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Issue { severity: IssueSeverity::Error, code, diagnostics: diagnostics.into(), expression: Vec::new() }
    }

    pub fn warning(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Issue { severity: IssueSeverity::Warning, code, diagnostics: diagnostics.into(), expression: Vec::new() }
    }

    pub fn information(diagnostics: impl Into<String>) -> Self {
        Issue { severity: IssueSeverity::Information, code: IssueCode::Informational, diagnostics: diagnostics.into(), expression: Vec::new() }
    }

    /// The same issue, about the element at `path`.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.expression.push(path.into());
        self
    }

    fn to_json(&self) -> Value {
        let mut issue = Map::new();
        issue.insert("severity".into(), json!(self.severity.as_str()));
        issue.insert("code".into(), json!(self.code.as_str()));
        issue.insert("diagnostics".into(), json!(self.diagnostics));
        if !self.expression.is_empty() {
            issue.insert("expression".into(), json!(self.expression));
        }
        Value::Object(issue)
    }
}

/// An OperationOutcome resource made of issues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationOutcome {
    pub issues: Vec<Issue>,
}

impl OperationOutcome {
    pub fn new(issues: Vec<Issue>) -> Self {
        OperationOutcome { issues }
    }

    pub fn single(issue: Issue) -> Self {
        OperationOutcome { issues: vec![issue] }
    }

    pub fn to_json(&self) -> Value {
        let issues: Vec<Value> =
            if self.issues.is_empty() { vec![Issue::information("All OK").to_json()] } else { self.issues.iter().map(Issue::to_json).collect() };
        json!({ "resourceType": "OperationOutcome", "issue": issues })
    }
}

impl From<Issue> for OperationOutcome {
    fn from(issue: Issue) -> Self {
        OperationOutcome::single(issue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_carries_expression_and_codes() {
        let oo = OperationOutcome::single(Issue::error(IssueCode::Value, "bad date").at("Patient.birthDate"));
        assert_eq!(
            oo.to_json().to_string(),
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"value","diagnostics":"bad date","expression":["Patient.birthDate"]}]}"#
        );
    }

    #[test]
    fn empty_outcome_says_all_ok() {
        let text = OperationOutcome::default().to_json().to_string();
        assert!(text.contains(r#""code":"informational""#), "{text}");
    }
}
