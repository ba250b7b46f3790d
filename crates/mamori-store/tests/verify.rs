//! `verify` finds every kind of tampering, names where, and passes what is legitimate.

use mamori_event::Event;
use mamori_store::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn ev(i: u64, source: &str) -> Event {
    let mut e = Event::new(format!("<13> event number {i} from {source}").into_bytes());
    e.source = source.into();
    e.fields.insert("n", i as i64);
    e
}

/// A store with `segments` sealed segments of `blocks` blocks each, plus an
/// open one with one block.
fn build(dir: &Path, segments: u64, blocks: u64) -> Store {
    let opts = StoreOptions {
        segment_max_bytes: 1, // seal after every append group
        block_max_bytes: 200,
        ..StoreOptions::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let mut n = 0;
    for _ in 0..segments {
        let evs: Vec<Event> = (0..blocks * 3)
            .map(|_| {
                n += 1;
                ev(n, "fw")
            })
            .collect();
        store.append_blocking(evs, Durability::Sync).unwrap();
        // The writer seals after the append; wait until it has.
        wait_segments(dir, segments);
    }
    store
}

fn wait_segments(dir: &Path, _n: u64) {
    std::thread::sleep(Duration::from_millis(30));
    let _ = dir;
}

fn segs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mseg"))
        .collect();
    v.sort();
    v
}

fn run(dir: &Path, cp: Option<Checkpoint>) -> VerifyReport {
    verify(dir, &VerifyOptions { checkpoint: cp }, &mut |_, _| {}).unwrap()
}

fn kinds(r: &VerifyReport) -> Vec<(Option<u64>, Option<u64>, ProblemKind)> {
    r.problems
        .iter()
        .map(|p| (p.segment, p.block, p.kind))
        .collect()
}

#[test]
fn an_intact_store_verifies_and_survives_reopen() {
    let d = tempfile::tempdir().unwrap();
    let s = build(d.path(), 3, 2);
    s.shutdown().unwrap();
    let r = run(d.path(), None);
    assert!(r.is_ok(), "{:?}", r.problems);
    assert!(r.segments >= 3);
    assert_eq!(r.events, 18);
    let s = Store::open(d.path(), StoreOptions::default()).unwrap();
    let range = s
        .append_blocking(vec![ev(99, "fw")], Durability::Sync)
        .unwrap();
    assert_eq!(range.start, 18, "sequence numbers continue after reopen");
    assert_eq!(s.get(&[0, 17, 18]).unwrap().len(), 3);
    assert_eq!(s.scan(0).count(), 19);
    s.shutdown().unwrap();
    assert!(run(d.path(), None).is_ok());
}

#[test]
fn one_flipped_payload_byte_is_found_in_its_block() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 3, 2).shutdown().unwrap();
    let p = &segs(d.path())[1];
    let mut b = std::fs::read(p).unwrap();
    let at = b.len() - 100; // inside the seal's payload or the last events block
    b[at] ^= 1;
    std::fs::write(p, b).unwrap();
    let r = run(d.path(), None);
    assert!(!r.is_ok());
    assert!(
        r.problems
            .iter()
            .any(|p| p.segment == Some(2) && p.kind == ProblemKind::Changed),
        "{:?}",
        kinds(&r)
    );
    assert!(
        r.problems.iter().all(|p| p.segment == Some(2)),
        "{:?}",
        kinds(&r)
    );
}

#[test]
fn one_flipped_header_byte_is_found() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 2, 2).shutdown().unwrap();
    let p = &segs(d.path())[0];
    let mut b = std::fs::read(p).unwrap();
    b[64 + 20] ^= 0x10; // first block header: first_seq
    std::fs::write(p, b).unwrap();
    let r = run(d.path(), None);
    assert!(
        r.problems
            .iter()
            .any(|p| p.segment == Some(1) && p.block == Some(0) && p.kind == ProblemKind::Changed),
        "{:?}",
        kinds(&r)
    );
    // The segment header itself.
    let p = &segs(d.path())[1];
    let mut b = std::fs::read(p).unwrap();
    b[30] ^= 1;
    std::fs::write(p, b).unwrap();
    let r = run(d.path(), None);
    assert!(
        r.problems
            .iter()
            .any(|p| p.segment == Some(2) && p.kind == ProblemKind::Changed),
        "{:?}",
        kinds(&r)
    );
}

