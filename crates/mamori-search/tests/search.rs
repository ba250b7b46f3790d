//! The query language over a real index, with Japanese log lines.

use mamori_event::{Event, Value};
use mamori_search::{Index, TimeRange, parse_query, parse_time_bound};

const T0: i64 = 1_795_000_000_000_000_000;
const MIN: i64 = 60_000_000_000;

fn ev(minute: i64, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(b"raw".to_vec());
    e.time_ns = T0 + minute * MIN;
    e.source = "rtx".into();
    for (k, v) in fields {
        e.fields.push(*k, v.clone());
    }
    e
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn fixture() -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let events = [
        ev(
            0,
            &[
                ("user.name", s("yamada")),
                ("event.outcome", s("failure")),
                ("source.ip", s("203.0.113.7")),
                ("message", s("[L2TP] 認証に失敗しました: ユーザー yamada")),
            ],
        ),
        ev(
            1,
            &[
                ("user.name", s("yamada")),
                ("event.outcome", s("success")),
                ("source.ip", s("203.0.113.7")),
                ("destination.port", Value::Int(1701)),
            ],
        ),
        ev(
            2,
            &[
                ("user.name", s("suzuki")),
                ("event.outcome", s("failure")),
                ("source.ip", s("10.1.2.3")),
                ("destination.port", Value::Int(3389)),
                ("message", s("リモートデスクトップ接続を拒否")),
            ],
        ),
        ev(
            3,
            &[
                ("TargetUserName", s("Administrator")),
                ("LogonType", s("10")),
                ("IpAddress", s("::ffff:10.9.8.7")),
            ],
        ),
    ];
    for (i, e) in events.iter().enumerate() {
        index.add(i as u64, e).unwrap();
    }
    index.commit(events.len() as u64).unwrap();
    (dir, index)
}

fn seqs(index: &Index, q: &str) -> Vec<u64> {
    let q = parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut v: Vec<u64> = index
        .search(&q, TimeRange::default(), 100, 0)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.seq)
        .collect();
    v.sort();
    v
}

#[test]
fn fields_words_and_booleans() {
    let (_d, i) = fixture();
    assert_eq!(seqs(&i, "user.name:yamada AND event.outcome:failure"), [0]);
    assert_eq!(seqs(&i, "user.name:yamada"), [0, 1]);
    assert_eq!(seqs(&i, "USER.NAME:Yamada NOT event.outcome:failure"), [1]);
    assert_eq!(seqs(&i, "suzuki OR administrator"), [2, 3]);
    assert_eq!(seqs(&i, "(yamada OR suzuki) -failure"), [1]);
    assert_eq!(seqs(&i, "yama*"), [0, 1]);
    assert_eq!(seqs(&i, "user.name:suz*"), [2]);
    assert_eq!(seqs(&i, "source:rtx"), [0, 1, 2, 3]);
    assert_eq!(seqs(&i, ""), [0, 1, 2, 3]);
    assert_eq!(seqs(&i, "logontype:10 targetusername:administrator"), [3]);
}

#[test]
fn japanese_words_are_found() {
    let (_d, i) = fixture();
    assert_eq!(seqs(&i, "認証"), [0]);
    assert_eq!(seqs(&i, "失敗"), [0]);
    assert_eq!(seqs(&i, "認証に失敗"), [0]);
    assert_eq!(seqs(&i, "\"認証に失敗\""), [0]);
    assert_eq!(seqs(&i, "デスクトップ"), [2]);
    assert_eq!(seqs(&i, "message:接続"), [2]);
    assert_eq!(seqs(&i, "拒否 OR ユーザー"), [0, 2]);
    assert!(
        seqs(&i, "失敗認証").is_empty(),
        "order matters inside a word"
    );
}

#[test]
fn ips_cidrs_and_ranges() {
    let (_d, i) = fixture();
    assert_eq!(seqs(&i, "203.0.113.7"), [0, 1]);
    assert_eq!(seqs(&i, "source.ip:10.0.0.0/8"), [2]);
    assert_eq!(seqs(&i, "10.0.0.0/8"), [2, 3]);
    assert_eq!(seqs(&i, "ipaddress:10.9.0.0/16"), [3]);
    assert_eq!(seqs(&i, "source.ip:203.0.113.0/24"), [0, 1]);
    assert_eq!(seqs(&i, "destination.port:[1 TO 2000]"), [1]);
    assert_eq!(seqs(&i, "destination.port:>=3389"), [2]);
    assert_eq!(seqs(&i, "destination.port:<3389"), [1]);
    assert_eq!(seqs(&i, "destination.port:3389"), [2]);
}

