//! `kill -9` during HTTP ingest loses no acknowledged event (20 cycles; the
//! longer soak is `bench/soak-kill9.sh`).

mod common;

use common::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn kill9_during_http_ingest_loses_no_acknowledged_event() {
    let cycles: usize = std::env::var("MAMORI_KILL9_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = base_config(&data, "[[source]]\nname = \"agent\"\n");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = data.with_extension("toml");
    std::fs::write(&cfg, &config).unwrap();
    let ingest = token(&data, &cfg, &["--source", "agent"]);
    let acked: Arc<Mutex<HashSet<String>>> = Default::default();

    for cycle in 0..cycles {
        let server = Server::start(&data, &config);
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for sender in 0..3 {
            let client = server.client();
            let url = server.url("/api/v1/ingest");
            let (stop, acked, ingest) = (stop.clone(), acked.clone(), ingest.clone());
            senders.push(std::thread::spawn(move || {
                let mut batch = 0;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> = (0..50)
                        .map(|i| format!("p{cycle}x{sender}x{batch}x{i}"))
                        .collect();
                    let body: String = ids
                        .iter()
                        .map(|id| format!("{{\"message\":\"ackprobe {id}\",\"probe\":\"{id}\"}}\n"))
                        .collect();
                    match client.post(&url).bearer_auth(&ingest).body(body).send() {
                        Ok(r) if r.status() == 200 => {
                            acked.lock().unwrap().extend(ids);
                        }
                        _ => break, // the server is gone: nothing acknowledged
                    }
                    batch += 1;
                }
            }));
        }
        // Kill at a different moment each cycle.
        std::thread::sleep(Duration::from_millis(150 + (cycle as u64 * 37) % 400));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.join().unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > cycles * 50,
        "the test sent too little: {}",
        acked.len()
    );

    // Start once more (repairs any torn tail, indexes the rest), stop cleanly.
    let server = Server::start(&data, &config);
    server.stop();

    let o = mamori(&data, &["verify"]);
    assert!(
        o.status.success(),
        "verify after kill -9 cycles: {}{}",
        stdout(&o),
        stderr(&o)
    );

    let o = mamori(
        &data,
        &[
            "search", "ackprobe", "--format", "ndjson", "--limit", "10000000",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut found = HashSet::new();
    for line in stdout(&o).lines() {
        let j: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(p) = j["fields"]["probe"].as_str() {
            found.insert(p.to_owned());
        }
    }
    let lost: Vec<&String> = acked.difference(&found).take(10).collect();
    if !lost.is_empty() {
        let kept = dir.keep();
        panic!(
            "{} of {} acknowledged events not found after {cycles} kill -9 cycles, e.g. {lost:?}; data and server log kept in {}",
            acked.difference(&found).count(),
            acked.len(),
            kept.display()
        );
    }
}

/// A stop asked for while the server is still starting is a clean stop: the
/// store is closed properly and the exit status says so.
#[test]
fn sigterm_right_after_start_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for _ in 0..3 {
        Server::start(&data, &base_config(&data, "")).stop();
    }
}
