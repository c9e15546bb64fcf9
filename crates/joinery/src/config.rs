//! Configuration, layered: a TOML file, then `JOINERY_*` environment variables, then command-line flags.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Flags (each also read from its environment variable; a flag wins over the variable).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "JOINERY_LISTEN")]
    pub listen: Option<String>,
    /// Database: a path, a `sqlite:` URL or a `postgres://` URL [default: ./joinery-data/joinery.db].
    #[arg(long, env = "JOINERY_DATABASE")]
    pub database: Option<String>,
    /// PostgreSQL: most connections this process opens [default: 16].
    #[arg(long, env = "JOINERY_DATABASE_POOL")]
    pub database_pool: Option<usize>,
    /// PostgreSQL: longest a statement may run, in milliseconds; a request waits at most half of it (and 5 s)
    /// for a free connection before it is answered 503 [default: 30000].
    #[arg(long, env = "JOINERY_DATABASE_TIMEOUT_MS")]
    pub database_timeout_ms: Option<u64>,
    /// The FHIR base URL clients see [default: http://<listen>/fhir].
    #[arg(long, env = "JOINERY_BASE_URL")]
    pub base_url: Option<String>,
    /// Log format: `json` or `text` [default: json].
    #[arg(long, env = "JOINERY_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Largest request body, in bytes [default: 67108864].
    #[arg(long, env = "JOINERY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
}

/// The configuration file's keys; all optional.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub database_pool: Option<usize>,
    pub database_timeout_ms: Option<u64>,
    pub base_url: Option<String>,
    pub log_format: Option<String>,
    pub max_body_bytes: Option<usize>,
    /// The key tokens are signed with (at least 32 characters); without it one is made and kept in the
    /// database. `JOINERY_TOKEN_KEY` overrides it.
    pub token_key: Option<String>,
    /// How long issued tokens are valid, in seconds [default: 3600].
    pub token_ttl_seconds: Option<u64>,
    /// What one request may ask for: the keys of `app::Limits`, `max_in_flight`, `request_timeout_ms` and
    /// `header_timeout_ms`.
    pub limits: Option<std::collections::BTreeMap<String, usize>>,
    /// The configurable part of the information-sharing rules.
    pub access: Option<AccessConfig>,
    /// Risk stratification.
    pub risk: Option<RiskConfig>,
}

/// The `[risk]` table of the configuration file.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// The shares of the population in the very high, high and rising tiers, the highest probabilities
    /// first; the rest are low [default: 0.005, 0.045, 0.15, the risk pyramid].
    pub tier_shares: Option<[f64; 3]>,
    /// A file of eligibility cohorts (the shape of `crates/care/cohorts/cohorts.json`, which is the default),
    /// relative to the working directory.
    pub cohorts: Option<PathBuf>,
    /// When `joinery serve` re-scores everyone each day, `HH:MM` UTC [default: never; run `joinery risk
    /// refresh`].
    pub refresh_at: Option<String>,
}

/// The `[access]` table of the configuration file.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// How long after an encounter ends its organisation keeps access, in days [default: 90].
    pub encounter_window_days: Option<u32>,
    /// How long after a case conference's scheduled end its attendees keep access, in hours [default: 24].
    pub conference_grace_hours: Option<u32>,
    /// How long a break-glass grant lasts, in hours [default: 4].
    pub break_glass_hours: Option<u32>,
    /// Codes (`system|code`) whose items only the organisation that recorded them sees, like items labelled
    /// restricted. Applied when a version is written (REST and import): items written before a change keep
    /// what they were written with.
    pub sensitive_codes: Option<Vec<String>>,
    /// Organisations (ids) whose staff are named to the people whose records they open, when those people
    /// list who looked (`GET AuditEvent?patient=`); everyone else's staff appear by organisation and role
    /// only [default: none].
    pub named_organisations: Option<Vec<String>>,
}