#[test]
fn time_range_order_histogram_and_pages() {
    let (_d, i) = fixture();
    let all = parse_query("").unwrap();
    let r = i.search(&all, TimeRange::default(), 2, 0).unwrap();
    assert_eq!(r.total, 4);
    let page: Vec<u64> = r.hits.iter().map(|h| h.seq).collect();
    assert_eq!(page, [3, 2], "newest first");
    let r = i.search(&all, TimeRange::default(), 2, 2).unwrap();
    assert_eq!(r.hits.iter().map(|h| h.seq).collect::<Vec<_>>(), [1, 0]);
    let range = TimeRange {
        from_ns: Some(T0 + MIN),
        to_ns: Some(T0 + 3 * MIN),
    };
    let r = i.search(&all, range, 10, 0).unwrap();
    assert_eq!(r.total, 2);
    let h = i.histogram(&all, TimeRange::default(), 4).unwrap();
    assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 4);
    assert_eq!(h.len(), 4);
    assert_eq!(h[0].start_ns, T0);
    let from = parse_time_bound("2026-11-24", T0).unwrap();
    assert!(from > 0);
}

#[test]
fn commit_payload_survives_reopen_and_retention_deletes() {
    let (d, i) = fixture();
    assert_eq!(i.indexed_upto(), 4);
    drop(i);
    let i = Index::open(d.path()).unwrap();
    assert_eq!(i.indexed_upto(), 4);
    assert_eq!(i.stats().docs, 4);
    i.delete_seq_below(2).unwrap();
    assert_eq!(seqs(&i, ""), [2, 3]);
    let ro = Index::open_read_only(d.path()).unwrap();
    assert_eq!(ro.stats().docs, 2);
    assert!(Index::open(d.path()).is_err(), "a second writer is refused");
    i.clear().unwrap();
    assert_eq!(i.indexed_upto(), 0);
    assert_eq!(i.stats().docs, 0);
}

/// Held merges wait; let go, the merges that are due run.
#[test]
fn merges_held_back_run_when_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let i = Index::open(dir.path()).unwrap();
    i.hold_merges(true).unwrap();
    assert!(i.merges_held());
    // One small segment per commit: tantivy would merge eight of them.
    for n in 0..12u64 {
        i.add(n, &ev(n as i64, &[("user.name", s("yamada"))]))
            .unwrap();
        i.commit(n + 1).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    i.commit(12).unwrap();
    assert_eq!(i.segments(), 12, "none merged while held");
    i.hold_merges(false).unwrap();
    assert!(!i.merges_held());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while i.segments() >= 12 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        i.commit(12).unwrap();
    }
    assert!(i.segments() < 12, "merged once let go");
    assert_eq!(i.stats().docs, 12);
    assert_eq!(seqs(&i, "yamada").len(), 12);
}

/// Retention may commit while events are being indexed; that commit records
/// those events as indexed, so a restart does not add them a second time.
#[test]
fn a_commit_in_the_middle_of_indexing_records_what_it_made_durable() {
    let (d, i) = fixture();
    let more = ev(4, &[("message", s("fifth"))]);
    i.add(4, &more).unwrap();
    let sixth = ev(5, &[("message", s("sixth"))]);
    i.add(5, &sixth).unwrap();
    i.delete_seq_below(1).unwrap();
    assert_eq!(i.indexed_upto(), 6);
    drop(i);
    let i = Index::open(d.path()).unwrap();
    assert_eq!(
        i.indexed_upto(),
        6,
        "the restart resumes after the last event added"
    );
    assert_eq!(seqs(&i, ""), [1, 2, 3, 4, 5]);
}

#[test]
fn words_phrases_and_prefixes_keep_to_their_field_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let events = [
        ev(
            0,
            &[
                ("CommandLine", s("vssadmin delete shadows /all")),
                ("Image", s("C:\\Windows\\System32\\vssadmin.exe")),
            ],
        ),
        // "delete" ends one value and "shadows" starts the next.
        ev(1, &[("a", s("please delete")), ("b", s("shadows later"))]),
        ev(2, &[("odd+name[1]", s("shadowsocks"))]),
    ];
    for (i, e) in events.iter().enumerate() {
        index.add(i as u64, e).unwrap();
    }
    index.commit(events.len() as u64).unwrap();
    let found = |q: &str| seqs(&index, q);
    assert_eq!(found("\"delete shadows\""), [0]);
    assert_eq!(found("delete shadows"), [0, 1]);
    assert_eq!(found("shadow"), Vec::<u64>::new(), "a word is whole");
    assert_eq!(found("shadow*"), [0, 1, 2]);
    assert_eq!(found("commandline:shadows"), [0]);
    assert_eq!(found("commandline:\"delete shadows\""), [0]);
    assert_eq!(
        found("commandline:\"shadows delete\""),
        Vec::<u64>::new(),
        "in this order"
    );
    assert_eq!(found("commandline:\"vssadmin shadows\""), Vec::<u64>::new());
    assert_eq!(found("image:shadows"), Vec::<u64>::new());
    assert_eq!(found("image:vss*"), [0]);
    assert_eq!(found("commandline:sha*"), [0]);
    assert_eq!(found("b:sha*"), [1]);
    assert_eq!(found("system32 vssadmin.exe"), [0]);
    assert_eq!(found("\"system32 vssadmin exe\""), [0]);
    let q = mamori_search::Query::Field(
        "odd+name[1]".into(),
        mamori_search::FieldValue::Prefix("shadowso".into()),
    );
    let hits = index.search(&q, TimeRange::default(), 10, 0).unwrap().hits;
    assert_eq!(hits.len(), 1, "a field name with regex characters");
}

