//! Who is asking: accounts (a professional as a PractitionerRole, a person, a carer as a RelatedPerson, or an
//! integration system), passwords hashed with argon2id, and signed bearer tokens (HS256 JWT) carrying SMART
//! scopes. A token names only its account and scopes; the account is read afresh on every request, so
//! disabling it refuses the very next request, and what the account acts as is always current. What a token
//! says is checked once (signature, issuer, scopes) and kept until it expires (`Verified`): a client sends
//! the same token with every request, and checking it is a tenth of what a read by id costs.

use crate::error::AppError;
use crate::App;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use care::access::{Caller, Role, Staff};
use care::scope::Scopes;
use fhir::IssueCode;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use store::Account;

/// The name the signing key is kept under in the store.
const SIGNING_KEY: &str = "token-signing-key";
/// Who issues the tokens (the `iss` claim), checked on every token.
const ISSUER: &str = "joinery";

/// What a new account acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActsAs {
    /// A professional: this PractitionerRole's practitioner at its organisation.
    PractitionerRole(String),
    /// The person themself.
    Patient(String),
    /// A carer: this RelatedPerson, for the Patient it names.
    RelatedPerson(String),
    /// A trusted integration system.
    System,
}

/// A request for a new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub role: Role,
    pub acts_as: ActsAs,
    /// `None`: the account signs in with issued tokens only.
    pub password: Option<String>,
}

/// A signed token and what it grants.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
    pub scopes: Scopes,
}

/// The caller a valid token stands for, and the scopes it carries.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    pub scopes: Scopes,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    scope: String,
    iat: i64,
    exp: i64,
}

/// The keys tokens are signed and checked with, and the tokens checked with them.
pub(crate) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    verified: Verified,
}

/// What a token whose signature and issuer were checked says: its account, its scopes and its expiry.
#[derive(Clone)]
struct TokenFacts {
    sub: String,
    scopes: Scopes,
    exp: i64,
}

/// Tokens already checked, by their exact text (the signature covers every byte, and the keys never change
/// while the process runs), each until its expiry. Bounded: when full, expired tokens are dropped, and if
/// none had expired, all are (each is checked again on its next use).
#[derive(Default)]
struct Verified(std::sync::Mutex<std::collections::HashMap<String, TokenFacts>>);

/// Most tokens kept at once (about 400 bytes each).
const VERIFIED_MAX: usize = 10_000;

impl Verified {
    fn get(&self, token: &str, now: i64) -> Option<TokenFacts> {
        let kept = self.0.lock().ok()?;
        kept.get(token).filter(|f| !expired(f.exp, now)).cloned()
    }

    fn keep(&self, token: &str, facts: TokenFacts, now: i64) {
        let Ok(mut kept) = self.0.lock() else { return };
        if kept.len() >= VERIFIED_MAX {
            kept.retain(|_, f| !expired(f.exp, now));
            if kept.len() >= VERIFIED_MAX {
                kept.clear();
            }
        }
        kept.insert(token.to_owned(), facts);
    }
}

/// As the token library decides it (no leeway): a token is good through the second its `exp` names.
fn expired(exp: i64, now: i64) -> bool {
    exp < now
}

fn unauthorized(why: impl Into<String>) -> AppError {
    AppError::Unauthorized(why.into())
}

fn is_resource_type(t: &str) -> bool {
    fhir::definitions::is_resource_type(t)
}

impl App {
    /// The signing keys: configured, or made once and kept in the store (so every node of a database shares them).
    async fn keys(&self) -> Result<&Keys, AppError> {
        self.keys
            .get_or_try_init(|| async {
                let secret = match &self.config.token_key {
                    Some(k) => k.0.clone(),
                    None => {
                        self.store
                            .secret(SIGNING_KEY, || {
                                let mut key = vec![0u8; 32];
                                // The operating system's generator; if it fails, start-up must fail, never sign with a weak key.
                                getrandom::fill(&mut key).expect("invariant: the operating system provides random bytes");
                                key
                            })
                            .await?
                    }
                };
                Ok::<Keys, AppError>(Keys {
                    encoding: EncodingKey::from_secret(&secret),
                    decoding: DecodingKey::from_secret(&secret),
                    verified: Verified::default(),
                })
            })
            .await
    }