/// The use cases' configuration that every command shares: token signing and the access rules.
pub fn app_config(file: &FileConfig, base_url: &str) -> Result<app::Config, String> {
    let mut config = app::Config::new(base_url);
    config.token_key = token_key(file)?;
    config.token_ttl = token_ttl(file);
    let access = file.access.clone().unwrap_or_default();
    let defaults = care::access::Policy::default();
    let span = |v: Option<u32>, unit: fn(i64) -> care::access::Span, default| v.map_or(default, |v| unit(i64::from(v)));
    config.policy = care::access::Policy {
        encounter_window: span(access.encounter_window_days, care::access::Span::days, defaults.encounter_window),
        conference_grace: span(access.conference_grace_hours, care::access::Span::hours, defaults.conference_grace),
        break_glass_duration: span(access.break_glass_hours, care::access::Span::hours, defaults.break_glass_duration),
    };
    let codes = app::access::SensitiveCodes::parse(&access.sensitive_codes.unwrap_or_default()).map_err(|e| format!("[access] {e}"))?;
    config.sensitive_codes = std::sync::Arc::new(codes);
    config.named_organisations = access.named_organisations.unwrap_or_default();
    if let Some(shares) = file.risk.as_ref().and_then(|r| r.tier_shares) {
        if !care::admission::valid_shares(shares) {
            return Err(format!("[risk] tier_shares {shares:?} must be three fractions from 0 to 1 adding up to at most 1"));
        }
        config.tier_shares = shares;
    }
    if let Some(at) = file.risk.as_ref().and_then(|r| r.refresh_at.as_deref()) {
        config.risk_refresh_at = Some(minute_of_day(at).ok_or_else(|| format!("[risk] refresh_at '{at}' is not a time of day HH:MM (UTC)"))?);
    }
    if let Some(path) = file.risk.as_ref().and_then(|r| r.cohorts.as_ref()) {
        let text = std::fs::read_to_string(path).map_err(|e| format!("[risk] cohorts: cannot read {}: {e}", path.display()))?;
        let cohorts = care::cohorts::Cohorts::from_json(&text, care::registers::Registers::builtin())
            .map_err(|e| format!("[risk] cohorts: {}: {e}", path.display()))?;
        config.cohorts = std::sync::Arc::new(cohorts);
    }
    Ok(config)
}

/// `HH:MM` (00:00 to 23:59) as minutes after midnight.
fn minute_of_day(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
}

impl FileConfig {
    /// Reads the file if one is named; otherwise `./joinery.toml` if it exists; otherwise nothing.
    pub fn load(path: Option<&Path>) -> Result<FileConfig, String> {
        let default = Path::new("joinery.toml");
        let path = match path {
            Some(p) => p,
            None if default.exists() => default,
            None => return Ok(FileConfig::default()),
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PgDatabase),
}

/// A PostgreSQL database and how much of it one process may use.
#[derive(Clone, PartialEq, Eq)]
pub struct PgDatabase {
    /// The URL; it may carry a password, so it is never printed (see `Debug`).
    pub url: String,
    /// Most connections this process opens.
    pub pool: usize,
    /// Longest a statement may run, in milliseconds; a request waits at most half of it (and 5 s) for a
    /// free connection.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDatabase").field("url", &"<hidden>").field("pool", &self.pool).field("timeout_ms", &self.timeout_ms).finish()
    }
}

impl PgDatabase {
    /// The store's options for this database.
    pub fn options(&self) -> store::PgOptions {
        let mut o = store::PgOptions::new(self.url.clone());
        o.pool_size = self.pool;
        o.statement_timeout = std::time::Duration::from_millis(self.timeout_ms);
        o.wait_timeout = (o.statement_timeout / 2).min(std::time::Duration::from_secs(5));
        o
    }
}

impl Database {
    pub fn parse(s: &str) -> Result<Database, String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Database::Postgres(PgDatabase { url: s.to_owned(), pool: 16, timeout_ms: 30_000 }));
        }
        let path = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")).unwrap_or(s);
        if path.is_empty() {
            return Err("the database path is empty".into());
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }
}

/// The database flag of the commands that do not serve (`import`, `export`).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct StoreArgs {
    /// Database: a path, a `sqlite:` URL or a `postgres://` URL [default: ./joinery-data/joinery.db].
    #[arg(long, env = "JOINERY_DATABASE")]
    pub database: Option<String>,
}

impl StoreArgs {
    /// Flag (or environment), then the configuration file, then the default.
    pub fn resolve(&self, file: &FileConfig) -> Result<Database, String> {
        Database::parse(self.database.as_deref().or(file.database.as_deref()).unwrap_or(DEFAULT_DATABASE))
    }
}