mod any_field_name {
    use super::*;
    use mamori_search::{FieldValue, Query};
    use proptest::prelude::*;

    fn count(index: &Index, q: &Query) -> u64 {
        index.search(q, TimeRange::default(), 10, 0).unwrap().total
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever a field is called (control characters, regex
        /// characters, any script), its words are found by field, by field
        /// prefix and anywhere, and a value's control characters do not hide
        /// the words after them.
        #[test]
        fn words_are_found_in_any_field(
            name in "[a-zA-Z0-9.\\\\+*?()|\\[\\]{}^$#&~\\-\\x00-\\x03 ]{1,12}|\\PC{1,8}|[ΣσςΟΔİ]{1,4}",
            junk in "[\\x00-\\x03]{0,3}",
            word in "[a-z][a-z0-9]{3,10}",
        ) {
            let dir = tempfile::tempdir().unwrap();
            let index = Index::open(dir.path()).unwrap();
            let mut e = Event::new(b"raw".to_vec());
            e.time_ns = T0;
            e.fields.push(name.as_str(), format!("zz {junk}{word} end"));
            index.add(0, &e).unwrap();
            index.commit(1).unwrap();
            let lname = name.to_lowercase();
            let by_field = Query::Field(lname.clone(), FieldValue::Text(word.clone()));
            prop_assert_eq!(count(&index, &by_field), 1, "field {:?}", lname);
            let by_prefix = Query::Field(lname.clone(), FieldValue::Prefix(word[..3].to_owned()));
            prop_assert_eq!(count(&index, &by_prefix), 1, "prefix in {:?}", lname);
            prop_assert_eq!(count(&index, &Query::Text(word.clone())), 1);
            let phrase = Query::Text(format!("{word} end"));
            prop_assert_eq!(count(&index, &phrase), 1);
            let other = Query::Field(format!("{lname}x"), FieldValue::Text(word.clone()));
            prop_assert_eq!(count(&index, &other), 0);
        }
    }
}

#[test]
fn a_guid_is_found_whole_and_by_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    for (i, guid) in [
        "{A98268C1-9C2E-5ACD-0000-0010396CAB00}",
        "{A98268C1-1111-2222-3333-444455556666}",
    ]
    .iter()
    .enumerate()
    {
        let e = ev(
            i as i64,
            &[
                ("ProcessGuid", s(guid)),
                ("Image", s("C:\\Windows\\cmd.exe")),
            ],
        );
        index.add(i as u64, &e).unwrap();
    }
    index.commit(2).unwrap();
    assert_eq!(
        seqs(
            &index,
            r#"ProcessGuid:"{A98268C1-9C2E-5ACD-0000-0010396CAB00}""#
        ),
        [0]
    );
    assert_eq!(seqs(&index, "a98268c1-9c2e-5acd-0000-0010396cab00"), [0]);
    for q in [
        "processguid:A98268C1-9C2E-5ACD-0000-0010396CAB00",
        "ProcessGuid:{A98268C1-9C2E-5ACD-0000-0010396CAB00}",
    ] {
        assert_eq!(seqs(&index, q), [0], "{q}");
    }
    // A range in braces is still a range.
    assert!(parse_query("port:{1 TO 1024}").is_ok());
    assert!(parse_query("port:{1-1024}").is_err());
    assert_eq!(seqs(&index, "processguid:a98268c1*"), [0, 1]);
    assert_eq!(seqs(&index, "processguid:a98268c1-*"), [0, 1]);
    assert_eq!(seqs(&index, "processguid:A98268C1-9C2E*"), [0]);
    assert_eq!(seqs(&index, "a98268c1-1111-22*"), [1]);
    assert_eq!(seqs(&index, r#""windows cmd exe""#), [0, 1]);
}
