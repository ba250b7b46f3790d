//! Detection: Sigma rules over mamori's events.
//!
//! The Sigma engine is rsigma (`rsigma-parser`, `rsigma-eval`); this crate
//! does not evaluate Sigma itself. It lets rsigma read a normalised
//! [`mamori_event::Event`] in place through [`SigmaEvent`] (no JSON round
//! trip on the hot path), loads rule files and folders into a [`RuleSet`]
//! with a per-file account of what did not load ([`LoadReport`]), chooses
//! which rules rsigma evaluates for an event (those whose Sigma logsource
//! it satisfies and whose literals or fields it holds: a small prefilter in
//! place of rsigma's Engine, whose DFAs took over 100 MB), and hunts over
//! `.evtx` / `.jsonl` files on all cores ([`hunt_files`]). The built-in
//! hospital pack ([`builtin_rules`]) is embedded in the binary.
//!
//! Live, a [`LiveDetector`] takes the store's events in order, evaluates them
//! in parallel, feeds the correlations in order, matches [`ioc`] lists, and
//! records [`alerts`] in SQLite (dedup per rule and entity, suppressions)
//! together with its store position and correlation state, so a restart
//! resumes exactly where the last committed alerts end.
//!
//! ```
//! use mamori_detect::RuleSet;
//! let rule = r#"
//! title: Shadow copies deleted
//! id: 11111111-2222-3333-4444-555555555555
//! logsource: { product: windows, category: process_creation }
//! detection:
//!   sel: { CommandLine|contains|all: ['vssadmin', 'delete shadows'] }
//!   condition: sel
//! level: high
//! "#;
//! let (rules, report) = RuleSet::from_sources(&[("example.yml".into(), rule.to_owned())]);
//! assert_eq!(report.rules_loaded, 1);
//!
//! let mut ev = mamori_event::Event::new(Vec::new());
//! ev.logsource = mamori_event::LogSource::new(Some("windows"), Some("sysmon"), Some("process_creation"));
//! ev.fields.push("CommandLine", "vssadmin delete shadows /all /quiet");
//! let hits = rules.evaluate(&ev);
//! assert_eq!(hits[0].title, "Shadow copies deleted");
//! ```

pub mod alerts;
mod event;
mod hunt;
pub mod ioc;
mod live;
mod prefilter;
mod rules;

pub use event::SigmaEvent;
pub use hunt::{Finding, HuntOptions, HuntReport, hunt_events, hunt_files, level_rank};
pub use live::{BatchOutcome, LiveDetector, LiveOptions, entities};
pub use rules::{Correlator, LoadReport, RuleHit, RuleInfo, RuleSet, builtin_rules};
