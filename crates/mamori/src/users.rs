//! `mamori user`: console users from the server's shell (the first
//! administrator, password resets, a lost phone).

use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mamori_i18n::{Lang, tf};
use mamori_web::users::{Role, UserStore};
use std::io::{BufRead, IsTerminal, Write};

/// `mamori user …`.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user; the password is read from the terminal (or stdin).
    Add {
        /// Login name.
        name: String,
        /// admin, analyst or viewer.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// List users.
    List,
    /// Remove a user.
    Remove {
        /// Login name.
        name: String,
    },
    /// Set a new password (also unlocks the account).
    Password {
        /// Login name.
        name: String,
    },
    /// Forget the user's two-factor key: they set it up again at next login.
    ResetTotp {
        /// Login name.
        name: String,
    },
}

fn read_password(lang: Lang, name: &str) -> Result<String> {
    eprint!("{}", tf(lang, "user.password_prompt", &[("name", name)]));
    std::io::stderr().flush().ok();
    let tty = std::io::stdin().is_terminal();
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if tty {
        stty("-echo");
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    if tty {
        stty("echo");
        eprintln!();
    }
    r.context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Runs `mamori user …`.
pub fn run(cfg: &Config, action: UserAction, lang: Lang) -> Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    let users = UserStore::open(&cfg.data_dir)?;
    match action {
        UserAction::Add { name, role } => {
            let Some(r) = Role::parse(&role) else {
                bail!("--role {role}: use admin, analyst or viewer");
            };
            mamori_web::users::check_name(&name)?;
            let pw = read_password(lang, &name)?;
            users.add(&name, r, &pw)?;
            eprintln!(
                "{}",
                tf(lang, "user.added", &[("name", &name), ("role", r.as_str())])
            );
        }
        UserAction::List => {
            for u in users.list()? {
                println!(
                    "{:<24} {:<8} two-factor: {}",
                    u.name,
                    u.role.as_str(),
                    if u.totp_enrolled { "yes" } else { "not yet" }
                );
            }
        }
        UserAction::Remove { name } => {
            users.remove(&name)?;
            eprintln!("{}", tf(lang, "user.removed", &[("name", &name)]));
        }
        UserAction::Password { name } => {
            let pw = read_password(lang, &name)?;
            users.set_password(&name, &pw)?;
        }
        UserAction::ResetTotp { name } => users.reset_totp(&name)?,
    }
    Ok(())
}
