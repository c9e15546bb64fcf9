//! `joinery demo`: on first run, generates the Central London population, imports it and records that it
//! did (`demo.json` beside the database); on later runs goes straight to serving. Prints where to point a
//! browser or `curl` and how to use the API.

use crate::config::{FileConfig, ServeArgs, Settings};
use crate::generate::DEFAULT_REFERENCE_DATE;
use crate::{block_on, import, init_logging, megabytes, open_store, serve, thousands, Failure, Outcome};
use app::bulk::ImportOptions;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The demo population's seed: fixed, so every demo holds the same people.
pub const DEMO_SEED: u64 = 42;

/// People in the default demo population: enough to try everything, loaded within about a minute.
pub const DEMO_PEOPLE: usize = 20_000;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The demo's folder: its database, and the record of what was loaded into it.
    #[arg(long, default_value = "joinery-data")]
    pub data_dir: PathBuf,
    /// Load this preset's whole population on first run (`central-london`: 199,000 people, about ten
    /// minutes on two cores). Without it the demo loads 20,000 people of Central London's network.
    #[arg(long)]
    pub preset: Option<String>,
    /// Load a population of this many people [default: 20000, or the whole preset with --preset].
    #[arg(long)]
    pub people: Option<usize>,
    #[arg(long, default_value_t = DEMO_SEED)]
    pub seed: u64,
}

/// What the first run loaded, kept in `demo.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub preset: String,
    pub people: u64,
    pub seed: u64,
    pub reference_date: String,
    pub resources: u64,
    /// A Patient of the population, to show in the examples.
    pub example_patient: Option<String>,
    pub example_nhs_number: Option<String>,
}

const MARKER: &str = "demo.json";

/// The rate a first run loads people at (generation, import with every index), measured on two cores.
const PEOPLE_PER_SECOND: usize = 350;

/// How long loading `people` takes at that rate, in words.
fn estimate(people: usize) -> String {
    let seconds = people / PEOPLE_PER_SECOND + 1;
    if seconds < 90 {
        format!("{seconds} seconds")
    } else {
        format!("{} minutes", seconds.div_ceil(60))
    }
}
const NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";

pub fn run(args: DemoArgs, file: FileConfig) -> Outcome {
    let mut flags = args.serve.clone();
    if flags.database.is_none() && file.database.is_none() {
        flags.database = Some(args.data_dir.join("joinery.db").to_string_lossy().into_owned());
    }
    if flags.log_format.is_none() && file.log_format.is_none() {
        flags.log_format = Some("text".into());
    }
    let settings = Settings::resolve(flags, file).map_err(Failure::Usage)?;
    init_logging(&settings.log_format, "warn");
    let preset = synth::Preset::parse(args.preset.as_deref().unwrap_or("central-london")).map_err(|e| Failure::Usage(e.to_string()))?;
    let reference_date = NaiveDate::parse_from_str(DEFAULT_REFERENCE_DATE, "%Y-%m-%d").map_err(|e| Failure::Run(e.to_string()))?;
    let mut options = synth::Options::for_preset(preset, args.seed, reference_date);
    match (args.people, &args.preset) {
        (Some(people), _) => options.people = people,
        (None, None) => options.people = DEMO_PEOPLE,
        (None, Some(_)) => {}
    }
    let marker_path = args.data_dir.join(MARKER);
    let crate::config::Database::Sqlite(db_path) = &settings.database else {
        return Err(Failure::Usage("the demo runs on the embedded SQLite database; use `serve` for PostgreSQL".into()));
    };
    let database = db_path.display().to_string();
    let existing = read_marker(&marker_path)
        .filter(|m| m.preset == preset.name() && m.people == options.people as u64 && m.seed == args.seed && db_path.is_file());
    block_on(async move {
        let app = app::App::new(open_store(&settings.database)?, settings.app_config());
        let marker = match existing {
            Some(m) => m,
            None => match first_run(&app, &options, &args.data_dir).await {
                Ok(m) => {
                    write_marker(&marker_path, &m)?;
                    m
                }
                Err(e) => {
                    let _ = app.shutdown().await;
                    return Err(e);
                }
            },
        };
        // A system client for trying the API (its token lasts as long as configured, an hour by default).
        let client = app::auth::NewAccount {
            username: "demo".into(),
            role: care::access::Role::IntegrationSystem,
            acts_as: app::auth::ActsAs::System,
            password: None,
        };
        match app.add_account(client).await {
            Ok(_) | Err(app::AppError::Conflict(_)) => {}
            Err(e) => return Err(Failure::Run(format!("cannot make the demo's client account: {e}"))),
        }
        let token = app.issue_token("demo", None).await.map_err(|e| Failure::Run(format!("cannot issue the demo's token: {e}")))?;
        let sign_ins = match &marker.example_patient {
            Some(patient) => sign_ins(&app, patient).await?,
            None => Vec::new(),
        };
        let people = sign_ins_text(&sign_ins, &database, &settings.base_url, marker.example_patient.as_deref());
        let banner = banner(&settings.base_url, &marker, &token.token, &database, &people);
        serve(settings, Some((app, banner))).await
    })
}

