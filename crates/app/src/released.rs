//! `Released`: a version of a resource leaving `app` for the caller who asked; the only form in which a
//! stored resource leaves it.

use store::Stored;

/// A version of a resource that the caller's access decision let through: read with the caller's visibility
/// (or written by them behind the session's guard). Only `app` makes one; the transports read it.
#[derive(Debug, Clone)]
pub struct Released(Stored);

impl Released {
    /// Only for versions the store returned for the caller's visibility, or that the caller's own unit wrote
    /// behind the guard.
    pub(crate) fn new(stored: Stored) -> Released {
        Released(stored)
    }
}

impl std::ops::Deref for Released {
    type Target = Stored;

    fn deref(&self) -> &Stored {
        &self.0
    }
}