/// The base URL the command-line tools (import, export, accounts) state; they serve nothing.
pub const LOCAL_BASE: &str = "http://127.0.0.1:8080/fhir";

/// Where the database lives unless configured.
pub const DEFAULT_DATABASE: &str = "joinery-data/joinery.db";

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database: Database,
    pub base_url: String,
    pub log_format: String,
    pub max_body_bytes: usize,
    /// Per-request limits of the use cases.
    pub limits: app::Limits,
    /// The use cases' configuration (tokens, access rules), limits and clock apart.
    pub app: app::Config,
    /// Most requests served at once.
    pub max_in_flight: usize,
    /// Longest a request may take, in milliseconds.
    pub request_timeout_ms: usize,
    /// Longest a client may take to send a request's headers, in milliseconds.
    pub header_timeout_ms: usize,
}

/// The default of `header_timeout_ms`.
pub const HEADER_TIMEOUT_MS: usize = 10_000;

impl Settings {
    pub fn resolve(flags: ServeArgs, file: FileConfig) -> Result<Settings, String> {
        let mut app = app_config(&file, "")?;
        let listen = flags.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let mut database = Database::parse(&flags.database.or(file.database).unwrap_or_else(|| DEFAULT_DATABASE.into()))?;
        if let Database::Postgres(pg) = &mut database {
            pg.pool = flags.database_pool.or(file.database_pool).unwrap_or(pg.pool).max(1);
            pg.timeout_ms = flags.database_timeout_ms.or(file.database_timeout_ms).unwrap_or(pg.timeout_ms).max(1);
        }
        let base_url = flags.base_url.or(file.base_url).unwrap_or_else(|| format!("http://{listen}/fhir")).trim_end_matches('/').to_owned();
        app.base_url = base_url.clone();
        let log_format = flags.log_format.or(file.log_format).unwrap_or_else(|| "json".into());
        if log_format != "json" && log_format != "text" {
            return Err(format!("log format '{log_format}' is not one of json, text"));
        }
        let max_body_bytes = flags.max_body_bytes.or(file.max_body_bytes).unwrap_or(64 * 1024 * 1024);
        let http = api::Options::default();
        let mut limits = app::Limits::default();
        let mut max_in_flight = http.max_in_flight;
        let mut request_timeout_ms = usize::try_from(http.request_timeout.as_millis()).unwrap_or(usize::MAX);
        let mut header_timeout_ms = HEADER_TIMEOUT_MS;
        for (key, value) in file.limits.clone().unwrap_or_default() {
            match key.as_str() {
                "max_in_flight" => max_in_flight = value.max(1),
                "request_timeout_ms" => request_timeout_ms = value.max(1),
                "header_timeout_ms" => header_timeout_ms = value.max(1),
                _ if limits.set(&key, value) => {}
                _ => {
                    return Err(format!(
                        "[limits] has no key '{key}'; the keys are max_in_flight, request_timeout_ms, header_timeout_ms and {}",
                        limit_keys()
                    ))
                }
            }
        }
        Ok(Settings { listen, database, base_url, log_format, max_body_bytes, limits, app, max_in_flight, request_timeout_ms, header_timeout_ms })
    }
}

/// The configured token signing key: `JOINERY_TOKEN_KEY`, else the file's `token_key`; `None` for one kept
/// in the database.
pub fn token_key(file: &FileConfig) -> Result<Option<app::Secret>, String> {
    let key = std::env::var("JOINERY_TOKEN_KEY").ok().or_else(|| file.token_key.clone());
    match key {
        Some(k) if k.len() < 32 => Err("the token key (JOINERY_TOKEN_KEY or token_key) must have at least 32 characters".into()),
        Some(k) => Ok(Some(app::Secret(k.into_bytes()))),
        None => Ok(None),
    }
}

/// How long issued tokens are valid: the file's `token_ttl_seconds`, else an hour.
pub fn token_ttl(file: &FileConfig) -> std::time::Duration {
    std::time::Duration::from_secs(file.token_ttl_seconds.unwrap_or(3600).max(1))
}