async fn first_run(app: &app::App, options: &synth::Options, data_dir: &Path) -> Result<Marker, Failure> {
    let population = data_dir.join("population");
    if population.exists() {
        std::fs::remove_dir_all(&population).map_err(|e| Failure::Run(format!("cannot clear {}: {e}", population.display())))?;
    }
    println!(
        "First run: generating the {} population ({} people, seed {}) and importing it, once. At about {} people a \
         second on two cores this takes about {}.",
        options.preset.name(),
        thousands(options.people as u64),
        options.seed,
        PEOPLE_PER_SECOND,
        estimate(options.people)
    );
    let started = Instant::now();
    let summary = crate::generate::generate(options, &population)?;
    println!(
        "Generated {} resources ({}) in {:.1} s; importing them into the database, with every search index.",
        thousands(summary.total),
        megabytes(summary.bytes),
        started.elapsed().as_secs_f64()
    );
    let sources = app::bulk::list_sources(&[population.clone()]).map_err(|e| Failure::Run(e.to_string()))?;
    let report = import::import(app, sources, ImportOptions::default()).await?;
    import::print_report(&report, 10);
    // The risk scores, registers and cohorts the worklists and Groups read (kept current as records change).
    let scored = app.scheduled_refresh().await.map_err(|e| Failure::Run(format!("cannot score the population: {e}")))?;
    println!(
        "Scored {} people for the worklists, registers and cohorts in {:.1} s.",
        thousands(scored.people as u64),
        scored.seconds.iter().sum::<f64>()
    );
    let (example_patient, example_nhs_number) = example(&population.join("Patient.ndjson"));
    if let Err(e) = std::fs::remove_dir_all(&population) {
        tracing::warn!(error = %e, "cannot remove the generated files after the import");
    }
    Ok(Marker {
        preset: options.preset.name().to_owned(),
        people: summary.people,
        seed: options.seed,
        reference_date: options.reference_date.to_string(),
        resources: summary.total,
        example_patient,
        example_nhs_number,
    })
}

