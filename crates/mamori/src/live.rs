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
use mamori_store::handoff::Handoff;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
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
    handed_on: Counter,
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
            handed_on: Counter::default(),
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
            "mamori_detect_handed_on_events",
            "Events live detection took already decoded from the indexer",
            m.handed_on.clone(),
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
/// committed together. Events the indexer has just decoded are taken from
/// `handoff` rather than decoded again.
pub async fn follow_store_detect(
    store: Store,
    detector: LiveDetector,
    handoff: Option<Arc<Handoff>>,
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
                let h = handoff.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let mut d = d;
                    let result = detect_range(&s, h.as_deref(), &mut d, upto, BATCH, &m, &stop);
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

/// Evaluates the stored events from the detector's position up to `upto`,
/// and on past it while at least a batch more is stored (a flood is one
/// pass, with no pause between passes).
fn detect_range(
    store: &Store,
    handoff: Option<&Handoff>,
    d: &mut LiveDetector,
    upto: u64,
    batch_size: usize,
    m: &DetectMetrics,
    stop: &CancellationToken,
) -> Result<()> {
    let flush = |batch: &[(u64, Event)], d: &mut LiveDetector| -> Result<()> {
        let out = d.process(batch)?;
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
    let mut batch = Vec::with_capacity(batch_size);
    // The scan this loop reads with, and the next event it yields.
    let mut scan: Option<(mamori_store::Scan, u64)> = None;
    let mut upto = upto;
    loop {
        // Stop between batches: what is left resumes at the next start.
        if stop.is_cancelled() {
            return Ok(());
        }
        let next = d.next_seq();
        if next >= upto {
            // In a flood the pass goes on to what was stored while it ran,
            // rather than end and leave the core idle until the next one.
            let stored = *store.committed_seq().borrow();
            if stored.saturating_sub(next) < batch_size as u64 {
                break;
            }
            upto = stored;
            m.lag.set((upto - next) as i64);
            m.correlation_states.set(d.correlation_states() as i64);
        }
        if let Some((decoded, i)) = handoff.and_then(|h| h.take(next)) {
            flush(&decoded[i..], d)?;
            m.handed_on.inc_by((decoded.len() - i) as u64);
            continue;
        }
        let (mut events, mut at) = match scan.take() {
            Some((s, at)) if at == next => (s, at),
            _ => (store.scan(next), next),
        };
        for item in events.by_ref() {
            let (seq, ev) = item?;
            at = seq + 1;
            if seq >= upto {
                break;
            }
            batch.push((seq, ev));
            if batch.len() == batch_size {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        flush(&batch, d)?;
        batch.clear();
        scan = Some((events, at));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_detect::alerts::AlertQuery;
    use mamori_detect::ioc::IocSet;
    use mamori_store::{Durability, StoreOptions};

    /// Windows logons, every 97th a cleared Security log (a built-in rule),
    /// on a few hosts.
    fn events(n: u64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let mut e = Event::new(format!("event {i}").into_bytes());
                e.time_ns = 1_795_000_000_000_000_000 + i as i64 * 1_000_000;
                e.host = format!("ws{:02}", i % 7).into();
                e.logsource.product = Some("windows".into());
                e.logsource.service = Some("security".into());
                e.fields.push("Channel", "Security");
                let id = if i % 97 == 0 { 1102 } else { 4624 };
                e.fields.push("EventID", mamori_event::Value::Int(id));
                e.fields.push("SubjectUserName", format!("user{}", i % 5));
                e
            })
            .collect()
    }

    fn detector(dir: &std::path::Path) -> LiveDetector {
        let (rules, _) = RuleSet::load(&[], true).unwrap();
        let alerts = AlertStore::open(&dir.join("alerts.db")).unwrap();
        LiveDetector::new(rules, IocSet::default(), alerts, LiveOptions::default(), 0).unwrap()
    }

    fn alert_counts(dir: &std::path::Path) -> Vec<(String, String, u64)> {
        let alerts = AlertStore::open(&dir.join("alerts.db")).unwrap();
        let mut v: Vec<_> = alerts
            .list(&AlertQuery::default())
            .unwrap()
            .into_iter()
            .map(|a| (a.rule_key, a.entities.host, a.count))
            .collect();
        v.sort();
        v
    }

    /// In a flood held back at the senders (little waits, but senders are
    /// held), an indexing pass takes the events as they were written and
    /// goes on, waiting a moment when it has caught up, instead of ending
    /// with a commit each time; once the flood is over it ends.
    #[test]
    fn an_indexing_pass_goes_on_through_a_held_flood() {
        use crate::commands::{Follow, index_range};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), StoreOptions::default()).unwrap();
        let index = mamori_search::Index::open(&dir.path().join("index")).unwrap();
        // A reading follower with thousands of events waiting: senders are
        // held, a flood has begun.
        let reading = store.follow(0);
        store
            .append_blocking(events(4200), Durability::Buffered)
            .unwrap();
        assert!(store.holds_streams());
        drop(reading);
        let sender = {
            let store = store.clone();
            std::thread::spawn(move || {
                // Once the pass takes events, held as a TCP listener is
                // while thousands wait for it, and sending once they are
                // taken.
                while store.stats().followed_from_memory == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                for _ in 0..3 {
                    while store.holds_streams() {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    store
                        .append_blocking(events(4200), Durability::Buffered)
                        .unwrap();
                }
            })
        };
        // Never this much waits: without the held flood it would end at
        // its first end, 1000.
        let follow = Some(Follow {
            more: 1_000_000,
            flood: 1_000_000,
        });
        let n = index_range(&store, &index, 1000, follow, None, &|| false).unwrap();
        sender.join().unwrap();
        assert_eq!(n, 16_800, "one pass through the whole flood");
        assert_eq!(index.indexed_upto(), 16_800);
        assert!(index.merges_held(), "a held flood holds merges back");
        // At least the first burst; a later one can be read from disk when
        // the pass sees it stored a moment before the writer hands it on.
        assert!(store.stats().followed_from_memory >= 4200);
        store.shutdown().unwrap();
    }

    /// An indexing pass that follows a flood goes on to what was stored
    /// while it ran and holds merges back; without `follow` (or with too
    /// little waiting) it ends where it was to end.
    #[test]
    fn an_indexing_pass_follows_a_flood() {
        use crate::commands::{Follow, index_range};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), StoreOptions::default()).unwrap();
        store
            .append_blocking(events(3000), Durability::Buffered)
            .unwrap();
        let index = mamori_search::Index::open(&dir.path().join("index")).unwrap();
        let follow = |more, flood| Some(Follow { more, flood });

        assert_eq!(
            index_range(&store, &index, 1000, None, None, &|| false).unwrap(),
            1000
        );
        assert_eq!(index.indexed_upto(), 1000);
        let n = index_range(&store, &index, 2000, follow(1001, 5000), None, &|| false).unwrap();
        assert_eq!(
            (n, index.indexed_upto()),
            (1000, 2000),
            "1000 waiting: not enough"
        );
        assert!(!index.merges_held());

        store
            .append_blocking(events(3000), Durability::Buffered)
            .unwrap();
        let handoff = Handoff::new();
        let n = index_range(
            &store,
            &index,
            2500,
            follow(500, 3500),
            Some(&handoff),
            &|| false,
        )
        .unwrap();
        assert_eq!(
            (n, index.indexed_upto()),
            (4000, 6000),
            "on to all that is stored"
        );
        assert!(
            index.merges_held(),
            "3500 waiting at its first end: a flood"
        );
        let q = mamori_search::parse_query("ws03").unwrap();
        let found = index.search(&q, Default::default(), 0, 0).unwrap().total;
        assert_eq!(found, 2 * (0..3000).filter(|i| i % 7 == 3).count() as u64);
        store.shutdown().unwrap();
    }

    /// Detection that takes what the indexer decoded (while the indexer
    /// runs beside it) evaluates every event once and raises the same
    /// alerts as detection reading the store itself.
    #[test]
    fn detection_through_the_handoff_sees_every_event_once() {
        const N: u64 = 30_000;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), StoreOptions::default()).unwrap();
        for chunk in events(N).chunks(5000) {
            store
                .append_blocking(chunk.to_vec(), Durability::Buffered)
                .unwrap();
        }
        let upto = *store.committed_seq().borrow();
        assert_eq!(upto, N);
        let stop = CancellationToken::new();

        let alone = dir.path().join("alone");
        std::fs::create_dir_all(&alone).unwrap();
        let mut d = detector(&alone);
        let m = DetectMetrics::new(&mut Registry::default());
        detect_range(&store, None, &mut d, upto, 4096, &m, &stop).unwrap();
        assert_eq!(m.events.get(), N);

        let with = dir.path().join("with");
        std::fs::create_dir_all(&with).unwrap();
        let mut d = detector(&with);
        let m2 = DetectMetrics::new(&mut Registry::default());
        let index = mamori_search::Index::open(&dir.path().join("index")).unwrap();
        let handoff = Handoff::new();
        std::thread::scope(|s| {
            let indexer = s.spawn(|| {
                crate::commands::index_range(&store, &index, upto, None, Some(&handoff), &|| false)
            });
            detect_range(&store, Some(&handoff), &mut d, upto, 4096, &m2, &stop).unwrap();
            assert_eq!(indexer.join().unwrap().unwrap(), N);
        });
        assert_eq!(m2.events.get(), N, "every event evaluated once");
        assert!(m2.handed_on.get() > 0, "some taken from the indexer");
        assert_eq!(m.handed_on.get(), 0);
        assert_eq!(m2.matches.get(), m.matches.get());
        assert!(m.matches.get() > 300);
        assert_eq!(alert_counts(&with), alert_counts(&alone));
        assert_eq!(d.next_seq(), N);
        store.shutdown().unwrap();
    }

    /// A pass that reaches its end while a flood goes on evaluates what
    /// was stored meanwhile in the same pass; less than a batch more is
    /// left for the next pass, which gathers a burst first.
    #[test]
    fn a_detection_pass_goes_on_through_a_flood() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), StoreOptions::default()).unwrap();
        let all = events(12_000);
        store
            .append_blocking(all[..2000].to_vec(), Durability::Buffered)
            .unwrap();
        let first_end = *store.committed_seq().borrow();
        // Stored after the pass was given its end: a flood.
        store
            .append_blocking(all[2000..11_000].to_vec(), Durability::Buffered)
            .unwrap();
        let stop = CancellationToken::new();
        let mut d = detector(dir.path());
        let m = DetectMetrics::new(&mut Registry::default());
        detect_range(&store, None, &mut d, first_end, 4096, &m, &stop).unwrap();
        assert_eq!(d.next_seq(), 11_000, "went on to what was stored");
        assert_eq!(m.events.get(), 11_000);
        // A trickle: the pass ends where it was to end.
        store
            .append_blocking(all[11_000..].to_vec(), Durability::Buffered)
            .unwrap();
        detect_range(&store, None, &mut d, 11_500, 4096, &m, &stop).unwrap();
        assert_eq!(d.next_seq(), 11_500);
        store.shutdown().unwrap();
    }
}
