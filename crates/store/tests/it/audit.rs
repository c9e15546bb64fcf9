//! The audit log on every backend: appends extend one hash chain in order, across batches and concurrent
//! appenders, and read back exactly as written, with the people each event lists.

use crate::contract::backends;
use care::audit::Verifier;
use store::AuditRecord;

fn record(n: usize, patients: &[&str]) -> AuditRecord {
    AuditRecord {
        at_ms: 1_800_000_000_000 + n as i64,
        username: Some(format!("user{}", n % 3)),
        organisation: (n % 2 == 0).then(|| "org".to_owned()),
        outcome: 200,
        patients: patients.iter().map(|p| (*p).to_owned()).collect(),
        body: format!("{{\"n\":{n}}}"),
    }
}

#[tokio::test]
async fn appends_extend_one_chain_that_reads_back_as_written() {
    for (name, store, _keep) in backends() {
        assert!(store.audit_entries(0, 10).await.expect("empty").is_empty(), "{name}");
        assert_eq!(store.append_audit(vec![record(0, &["p1"]), record(1, &[])]).await.expect("append"), 2, "{name}");
        // Concurrent appenders: every event lands once, in one chain.
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for k in 0..5 {
                    let n = 10 + t * 5 + k;
                    store.append_audit(vec![record(n, &["p2", "p3"])]).await.expect("append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = store.audit_entries(after, 7).await.expect("entries");
            let Some(last) = page.last() else { break };
            after = last.seq;
            all.extend(page);
        }
        assert_eq!(all.len(), 42, "{name}");
        let mut v = Verifier::default();
        for e in &all {
            let hash: [u8; 32] = e.hash.as_slice().try_into().expect("32 bytes");
            v.next(e.seq as u64, e.record.body.as_bytes(), &hash).unwrap_or_else(|b| panic!("{name}: {b}"));
        }
        assert_eq!(v.finish(None).expect("whole"), 42, "{name}");
        assert_eq!(all[0].record, record(0, &["p1"]), "{name}");
        assert_eq!(all[1].record, record(1, &[]), "{name}");
        let mut bodies: Vec<String> = all[2..].iter().map(|e| e.record.body.clone()).collect();
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), 40, "{name}: none lost, none twice");
        assert!(all[2..].iter().all(|e| e.record.patients == ["p2", "p3"]), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_cancelled_while_waiting_and_indexing_meanwhile_never_stall_the_log() {
    // Requests that stop waiting (a client hangs up) may be the one handed the turn to write the queue; the
    // log must go on, and every event whose append answered must be in it once.
    for (name, store, _keep) in backends() {
        let mut tasks = Vec::new();
        for n in 0..2000 {
            let s = store.clone();
            // Every third gives up after a moment, wherever it is: before its turn, holding it, or after.
            let patience = std::time::Duration::from_micros(if n % 3 == 0 { (n as u64 * 7919) % 3000 } else { 60_000_000 });
            tasks.push(tokio::spawn(async move {
                match tokio::time::timeout(patience, s.append_audit(vec![record(n, &["p1"])])).await {
                    Ok(appended) => appended.map(|_| Some(n)),
                    Err(_) => Ok(None),
                }
            }));
            if n % 50 == 0 {
                let s = store.clone();
                let patience = std::time::Duration::from_micros((n as u64 * 31) % 2000);
                tasks.push(tokio::spawn(async move {
                    let _ = tokio::time::timeout(patience, s.index_audit(40)).await;
                    Ok(None)
                }));
            }
        }
        let mut answered = Vec::new();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            for t in tasks {
                if let Ok(Ok(Some(n))) = t.await {
                    answered.push(n);
                }
            }
        });
        assert!(waited.await.is_ok(), "{name}: the log stalled");
        let last = tokio::time::timeout(std::time::Duration::from_secs(10), store.append_audit(vec![record(9999, &[])]))
            .await
            .unwrap_or_else(|_| panic!("{name}: the log stalled"))
            .expect("append after the cancellations");
        let all = store.audit_entries(0, 10_000).await.expect("entries");
        assert_eq!(all.last().map(|e| e.seq), Some(last), "{name}");
        let mut v = Verifier::default();
        for e in &all {
            let hash: [u8; 32] = e.hash.as_slice().try_into().expect("32 bytes");
            v.next(e.seq as u64, e.record.body.as_bytes(), &hash).unwrap_or_else(|b| panic!("{name}: {b}"));
        }
        let mut bodies: Vec<&str> = all.iter().map(|e| e.record.body.as_str()).collect();
        bodies.sort_unstable();
        bodies.dedup();
        assert_eq!(bodies.len(), all.len(), "{name}: none twice");
        for n in answered {
            assert!(bodies.binary_search(&record(n, &[]).body.as_str()).is_ok(), "{name}: event {n} answered but not in the log");
        }
        while store.index_audit(1000).await.expect("index") > 0 {}
        let by_patient =
            store.audit_search(store::AuditQuery { patient: Some("p1".into()), limit: 10_000, ..Default::default() }).await.expect("search");
        assert_eq!(by_patient.len(), all.len() - 1, "{name}: the index lists every event of p1 once");
    }
}