/// The id and NHS number of the first Patient in the generated file.
fn example(patients: &Path) -> (Option<String>, Option<String>) {
    let Ok(file) = std::fs::File::open(patients) else { return (None, None) };
    let mut first = String::new();
    if std::io::BufReader::new(file).read_line(&mut first).is_err() {
        return (None, None);
    }
    let Ok(p) = serde_json::from_str::<serde_json::Value>(&first) else { return (None, None) };
    let id = p.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    let nhs = p
        .get("identifier")
        .and_then(|v| v.as_array())
        .and_then(|ids| ids.iter().find(|i| i.get("system").and_then(|s| s.as_str()) == Some(NHS_NUMBER)))
        .and_then(|i| i.get("value"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    (id, nhs)
}

/// The sign-ins the demo makes, one per kind of user around the example person: (username, role, who they are).
async fn sign_ins(app: &app::App, patient: &str) -> Result<Vec<(String, care::access::Role, String)>, Failure> {
    use app::auth::{ActsAs, NewAccount};
    use care::access::Role;
    let system = app.as_system("demo");
    let failed = |e: app::AppError| Failure::Run(format!("cannot find the demo's sign-ins: {e}"));
    let first =
        |page: app::SearchPage| -> Option<serde_json::Value> { page.matches().first().and_then(|s| serde_json::from_str(s.body.as_deref()?).ok()) };
    let reference = |v: &serde_json::Value, path: &str| v.pointer(path).and_then(|r| r.as_str()).map(str::to_owned);
    let search = |t: &'static str, param: &'static str, value: String| {
        let system = system.clone();
        async move { system.search(t, &[(param.to_owned(), value)], Default::default()).await }
    };
    let person = system.read("Patient", patient).await.map_err(failed)?;
    let person: serde_json::Value = serde_json::from_str(person.body.as_deref().unwrap_or("{}")).unwrap_or_default();
    let mut wanted: Vec<(&str, Role, ActsAs, String)> =
        vec![("person", Role::Person, ActsAs::Patient(patient.to_owned()), format!("Patient/{patient} themself"))];
    if let Some(practice) = reference(&person, "/generalPractitioner/0/reference") {
        let roles = search("PractitionerRole", "organization", practice.clone()).await.map_err(failed)?;
        let ids: Vec<String> = roles.matches().iter().map(|s| s.id.clone()).collect();
        if let Some(gp) = ids.first() {
            wanted.push(("gp", Role::Clinician, ActsAs::PractitionerRole(gp.clone()), format!("a clinician at {practice}, the person's practice")));
            let desk = ids.get(1).unwrap_or(gp);
            wanted.push(("reception", Role::SupportStaff, ActsAs::PractitionerRole(desk.clone()), format!("support staff at {practice}")));
            wanted.push(("analyst", Role::Analyst, ActsAs::PractitionerRole(gp.clone()), format!("an analyst at {practice} (no person-level data)")));
            wanted.push((
                "privacy",
                Role::PrivacyOfficer,
                ActsAs::PractitionerRole(gp.clone()),
                "a privacy officer: the audit log and break-glass review".to_owned(),
            ));
        }
    }
    let episodes = search("EpisodeOfCare", "patient", format!("Patient/{patient}")).await.map_err(failed)?;
    if let Some(manager) = first(episodes).and_then(|e| reference(&e, "/careManager/reference")) {
        if let Some(role) = first(search("PractitionerRole", "practitioner", manager.clone()).await.map_err(failed)?) {
            if let Some(id) = role.get("id").and_then(|i| i.as_str()) {
                wanted.push((
                    "coordinator",
                    Role::CareCoordinator,
                    ActsAs::PractitionerRole(id.to_owned()),
                    format!("{manager}, the person's care coordinator"),
                ));
            }
        }
    }
    // A carer: the person's next of kin, if the person granted them part of the record.
    let grants = search("Consent", "patient", format!("Patient/{patient}")).await.map_err(failed)?;
    for grant in grants.matches().iter().filter_map(|s| serde_json::from_str::<serde_json::Value>(s.body.as_deref()?).ok()) {
        if let Some(kin) = reference(&grant, "/provision/actor/0/reference").and_then(|r| r.strip_prefix("RelatedPerson/").map(str::to_owned)) {
            wanted.push((
                "carer",
                Role::Carer,
                ActsAs::RelatedPerson(kin.clone()),
                format!("RelatedPerson/{kin}, whom the person granted part of their record"),
            ));
            break;
        }
    }
    let mut out = Vec::new();
    for (username, role, acts_as, who) in wanted {
        match app.add_account(NewAccount { username: username.into(), role, acts_as, password: None }).await {
            Ok(_) | Err(app::AppError::Conflict(_)) => out.push((username.to_owned(), role, who)),
            Err(e) => return Err(Failure::Run(format!("cannot make the demo's sign-in {username}: {e}"))),
        }
    }
    Ok(out)
}

/// How to try the access rules with the demo's sign-ins.
fn sign_ins_text(sign_ins: &[(String, care::access::Role, String)], database: &str, base: &str, patient: Option<&str>) -> String {
    if sign_ins.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nSign-ins to try the access rules with (each sees what its relationships allow):\n");
    for (username, role, who) in sign_ins {
        out.push_str(&format!("\n  {username:<12} {:<26} {who}", role.code()));
    }
    out.push_str(&format!("\n\nA token for one: joinery token --database {database} --user gp   (its last line)"));
    if let Some(p) = patient {
        out.push_str(&format!("\nThen, for example: curl -H \"Authorization: Bearer $GP_TOKEN\" {base}/Patient/{p}/$access\n"));
    }
    out
}

fn read_marker(path: &Path) -> Option<Marker> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn write_marker(path: &Path, marker: &Marker) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(marker).map_err(|e| Failure::Run(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))
}

fn banner(base: &str, m: &Marker, token: &str, database: &str, sign_ins: &str) -> String {
    let mut out = format!(
        "\nThe record holds the synthetic {} population: {} people, {} resources (seed {}, as on {}).\n\
         Every request but the CapabilityStatement needs a bearer token. A system client's, valid for an hour:\n\
         \n  export TOKEN={token}\n\
         \nAnother later: joinery token --database {database} --system demo (or --user NAME; see joinery user add).\n\
         Try:\n\
         \n  curl {base}/metadata",
        m.preset,
        thousands(m.people),
        thousands(m.resources),
        m.seed,
        m.reference_date
    );
    if let Some(nhs) = &m.example_nhs_number {
        out.push_str(&format!("\n  curl -H \"Authorization: Bearer $TOKEN\" '{base}/Patient?identifier={NHS_NUMBER}|{nhs}'"));
    }
    if let Some(id) = &m.example_patient {
        out.push_str(&format!(
            "\n  curl -H \"Authorization: Bearer $TOKEN\" {base}/Patient/{id}\n  curl -H \"Authorization: Bearer $TOKEN\" '{base}/Patient/{id}/$everything'"
        ));
    }
    out.push_str(&format!(
        "\n  curl -i -H \"Authorization: Bearer $TOKEN\" -H 'Prefer: respond-async' '{base}/$export?_type=Patient,Condition'   (then poll the Content-Location)\n"
    ));
    out.push_str(sign_ins);
    out.push_str("\nPress Ctrl-C to stop; in-flight requests finish and the database closes cleanly.\n");
    out
}
