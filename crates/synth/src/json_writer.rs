//! A minimal streaming JSON writer for the generated resources: it appends compact JSON straight into the output buffer, in the order the code writes the fields, with no intermediate values (building `serde_json::Value`s cost more than everything else together).
//!
//! Keys are written as given (they are FHIR element names, which never need escaping); string
//! values are escaped; `formatted` writes a string from format arguments built only from ids,
//! numbers and dates, which never need escaping either. The tests parse every line written.

use std::fmt::Arguments;
use std::io::Write as _;

/// Writes the members of one JSON object.
pub(crate) struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

/// Writes the items of one JSON array.
pub(crate) struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

/// Writes one object into `out`, as `{…}`.
pub(crate) fn object(out: &mut Vec<u8>, body: impl FnOnce(&mut Object<'_>)) {
    out.push(b'{');
    body(&mut Object { out, first: true });
    out.push(b'}');
}

fn escaped(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, byte) in bytes.iter().enumerate() {
        let replacement: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        match replacement {
            Some(replacement) => out.extend_from_slice(replacement),
            None => {
                let _ = write!(out, "\\u{:04x}", byte);
            }
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

impl Object<'_> {
    fn key(&mut self, key: &str) {
        debug_assert!(key.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_'));
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        escaped(self.out, value);
        self
    }

    /// A string made from format arguments that need no escaping (ids, references, dates).
    pub fn formatted(&mut self, key: &str, value: Arguments<'_>) -> &mut Self {
        self.key(key);
        self.out.push(b'"');
        let _ = self.out.write_fmt(value);
        self.out.push(b'"');
        self
    }

    /// A number written from its text (whole numbers, or decimals already rounded).
    pub fn number(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    pub fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    pub fn object(&mut self, key: &str, body: impl FnOnce(&mut Object<'_>)) -> &mut Self {
        self.key(key);
        object(self.out, body);
        self
    }

    pub fn array(&mut self, key: &str, body: impl FnOnce(&mut Array<'_>)) -> &mut Self {
        self.key(key);
        self.out.push(b'[');
        body(&mut Array { out: self.out, first: true });
        self.out.push(b']');
        self
    }

    /// `{"reference": "…"}`.
    pub fn reference(&mut self, key: &str, target: Arguments<'_>) -> &mut Self {
        self.object(key, |reference| {
            reference.formatted("reference", target);
        })
    }

    /// A CodeableConcept with one coding.
    pub fn concept(&mut self, key: &str, system: &str, code: &str, display: &str) -> &mut Self {
        self.object(key, |concept| {
            concept.array("coding", |codings| {
                codings.coding(system, code, display);
            });
        })
    }

    /// A Coding.
    pub fn coding(&mut self, key: &str, system: &str, code: &str, display: &str) -> &mut Self {
        self.object(key, |coding| {
            coding.string("system", system).string("code", code).string("display", display);
        })
    }
}

impl Array<'_> {
    fn separate(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    pub fn object(&mut self, body: impl FnOnce(&mut Object<'_>)) -> &mut Self {
        self.separate();
        object(self.out, body);
        self
    }

    pub fn string(&mut self, value: &str) -> &mut Self {
        self.separate();
        escaped(self.out, value);
        self
    }

    /// `{"reference": "…"}`.
    pub fn reference(&mut self, target: Arguments<'_>) -> &mut Self {
        self.object(|reference| {
            reference.formatted("reference", target);
        })
    }

    /// A CodeableConcept with one coding.
    pub fn concept(&mut self, system: &str, code: &str, display: &str) -> &mut Self {
        self.object(|concept| {
            concept.array("coding", |codings| {
                codings.coding(system, code, display);
            });
        })
    }

    /// A Coding.
    pub fn coding(&mut self, system: &str, code: &str, display: &str) -> &mut Self {
        self.object(|coding| {
            coding.string("system", system).string("code", code).string("display", display);
        })
    }
}
