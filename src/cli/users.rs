//! `aduan users`: the people who work the queue and their API tokens.

use std::process::ExitCode;

use clap::Subcommand;

use super::ready_store;
use crate::config::Config;

#[derive(Subcommand)]
pub(super) enum UsersCommand {
    /// Creates a user and prints an API token once. The first operator is made this way.
    Create {
        username: String,
        /// operator, coordinator, unit_admin or liaison.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// The unit's code (unit_admin and liaison).
        #[arg(long)]
        unit: Option<String>,
        /// Read a password (at least 12 characters) from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lists users.
    List,
    /// Issues another API token for a user and prints it once.
    Token {
        username: String,
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// Disables a user and revokes their tokens.
    Disable { username: String },
}

pub(super) async fn run(cfg: &Config, command: UsersCommand) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    match command {
        UsersCommand::Create {
            username,
            role,
            name,
            email,
            unit,
            password_stdin,
        } => {
            let role = crate::queue::Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("--role: one of operator, coordinator, unit_admin, liaison")
            })?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let user = store
                .create_user(&crate::queue::people::NewUser {
                    username: &username,
                    display_name: name.as_deref().unwrap_or(&username),
                    email: email.as_deref(),
                    role,
                    unit: unit.as_deref(),
                    password: password.as_deref(),
                })
                .await?;
            let t = store
                .issue_token(&user.username, "created with the user")
                .await?;
            eprintln!(
                "user {} ({}) created; its API token, shown this once:",
                user.username, user.role
            );
            println!("{}", t.token);
        }
        UsersCommand::List => {
            for u in store.users().await? {
                println!(
                    "{:<24} {:<12} {:<16} {}",
                    u.username,
                    u.role,
                    u.unit.as_deref().unwrap_or("-"),
                    if u.active { "active" } else { "disabled" }
                );
            }
        }
        UsersCommand::Token { username, label } => {
            let t = store.issue_token(&username, &label).await?;
            println!("{}", t.token);
        }
        UsersCommand::Disable { username } => {
            if !store.set_user_active(&username, false).await? {
                eprintln!("aduan: no user {username:?}");
                return Ok(ExitCode::from(2));
            }
            eprintln!("user {username} disabled; its tokens are revoked");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
