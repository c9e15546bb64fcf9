//! The audit log's hash chain: each entry's hash covers the previous hash, its sequence number and its body, so that editing, inserting or deleting any entry (or cutting the tail, given the last known head) is detected.

use sha2::{Digest, Sha256};

/// A SHA-256 hash of a chain link.
pub type Hash = [u8; 32];

/// The hash before the first entry.
pub const GENESIS: Hash = [0; 32];

/// The hash of entry `seq` with body `body`, following the entry whose hash is `previous`.
/// Sequence numbers start at 1 and rise by one; the body is the entry exactly as stored.
pub fn link(previous: &Hash, seq: u64, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(b"joinery-audit-v1");
    h.update(previous);
    h.update(seq.to_be_bytes());
    h.update((body.len() as u64).to_be_bytes());
    h.update(body);
    h.finalize().into()
}

/// Where a chain stops being what was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    /// An entry is missing (or one was inserted): the sequence jumps.
    #[error("entry {expected} is missing: the next entry found is {found}")]
    Gap { expected: u64, found: u64 },
    /// An entry's body or hash is not what was written.
    #[error("entry {seq} was altered: its hash does not follow from the entries before it")]
    Altered { seq: u64 },
    /// The chain ends before the head recorded elsewhere.
    #[error("the log ends at entry {last} but entry {head} was recorded as written")]
    Truncated { last: u64, head: u64 },
    /// The index by patient (kept beside the chain, up to an entry) does not list exactly the people the
    /// entries it covers list: a person's "who looked" would be wrong.
    #[error("the index by patient, which covers entries 1 to {through}, does not match the people those entries list")]
    IndexDisagrees { through: u64 },
    /// The index by user (kept beside the chain, up to an entry) does not list exactly the users of the
    /// entries it covers: a privacy officer's search by agent would be wrong.
    #[error("the index by user, which covers entries 1 to {through}, does not match the users of those entries")]
    AgentIndexDisagrees { through: u64 },
}

/// Checks a chain entry by entry, in sequence order (a log too long to hold at once is read in pages).
#[derive(Debug, Clone)]
pub struct Verifier {
    previous: Hash,
    expected: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier { previous: GENESIS, expected: 1 }
    }
}

impl Verifier {
    /// The next entry as read: its sequence number, body and stored hash.
    pub fn next(&mut self, seq: u64, body: &[u8], stored: &Hash) -> Result<(), Break> {
        if seq != self.expected {
            return Err(Break::Gap { expected: self.expected, found: seq });
        }
        if link(&self.previous, seq, body) != *stored {
            return Err(Break::Altered { seq });
        }
        self.previous = *stored;
        self.expected += 1;
        Ok(())
    }

    /// The end of the log: `head`, if known (the last sequence number and hash recorded outside the log),
    /// must have been reached exactly. Returns the number of entries checked.
    pub fn finish(self, head: Option<(u64, Hash)>) -> Result<u64, Break> {
        let last = self.expected - 1;
        if let Some((head_seq, head_hash)) = head {
            if last < head_seq {
                return Err(Break::Truncated { last, head: head_seq });
            }
            if last == head_seq && self.previous != head_hash {
                return Err(Break::Altered { seq: last });
            }
        }
        Ok(last)
    }
}

/// Checks a chain read in sequence order; `head`, if known (the last sequence number and hash recorded
/// outside the log), must be reached exactly. Returns the number of entries checked.
pub fn verify<'a, I>(entries: I, head: Option<(u64, Hash)>) -> Result<u64, Break>
where
    I: IntoIterator<Item = (u64, &'a [u8], Hash)>,
{
    let mut v = Verifier::default();
    for (seq, body, stored) in entries {
        v.next(seq, body, &stored)?;
    }
    v.finish(head)
}

/// A hash as lowercase hexadecimal.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
