//! The bulk commands as processes: `generate`, `import` (twice, and of an export), `export`, and `demo` on its
//! first run (generate, import, serve) and on a later run (straight to serving).

use crate::process::{authorise, free_port, request, signal, wait};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn joinery(args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_joinery"))
        .args(args)
        .current_dir(cwd)
        .env("JOINERY_LOG", "warn")
        .env_remove("JOINERY_DATABASE")
        .stdin(Stdio::null())
        .output()
        .expect("run joinery");
    out
}

fn text(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Lines per NDJSON file in a folder.
fn lines_per_file(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("list") {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "ndjson") {
            let name = path.file_stem().expect("stem").to_string_lossy().into_owned();
            out.insert(name, std::fs::read_to_string(&path).expect("read").lines().count());
        }
    }
    out
}

#[test]
fn generate_import_export_and_import_the_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let out = joinery(&["generate", "--people", "150", "--seed", "3", "--out", "population"], d);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Generated 150 people"), "{}", text(&out));
    let generated = lines_per_file(&d.join("population"));
    let total: usize = generated.values().sum();
    assert!(total > 1000, "{generated:?}");
    // The same seed and reference date give the same files.
    let again = joinery(&["generate", "--people", "150", "--seed", "3", "--out", "again"], d);
    assert!(again.status.success());
    assert_eq!(std::fs::read(d.join("again/Patient.ndjson")).ok(), std::fs::read(d.join("population/Patient.ndjson")).ok());

    let out = joinery(&["import", "--database", "first.db", "population"], d);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("Every reference in what was written points at a resource that exists"), "{stdout}");
    assert!(stdout.contains(&format!("{total}")) || stdout.contains(&thousands(total)), "{stdout}");

    let out = joinery(&["export", "--database", "first.db", "--out", "exported"], d);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(lines_per_file(&d.join("exported")), generated.into_iter().filter(|(_, n)| *n > 0).collect::<BTreeMap<_, _>>());
    let job: Value = serde_json::from_str(&std::fs::read_to_string(d.join("exported/job.json")).expect("job.json")).expect("job JSON");
    assert!(job["transactionTime"].is_string());

    // What was exported imports into another database as it was; the job description is skipped.
    let out = joinery(&["import", "--database", "second.db", "exported"], d);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped"), "{}", text(&out));
    // A second import of the same files writes nothing new.
    let out = joinery(&["import", "--database", "second.db", "exported"], d);
    assert!(out.status.success(), "{}", text(&out));
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let total_line = summary.lines().find(|l| l.trim_start().starts_with("total")).expect("total line").to_owned();
    let numbers: Vec<&str> = total_line.split_whitespace().skip(1).collect();
    assert_eq!(numbers[1..], ["0", "0", numbers[0], "0"], "read, created, updated, unchanged, failed: {total_line}");

    let out = joinery(&["export", "--database", "first.db", "--out", "patients", "--patients", "--type", "Patient,Organization"], d);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(lines_per_file(&d.join("patients")).keys().collect::<Vec<_>>(), ["Patient"]);

    let bad = joinery(&["export", "--database", "first.db", "--out", "x", "--type", "Nonsense"], d);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let missing = joinery(&["import", "--database", "first.db", "no-such-folder"], d);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn start_demo(d: &Path, port: u16, limit: Duration) -> (std::process::Child, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_joinery"))
        .args(["demo", "--people", "120", "--data-dir", "demo", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(d)
        .env("JOINERY_LOG", "warn")
        .env_remove("JOINERY_DATABASE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    while started.elapsed() < limit {
        if request(port, "GET", "/healthz", None).is_some_and(|(s, _)| s == 200) {
            let elapsed = started.elapsed();
            authorise(&d.join("demo/joinery.db"), port);
            return (child, elapsed);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the demo exited: {status:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("the demo did not answer /healthz within {limit:?}");
}

#[test]
fn demo_loads_its_population_once_then_starts_quickly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let port = free_port();
    let (mut child, _) = start_demo(d, port, Duration::from_secs(300));
    let marker: Value = serde_json::from_str(&std::fs::read_to_string(d.join("demo/demo.json")).expect("demo.json")).expect("marker");
    assert_eq!(marker["people"], 120);
    assert!(!d.join("demo/population").exists(), "the generated files are removed once imported");
    let nhs = marker["example_nhs_number"].as_str().expect("an example NHS number");
    let (status, body) = request(port, "GET", &format!("/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C{nhs}"), None).expect("search");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(marker["example_patient"].as_str().expect("example patient")), "{body}");
    // The population was scored once loaded: the worklists and Groups have people in them.
    let (status, body) = request(port, "GET", "/fhir/Patient/$worklist?list=by-risk&_count=5", None).expect("worklist");
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).expect("a Bundle");
    assert_eq!(page["entry"].as_array().map(Vec::len), Some(5), "{body}");
    signal(&child, "-TERM");
    assert!(wait(&mut child, Duration::from_secs(20)).success());

    let (mut child, took) = start_demo(d, port, Duration::from_secs(30));
    assert!(took < Duration::from_secs(5), "a later start took {took:?}");
    let (status, _) = request(port, "GET", &format!("/fhir/Patient/{}", marker["example_patient"].as_str().unwrap_or("")), None).expect("read");
    assert_eq!(status, 200);
    signal(&child, "-TERM");
    assert!(wait(&mut child, Duration::from_secs(20)).success());
}

fn joinery_with_input(args: &[&str], cwd: &Path, input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_joinery"))
        .args(args)
        .current_dir(cwd)
        .env("JOINERY_LOG", "warn")
        .env_remove("JOINERY_DATABASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run joinery");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write the password");
    child.wait_with_output().expect("output")
}

#[test]
fn migrate_brings_the_audit_log_up_to_date_and_keeps_its_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // An audit file as an earlier build left it: the index by patient keyed (patient, seq).
    let c = rusqlite::Connection::open(d.join("m.audit.db")).expect("open");
    c.execute_batch(include_str!("../../../store/migrations/sqlite-audit/0001_audit.sql")).expect("0001");
    c.execute_batch(include_str!("../../../store/migrations/sqlite-audit/0002_audit_patient.sql")).expect("0002");
    c.execute_batch(include_str!("../../../store/migrations/sqlite-audit/0003_audit_agent.sql")).expect("0003");
    c.execute_batch("PRAGMA user_version = 3; INSERT INTO audit_patient (patient, seq) VALUES ('p1', 5), ('p2', 70000);").expect("rows");
    drop(c);
    let out = joinery(&["migrate", "--database", "m.db"], d);
    assert!(out.status.success(), "{}", text(&out));
    let c = rusqlite::Connection::open(d.join("m.audit.db")).expect("open");
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, 4, "the audit file's migrations run with the record's");
    let mut st = c.prepare("SELECT span, patient, seq FROM audit_patient ORDER BY span, patient, seq").expect("select");
    let rows: Vec<(i64, String, i64)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("rows").collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows, [(0, "p1".to_owned(), 5), (1, "p2".to_owned(), 70000)]);
}

