//! The search index: derived from the store, rebuilt from it at will.
//!
//! The store is the source of truth and knows nothing of search; this crate
//! keeps a tantivy index beside it, one document per event keyed by the
//! event's sequence number, and returns sequence numbers that the caller
//! reads back from the store. The index records in its commit how far into
//! the store it reaches ([`Index::indexed_upto`]), so after a crash indexing
//! simply resumes from there. Text is cut by [`tokenize`]: words (a GUID is
//! one), and bigrams for Japanese, so `認証失敗` is found inside
//! `VPN認証失敗しました`.
//! [`parse_query`] reads the query language (words, `field:value`, phrases,
//! AND/OR/NOT, IPs and CIDRs, numeric ranges, trailing `*`).
//!
//! ```
//! use mamori_search::{Index, TimeRange, parse_query};
//! let dir = tempfile::tempdir().unwrap();
//! let index = Index::open(dir.path()).unwrap();
//! let mut ev = mamori_event::Event::new(b"VPN login failed".to_vec());
//! ev.fields.push("user.name", "yamada");
//! ev.fields.push("event.outcome", "failure");
//! ev.fields.push("message", "VPN認証に失敗しました");
//! index.add(0, &ev).unwrap();
//! index.commit(1).unwrap();
//! let q = parse_query("user.name:yamada AND 認証").unwrap();
//! let found = index.search(&q, TimeRange::default(), 10, 0).unwrap();
//! assert_eq!(found.hits[0].seq, 0);
//! assert_eq!(index.indexed_upto(), 1);
//! ```

mod index;
mod query;
mod tokenize;

pub use index::{
    Bucket, Hit, Index, IndexStats, MAX_RESULT_WINDOW, SearchError, SearchResult, TimeRange,
};
pub use query::{
    Bound, FieldValue, IpNet, Query, QueryError, parse_query, parse_time_bound, parse_time_bound_in,
};
pub use tokenize::{MAX_TOKEN_BYTES, tokenize, tokens};
