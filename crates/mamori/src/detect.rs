//! `mamori rules check` and `mamori hunt`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mamori_detect::{HuntOptions, RuleSet, hunt_files};
use mamori_i18n::{Lang, tf};
use mamori_web::output::csv_cell;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `mamori rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// Load rule files and folders; say how many load and why the others do not.
    Check {
        /// Sigma rule files or folders (recursive).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

fn rules_summary(lang: Lang, report: &mamori_detect::LoadReport) -> String {
    tf(
        lang,
        "rules.summary",
        &[
            ("files", &report.files.to_string()),
            ("loaded", &report.rules_loaded.to_string()),
            ("failed", &report.failed.len().to_string()),
            ("ratio", &format!("{:.1}", report.loaded_ratio() * 100.0)),
        ],
    )
}

pub fn rules(action: RulesAction, lang: Lang) -> Result<ExitCode> {
    match action {
        RulesAction::Check { paths } => {
            let (_, report) = RuleSet::load(&paths, false)?;
            for (path, reason) in &report.failed {
                println!(
                    "{}",
                    tf(
                        lang,
                        "rules.failed",
                        &[
                            ("path", &path.display().to_string()),
                            ("reason", &reason.replace('\n', " "))
                        ]
                    )
                );
            }
            println!("{}", rules_summary(lang, &report));
            if report.correlations > 0 {
                println!(
                    "{}",
                    tf(
                        lang,
                        "rules.correlations",
                        &[("count", &report.correlations.to_string())]
                    )
                );
            }
            Ok(if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// Reads IOC lists, saying which lines (the first 20) are not indicators.
pub fn load_iocs(paths: &[PathBuf], lang: Lang) -> Result<mamori_detect::ioc::IocSet> {
    let (iocs, report) = mamori_detect::ioc::IocSet::load(paths)?;
    for (path, line, text) in report.skipped.iter().take(20) {
        eprintln!(
            "{}",
            tf(
                lang,
                "detect.ioc_skipped",
                &[
                    ("path", &path.display().to_string()),
                    ("line", &line.to_string()),
                    ("text", text)
                ]
            )
        );
    }
    Ok(iocs)
}

/// `mamori hunt`.
#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Sigma rule files or folders (recursive), in addition to the built-in pack.
    #[arg(long = "rules", short = 'r')]
    rules: Vec<PathBuf>,
    /// Leave out the built-in hospital pack.
    #[arg(long)]
    no_builtin: bool,
    /// IOC list files (IPs, CIDRs, domains, URLs, hashes; text or CSV) to look for too.
    #[arg(long)]
    ioc: Vec<PathBuf>,
    /// .evtx and .jsonl files or folders to hunt in.
    paths: Vec<PathBuf>,
    /// Hunt over the events stored in mamori's data directory instead
    /// (retro-hunt: a new rule over last month's logs).
    #[arg(long, conflicts_with = "paths")]
    store: bool,
    /// Only rules at this level or above: low, medium, high, critical.
    #[arg(long)]
    level: Option<String>,
    /// Only events from (2d, 2026-11-24, RFC 3339 …).
    #[arg(long)]
    from: Option<String>,
    /// Only events before.
    #[arg(long)]
    to: Option<String>,
    /// table, csv or json (one JSON object per line).
    #[arg(long, default_value = "table")]
    format: String,
}

pub fn hunt(cfg: &crate::config::Config, args: HuntArgs, lang: Lang) -> Result<ExitCode> {
    if !matches!(args.format.as_str(), "table" | "csv" | "json") {
        bail!("--format {}: use table, csv or json", args.format);
    }
    if let Some(l) = &args.level
        && mamori_detect::level_rank(l) == 0
    {
        bail!("--level {l}: use informational, low, medium, high or critical");
    }
    let now = mamori_event::now_ns();
    let bound = |s: &Option<String>| -> Result<Option<i64>> {
        s.as_deref()
            .map(|s| mamori_search::parse_time_bound(s, now).map_err(|e| anyhow::anyhow!("{e}")))
            .transpose()
    };
    let iocs = load_iocs(&args.ioc, lang)?;
    let opts = HuntOptions {
        iocs,
        min_level: args.level.clone(),
        from_ns: bound(&args.from)?,
        to_ns: bound(&args.to)?,
    };
    let (rules, report) = RuleSet::load(&args.rules, !args.no_builtin)?;
    if !report.failed.is_empty() {
        eprintln!("{}", rules_summary(lang, &report));
    }
    let result = if args.store {
        hunt_store(cfg, &rules, &opts)?
    } else {
        if args.paths.is_empty() {
            bail!("give .evtx/.jsonl files or folders to hunt in, or --store");
        }
        let files: Vec<PathBuf> = mamori_ingest::import::plan(&args.paths)?
            .into_iter()
            .filter(|p| {
                matches!(
                    mamori_ingest::import::file_kind(p),
                    mamori_ingest::import::FileKind::Evtx
                        | mamori_ingest::import::FileKind::JsonLines
                )
            })
            .collect();
        if files.is_empty() {
            let list: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
            bail!(tf(lang, "hunt.nothing", &[("paths", &list.join(", "))]));
        }
        let pb = ProgressBar::new(files.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("hunt [{bar:40}] {pos}/{len} files ({eta})")
        {
            pb.set_style(style.progress_chars("=> "));
        }
        let result = hunt_files(&files, &rules, &opts, &|n| pb.set_position(n));
        pb.finish_and_clear();
        result
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let keys = |f: &mamori_detect::Finding| {
        f.key_fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match args.format.as_str() {
        "json" => {
            for f in &result.findings {
                let fields: serde_json::Map<String, serde_json::Value> = f
                    .key_fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect();
                let j = serde_json::json!({
                    "timestamp": mamori_event::format_rfc3339(f.time_ns),
                    "rule": f.rule, "rule_id": f.rule_id, "level": f.level, "tags": f.tags,
                    "computer": f.computer, "fields": fields, "file": f.file.display().to_string(),
                    "record_id": f.record_id,
                });
                writeln!(out, "{j}")?;
            }
        }
        "csv" => {
            writeln!(out, "timestamp,rule,level,computer,fields,file")?;
            for f in &result.findings {
                let row = [
                    mamori_event::format_rfc3339(f.time_ns),
                    f.rule.clone(),
                    f.level.to_owned(),
                    f.computer.clone(),
                    keys(f),
                    f.file.display().to_string(),
                ];
                let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        _ => {
            for f in &result.findings {
                let mut line = format!(
                    "{}  {:<8}  {:<50}  {:<16}  {}",
                    mamori_event::format_rfc3339(f.time_ns),
                    f.level,
                    f.rule,
                    f.computer,
                    keys(f)
                );
                if line.chars().count() > 220 {
                    line = line.chars().take(219).collect::<String>() + "…";
                }
                writeln!(out, "{line}")?;
            }
        }
    }
    out.flush().context("writing the results")?;
    for (path, reason) in &result.failed_files {
        eprintln!(
            "{}",
            tf(
                lang,
                "import.failed_file",
                &[("path", &path.display().to_string()), ("reason", reason)]
            )
        );
    }
    eprintln!(
        "{}",
        tf(
            lang,
            "hunt.summary",
            &[
                ("files", &result.files.to_string()),
                ("events", &result.events.to_string()),
                ("rules", &rules.len().to_string()),
                ("findings", &result.findings.len().to_string()),
            ]
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// Retro-hunt: every stored event, in batches evaluated on all cores.
fn hunt_store(
    cfg: &crate::config::Config,
    rules: &RuleSet,
    opts: &HuntOptions,
) -> Result<mamori_detect::HuntReport> {
    let store = mamori_store::Store::open_read_only(&cfg.data_dir)
        .with_context(|| format!("cannot read the store in {}", cfg.data_dir.display()))?;
    let total = store.stats().next_seq;
    let pb = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("hunt [{bar:40}] {pos}/{len} events ({eta})") {
        pb.set_style(style.progress_chars("=> "));
    }
    let events = store
        .scan(0)
        .map(|item| item.map(|(seq, ev)| (PathBuf::from(format!("store:seq={seq}")), ev)));
    let report = mamori_detect::hunt_events(events, rules, opts, &|n| pb.set_position(n))?;
    pb.finish_and_clear();
    Ok(report)
}