#[test]
fn accounts_and_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(d.join("Patient.ndjson"), r#"{"resourceType":"Patient","id":"p1","birthDate":"1950-02-03"}"#).expect("write");
    assert!(joinery(&["import", "--database", "a.db", "Patient.ndjson"], d).status.success());

    let out = joinery_with_input(
        &["user", "add", "--database", "a.db", "--username", "me", "--role", "person", "--patient", "Patient/p1", "--password-stdin"],
        d,
        "a long enough secret\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out =
        joinery(&["user", "add", "--database", "a.db", "--username", "gp", "--role", "clinician", "--practitioner-role", "PractitionerRole/none"], d);
    assert_eq!(out.status.code(), Some(1), "the PractitionerRole must exist: {}", text(&out));
    let out = joinery(&["user", "add", "--database", "a.db", "--username", "x", "--role", "wizard", "--patient", "Patient/p1"], d);
    assert_eq!(out.status.code(), Some(2), "an unknown role is a usage error: {}", text(&out));
    let out = joinery(&["user", "add", "--database", "a.db", "--username", "y", "--role", "person", "--patient", "p1"], d);
    assert_eq!(out.status.code(), Some(2), "Patient/ID: {}", text(&out));

    let out = joinery(&["user", "list", "--database", "a.db"], d);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.lines().any(|l| l.starts_with("me ") && l.contains("person") && l.contains("Patient/p1") && l.contains("yes") && l.contains("active")),
        "{listed}"
    );

    // A token as the last line; the server takes it; disabling the account refuses it at once.
    let out = joinery(&["token", "--database", "a.db", "--user", "me", "--scope", "patient/*.rs"], d);
    assert!(out.status.success(), "{}", text(&out));
    let token = String::from_utf8_lossy(&out.stdout).lines().last().expect("a token").to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let out = joinery(&["token", "--database", "a.db", "--user", "me", "--scope", "system/*.rs"], d);
    assert_eq!(out.status.code(), Some(1), "a person cannot hold system scopes: {}", text(&out));

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_joinery"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", "a.db"])
        .current_dir(d)
        .env("JOINERY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(port, "GET", "/healthz", None).is_none_or(|(s, _)| s != 200) {
        assert!(Instant::now() < deadline, "no answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    let read = |token: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(s, "GET /fhir/Patient/p1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.split(' ').nth(1).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0)
    };
    assert_eq!(read(&token), 200);
    assert!(joinery(&["user", "disable", "--database", "a.db", "me"], d).status.success());
    assert_eq!(read(&token), 401, "refused on the next request");
    assert_eq!(joinery(&["user", "disable", "--database", "a.db", "nobody"], d).status.code(), Some(1));
    signal(&child, "-TERM");
    assert!(wait(&mut child, Duration::from_secs(10)).success());
}

