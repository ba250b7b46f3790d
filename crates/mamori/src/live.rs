//! Live detection inside `mamori serve`: loads the rules and IOC lists of
//! `[detect]`, resumes the detector where its last committed batch ended,
//! and follows the store as the indexer does.

use crate::config::Config;
use anyhow::{Context, Result};
use mamori_detect::alerts::AlertStore;
use mamori_detect::{LiveDetector, LiveOptions, RuleSet};
use mamori_event::Event;
use mamori_i18n::{Lang, tf};
use mamori_store::Store;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Counters of live detection.
#[derive(Clone)]
pub struct DetectMetrics {
    events: Counter,
    matches: Counter,
    raised: Counter,
    updated: Counter,
    suppressed: Counter,
    lag: Gauge,
    correlation_states: Gauge,
}

impl DetectMetrics {
    /// Registers the counters.
    pub fn new(reg: &mut Registry) -> Self {
        let m = DetectMetrics {
            events: Counter::default(),
            matches: Counter::default(),
            raised: Counter::default(),
            updated: Counter::default(),
            suppressed: Counter::default(),
            lag: Gauge::default(),
            correlation_states: Gauge::default(),
        };
        reg.register(
            "mamori_detect_events",
            "Stored events evaluated by live detection",
            m.events.clone(),
        );
        reg.register(
            "mamori_detect_matches",
            "Rule and IOC matches (before dedup and suppression)",
            m.matches.clone(),
        );
        reg.register("mamori_alerts_raised", "New alerts", m.raised.clone());
        reg.register(
            "mamori_alerts_updated",
            "Repeats that updated an existing alert",
            m.updated.clone(),
        );
        reg.register(
            "mamori_detect_suppressed",
            "Matches silenced by a suppression",
            m.suppressed.clone(),
        );
        reg.register(
            "mamori_detect_lag_events",
            "Stored events not yet evaluated",
            m.lag.clone(),
        );
        reg.register(
            "mamori_detect_correlation_states",
            "Open correlation groups",
            m.correlation_states.clone(),
        );
        m
    }
}

/// Loads the rules and IOC lists of `[detect]` and resumes the detector.
pub fn start_detector(
    cfg: &Config,
    store: &Store,
    alerts: &AlertStore,
    lang: Lang,
) -> Result<LiveDetector> {
    let (rules, report) = RuleSet::load(&cfg.detect.rules, cfg.detect.builtin_rules)
        .context("cannot read the rules of [detect] rules")?;
    if !report.failed.is_empty() {
        eprintln!(
            "{}",
            tf(
                lang,
                "detect.rules_failed",
                &[("failed", &report.failed.len().to_string())]
            )
        );
    }
    let iocs = crate::detect::load_iocs(&cfg.detect.ioc, lang)
        .context("cannot read the IOC lists of [detect] ioc")?;
    let opts = LiveOptions {
        dedup_window_ns: (cfg.detect.dedup_window_minutes.max(1) as i64) * 60_000_000_000,
        min_level: cfg.detect.min_level.clone(),
    };
    let start = *store.committed_seq().borrow();
    let n_iocs = iocs.len();
    let d = LiveDetector::new(rules, iocs, alerts.clone(), opts, start)?;
    eprintln!(
        "{}",
        tf(
            lang,
            "detect.started",
            &[
                ("rules", &d.rules().len().to_string()),
                ("correlations", &report.correlations.to_string()),
                ("iocs", &n_iocs.to_string()),
                ("seq", &d.next_seq().to_string())
            ]
        )
    );
    Ok(d)
}

/// Evaluates what the store holds beyond the detector's position, then
/// keeps following it. Each batch's alerts and the new position are
/// committed together.
pub async fn follow_store_detect(
    store: Store,
    detector: LiveDetector,
    metrics: DetectMetrics,
    shutdown: CancellationToken,
) {
    const BATCH: usize = 4096;
    let mut committed = store.committed_seq();
    let mut detector = Some(detector);
    loop {
        let upto = *committed.borrow_and_update();
        if let Some(d) = detector.take() {
            if d.next_seq() < upto {
                let (s, m, stop) = (store.clone(), metrics.clone(), shutdown.clone());
                let r = tokio::task::spawn_blocking(move || {
                    let mut d = d;
                    let result = detect_range(&s, &mut d, upto, BATCH, &m, &stop);
                    (d, result)
                })
                .await;
                match r {
                    Ok((d, result)) => {
                        if let Err(e) = result {
                            tracing::error!(error = %e, "live detection failed; retrying");
                        }
                        metrics.lag.set(upto.saturating_sub(d.next_seq()) as i64);
                        metrics
                            .correlation_states
                            .set(d.correlation_states() as i64);
                        detector = Some(d);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "live detection stopped");
                        return;
                    }
                }
            } else {
                detector = Some(d);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = committed.changed() => {
                // Let a burst settle into one batch.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

fn detect_range(
    store: &Store,
    d: &mut LiveDetector,
    upto: u64,
    batch_size: usize,
    m: &DetectMetrics,
    stop: &CancellationToken,
) -> Result<()> {
    let mut batch = Vec::with_capacity(batch_size);
    let flush = |batch: &mut Vec<(u64, Event)>, d: &mut LiveDetector| -> Result<()> {
        let out = d.process(batch)?;
        batch.clear();
        m.events.inc_by(out.events);
        m.matches.inc_by(out.matches);
        m.raised.inc_by(out.raised);
        m.updated.inc_by(out.updated);
        m.suppressed.inc_by(out.suppressed);
        if out.raised > 0 {
            tracing::info!(raised = out.raised, updated = out.updated, "alerts raised");
        }
        Ok(())
    };
    for item in store.scan(d.next_seq()) {
        let (seq, ev) = item?;
        if seq >= upto {
            break;
        }
        batch.push((seq, ev));
        if batch.len() == batch_size {
            flush(&mut batch, d)?;
            // Stop between batches: what is left resumes at the next start.
            if stop.is_cancelled() {
                return Ok(());
            }
        }
    }
    flush(&mut batch, d)
}
