//! Throw-away PostgreSQL databases for tests and benchmarks: created fresh on a server named by a URL,
//! dropped (with any connections still open) when the value goes out of scope.

use crate::error::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_postgres::NoTls;

/// The environment variable that names the PostgreSQL server tests may use; unset, they are skipped.
pub const TEST_URL_VAR: &str = "JOINERY_TEST_POSTGRES_URL";

/// A fresh database `joinery_test_<unique>` on the server of an administrative URL.
#[derive(Debug)]
pub struct PgTestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgTestDatabase {
    /// The administrative URL from `JOINERY_TEST_POSTGRES_URL`, if set and not empty.
    pub fn admin_url_from_env() -> Option<String> {
        std::env::var(TEST_URL_VAR).ok().filter(|u| !u.trim().is_empty())
    }

    /// Creates a fresh database. Blocking (it runs on its own thread), so it may be called anywhere.
    pub fn create(admin_url: &str) -> Result<PgTestDatabase, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("joinery_test_{}_{}_{nanos:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let url = with_database(admin_url, &name)?;
        admin(admin_url, format!("CREATE DATABASE \"{name}\""))?;
        Ok(PgTestDatabase { admin_url: admin_url.to_owned(), name, url })
    }

    /// The URL of a database name that does not exist yet on the same server (for tests of a database that
    /// appears later); `create_named` creates it.
    pub fn url_for(admin_url: &str, name: &str) -> Result<String, StoreError> {
        with_database(admin_url, name)
    }

    /// Creates the database `name` (see `url_for`); it is dropped like any other when the value goes.
    pub fn create_named(admin_url: &str, name: &str) -> Result<PgTestDatabase, StoreError> {
        let url = with_database(admin_url, name)?;
        admin(admin_url, format!("CREATE DATABASE \"{name}\""))?;
        Ok(PgTestDatabase { admin_url: admin_url.to_owned(), name: name.to_owned(), url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin(&self.admin_url, format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
        // And the files a server on it kept in its default folder (`PgOptions::data_dir`).
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("joinery-{}", self.name)));
    }
}

/// The same server URL with another database (`postgres://u@h:p/db?opts` → `…/name?opts`).
fn with_database(url: &str, name: &str) -> Result<String, StoreError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).ok_or_else(|| StoreError::Internal("the PostgreSQL URL has no scheme".into()))?;
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    })
}

/// Runs one administrative statement on its own thread and runtime.
fn admin(admin_url: &str, statement: String) -> Result<(), StoreError> {
    let url = admin_url.to_owned();
    let worker = std::thread::spawn(move || -> Result<(), StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| StoreError::Internal(Box::new(e)))?;
        rt.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await.map_err(super::pg)?;
            let driver = tokio::spawn(connection);
            let r = client.batch_execute(&statement).await.map_err(super::pg);
            drop(client);
            let _ = driver.await;
            r
        })
    });
    worker.join().map_err(|_| StoreError::Internal("the database administration thread panicked".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_server_and_options() {
        assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").ok().as_deref(), Some("postgres://postgres@127.0.0.1:5432/x"));
        assert_eq!(with_database("postgres://h/db?sslmode=disable", "x").ok().as_deref(), Some("postgres://h/x?sslmode=disable"));
        assert_eq!(with_database("postgresql://h", "x").ok().as_deref(), Some("postgresql://h/x"));
    }
}
