//! The audit hash chain: a written chain verifies; an edited body, an edited hash, a deleted entry, an inserted entry and a cut tail are each detected at the right entry.

use care::audit::{self, Break, Hash, GENESIS};

fn chain(n: u64) -> Vec<(u64, Vec<u8>, Hash)> {
    let mut previous = GENESIS;
    (1..=n)
        .map(|seq| {
            let body = format!("{{\"seq\":{seq},\"what\":\"read\"}}").into_bytes();
            let hash = audit::link(&previous, seq, &body);
            previous = hash;
            (seq, body, hash)
        })
        .collect()
}

fn check(entries: &[(u64, Vec<u8>, Hash)], head: Option<(u64, Hash)>) -> Result<u64, Break> {
    audit::verify(entries.iter().map(|(s, b, h)| (*s, b.as_slice(), *h)), head)
}

#[test]
fn an_untouched_chain_verifies() {
    let c = chain(50);
    let head = (50, c[49].2);
    assert_eq!(check(&c, Some(head)), Ok(50));
    assert_eq!(check(&[], None), Ok(0));
}

#[test]
fn an_edited_body_is_caught_at_that_entry() {
    let mut c = chain(10);
    c[4].1 = b"{\"seq\":5,\"what\":\"nothing\"}".to_vec();
    assert_eq!(check(&c, None), Err(Break::Altered { seq: 5 }));
}

#[test]
fn a_rehashed_edit_is_caught_at_the_next_entry() {
    let mut c = chain(10);
    c[4].1 = b"forged".to_vec();
    c[4].2 = audit::link(&c[3].2, 5, b"forged");
    assert_eq!(check(&c, None), Err(Break::Altered { seq: 6 }));
}

#[test]
fn a_deleted_entry_is_a_gap() {
    let mut c = chain(10);
    c.remove(6);
    assert_eq!(check(&c, None), Err(Break::Gap { expected: 7, found: 8 }));
}

#[test]
fn a_cut_tail_is_caught_against_the_head() {
    let c = chain(10);
    let head = (10, c[9].2);
    assert_eq!(check(&c[..8], Some(head)), Err(Break::Truncated { last: 8, head: 10 }));
    let mut forged_last = c.clone();
    forged_last[9].1 = b"x".to_vec();
    forged_last[9].2 = audit::link(&c[8].2, 10, b"x");
    assert_eq!(check(&forged_last, Some(head)), Err(Break::Altered { seq: 10 }));
}

#[test]
fn hashes_depend_on_position() {
    let a = audit::link(&GENESIS, 1, b"same");
    assert_ne!(a, audit::link(&GENESIS, 2, b"same"));
    assert_ne!(a, audit::link(&a, 1, b"same"));
    assert_eq!(audit::hex(&a).len(), 64);
}