    /// Adds an account, reading what it acts as from the record (a PractitionerRole's practitioner and
    /// organisation; a RelatedPerson's patient).
    pub async fn add_account(&self, new: NewAccount) -> Result<Account, AppError> {
        let bad = |why: String, at: &str| AppError::bad_request(IssueCode::Value, why, Some(at));
        if new.username.is_empty() || new.username.len() > 64 || !new.username.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
            return Err(bad(format!("'{}' is not a username (1 to 64 letters, digits and - _ . @)", new.username), "username"));
        }
        let mut account =
            Account { username: new.username.clone(), role: new.role.code().to_owned(), created: crate::instant::now(), ..Default::default() };
        let needs = match new.role {
            Role::Person => "patient",
            Role::Carer => "related-person",
            Role::IntegrationSystem => "system",
            _ => "practitioner-role",
        };
        match (&new.acts_as, needs) {
            (ActsAs::PractitionerRole(id), "practitioner-role") => {
                let role = self.read_json("PractitionerRole", id).await?;
                account.organisation =
                    Some(reference_id(&role["organization"], "Organization").ok_or_else(|| {
                        bad(format!("PractitionerRole/{id} names no organization; a professional acts for one"), "practitioner-role")
                    })?);
                account.practitioner = reference_id(&role["practitioner"], "Practitioner");
                account.practitioner_role = Some(id.clone());
            }
            (ActsAs::Patient(id), "patient") => {
                self.read_json("Patient", id).await?;
                account.patient = Some(id.clone());
            }
            (ActsAs::RelatedPerson(id), "related-person") => {
                let related = self.read_json("RelatedPerson", id).await?;
                account.patient = Some(
                    reference_id(&related["patient"], "Patient")
                        .ok_or_else(|| bad(format!("RelatedPerson/{id} names no patient"), "related-person"))?,
                );
                account.related_person = Some(id.clone());
            }
            (ActsAs::System, "system") => {}
            _ => return Err(bad(format!("a {} account acts as a {needs}", new.role), needs)),
        }
        if let Some(password) = new.password {
            if password.chars().count() < 12 {
                return Err(bad("a password has at least 12 characters".into(), "password"));
            }
            account.password_hash = Some(argon(move || hash(&password)).await??);
        }
        match self.store.add_account(account.clone()).await {
            Err(store::StoreError::Conflict) => Err(AppError::Conflict(format!("the username '{}' is taken", new.username))),
            other => other.map(|()| account).map_err(AppError::from),
        }
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, AppError> {
        Ok(self.store.accounts().await?)
    }

    /// Disables an account: its tokens are refused from the next request on.
    pub async fn disable_account(&self, username: &str) -> Result<(), AppError> {
        match self.store.set_account_disabled(username, true).await? {
            true => Ok(()),
            false => Err(AppError::NotFound(format!("no account '{username}'"))),
        }
    }