#[test]
fn a_truncated_segment_is_found() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 3, 2).shutdown().unwrap();
    let p = &segs(d.path())[1];
    let len = std::fs::metadata(p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(len - 40)
        .unwrap();
    let r = run(d.path(), None);
    assert!(
        r.problems
            .iter()
            .any(|p| p.segment == Some(2) && p.kind == ProblemKind::Truncated),
        "{:?}",
        kinds(&r)
    );
}

#[test]
fn a_deleted_middle_segment_is_found() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 4, 1).shutdown().unwrap();
    std::fs::remove_file(&segs(d.path())[1]).unwrap();
    let r = run(d.path(), None);
    assert_eq!(
        kinds(&r),
        vec![(Some(2), None, ProblemKind::Missing)],
        "{:?}",
        r.problems
    );
    assert!(r.problems[0].to_string().contains("segment 2 is missing"));
}

#[test]
fn two_swapped_segments_are_found() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 4, 1).shutdown().unwrap();
    let s = segs(d.path());
    let tmp = s[1].with_extension("tmp");
    std::fs::rename(&s[1], &tmp).unwrap();
    std::fs::rename(&s[2], &s[1]).unwrap();
    std::fs::rename(&tmp, &s[2]).unwrap();
    let r = run(d.path(), None);
    let k = kinds(&r);
    assert!(
        k.contains(&(Some(2), None, ProblemKind::Reordered)),
        "{k:?}"
    );
    assert!(
        k.contains(&(Some(3), None, ProblemKind::Reordered)),
        "{k:?}"
    );
}

/// Builds a forged events block that chains correctly to the block before it.
fn forge_after_first_block(path: &Path) -> Vec<u8> {
    let b = std::fs::read(path).unwrap();
    let seg_header = &b[..64];
    let first_len = 112 + u32::from_le_bytes(b[64 + 8..64 + 12].try_into().unwrap()) as usize;
    let first_hash: [u8; 32] = b[64 + 80..64 + 112].try_into().unwrap();
    let mut e = Event::new(b"forged: nothing happened here".to_vec());
    e.source = "fw".into();
    let mut raw = Vec::new();
    e.encode(&mut raw);
    let payload = zstd::bulk::compress(&raw, 3).unwrap();
    let mut h = vec![0u8; 112];
    h[0..4].copy_from_slice(b"MBLK");
    h[4] = 1;
    h[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&(raw.len() as u32).to_le_bytes());
    h[16..24].copy_from_slice(&3u64.to_le_bytes());
    h[24..28].copy_from_slice(&1u32.to_le_bytes());
    h[48..80].copy_from_slice(&first_hash);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&first_hash);
    hasher.update(seg_header);
    hasher.update(&h[..48]);
    hasher.update(&payload);
    h[80..112].copy_from_slice(hasher.finalize().as_bytes());
    let mut out = b[..64 + first_len].to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&b[64 + first_len..]);
    out
}

#[test]
fn a_forged_block_with_a_valid_hash_is_found() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 3, 2).shutdown().unwrap();
    let p = &segs(d.path())[1];
    let forged = forge_after_first_block(p);
    std::fs::write(p, forged).unwrap();
    let r = run(d.path(), None);
    let k = kinds(&r);
    assert!(
        k.contains(&(Some(2), Some(1), ProblemKind::Inserted)),
        "{k:?}"
    );
}

#[test]
fn a_checkpoint_proves_the_newest_data_was_not_cut_off() {
    let d = tempfile::tempdir().unwrap();
    let s = build(d.path(), 4, 1);
    let cp = s.checkpoint().unwrap();
    let cp = Checkpoint::parse(&cp.to_line()).unwrap();
    s.shutdown().unwrap();
    assert!(run(d.path(), Some(cp.clone())).is_ok());
    // The intruder removes the newest segments: the rest is a consistent chain…
    let all = segs(d.path());
    for p in &all[2..] {
        std::fs::remove_file(p).unwrap();
    }
    assert!(
        run(d.path(), None)
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::Truncated),
        "a chain cut at the end looks consistent or merely unsealed"
    );
    // …but not against the checkpoint.
    let r = run(d.path(), Some(cp));
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == ProblemKind::CheckpointNotFound),
        "{:?}",
        kinds(&r)
    );
    // A forged checkpoint is refused.
    let mut line = s_line_tamper();
    line.push(' ');
    assert!(Checkpoint::parse(&line).is_err());
}

fn s_line_tamper() -> String {
    "{\"v\":1,\"segment\":1,\"block\":0,\"seq\":5,\"hash\":\"00\",\"time\":\"x\",\"node_key\":\"00\",\"signature\":\"00\"}".into()
}

