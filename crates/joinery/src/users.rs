//! `joinery user add|list|disable` and `joinery token`: accounts and the tokens they sign in with, from the
//! command line, on the database the server uses.

use crate::config::{app_config, FileConfig, StoreArgs, LOCAL_BASE};
use crate::{block_on, open_store, Failure, Outcome};
use app::auth::{ActsAs, NewAccount};
use care::access::Role;
use std::io::Read;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// Add an account: a professional (--practitioner-role), a person (--patient), a carer (--related-person)
    /// or, with --role integration-system, a system client.
    Add(AddArgs),
    /// List the accounts.
    List(StoreArgs),
    /// Disable an account: its tokens are refused from the next request on.
    Disable(DisableArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct AddArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long)]
    pub username: String,
    /// clinician, care-coordinator, social-care-practitioner, voluntary-sector-worker, support-staff,
    /// privacy-officer, analyst, administrator, person, carer or integration-system.
    #[arg(long)]
    pub role: String,
    /// `PractitionerRole/ID`: the professional's practitioner, organisation and role.
    #[arg(long, conflicts_with_all = ["patient", "related_person"])]
    pub practitioner_role: Option<String>,
    /// `Patient/ID`: the person themself.
    #[arg(long, conflicts_with = "related_person")]
    pub patient: Option<String>,
    /// `RelatedPerson/ID`: a carer, for the patient it names.
    #[arg(long)]
    pub related_person: Option<String>,
    /// Read the password from standard input (its first line); without it the account signs in with tokens
    /// from `joinery token` only.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct DisableArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    pub username: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TokenArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The account to issue a token for.
    #[arg(long, required_unless_present = "system", conflicts_with = "system")]
    pub user: Option<String>,
    /// A trusted integration client (made on first use): a token with `system/*.cruds`.
    #[arg(long)]
    pub system: Option<String>,
    /// SMART scopes, space-separated (for example `user/Observation.rs`) [default: the most the role may hold].
    #[arg(long)]
    pub scope: Option<String>,
}

/// `Type/id` → id, checking the type.
fn id_of(reference: &str, resource_type: &str, flag: &str) -> Result<String, Failure> {
    match reference.split_once('/') {
        Some((t, id)) if t == resource_type && fhir::id::is_valid_id(id) => Ok(id.to_owned()),
        _ => Err(Failure::Usage(format!("--{flag} takes {resource_type}/ID, not '{reference}'"))),
    }
}

fn app_for(store: &StoreArgs, file: &FileConfig) -> Result<app::App, Failure> {
    let database = store.resolve(file).map_err(Failure::Usage)?;
    let config = app_config(file, LOCAL_BASE).map_err(Failure::Usage)?;
    Ok(app::App::new(open_store(&database)?, config))
}

fn message(e: &app::AppError) -> String {
    e.outcome().issues.iter().map(|i| i.diagnostics.clone()).collect::<Vec<_>>().join("; ")
}

pub fn user(command: UserCommand, file: &FileConfig) -> Outcome {
    match command {
        UserCommand::Add(args) => {
            let role = Role::parse(&args.role).ok_or_else(|| {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
                Failure::Usage(format!("--role '{}' is not one of {}", args.role, all.join(", ")))
            })?;
            let acts_as = match (&args.practitioner_role, &args.patient, &args.related_person, role) {
                (Some(r), None, None, _) => ActsAs::PractitionerRole(id_of(r, "PractitionerRole", "practitioner-role")?),
                (None, Some(p), None, _) => ActsAs::Patient(id_of(p, "Patient", "patient")?),
                (None, None, Some(r), _) => ActsAs::RelatedPerson(id_of(r, "RelatedPerson", "related-person")?),
                (None, None, None, Role::IntegrationSystem) => ActsAs::System,
                _ => return Err(Failure::Usage("give exactly one of --practitioner-role, --patient or --related-person".into())),
            };
            let password = if args.password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).map_err(|e| Failure::Run(format!("cannot read the password: {e}")))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            } else {
                None
            };
            let app = app_for(&args.store, file)?;
            block_on(async move {
                let added = app.add_account(NewAccount { username: args.username.clone(), role, acts_as, password }).await;
                let _ = app.shutdown().await;
                let account = added.map_err(|e| Failure::Run(message(&e)))?;
                println!(
                    "Added {} ({}{})",
                    account.username,
                    account.role,
                    account.organisation.map(|o| format!(" at Organization/{o}")).unwrap_or_default()
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::List(store) => {
            let app = app_for(&store, file)?;
            block_on(async move {
                let listed = app.accounts().await;
                let _ = app.shutdown().await;
                println!("{:<24} {:<26} {:<40} {:<8} {}", "username", "role", "acts as", "password", "state");
                for a in listed.map_err(|e| Failure::Run(message(&e)))? {
                    let acts_as = match (&a.practitioner_role, &a.related_person, &a.patient) {
                        (Some(r), _, _) => format!("PractitionerRole/{r}"),
                        (None, Some(r), _) => format!("RelatedPerson/{r}"),
                        (None, None, Some(p)) => format!("Patient/{p}"),
                        _ => "-".into(),
                    };
                    let password = if a.password_hash.is_some() { "yes" } else { "no" };
                    println!("{:<24} {:<26} {:<40} {:<8} {}", a.username, a.role, acts_as, password, if a.disabled { "disabled" } else { "active" });
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::Disable(args) => {
            let app = app_for(&args.store, file)?;
            block_on(async move {
                let done = app.disable_account(&args.username).await;
                let _ = app.shutdown().await;
                done.map_err(|e| Failure::Run(message(&e)))?;
                println!("Disabled {}: its tokens are refused from the next request on", args.username);
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// Prints a token for an account (or a system client) as the last line.
pub fn token(args: TokenArgs, file: &FileConfig) -> Outcome {
    let app = app_for(&args.store, file)?;
    block_on(async move {
        let issued = async {
            let username = match (&args.user, &args.system) {
                (Some(u), _) => u.clone(),
                (None, Some(name)) => {
                    let new = NewAccount { username: name.clone(), role: Role::IntegrationSystem, acts_as: ActsAs::System, password: None };
                    match app.add_account(new).await {
                        Ok(_) | Err(app::AppError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                    name.clone()
                }
                (None, None) => return Err(app::AppError::bad_request(fhir::IssueCode::Required, "give --user or --system", None)),
            };
            let issued = app.issue_token(&username, args.scope.as_deref()).await;
            let given = format!("--user {username}{}", args.scope.as_deref().map(|s| format!(" --scope {s}")).unwrap_or_default());
            app.audit_command("token", &given, u16::from(issued.is_err())).await?;
            issued
        }
        .await;
        let _ = app.shutdown().await;
        let t = issued.map_err(|e| Failure::Run(message(&e)))?;
        eprintln!("scope: {}; expires in {} s", t.scopes, t.expires_in);
        println!("{}", t.token);
        Ok(ExitCode::SUCCESS)
    })
}
