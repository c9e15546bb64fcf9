//! The FHIRPath of the element being checked, kept as a chain on the stack and rendered only when an issue needs it.

use std::fmt::{self, Write};

/// A position in a resource: `Patient.name[0].given[1]`.
#[derive(Clone, Copy)]
pub(super) enum Path<'a> {
    /// Outside any resource (before its type is known); renders as nothing.
    Root,
    /// The root of a resource of this type.
    Type(&'a str),
    Member(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub fn member(&'a self, name: &'a str) -> Path<'a> {
        Path::Member(self, name)
    }

    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    fn write(&self, out: &mut String) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Type(name) => out.write_str(name),
            Path::Member(parent, name) => {
                parent.write(out)?;
                if !out.is_empty() {
                    out.push('.');
                }
                out.write_str(name)
            }
            Path::Index(parent, i) => {
                parent.write(out)?;
                write!(out, "[{i}]")
            }
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out)?;
        f.write_str(&out)
    }
}
