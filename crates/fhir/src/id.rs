//! Resource ids and version ids: the R4 `id` syntax, checked at the edge.

/// True when `s` is a valid FHIR `id`: 1 to 64 characters from `[A-Za-z0-9\-\.]`.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::is_valid_id;

    #[test]
    fn id_syntax() {
        assert!(is_valid_id("abc-123.X"));
        assert!(is_valid_id(&"a".repeat(64)));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id("é"));
    }
}