/// `joinery audit verify` on a copy of `log` changed by `sql` (run on the copy's audit file).
fn verify_changed(d: &Path, name: &str, sql: &str) -> Output {
    let dir = d.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["db.db", "db.audit.db"] {
        std::fs::copy(d.join("log").join(f), dir.join(f)).expect("copy");
    }
    let c = rusqlite::Connection::open(dir.join("db.audit.db")).expect("open the audit file");
    c.execute_batch(sql).expect("change the log");
    drop(c);
    joinery(&["audit", "verify", "--database", "db.db"], &dir)
}

#[test]
fn the_command_line_is_audited_and_audit_verify_finds_every_change() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let log = d.join("log");
    std::fs::create_dir_all(&log).expect("dir");
    // Three doors to the record from the command line, each one event: two tokens and an export (which also
    // records its work, with the people it wrote out: none here).
    for args in [&["token", "--database", "db.db", "--system", "feed"][..], &["token", "--database", "db.db", "--user", "feed"][..]] {
        let out = joinery(args, &log);
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = joinery(&["export", "--database", "db.db", "--out", "exported"], &log);
    assert!(out.status.success(), "{}", text(&out));
    let out = joinery(&["audit", "verify", "--database", "db.db"], &log);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 4 events"), "{}", text(&out));
    // The events name the commands.
    let c = rusqlite::Connection::open(log.join("db.audit.db")).expect("open");
    let bodies: Vec<String> = c
        .prepare("SELECT body FROM audit_event ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    assert!(bodies[0].contains("\"user\":\"joinery token\"") && bodies[0].contains("--user feed"), "{bodies:?}");
    assert!(bodies[2].contains("\"method\":\"JOB\""), "{bodies:?}");
    assert!(bodies[3].contains("\"path\":\"export\""), "{bodies:?}");
    drop(c);

    let broken = |out: &Output, what: &str| {
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let edited = verify_changed(d, "edited", "UPDATE audit_event SET body = replace(body, 'feed', 'other') WHERE seq = 2");
    assert!(broken(&edited, "an edited event").contains("entry 2 was altered"), "{}", text(&edited));
    let column = verify_changed(d, "column", "UPDATE audit_event SET username = 'someone else' WHERE seq = 1");
    assert!(broken(&column, "an edited column").contains("entry 1 was altered"), "{}", text(&column));
    let deleted = verify_changed(d, "deleted", "DELETE FROM audit_event WHERE seq = 2");
    assert!(broken(&deleted, "a deleted event").contains("entry 2 is missing"), "{}", text(&deleted));
    let inserted = verify_changed(
        d,
        "inserted",
        "UPDATE audit_event SET seq = -seq WHERE seq >= 2; UPDATE audit_event SET seq = 1 - seq WHERE seq < 0; INSERT INTO audit_event SELECT 2, at_ms, username, organisation, outcome, patients, body, hash FROM audit_event WHERE seq = 1",
    );
    assert!(broken(&inserted, "an inserted event").contains("entry 2 was altered"), "{}", text(&inserted));
    // The index by patient beside the chain: a row no event lists (or one missing) is found too.
    let index =
        verify_changed(d, "index", "UPDATE audit_indexed SET seq = 4; INSERT INTO audit_patient (span, patient, seq) VALUES (0, 'someone', 2)");
    assert!(broken(&index, "an index row added").contains("index by patient"), "{}", text(&index));
    // The index by user, brought up to event 4 as the indexer would: intact; then with a row of its own.
    let indexed = "UPDATE audit_indexed SET seq = 4; \
                   INSERT OR IGNORE INTO audit_agent (username, seq) SELECT username, seq FROM audit_event WHERE username IS NOT NULL AND seq <= 4;";
    let intact = verify_changed(d, "by-user-intact", indexed);
    assert!(intact.status.success() && String::from_utf8_lossy(&intact.stdout).contains("intact: 4 events"), "{}", text(&intact));
    let by_user = verify_changed(d, "by-user", &format!("{indexed} INSERT INTO audit_agent (username, seq) VALUES ('someone', 2)"));
    assert!(broken(&by_user, "a row of the index by user added").contains("index by user"), "{}", text(&by_user));
    let missing = verify_changed(d, "by-user-missing", &format!("{indexed} DELETE FROM audit_agent WHERE seq = 3"));
    assert!(broken(&missing, "a row of the index by user missing").contains("index by user"), "{}", text(&missing));
}

