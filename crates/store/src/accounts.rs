//! Accounts of the people and systems that sign in, and the server's own secrets (the token signing key),
//! on both backends. Accounts change rarely and are read on every request, so that disabling one takes
//! effect on the very next request.

use crate::error::StoreError;
use crate::postgres::{pg, PgStore};
use crate::sqlite::SqliteStore;
use crate::Store;

/// One account as stored. The role is its code (`care::access::Role::code`); the ids name the FHIR
/// resources the account acts as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub username: String,
    pub role: String,
    pub practitioner_role: Option<String>,
    pub practitioner: Option<String>,
    pub organisation: Option<String>,
    pub patient: Option<String>,
    pub related_person: Option<String>,
    /// An argon2id PHC string; `None` for an account that signs in with issued tokens only.
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created: String,
}

macro_rules! columns {
    () => {
        "username, role, practitioner_role, practitioner, organisation, patient, related_person, password_hash, disabled, created"
    };
}
const COLUMNS: &str = columns!();
/// The look-up every authenticated request makes, as fixed text: prepared once per connection.
const BY_NAME_SQLITE: &str = concat!("SELECT ", columns!(), " FROM user_account WHERE username = ?");
const BY_NAME_PG: &str = concat!("SELECT ", columns!(), " FROM user_account WHERE username = $1");

impl Store {
    /// The account of this name, disabled or not.
    pub async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        match self {
            Store::Sqlite(s) => s.account(username).await,
            Store::Postgres(s) => s.account(username).await,
        }
    }

    /// Every account, by name.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        match self {
            Store::Sqlite(s) => s.accounts().await,
            Store::Postgres(s) => s.accounts().await,
        }
    }

    /// Adds an account; `Conflict` if the name is taken.
    pub async fn add_account(&self, account: Account) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.add_account(account).await,
            Store::Postgres(s) => s.add_account(account).await,
        }
    }

    /// Disables (or enables again) an account; `false` if there is no such account.
    pub async fn set_account_disabled(&self, username: &str, disabled: bool) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.set_account_disabled(username, disabled).await,
            Store::Postgres(s) => s.set_account_disabled(username, disabled).await,
        }
    }

    /// The secret of this name, made by `make` and stored the first time it is asked for. Two processes
    /// asking at once get the same secret (the first stored wins).
    pub async fn secret(&self, name: &str, make: impl FnOnce() -> Vec<u8> + Send) -> Result<Vec<u8>, StoreError> {
        match self {
            Store::Sqlite(s) => s.secret(name, make()).await,
            Store::Postgres(s) => s.secret(name, make()).await,
        }
    }
}

fn sqlite_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        username: r.get(0)?,
        role: r.get(1)?,
        practitioner_role: r.get(2)?,
        practitioner: r.get(3)?,
        organisation: r.get(4)?,
        patient: r.get(5)?,
        related_person: r.get(6)?,
        password_hash: r.get(7)?,
        disabled: r.get::<_, i64>(8)? != 0,
        created: r.get(9)?,
    })
}

impl SqliteStore {
    async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        // On the calling thread: a look-up by primary key on every request.
        self.with_reader_here("account", |c| {
            let mut st = c.prepare_cached(BY_NAME_SQLITE)?;
            let mut rows = st.query_map([username], sqlite_row)?;
            Ok(rows.next().transpose()?)
        })
        .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.with_reader("accounts", |c| {
            let mut st = c.prepare(&format!("SELECT {COLUMNS} FROM user_account ORDER BY username"))?;
            let rows = st.query_map([], sqlite_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn add_account(&self, a: Account) -> Result<(), StoreError> {
        self.admin_write(move |c| {
            c.execute(
                &format!("INSERT INTO user_account ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                rusqlite::params![
                    a.username,
                    a.role,
                    a.practitioner_role,
                    a.practitioner,
                    a.organisation,
                    a.patient,
                    a.related_person,
                    a.password_hash,
                    i64::from(a.disabled),
                    a.created
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_account_disabled(&self, username: &str, disabled: bool) -> Result<bool, StoreError> {
        let username = username.to_owned();
        self.admin_write(move |c| {
            Ok(c.execute("UPDATE user_account SET disabled = ? WHERE username = ?", rusqlite::params![i64::from(disabled), username])? > 0)
        })
        .await
    }

    async fn secret(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let name = name.to_owned();
        self.admin_write(move |c| {
            c.execute("INSERT OR IGNORE INTO server_secret (name, value) VALUES (?, ?)", rusqlite::params![name, value])?;
            Ok(c.query_row("SELECT value FROM server_secret WHERE name = ?", [&name], |r| r.get(0))?)
        })
        .await
    }
}

impl PgStore {
    async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let c = self.ready_client().await?;
        // Prepared once per connection: one round trip a request, not two.
        let by_name = c.prepare_cached(BY_NAME_PG).await.map_err(pg)?;
        let row = c.query_opt(&by_name, &[&username]).await.map_err(pg)?;
        row.as_ref().map(pg_row).transpose()
    }

    async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let c = self.ready_client().await?;
        let rows = c.query(&format!("SELECT {COLUMNS} FROM user_account ORDER BY username"), &[]).await.map_err(pg)?;
        rows.iter().map(pg_row).collect()
    }

    async fn add_account(&self, a: Account) -> Result<(), StoreError> {
        let c = self.ready_client().await?;
        let disabled = i16::from(a.disabled);
        let inserted = c
            .execute(
                &format!("INSERT INTO user_account ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (username) DO NOTHING"),
                &[
                    &a.username,
                    &a.role,
                    &a.practitioner_role,
                    &a.practitioner,
                    &a.organisation,
                    &a.patient,
                    &a.related_person,
                    &a.password_hash,
                    &disabled,
                    &a.created,
                ],
            )
            .await
            .map_err(pg)?;
        if inserted == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn set_account_disabled(&self, username: &str, disabled: bool) -> Result<bool, StoreError> {
        let c = self.ready_client().await?;
        let flag = i16::from(disabled);
        Ok(c.execute("UPDATE user_account SET disabled = $1 WHERE username = $2", &[&flag, &username]).await.map_err(pg)? > 0)
    }

    async fn secret(&self, name: &str, value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let c = self.ready_client().await?;
        c.execute("INSERT INTO server_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", &[&name, &value]).await.map_err(pg)?;
        c.query_one("SELECT value FROM server_secret WHERE name = $1", &[&name]).await.map_err(pg)?.try_get(0).map_err(pg)
    }
}

fn pg_row(r: &tokio_postgres::Row) -> Result<Account, StoreError> {
    Ok(Account {
        username: r.try_get(0).map_err(pg)?,
        role: r.try_get(1).map_err(pg)?,
        practitioner_role: r.try_get(2).map_err(pg)?,
        practitioner: r.try_get(3).map_err(pg)?,
        organisation: r.try_get(4).map_err(pg)?,
        patient: r.try_get(5).map_err(pg)?,
        related_person: r.try_get(6).map_err(pg)?,
        password_hash: r.try_get(7).map_err(pg)?,
        disabled: r.try_get::<_, i16>(8).map_err(pg)? != 0,
        created: r.try_get(9).map_err(pg)?,
    })
}
