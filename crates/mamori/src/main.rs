//! `mamori`: the one binary. It only wires the crates together: configuration
//! and flags in, the listeners, store, index and API started and connected.

mod alerts;
mod commands;
mod config;
mod detect;
mod live;
mod serve;
mod users;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// mamori (守り): log collection, tamper-evident storage and search for hospitals.
#[derive(Debug, Parser)]
#[command(name = "mamori", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args, Clone)]
struct Global {
    /// Configuration file (default: ./mamori.toml if present).
    #[arg(long, global = true, env = "MAMORI_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides data_dir in the configuration).
    #[arg(long, global = true, env = "MAMORI_DATA")]
    data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive logs (syslog UDP/TCP/TLS, HTTP NDJSON), store, index and serve the API.
    Serve(serve::ServeArgs),
    /// Import .evtx, .jsonl/.ndjson and syslog text files or folders.
    Import(commands::ImportArgs),
    /// Search stored events: words, field:value, "phrases", AND/OR/NOT, CIDR, ranges.
    Search(commands::SearchArgs),
    /// Check the store's hash chain and seals; report exactly what was changed.
    Verify(commands::VerifyArgs),
    /// Signed checkpoints of the store.
    Checkpoint {
        #[command(subcommand)]
        action: commands::CheckpointAction,
    },
    /// Rebuild the search index from the stored segments.
    Reindex,
    /// Sigma rules: check that they load.
    Rules {
        #[command(subcommand)]
        action: detect::RulesAction,
    },
    /// Hunt with Sigma rules over .evtx and .jsonl files (all cores).
    Hunt(detect::HuntArgs),
    /// Alerts of live detection: list, show, ack, close, suppress.
    Alerts {
        #[command(subcommand)]
        action: alerts::AlertsAction,
    },
    /// Console users: add (the first administrator), list, remove, password, reset-totp.
    User {
        #[command(subcommand)]
        action: users::UserAction,
    },
    /// Ingest and API tokens.
    Token {
        #[command(subcommand)]
        action: commands::TokenAction,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        action: commands::ConfigAction,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAMORI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    // One TLS crypto provider for the whole process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mamori: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let mut cfg = config::Config::load(cli.global.config.as_deref())?;
    if let Some(d) = &cli.global.data {
        cfg.data_dir = d.clone();
    }
    let lang = cfg
        .language
        .as_deref()
        .and_then(mamori_i18n::Lang::parse)
        .unwrap_or_else(mamori_i18n::Lang::from_env);
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Serve(args) => serve::run(cfg, args, lang).map(|_| ok),
        Command::Import(args) => commands::import(&cfg, args, lang).map(|_| ok),
        Command::Search(args) => commands::search(&cfg, args, lang),
        Command::Verify(args) => commands::verify(&cfg, args, lang),
        Command::Checkpoint { action } => commands::checkpoint(&cfg, action).map(|_| ok),
        Command::Reindex => commands::reindex(&cfg, lang).map(|_| ok),
        Command::Rules { action } => detect::rules(action, lang),
        Command::Hunt(args) => detect::hunt(&cfg, args, lang),
        Command::Alerts { action } => alerts::run(&cfg, action, lang).map(|_| ok),
        Command::User { action } => users::run(&cfg, action, lang).map(|_| ok),
        Command::Token { action } => commands::token(&cfg, action, lang).map(|_| ok),
        Command::Config { action } => commands::config(action, lang).map(|_| ok),
    }
}