fn limit_keys() -> String {
    app::Limits::default().entries().iter().map(|(k, _, _)| *k).collect::<Vec<_>>().join(", ")
}

impl Settings {
    /// The HTTP layer's options.
    pub fn http(&self, metrics: Option<api::MetricsRender>) -> api::Options {
        api::Options {
            max_body_bytes: self.max_body_bytes,
            max_in_flight: self.max_in_flight,
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms as u64),
            metrics,
        }
    }

    /// The use cases' configuration.
    pub fn app_config(&self) -> app::Config {
        let mut config = self.app.clone();
        config.limits = self.limits.clone();
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_defaults_fill_the_rest() {
        let file = FileConfig { listen: Some("0.0.0.0:9000".into()), database: Some("sqlite:/tmp/x.db".into()), ..Default::default() };
        let flags = ServeArgs { listen: Some("127.0.0.1:7000".into()), ..Default::default() };
        let s = Settings::resolve(flags, file).expect("valid");
        assert_eq!(s.listen, "127.0.0.1:7000");
        assert_eq!(s.database, Database::Sqlite("/tmp/x.db".into()));
        assert_eq!(s.base_url, "http://127.0.0.1:7000/fhir");
        assert_eq!(s.log_format, "json");
    }

    #[test]
    fn database_urls() {
        assert_eq!(Database::parse("sqlite:a.db"), Ok(Database::Sqlite("a.db".into())));
        assert_eq!(Database::parse("sqlite:///tmp/a.db"), Ok(Database::Sqlite("/tmp/a.db".into())));
        assert_eq!(Database::parse("dir/a.db"), Ok(Database::Sqlite("dir/a.db".into())));
        assert_eq!(
            Database::parse("postgres://localhost/x"),
            Ok(Database::Postgres(PgDatabase { url: "postgres://localhost/x".into(), pool: 16, timeout_ms: 30_000 }))
        );
        assert!(!format!("{:?}", Database::parse("postgres://u:secret@h/x")).contains("secret"), "the URL is never printed");
        assert!(Database::parse("sqlite:").is_err());
    }

    #[test]
    fn file_rejects_unknown_keys() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }

    #[test]
    fn the_readme_lists_every_limit_with_its_default() {
        let readme = include_str!("../../../README.md");
        let http = api::Options::default();
        let mut rows: Vec<(String, String)> = vec![
            ("max_in_flight".into(), http.max_in_flight.to_string()),
            ("request_timeout_ms".into(), http.request_timeout.as_millis().to_string()),
            ("header_timeout_ms".into(), HEADER_TIMEOUT_MS.to_string()),
        ];
        rows.extend(app::Limits::default().entries().into_iter().map(|(k, v, _)| (k.to_owned(), v.to_string())));
        for (key, default) in rows {
            let row = format!("| `{key}` | {default} |");
            assert!(readme.contains(&row), "README.md lists the limit: {row}");
        }
    }

    #[test]
    fn tier_shares_come_from_the_file_and_must_be_fractions() {
        let file: FileConfig = toml::from_str("[risk]\ntier_shares = [0.01, 0.04, 0.2]").expect("toml");
        assert_eq!(app_config(&file, "http://x").expect("config").tier_shares, [0.01, 0.04, 0.2]);
        assert_eq!(app_config(&FileConfig::default(), "http://x").expect("config").tier_shares, care::admission::DEFAULT_TIER_SHARES);
        for bad in ["[0.5, 0.5, 0.5]", "[-0.1, 0.1, 0.1]", "[0.1, 0.1, 1.5]"] {
            let file: FileConfig = toml::from_str(&format!("[risk]\ntier_shares = {bad}")).expect("toml");
            assert!(app_config(&file, "http://x").expect_err(bad).contains("tier_shares"), "{bad}");
        }
        assert!(toml::from_str::<FileConfig>("[risk]\ntier_shares = [0.1, 0.2]").is_err(), "three shares");
    }

    #[test]
    fn the_daily_refresh_time_is_read_as_utc_minutes() {
        let at = |text: &str| {
            let file: FileConfig = toml::from_str(&format!("[risk]\nrefresh_at = {text:?}")).expect("toml");
            app_config(&file, "http://x").map(|c| c.risk_refresh_at)
        };
        assert_eq!(at("02:30"), Ok(Some(150)));
        assert_eq!(at("00:00"), Ok(Some(0)));
        assert_eq!(at("23:59"), Ok(Some(1439)));
        for bad in ["24:00", "2:30", "02:60", "noon", "02:3x"] {
            assert!(at(bad).expect_err(bad).contains("refresh_at"), "{bad}");
        }
        assert_eq!(app_config(&FileConfig::default(), "http://x").map(|c| c.risk_refresh_at), Ok(None));
    }

    #[test]
    fn cohorts_come_from_the_file_it_names_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let good = dir.path().join("cohorts.json");
        let text = r#"{ "cohorts": [ { "id": "frail-brent", "name": "Frail in Brent", "localities": ["Brent"],
                         "rules": [ { "reason": "aged-80-plus", "display": "Aged 80 or over", "minAge": 80 } ] } ] }"#;
        std::fs::write(&good, text).expect("write");
        let file: FileConfig = toml::from_str(&format!("[risk]\ncohorts = {:?}", good.display().to_string())).expect("toml");
        let config = app_config(&file, "http://x").expect("valid");
        assert_eq!(config.cohorts.all().iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["frail-brent"]);
        assert_eq!(app::Config::new("http://x").cohorts.all().len(), care::cohorts::Cohorts::builtin().all().len(), "the default");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, text.replace("\"minAge\": 80", "\"registers\": [\"ZZ\"]")).expect("write");
        let file: FileConfig = toml::from_str(&format!("[risk]\ncohorts = {:?}", bad.display().to_string())).expect("toml");
        let e = app_config(&file, "http://x").expect_err("an unknown register");
        assert!(e.contains("[risk] cohorts") && e.contains("no register ZZ"), "{e}");
        let file: FileConfig = toml::from_str("[risk]\ncohorts = \"/nonexistent/cohorts.json\"").expect("toml");
        assert!(app_config(&file, "http://x").expect_err("missing").contains("cannot read"));
    }

    #[test]
    fn limits_come_from_the_file() {
        let file: FileConfig = toml::from_str("[limits]\nmax_count = 200\nmax_in_flight = 64\nrequest_timeout_ms = 1500").expect("toml");
        let s = Settings::resolve(ServeArgs::default(), file).expect("valid");
        assert_eq!(s.limits.max_count, 200);
        assert_eq!(s.limits.max_chain_depth, app::Limits::default().max_chain_depth);
        assert_eq!((s.max_in_flight, s.request_timeout_ms), (64, 1500));
        let file: FileConfig = toml::from_str("[limits]\nmax_cont = 200").expect("toml");
        let e = Settings::resolve(ServeArgs::default(), file).expect_err("an unknown limit");
        assert!(e.contains("max_cont") && e.contains("max_count"), "{e}");
    }

    #[test]
    fn access_rules_come_from_the_file() {
        let text = "[access]\nencounter_window_days = 30\nbreak_glass_hours = 2\nsensitive_codes = [\"http://snomed.info/sct|123\"]\nnamed_organisations = [\"org-hospital-1\"]";
        let file: FileConfig = toml::from_str(text).expect("toml");
        let s = Settings::resolve(ServeArgs::default(), file).expect("valid");
        let config = s.app_config();
        assert_eq!(config.policy.encounter_window, care::access::Span::days(30));
        assert_eq!(config.policy.break_glass_duration, care::access::Span::hours(2));
        assert_eq!(config.policy.conference_grace, care::access::Policy::default().conference_grace, "unset keeps the default");
        assert_eq!(*config.sensitive_codes, app::access::SensitiveCodes::parse(&["http://snomed.info/sct|123"]).expect("codes"));
        assert_eq!(config.named_organisations, ["org-hospital-1"]);
        let file: FileConfig = toml::from_str("[access]\nsensitive_codes = [\"123\"]").expect("toml");
        let e = Settings::resolve(ServeArgs::default(), file).expect_err("a code without its system");
        assert!(e.contains("[access]") && e.contains("'123'"), "{e}");
        assert!(toml::from_str::<FileConfig>("[access]\nencounter_window = 3").is_err(), "an unknown key");
    }
}