#[test]
fn retention_deletes_old_segments_and_records_it() {
    let d = tempfile::tempdir().unwrap();
    let s = build(d.path(), 4, 1);
    let now = mamori_event::now_ns();
    let policy = RetentionPolicy {
        default_days: 30,
        per_source_days: Default::default(),
    };
    let rep = s.apply_retention(now, &policy).unwrap();
    assert!(rep.deleted_segments.is_empty(), "nothing is old yet");
    let later = now + 31 * 86_400_000_000_000;
    let keep_fw = RetentionPolicy {
        default_days: 30,
        per_source_days: [("fw".to_string(), 365)].into(),
    };
    assert!(
        s.apply_retention(later, &keep_fw)
            .unwrap()
            .deleted_segments
            .is_empty(),
        "fw is kept a year"
    );
    let rep = s.apply_retention(later, &policy).unwrap();
    assert!(!rep.deleted_segments.is_empty());
    assert!(rep.first_kept_seq.is_none() || rep.first_kept_seq > Some(0));
    s.shutdown().unwrap();
    let r = run(d.path(), None);
    assert!(
        r.is_ok(),
        "retention recorded in the chain passes verify: {:?}",
        r.problems
    );
}

#[test]
fn a_torn_tail_is_cut_back_and_the_repair_recorded() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path(), StoreOptions::default()).unwrap();
    s.append_blocking((0..10).map(|i| ev(i, "fw")).collect(), Durability::Sync)
        .unwrap();
    s.shutdown().unwrap();
    drop(s);
    let p = &segs(d.path())[0];
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    use std::io::Write;
    f.write_all(b"MBLK\x01\x00\x00\x00half a block that never finished")
        .unwrap();
    drop(f);
    assert!(
        !run(d.path(), None).is_ok(),
        "verify sees the torn block before the restart"
    );
    let s = Store::open(d.path(), StoreOptions::default()).unwrap();
    assert_eq!(
        s.append_blocking(vec![ev(10, "fw")], Durability::Sync)
            .unwrap()
            .start,
        10
    );
    s.shutdown().unwrap();
    let r = run(d.path(), None);
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.events, 11);
}

#[test]
fn disk_full_pauses_without_corruption_and_resumes() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(d.path(), StoreOptions::default()).unwrap();
    s.append_blocking((0..5).map(|i| ev(i, "fw")).collect(), Durability::Sync)
        .unwrap();
    s.inject_write_failures(3);
    let s2 = s.clone();
    let t = std::thread::spawn(move || {
        s2.append_blocking((5..10).map(|i| ev(i, "fw")).collect(), Durability::Sync)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.stats().paused, "paused while writes fail");
    let r = t.join().unwrap().unwrap();
    assert_eq!((r.start, r.end), (5, 10));
    assert!(!s.stats().paused, "resumed");
    s.shutdown().unwrap();
    let r = run(d.path(), None);
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!(r.events, 10);
}

/// Copies a store directory as a crash would leave it (the store still open).
fn crash_image(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dest).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_segment_reopened_after_a_restart_keeps_what_it_held_before() {
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("live");
    let s = Store::open(&live, StoreOptions::default()).unwrap();
    s.append_blocking((0..20).map(|i| ev(i, "vpn")).collect(), Durability::Sync)
        .unwrap();
    let crashed = d.path().join("crashed");
    crash_image(&live, &crashed);
    s.shutdown().unwrap();

    // After the crash the open segment is reopened; a firewall event makes it
    // full, so it is sealed.
    let small = StoreOptions {
        segment_max_bytes: 1,
        ..StoreOptions::default()
    };
    let s = Store::open(&crashed, small.clone()).unwrap();
    s.append_blocking(vec![ev(20, "fw")], Durability::Sync)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.shutdown().unwrap();
    drop(s);

    // A month later the firewall's 30 days are over but the VPN's year is not:
    // the segment holds VPN events, so it stays.
    let s = Store::open(&crashed, small).unwrap();
    let policy = RetentionPolicy {
        default_days: 30,
        per_source_days: [("vpn".to_string(), 365)].into(),
    };
    let later = mamori_event::now_ns() + 31 * 86_400_000_000_000;
    let rep = s.apply_retention(later, &policy).unwrap();
    assert!(
        rep.deleted_segments.is_empty(),
        "VPN events kept for a year were deleted after a month: {rep:?}"
    );
    assert_eq!(s.scan(0).count(), 21);
    s.shutdown().unwrap();
    let r = run(&crashed, None);
    assert!(r.is_ok(), "{:?}", r.problems);
}