    /// A token for an account, with the scopes asked for (space-separated) or the most its role may hold.
    pub async fn issue_token(&self, username: &str, scope: Option<&str>) -> Result<IssuedToken, AppError> {
        let account =
            self.store.account(username).await?.filter(|a| !a.disabled).ok_or_else(|| unauthorized("no such account, or it is disabled"))?;
        let role = Role::parse(&account.role).ok_or_else(|| AppError::Internal(format!("account with unknown role {}", account.role).into()))?;
        let scopes = match scope {
            None => Scopes::ceiling(role),
            Some(text) => {
                let asked =
                    Scopes::parse(text, is_resource_type).map_err(|e| AppError::bad_request(IssueCode::Value, e.to_string(), Some("scope")))?;
                Scopes::grant(role, asked).map_err(|over| AppError::Forbidden(format!("a {role} account may not hold the scope {over}")))?
            }
        };
        let now = chrono::Utc::now().timestamp();
        let ttl = self.config.token_ttl.as_secs();
        let claims = Claims { iss: ISSUER.into(), sub: account.username, scope: scopes.to_string(), iat: now, exp: now + ttl as i64 };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.keys().await?.encoding)
            .map_err(|e| AppError::Internal(Box::new(e)))?;
        Ok(IssuedToken { token, expires_in: ttl, scopes })
    }

    /// Password sign-in (and the client-credentials grant of a system): a token if the password matches.
    pub async fn sign_in(&self, username: &str, password: &str, scope: Option<&str>) -> Result<IssuedToken, AppError> {
        let refused = || unauthorized("the username or password is wrong, or the account is disabled");
        let account = self.store.account(username).await?;
        // An unknown or disabled account is checked against a stand-in hash, so the answer takes as long
        // and says nothing of which accounts exist.
        let stored = account.as_ref().filter(|a| !a.disabled).and_then(|a| a.password_hash.clone());
        let known = stored.is_some();
        let password = password.to_owned();
        let matches = argon(move || {
            let hash = match stored {
                Some(h) => h,
                None => stand_in_hash()?,
            };
            let parsed = PasswordHash::new(&hash).map_err(|e| AppError::Internal(e.to_string().into()))?;
            Ok::<bool, AppError>(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await??;
        if !(known && matches) {
            return Err(refused());
        }
        self.issue_token(username, scope).await
    }

    /// The caller a bearer token stands for: its signature, issuer and expiry checked, its account read
    /// now (a disabled account is refused), its scopes parsed.
    pub async fn authenticate(&self, token: &str) -> Result<Authenticated, AppError> {
        let keys = self.keys().await?;
        let now = chrono::Utc::now().timestamp();
        let facts = match keys.verified.get(token, now) {
            Some(f) => f,
            None => {
                let f = verify(token, &keys.decoding)?;
                keys.verified.keep(token, f.clone(), now);
                f
            }
        };
        let account =
            self.store.account(&facts.sub).await?.filter(|a| !a.disabled).ok_or_else(|| unauthorized("the token's account is disabled or gone"))?;
        Ok(Authenticated { caller: caller_of(&account)?, scopes: facts.scopes })
    }

    /// A resource an account is set up from, read as the server itself (accounts are made by administrators
    /// at the command line, before any relationship could exist).
    async fn read_json(&self, resource_type: &str, id: &str) -> Result<serde_json::Value, AppError> {
        let stored = self.as_system("accounts").read(resource_type, id).await?;
        crate::present::resource_json(&stored)
    }
}

/// What a token says, once its signature, issuer, expiry and scopes are checked.
fn verify(token: &str, key: &DecodingKey) -> Result<TokenFacts, AppError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.leeway = 0;
    let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => unauthorized("the token has expired"),
            jsonwebtoken::errors::ErrorKind::InvalidSignature => unauthorized("the token's signature is not valid"),
            _ => unauthorized("the token is not a valid bearer token of this server"),
        })?
        .claims;
    let scopes = Scopes::parse(&claims.scope, is_resource_type).map_err(|_| unauthorized("the token's scopes are not valid"))?;
    Ok(TokenFacts { sub: claims.sub, scopes, exp: claims.exp })
}

/// argon2id takes tens of milliseconds of CPU and 19 MiB per hash: it runs on the blocking pool, at most
/// two at a time, never on the threads that serve requests.
async fn argon<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let _permit = HASHING.acquire().await.map_err(|e| AppError::Internal(Box::new(e)))?;
    tokio::task::spawn_blocking(work).await.map_err(|e| AppError::Internal(Box::new(e)))
}

/// A new argon2id PHC string for `password`, with a random salt.
fn hash(password: &str) -> Result<String, AppError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(e.to_string().into()))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| AppError::Internal(e.to_string().into()))?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| AppError::Internal(e.to_string().into()))?.to_string())
}

/// A hash of no one's password, made once, to check unknown accounts against.
fn stand_in_hash() -> Result<String, AppError> {
    static STAND_IN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = STAND_IN.get() {
        return Ok(h.clone());
    }
    let made = hash("no account has this password")?;
    Ok(STAND_IN.get_or_init(|| made).clone())
}

/// The caller an account stands for.
fn caller_of(a: &Account) -> Result<Caller, AppError> {
    let broken = || AppError::Internal(format!("account {} is incomplete for its role", a.username).into());
    let role = Role::parse(&a.role).ok_or_else(broken)?;
    Ok(match role {
        Role::Person => Caller::Person { user: a.username.clone(), patient: a.patient.clone().ok_or_else(broken)? },
        Role::Carer => Caller::Carer {
            user: a.username.clone(),
            related_person: a.related_person.clone().ok_or_else(broken)?,
            patient: a.patient.clone().ok_or_else(broken)?,
        },
        Role::IntegrationSystem => Caller::System { name: a.username.clone() },
        role => Caller::Staff(Staff {
            user: a.username.clone(),
            role,
            organisation: a.organisation.clone().ok_or_else(broken)?,
            practitioner: a.practitioner.clone(),
            practitioner_role: a.practitioner_role.clone(),
        }),
    })
}

/// The id of a `{"reference": "Type/id"}` to a resource of `resource_type`.
fn reference_id(reference: &serde_json::Value, resource_type: &str) -> Option<String> {
    let text = reference["reference"].as_str()?;
    let (t, id) = text.split_once('/')?;
    (t == resource_type && fhir::id::is_valid_id(id)).then(|| id.to_owned())
}
