//! The store's follower: events taken as the writer wrote them are the
//! events stored, in order, whether they come from memory or from disk, and
//! stream listeners are held back only while a follower reads.

use mamori_event::Event;
use mamori_store::{Durability, Store, StoreOptions};

fn events(from: u64, n: u64) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            let mut e = Event::new(format!("event {i}").into_bytes());
            e.fields.push("n", mamori_event::Value::Int(i as i64));
            e
        })
        .collect()
}

fn raws(
    items: impl Iterator<Item = Result<(u64, Event), mamori_store::StoreError>>,
) -> Vec<(u64, Vec<u8>)> {
    items.map(|r| r.map(|(s, e)| (s, e.raw)).unwrap()).collect()
}

#[test]
fn the_follower_takes_what_was_written_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    // Registered before anything is written.
    drop(store.follow(0));
    let mut at = 0;
    for n in [10, 500, 3] {
        store
            .append_blocking(events(at, n), Durability::Buffered)
            .unwrap();
        at += n;
    }
    let followed = raws(store.follow(0));
    assert_eq!(followed, raws(store.scan(0)));
    assert_eq!(followed.len(), 513);
    assert_eq!(followed[512], (512, b"event 512".to_vec()));
    assert_eq!(store.stats().followed_from_memory, 513);
    store.shutdown().unwrap();
}

#[test]
fn a_follower_behind_what_memory_keeps_reads_the_rest_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    drop(store.follow(0));
    // More than memory keeps (16,384 events) while the follower is away.
    let mut at = 0;
    while at < 40_000 {
        store
            .append_blocking(events(at, 1000), Durability::Buffered)
            .unwrap();
        at += 1000;
    }
    let followed = raws(store.follow(0));
    assert_eq!(followed.len(), 40_000);
    assert!(
        followed
            .iter()
            .enumerate()
            .all(|(i, (s, _))| *s == i as u64)
    );
    assert_eq!(followed, raws(store.scan(0)));
    let from_memory = store.stats().followed_from_memory;
    assert!(from_memory > 0 && from_memory <= 16_384, "{from_memory}");
    store.shutdown().unwrap();
}

#[test]
fn streams_are_held_only_while_a_follower_reads_and_has_events_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(!store.holds_streams(), "no follower");
    let mut follower = store.follow(0);
    store
        .append_blocking(events(0, 100), Durability::Buffered)
        .unwrap();
    assert!(!store.holds_streams(), "few events waiting");
    store
        .append_blocking(events(100, 5000), Durability::Buffered)
        .unwrap();
    assert!(
        store.holds_streams(),
        "thousands waiting for a reading follower"
    );
    assert!(store.in_flood());
    for _ in 0..5100 {
        follower.next().unwrap().unwrap();
    }
    assert!(!store.holds_streams(), "taken");
    store
        .append_blocking(events(5100, 5000), Durability::Buffered)
        .unwrap();
    assert!(store.holds_streams());
    drop(follower);
    assert!(!store.holds_streams(), "between passes nobody is held");
    store.shutdown().unwrap();
}

#[test]
fn a_follower_a_little_out_of_step_is_waited_for_until_it_is_back_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let mut follower = store.follow(0);
    // More than memory keeps (16,384 events) arrive while the follower is
    // busy, as while it commits: it is out of step, a little.
    let mut at = 0;
    while at < 30_000 {
        store
            .append_blocking(events(at, 1000), Durability::Buffered)
            .unwrap();
        at += 1000;
    }
    assert!(store.holds_streams(), "held while it catches up");
    // It reads what memory no longer keeps from disk, then takes the rest
    // from memory, and nothing waits for it any more.
    let followed = raws(follower.by_ref().take(30_000));
    assert_eq!(followed, raws(store.scan(0)));
    assert!(!store.holds_streams(), "caught up");
    let from_memory = store.stats().followed_from_memory;
    assert!(from_memory >= 10_000, "back in step: {from_memory}");
    // Far behind (a rebuild of the index), nobody is held for it.
    while at < 130_000 {
        store
            .append_blocking(events(at, 1000), Durability::Buffered)
            .unwrap();
        at += 1000;
    }
    assert!(!store.holds_streams(), "far behind");
    drop(follower);
    store.shutdown().unwrap();
}