#[tokio::test]
async fn two_processes_on_one_database_extend_one_chain() {
    // Two stores on one database stand for two processes (a server and a command, or two nodes): each
    // appender must see the other's events before extending the chain, whatever head it last wrote itself.
    for (name, a, keep) in backends() {
        let b = keep.another_process();
        for n in 0..20 {
            let (first, second) = if n % 3 == 0 { (&a, &b) } else { (&b, &a) };
            assert_eq!(first.append_audit(vec![record(2 * n, &["p1"])]).await.expect("append"), 2 * n as i64 + 1, "{name}");
            assert_eq!(second.append_audit(vec![record(2 * n + 1, &[])]).await.expect("append"), 2 * n as i64 + 2, "{name}");
        }
        let all = a.audit_entries(0, 100).await.expect("entries");
        assert_eq!(all.len(), 40, "{name}");
        let mut v = Verifier::default();
        for e in &all {
            let hash: [u8; 32] = e.hash.as_slice().try_into().expect("32 bytes");
            v.next(e.seq as u64, e.record.body.as_bytes(), &hash).unwrap_or_else(|b| panic!("{name}: {b}"));
        }
        assert_eq!(all.iter().map(|e| e.record.body.clone()).collect::<Vec<_>>(), (0..40).map(|n| record(n, &[]).body).collect::<Vec<_>>(), "{name}");
    }
}

#[tokio::test]
async fn searches_select_by_patient_user_outcome_and_time_newest_first_through_the_indexes_and_after_them() {
    use store::AuditQuery;
    for (name, store, _keep) in backends() {
        let mut records = Vec::new();
        for n in 0..12 {
            let mut r = record(n, if n % 3 == 0 { &["p1", "p10"] } else { &["p10"] });
            r.outcome = [200, 403, 503, 0, 1][n % 5];
            records.push(r);
        }
        store.append_audit(records).await.expect("append");
        let seqs = |q: AuditQuery| {
            let store = store.clone();
            async move { store.audit_search(q).await.expect("search").iter().map(|e| e.seq).collect::<Vec<_>>() }
        };
        // Before the index by patient, with half of the events in it, and with all of them.
        for round in 0..3 {
            match round {
                1 => assert_eq!(store.index_audit(5).await.expect("index"), 5, "{name}"),
                2 => {
                    assert_eq!(store.index_audit(100).await.expect("index"), 7, "{name}");
                    assert_eq!(store.index_audit(100).await.expect("index"), 0, "{name}: nothing left");
                    // Walked two rows at a time (as `audit verify` walks it), the index gives every row once,
                    // in its own order; a cursor that did not move on would fail here, not loop.
                    let mut walked = Vec::new();
                    let mut after = None;
                    for _ in 0..100 {
                        let page = store.audit_index_page(store::AuditIndex::Patient, after.take(), 12, 2).await.expect("page");
                        let Some(last) = page.last().cloned() else { break };
                        walked.extend(page);
                        after = Some(last);
                    }
                    let expected: Vec<(String, i64)> =
                        [1, 4, 7, 10].map(|n| ("p1".to_owned(), n)).into_iter().chain((1..=12).map(|n| ("p10".to_owned(), n))).collect();
                    assert_eq!(walked, expected, "{name}: the index by patient, page by page");
                }
                _ => {}
            }
            let all = AuditQuery { limit: 100, ..AuditQuery::default() };
            assert_eq!(seqs(all.clone()).await, (1..=12).collect::<Vec<_>>(), "{name}: chain order");
            let newest = AuditQuery { newest_first: true, ..all.clone() };
            assert_eq!(seqs(newest.clone()).await, (1..=12).rev().collect::<Vec<_>>(), "{name}");
            let p1 = AuditQuery { patient: Some("p1".into()), ..newest.clone() };
            assert_eq!(seqs(p1.clone()).await, [10, 7, 4, 1], "{name}: p1 exactly, not p10");
            assert_eq!(seqs(AuditQuery { patient: Some("p".into()), ..all.clone() }).await, Vec::<i64>::new(), "{name}: whole ids only");
            assert_eq!(seqs(AuditQuery { before: Some(7), limit: 2, ..p1.clone() }).await, [4, 1], "{name}: a page before a position");
            assert_eq!(seqs(AuditQuery { limit: 3, ..p1.clone() }).await, [10, 7, 4], "{name}: round {round}");
            assert_eq!(seqs(AuditQuery { newest_first: false, limit: 3, ..p1.clone() }).await, [1, 4, 7], "{name}: round {round}");
            assert_eq!(seqs(AuditQuery { newest_first: false, after: Some(4), ..p1.clone() }).await, [7, 10], "{name}: round {round}");
            assert_eq!(seqs(AuditQuery { username: Some("user1".into()), ..all.clone() }).await, [2, 5, 8, 11], "{name}");
            let user1 = AuditQuery { username: Some("user1".into()), limit: 2, ..newest.clone() };
            assert_eq!(seqs(user1.clone()).await, [11, 8], "{name}: by user, newest first, round {round}");
            assert_eq!(seqs(AuditQuery { before: Some(8), ..user1.clone() }).await, [5, 2], "{name}: the next page, round {round}");
            assert_eq!(seqs(AuditQuery { username: Some("user".into()), ..all.clone() }).await, Vec::<i64>::new(), "{name}: whole names only");
            let p10 = AuditQuery { patient: Some("p10".into()), username: Some("user1".into()), ..all.clone() };
            assert_eq!(seqs(p10).await, [2, 5, 8, 11], "{name}: by patient and user, round {round}");
            assert_eq!(seqs(AuditQuery { outcomes: vec![(400, 500)], ..all.clone() }).await, [2, 7, 12], "{name}: 403s");
            assert_eq!(seqs(AuditQuery { outcomes: vec![(0, 1), (500, 600)], ..all.clone() }).await, [3, 4, 8, 9], "{name}: any of the ranges");
            let t = 1_800_000_000_000;
            assert_eq!(seqs(AuditQuery { from_ms: Some(t + 3), until_ms: Some(t + 5), ..all.clone() }).await, [4, 5], "{name}: [from, until)");
        }
    }
}