#[test]
fn registers_counts_the_whole_record_and_is_audited_with_everyone_it_read() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let input = d.join("input");
    std::fs::create_dir_all(&input).expect("dir");
    let condition = |id: &str, patient: &str, code: &str, status: &str| {
        serde_json::json!({ "resourceType": "Condition", "id": id, "subject": { "reference": format!("Patient/{patient}") },
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status }] },
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": code }] } })
        .to_string()
    };
    let patients = [("p1", "1950-01-01"), ("p2", "2020-01-01"), ("p3", "1960-01-01")]
        .map(|(id, born)| serde_json::json!({ "resourceType": "Patient", "id": id, "birthDate": born }).to_string());
    std::fs::write(input.join("Patient.ndjson"), patients.join("\n")).expect("write");
    let conditions = [
        condition("c1", "p1", "59621000", "active"),   // hypertension
        condition("c2", "p1", "44054006", "active"),   // type 2 diabetes
        condition("c3", "p2", "46635009", "active"),   // type 1 diabetes, but under 17
        condition("c4", "p2", "49436004", "active"),   // atrial fibrillation: any age
        condition("c5", "p3", "59621000", "resolved"), // no longer
    ];
    std::fs::write(input.join("Condition.ndjson"), conditions.join("\n")).expect("write");
    let out = joinery(&["import", "--database", "db.db", "input"], d);
    assert!(out.status.success(), "{}", text(&out));
    let out = joinery(&["registers", "--database", "db.db"], d);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["people"], 3);
    let counts: BTreeMap<String, u64> = report["registers"]
        .as_array()
        .expect("registers")
        .iter()
        .map(|r| (r["code"].as_str().expect("code").to_owned(), r["people"].as_u64().expect("n")))
        .collect();
    assert_eq!(counts.len(), 18, "every register is reported, empty or not");
    let nonzero: Vec<(&str, u64)> = counts.iter().filter(|(_, n)| **n > 0).map(|(c, n)| (c.as_str(), *n)).collect();
    assert_eq!(nonzero, [("AF", 1), ("DM", 1), ("HYP", 1)]);
    let hyp = report["registers"].as_array().expect("registers").iter().find(|r| r["code"] == "HYP").expect("HYP").clone();
    assert_eq!((hyp["indicator"].clone(), hyp["percent"].clone()), (serde_json::json!("HYP001"), serde_json::json!(33.33)));
    // p1 and p3 are aged 65 or over: two deficits (hypertension, diabetes) and one (hypertension, resolved but
    // recorded, as the eFI counts it): both fit.
    assert_eq!(report["efi_aged_65_and_over"]["people"], 2);
    assert_eq!(report["efi_aged_65_and_over"]["bands"]["fit"], serde_json::json!({ "people": 2, "percent": 100.0 }));
    assert_eq!(report["efi_aged_65_and_over"]["bands"]["mild"]["people"], 0);
    // Segments: p1 an older person with long-term conditions (7), p2 a child with one (5; atrial
    // fibrillation has no age limit), p3 mostly healthy and older (4); everyone is in one.
    let groups: BTreeMap<u64, u64> = report["segments"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["people"] != 0)
        .map(|g| (g["number"].as_u64().expect("number"), g["people"].as_u64().expect("people")))
        .collect();
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), [(4, 1), (5, 1), (7, 1)]);
    assert_eq!(report["segments"]["without_birth_date"], 0);
    // One event for the count, listing the three people whose records it read; the chain is intact.
    let c = rusqlite::Connection::open(d.join("db.audit.db")).expect("open the audit file");
    let (path, patients): (String, String) = c
        .query_row("SELECT body, patients FROM audit_event WHERE body LIKE '%\"path\":\"registers\"%'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("the count's event");
    assert!(path.contains("\"method\":\"CLI\""), "{path}");
    let mut listed: Vec<&str> = patients.split_whitespace().collect();
    listed.sort_unstable();
    assert_eq!(listed, ["p1", "p2", "p3"]);
    drop(c);
    let out = joinery(&["audit", "verify", "--database", "db.db"], d);
    assert!(out.status.success(), "{}", text(&out));
    // As on an earlier day (the record read as it stands now): age limits apply on that day; a day that is
    // not a date is refused.
    let out = joinery(&["registers", "--database", "db.db", "--on", "1955-01-01"], d);
    assert!(out.status.success(), "{}", text(&out));
    let earlier: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(earlier["date"], "1955-01-01");
    let hyp = earlier["registers"].as_array().expect("registers").iter().find(|r| r["code"] == "HYP").expect("HYP").clone();
    assert_eq!(hyp["people"], 1, "no age limit on hypertension");
    let dm = earlier["registers"].as_array().expect("registers").iter().find(|r| r["code"] == "DM").expect("DM").clone();
    assert_eq!(dm["people"], 0, "p1 was 5 on that day");
    assert_eq!(joinery(&["registers", "--database", "db.db", "--on", "2024-13-01"], d).status.code(), Some(2));
}

#[test]
fn risk_evaluate_and_fit_read_the_record_as_it_stood_and_the_admissions_after() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let d = tmp.path();
    let input = d.join("input");
    std::fs::create_dir_all(&input).expect("dir");
    // p1 and p2 had an emergency admission in 2023; p1 and p3 have one in 2024; p6 died before the day.
    let mut patients: Vec<String> = ["p1", "p2", "p3", "p4", "p5"]
        .iter()
        .enumerate()
        .map(|(i, id)| serde_json::json!({ "resourceType": "Patient", "id": id, "birthDate": "1970-01-01", "gender": if i % 2 == 0 { "male" } else { "female" } }).to_string())
        .collect();
    patients
        .push(serde_json::json!({ "resourceType": "Patient", "id": "p6", "birthDate": "1940-01-01", "deceasedDateTime": "2023-06-01" }).to_string());
    std::fs::write(input.join("Patient.ndjson"), patients.join("\n")).expect("write");
    let admission = |id: &str, patient: &str, start: &str| {
        serde_json::json!({ "resourceType": "Encounter", "id": id, "status": "finished", "subject": { "reference": format!("Patient/{patient}") },
            "class": { "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP" },
            "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM" }] },
            "period": { "start": start } })
        .to_string()
    };
    let encounters = [
        admission("e1", "p1", "2023-05-01"),
        admission("e2", "p2", "2023-07-01"),
        admission("e3", "p1", "2024-03-01"),
        admission("e4", "p3", "2024-11-30"),
        admission("e5", "p4", "2025-02-01"), // after the outcome's 12 months
        admission("e6", "p6", "2023-05-01"),
    ];
    std::fs::write(input.join("Encounter.ndjson"), encounters.join("\n")).expect("write");
    let out = joinery(&["import", "--database", "db.db", "input"], d);
    assert!(out.status.success(), "{}", text(&out));
    // A model that reads only a recent admission: p1 and p2 score high, p3, p4 and p5 low.
    let mut coefficients: serde_json::Map<String, Value> = serde_json::Map::new();
    for key in care::admission::Feature::ALL.map(care::admission::Feature::key) {
        let c = if key.starts_with("emergency-admissions") { 2.0 } else { 0.0 };
        coefficients.insert(key.to_owned(), serde_json::json!(c));
    }
    let model =
        serde_json::json!({ "model": "test", "version": "1", "source": "by hand", "note": "", "intercept": -3.0, "coefficients": coefficients });
    std::fs::write(d.join("model.json"), model.to_string()).expect("write");
    let out = joinery(&["risk", "evaluate", "--database", "db.db", "--on", "2024-01-01", "--model", "model.json"], d);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((report["people"].clone(), report["admitted"].clone()), (serde_json::json!(5), serde_json::json!(2)), "{report}");
    // Pairs of (admitted, not admitted): p1-p2 tie, p1-p4, p1-p5 right, p3-p2 wrong, p3-p4, p3-p5 ties: 3.5 of 6.
    let c = report["c_statistic"].as_f64().expect("C");
    assert!((c - 3.5 / 6.0).abs() < 1e-9, "{c}");
    let in_tiers: u64 = report["tiers"].as_array().expect("tiers").iter().map(|t| t["people"].as_u64().expect("n")).sum();
    assert_eq!(in_tiers, 5, "every person is in one tier");
    // Fitting to the same history gives a model evaluate takes; one event each, listing everyone read.
    let out = joinery(&["risk", "fit", "--database", "db.db", "--on", "2024-01-01", "--version", "test"], d);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(d.join("fitted.json"), &out.stdout).expect("write");
    let fitted: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(fitted["coefficients"]["emergency-admissions-1"].as_f64().expect("coefficient") > 0.0, "{fitted}");
    assert!(fitted["source"].as_str().expect("source").contains("over 5 people alive that day (2 admitted)"), "{fitted}");
    let out = joinery(&["risk", "evaluate", "--database", "db.db", "--on", "2024-01-01", "--model", "fitted.json"], d);
    assert!(out.status.success(), "{}", text(&out));
    let c = rusqlite::Connection::open(d.join("db.audit.db")).expect("open the audit file");
    let events: Vec<String> = c
        .prepare("SELECT patients FROM audit_event WHERE body LIKE '%\"path\":\"risk\"%'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("the events");
    assert_eq!(events.len(), 3);
    let mut listed: Vec<&str> = events[0].split_whitespace().collect();
    listed.sort_unstable();
    assert_eq!(listed, ["p1", "p2", "p3", "p4", "p5", "p6"]);
    drop(c);
    // A refresh on a day stores everyone alive then, each with a tier; a later one keeps the tier before.
    for _ in 0..2 {
        let out = joinery(&["risk", "refresh", "--database", "db.db", "--on", "2024-01-01"], d);
        assert!(out.status.success(), "{}", text(&out));
        let refreshed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(refreshed["people"], 5, "{refreshed}");
        let in_tiers: u64 = refreshed["tiers"].as_array().expect("tiers").iter().map(|t| t["people"].as_u64().expect("n")).sum();
        assert_eq!(in_tiers, 5);
    }
    let c = rusqlite::Connection::open(d.join("db.db")).expect("open the database");
    let rows: Vec<(String, i64, Option<String>, Option<String>)> = c
        .prepare("SELECT person_key, run, tier, previous_tier FROM risk_score ORDER BY person_key")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect())
        .expect("the scores");
    assert_eq!(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["p1", "p2", "p3", "p4", "p5"], "p6 died before the day");
    assert!(rows.iter().all(|r| r.1 == 2 && r.2.is_some() && r.3 == r.2), "{rows:?}");
    // Tiers by configured shares: a fifth each for the upper three, the highest scores first (p1 and p2 had
    // an admission in 2023; the built-in model scores the women a little higher), and the two who tie at
    // the lowest score are low.
    std::fs::write(d.join("fifths.toml"), "[risk]\ntier_shares = [0.2, 0.2, 0.2]\n").expect("write");
    let out = joinery(&["--config", "fifths.toml", "risk", "refresh", "--database", "db.db", "--on", "2024-01-01"], d);
    assert!(out.status.success(), "{}", text(&out));
    let fifths: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let people: Vec<u64> = fifths["tiers"].as_array().expect("tiers").iter().map(|t| t["people"].as_u64().expect("n")).collect();
    assert_eq!(people, [1, 1, 1, 2], "{fifths}");
    // A day that is not a date, or a model that is not one, is refused as usage.
    assert_eq!(joinery(&["risk", "evaluate", "--database", "db.db", "--on", "2024-02-30"], d).status.code(), Some(2));
    std::fs::write(d.join("bad.json"), "{}").expect("write");
    assert_eq!(joinery(&["risk", "evaluate", "--database", "db.db", "--on", "2024-01-01", "--model", "bad.json"], d).status.code(), Some(2));
}
