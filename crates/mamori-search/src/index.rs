//! The tantivy index: one document per stored event, keyed by its sequence
//! number in the store; nothing is stored in the index but what search
//! needs, since the events themselves are read back from the store.
//!
//! Fields: `seq` and `time` (fast, for sorting and the histogram); `words`,
//! every value's tokens, each once, followed by the name of its field
//! (`yamada` `\0` `user.name`), with positions; `kw`, sortable encodings of
//! numbers and IP addresses per field (`n:port=…`, `i:source.ip=…`, and
//! `i:*=…` for any IP), so that ranges and CIDRs are term ranges.
//!
//! A word in a field is one term. A word anywhere is the range of terms
//! that start with it and the separator, which the term dictionary holds
//! side by side; a phrase is a phrase of such ranges, and since values are
//! kept apart in positions, the words of a phrase match within one value.
//! Indexing each token once, rather than once as a free word and again
//! under its field, halves the postings written and the terms in the
//! dictionary.

use crate::query::{Bound, FieldValue, IpNet, Query};
use crate::tokenize::tokenize;
use mamori_event::{Event, Value};
use std::ops::Bound as TBound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tantivy::collector::{Count, HistogramCollector, TopDocs};
use tantivy::index::SegmentMeta;
use tantivy::indexer::{LogMergePolicy, MergeCandidate, MergePolicy};
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query as TQuery, RangeQuery,
    RegexPhraseQuery, RegexQuery, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::Token;
use tantivy::{IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

/// Indexing memory budget (all writer threads together).
const WRITER_BUDGET: usize = 96 * 1024 * 1024;
/// While merges are held back, they still run once there are this many
/// segments, so that a flood that lasts does not leave search with
/// hundreds of small segments to read.
const MAX_HELD_SEGMENTS: usize = 64;
/// Names the index's file layout inside its schema, so that an index
/// written in another layout is found to be of another version (and
/// rebuilt) rather than misread. Its term dictionaries are sorted tables
/// (tantivy's `quickwit` feature), not finite-state transducers.
const LAYOUT: &str = "layout_sstable_terms";
/// Positions left between two field values, so phrases do not span them.
const VALUE_GAP: usize = 8;

/// Why the index failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Another process holds the index for writing.
    #[error(
        "the search index in {0} is in use by another mamori process (stop `mamori serve`, or use its API)"
    )]
    Busy(PathBuf),
    /// This handle was opened read-only.
    #[error("the search index was opened read-only")]
    ReadOnly,
    /// The index was made by another version of mamori, with another layout.
    #[error(
        "the search index in {0} was made by another version of mamori (start `mamori serve` or run `mamori reindex` to rebuild it from the store)"
    )]
    OtherVersion(PathBuf),
    /// tantivy reported an error.
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// `limit + offset` is more than [`MAX_RESULT_WINDOW`].
    #[error(
        "at most {MAX_RESULT_WINDOW} results can be paged through (limit + offset); narrow the query or the time range"
    )]
    WindowTooLarge,
    /// The index directory could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The most results one search can page through (`limit + offset`): the
/// top-N collector allocates room for all of them up front.
pub const MAX_RESULT_WINDOW: usize = 20_000_000;

/// A time window; `None` is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// From (inclusive), ns since the epoch.
    pub from_ns: Option<i64>,
    /// To (exclusive), ns since the epoch.
    pub to_ns: Option<i64>,
}

/// One matching event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Its sequence number in the store.
    pub seq: u64,
    /// Its event time, ns.
    pub time_ns: i64,
}

/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    /// How many events match in all.
    pub total: u64,
    /// The requested page, newest first.
    pub hits: Vec<Hit>,
}

/// One histogram bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the bucket, ns.
    pub start_ns: i64,
    /// Matching events in it.
    pub count: u64,
}

/// Size of the index.
#[derive(Debug, Clone, Copy, Default)]
pub struct IndexStats {
    /// Documents (events) searchable.
    pub docs: u64,
}

#[derive(Clone, Copy)]
struct Fields {
    seq: Field,
    time: Field,
    words: Field,
    kw: Field,
}

struct Inner {
    path: PathBuf,
    index: tantivy::Index,
    reader: IndexReader,
    writer: Option<Mutex<IndexWriter>>,
    f: Fields,
    /// As of the last commit: sequence numbers below are searchable.
    indexed_upto: AtomicU64,
    /// Sequence numbers below this have been handed to the writer (committed
    /// or not). Any commit, whoever makes it, records this, so the payload
    /// always matches the documents it makes durable.
    added_upto: AtomicU64,
    /// Whether segment merges are held back (see [`Index::hold_merges`]).
    merges_held: Arc<AtomicBool>,
}

/// The search index; cheap to clone, shared between threads.
#[derive(Clone)]
pub struct Index {
    inner: Arc<Inner>,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let seq = b.add_u64_field("seq", NumericOptions::default().set_fast());
    let time = b.add_i64_field("time", NumericOptions::default().set_fast());
    let text_opts = |tokenizer: &str, opt: IndexRecordOption| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_fieldnorms(false)
                .set_index_option(opt),
        )
    };
    let words = b.add_text_field(
        "words",
        text_opts(WORDS_TOKENIZER, IndexRecordOption::WithFreqsAndPositions),
    );
    let kw = b.add_text_field("keys", text_opts("raw", IndexRecordOption::Basic));
    // Neither indexed nor stored: its name tells the layout of the files,
    // which the schema does not otherwise show.
    b.add_u64_field(LAYOUT, NumericOptions::default());
    (
        b.build(),
        Fields {
            seq,
            time,
            words,
            kw,
        },
    )
}

fn fields_of(index: &tantivy::Index) -> Result<Fields, SearchError> {
    let s = index.schema();
    Ok(Fields {
        seq: s.get_field("seq")?,
        time: s.get_field("time")?,
        words: s.get_field("words")?,
        kw: s.get_field("keys")?,
    })
}

fn payload_upto(index: &tantivy::Index) -> u64 {
    index
        .load_metas()
        .ok()
        .and_then(|m| m.payload)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0)
}

impl Index {
    /// Opens (or creates) the index in `dir` for writing. An index that
    /// cannot be read is moved aside and started anew, and one made by
    /// another version of mamori is removed: it is derived, and
    /// `mamori reindex` (or serve) rebuilds it from the store.
    pub fn open(dir: &Path) -> Result<Index, SearchError> {
        let io = |source| SearchError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let index = match open_or_create(dir) {
            Ok(i) => i,
            Err(OpenError::OtherVersion(old)) => {
                // Not while another process writes it.
                match old.writer::<TantivyDocument>(15_000_000) {
                    Err(tantivy::TantivyError::LockFailure(..)) => {
                        return Err(SearchError::Busy(dir.to_owned()));
                    }
                    Err(e) => return Err(e.into()),
                    Ok(w) => drop(w),
                }
                drop(old);
                tracing::info!(index = %dir.display(),
                    "the search index was made by another version of mamori; it is rebuilt from the store");
                std::fs::remove_dir_all(dir).map_err(io)?;
                std::fs::create_dir_all(dir).map_err(io)?;
                open_or_create(dir)?
            }
            Err(OpenError::Tantivy(e)) => {
                let aside = dir.with_extension(format!("broken-{}", mamori_event::now_ns()));
                tracing::warn!(index = %dir.display(), error = %e, moved_to = %aside.display(),
                    "the search index could not be read; starting a new one (it is rebuilt from the store)");
                std::fs::rename(dir, &aside).map_err(io)?;
                std::fs::create_dir_all(dir).map_err(io)?;
                open_or_create(dir)?
            }
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 2);
        let writer: IndexWriter = match index.writer_with_num_threads(threads, WRITER_BUDGET) {
            Ok(w) => w,
            Err(tantivy::TantivyError::LockFailure(..)) => {
                return Err(SearchError::Busy(dir.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let merges_held = Arc::new(AtomicBool::new(false));
        writer.set_merge_policy(Box::new(HeldMergePolicy {
            inner: LogMergePolicy::default(),
            held: merges_held.clone(),
        }));
        Index::assemble(dir, index, Some(writer), merges_held)
    }

    /// Opens the index for searching only (while `mamori serve` writes it).
    pub fn open_read_only(dir: &Path) -> Result<Index, SearchError> {
        let index = tantivy::Index::open_in_dir(dir)?;
        if index.schema() != schema().0 {
            return Err(SearchError::OtherVersion(dir.to_owned()));
        }
        register_tokenizers(&index);
        Index::assemble(dir, index, None, Arc::default())
    }

    fn assemble(
        dir: &Path,
        index: tantivy::Index,
        writer: Option<IndexWriter>,
        merges_held: Arc<AtomicBool>,
    ) -> Result<Index, SearchError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let f = fields_of(&index)?;
        let upto = payload_upto(&index);
        Ok(Index {
            inner: Arc::new(Inner {
                path: dir.to_owned(),
                index,
                reader,
                writer: writer.map(Mutex::new),
                f,
                indexed_upto: AtomicU64::new(upto),
                added_upto: AtomicU64::new(upto),
                merges_held,
            }),
        })
    }

    /// Store sequence numbers below this are searchable (as of the last commit).
    pub fn indexed_upto(&self) -> u64 {
        self.inner.indexed_upto.load(Ordering::Acquire)
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>, SearchError> {
        let w = self.inner.writer.as_ref().ok_or(SearchError::ReadOnly)?;
        Ok(w.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds one event (searchable after the next [`Index::commit`]).
    pub fn add(&self, seq: u64, ev: &Event) -> Result<(), SearchError> {
        let doc = document(&self.inner.f, seq, ev);
        let w = self.writer()?;
        w.add_document(doc)?;
        self.inner.added_upto.fetch_max(seq + 1, Ordering::AcqRel);
        Ok(())
    }

    /// Makes everything added searchable and records that sequence numbers
    /// below `upto` (or below the last one added, if that is higher) are
    /// indexed. `upto` may run past the last event added when the store has
    /// no events in between.
    pub fn commit(&self, upto: u64) -> Result<(), SearchError> {
        let w = self.writer()?;
        let upto = self
            .inner
            .added_upto
            .fetch_max(upto, Ordering::AcqRel)
            .max(upto);
        self.commit_at(w, upto)
    }

    /// Commits with `upto` as the recorded position, then makes it visible.
    fn commit_at(
        &self,
        mut w: std::sync::MutexGuard<'_, IndexWriter>,
        upto: u64,
    ) -> Result<(), SearchError> {
        let mut prepared = w.prepare_commit()?;
        prepared.set_payload(&upto.to_string());
        prepared.commit()?;
        drop(w);
        self.inner.indexed_upto.store(upto, Ordering::Release);
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Holds segment merges back (`true`) while a flood of events is
    /// indexed, so that the cores go to indexing and detection; or lets
    /// them run again (`false`), which starts the merges that are due at
    /// once. Merges held back are done later, not saved: search reads more,
    /// smaller segments meanwhile (at most 64 before merges run anyway).
    pub fn hold_merges(&self, hold: bool) -> Result<(), SearchError> {
        let was = self.inner.merges_held.swap(hold, Ordering::AcqRel);
        if was && !hold {
            // Merges are considered at each commit.
            self.commit(0)?;
        }
        Ok(())
    }

    /// Whether segment merges are held back.
    pub fn merges_held(&self) -> bool {
        self.inner.merges_held.load(Ordering::Acquire)
    }

    /// Removes the events with sequence numbers below `seq` (after retention).
    pub fn delete_seq_below(&self, seq: u64) -> Result<(), SearchError> {
        let q = RangeQuery::new(
            TBound::Unbounded,
            TBound::Excluded(Term::from_field_u64(self.inner.f.seq, seq)),
        );
        self.writer()?.delete_query(Box::new(q))?;
        self.commit(0)
    }

    /// Empties the index (before a rebuild).
    pub fn clear(&self) -> Result<(), SearchError> {
        let w = self.writer()?;
        w.delete_all_documents()?;
        self.inner.added_upto.store(0, Ordering::Release);
        self.commit_at(w, 0)
    }

    /// Documents searchable now.
    pub fn stats(&self) -> IndexStats {
        let _ = self.reload_if_read_only();
        IndexStats {
            docs: self.inner.reader.searcher().num_docs(),
        }
    }

    /// Segments of the index as committed, merges included (the reader
    /// sees them at its next reload). Reads the index's metadata file.
    pub fn segments(&self) -> u64 {
        match self.inner.index.searchable_segment_metas() {
            Ok(m) => m.len() as u64,
            Err(_) => self.inner.reader.searcher().segment_readers().len() as u64,
        }
    }

    /// The directory of the index.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn reload_if_read_only(&self) -> Result<(), SearchError> {
        if self.inner.writer.is_none() {
            self.inner.reader.reload()?;
            self.inner
                .indexed_upto
                .store(payload_upto(&self.inner.index), Ordering::Release);
        }
        Ok(())
    }

    fn filtered(&self, q: &Query, range: TimeRange) -> Box<dyn TQuery> {
        let base = build(&self.inner.f, q);
        if range.from_ns.is_none() && range.to_ns.is_none() {
            return base;
        }
        let t = self.inner.f.time;
        let lo = range.from_ns.map_or(TBound::Unbounded, |v| {
            TBound::Included(Term::from_field_i64(t, v))
        });
        let hi = range.to_ns.map_or(TBound::Unbounded, |v| {
            TBound::Excluded(Term::from_field_i64(t, v))
        });
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, base),
            (Occur::Must, Box::new(RangeQuery::new(lo, hi))),
        ]))
    }

    /// The events matching `q` in `range`, newest first: `limit` of them
    /// after skipping `offset`, and how many match in all.
    pub fn search(
        &self,
        q: &Query,
        range: TimeRange,
        limit: usize,
        offset: usize,
    ) -> Result<SearchResult, SearchError> {
        if limit.saturating_add(offset) > MAX_RESULT_WINDOW {
            return Err(SearchError::WindowTooLarge);
        }
        self.reload_if_read_only()?;
        let searcher = self.inner.reader.searcher();
        let query = self.filtered(q, range);
        if limit == 0 {
            let total = searcher.search(&query, &Count)? as u64;
            return Ok(SearchResult {
                total,
                hits: Vec::new(),
            });
        }
        let top = TopDocs::with_limit(limit)
            .and_offset(offset)
            .order_by_fast_field::<i64>("time", Order::Desc);
        let (total, docs) = searcher.search(&query, &(Count, top))?;
        let mut hits = Vec::with_capacity(docs.len());
        let mut columns: Vec<Option<tantivy::columnar::Column<u64>>> =
            vec![None; searcher.segment_readers().len()];
        for (time, addr) in docs {
            let col = match &mut columns[addr.segment_ord as usize] {
                Some(c) => c,
                slot => slot.insert(
                    searcher
                        .segment_reader(addr.segment_ord)
                        .fast_fields()
                        .u64("seq")?,
                ),
            };
            if let Some(seq) = col.first(addr.doc_id) {
                hits.push(Hit {
                    seq,
                    time_ns: time.unwrap_or(0),
                });
            }
        }
        Ok(SearchResult {
            total: total as u64,
            hits,
        })
    }

    /// Counts of events matching `q` in `buckets` equal slices of `range`
    /// (an open end is taken from the oldest or newest indexed event).
    pub fn histogram(
        &self,
        q: &Query,
        range: TimeRange,
        buckets: usize,
    ) -> Result<Vec<Bucket>, SearchError> {
        self.reload_if_read_only()?;
        if buckets == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.inner.reader.searcher();
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for seg in searcher.segment_readers() {
            if seg.num_docs() == 0 {
                continue;
            }
            let col = seg.fast_fields().i64("time")?;
            min = min.min(col.min_value());
            max = max.max(col.max_value());
        }
        let lo = range.from_ns.unwrap_or(min);
        let hi = range.to_ns.unwrap_or(max.saturating_add(1));
        if min > max && (range.from_ns.is_none() || range.to_ns.is_none()) || hi <= lo {
            return Ok(Vec::new());
        }
        let span = (i128::from(hi) - i128::from(lo)) as u128;
        let width = span.div_ceil(buckets as u128).max(1) as u64;
        let query = self.filtered(q, range);
        let counts = searcher.search(
            &query,
            &HistogramCollector::new::<i64>("time".to_owned(), lo, width, buckets),
        )?;
        Ok(counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| Bucket {
                start_ns: lo.saturating_add((i as i64).saturating_mul(width as i64)),
                count,
            })
            .collect())
    }
}

fn register_tokenizers(index: &tantivy::Index) {
    index
        .tokenizers()
        .register(WORDS_TOKENIZER, ValuesTokenizer::default());
}

/// Why an index directory could not be opened for writing.
#[derive(Debug)]
enum OpenError {
    /// It holds an index of another schema (an earlier mamori's).
    OtherVersion(Box<tantivy::Index>),
    /// tantivy could not read it.
    Tantivy(tantivy::TantivyError),
}

impl From<tantivy::TantivyError> for OpenError {
    fn from(e: tantivy::TantivyError) -> Self {
        OpenError::Tantivy(e)
    }
}

impl From<OpenError> for SearchError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::OtherVersion(_) => SearchError::Tantivy(tantivy::TantivyError::SchemaError(
                "the index was made by another version of mamori".into(),
            )),
            OpenError::Tantivy(e) => SearchError::Tantivy(e),
        }
    }
}

fn open_or_create(dir: &Path) -> Result<tantivy::Index, OpenError> {
    let (schema, _) = schema();
    let exists = dir.join("meta.json").exists();
    let index = if exists {
        tantivy::Index::open_in_dir(dir)?
    } else {
        tantivy::Index::create_in_dir(dir, schema.clone())?
    };
    register_tokenizers(&index);
    if index.schema() != schema {
        return Err(OpenError::OtherVersion(Box::new(index)));
    }
    Ok(index)
}

/// Sortable text for a number: its bits, made to sort like the numbers,
/// in 16 hex digits without the trailing zeros. Whole numbers end in many
/// zero bits, so their keys are short, and dropping the zeros of
/// fixed-width keys keeps their order (`0` is the lowest digit).
fn num_key(v: f64) -> String {
    let mut s = String::with_capacity(16);
    push_num_key(&mut s, v);
    s
}

/// Appends [`num_key`] of `v` to `out`.
fn push_num_key(out: &mut String, v: f64) {
    let b = v.to_bits();
    let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    // For numbers the top bit is set or the number is negative, so the key
    // never trims away entirely (only one NaN's would).
    let digits = 16 - (k.trailing_zeros() as usize / 4).min(16);
    push_hex(out, u128::from(k) >> (4 * (16 - digits)), digits);
}

/// Appends the lowest `digits` hex digits of `v` (lower case) to `out`.
fn push_hex(out: &mut String, v: u128, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(char::from(HEX[((v >> (4 * i)) & 0xf) as usize]));
    }
}

/// Appends the sortable key of `ip` to `out`: its bits as an IPv6 address
/// (IPv4 mapped), in 32 hex digits.
fn push_ip_key(out: &mut String, ip: std::net::IpAddr) {
    let v = match ip {
        std::net::IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        std::net::IpAddr::V6(a) => u128::from(a),
    };
    push_hex(out, v, 32);
}

fn numeric_str(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 24 {
        return None;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-') {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Separates values in the text handed to the tokenizer.
const VALUE_SEP: char = '\u{1}';
/// Separates a field name from its value in the text handed to the tokenizer.
const NAME_SEP: char = '\u{2}';
/// Separates a word from its field's name in a term of `words`. It sorts
/// before every character of a word, so the terms of one word, whatever
/// its field, are one range of the dictionary.
const WORD_END: char = '\0';
/// The name of the `words` field's tokenizer, part of the index's schema.
/// It changes whenever the words of a text change (a GUID became one word
/// in `mamori_words_v2`), so that an index tokenized otherwise is found to
/// be of another version and rebuilt.
const WORDS_TOKENIZER: &str = "mamori_words_v2";
/// Numbers of up to this many characters are also words.
const SHORT_NUMBER: usize = 6;
/// The field name under which numbers are words (see
/// [`DocBuilder::short_number`]).
const NUMBER_FIELD: &str = "";

/// The term of `word` in the field `name`.
fn word_term(word: &str, name: &str) -> String {
    let name = without_separators(name);
    let mut t = String::with_capacity(word.len() + 1 + name.len());
    t.push_str(word);
    t.push(WORD_END);
    t.push_str(&name);
    t
}

/// `s` with the characters that separate names and values in the text
/// handed to the tokenizer made spaces (which separate words anyway), so a
/// name or value holding them stays whole.
fn without_separators(s: &str) -> std::borrow::Cow<'_, str> {
    if memchr::memchr2(VALUE_SEP as u8, NAME_SEP as u8, s.as_bytes()).is_some() {
        let mut out = String::with_capacity(s.len());
        push_clean(&mut out, s);
        out.into()
    } else {
        s.into()
    }
}

/// `s` with the characters that mean something in a regular expression
/// escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Collects one event's values as the text of `words` and the terms of `kw`.
/// One is kept per thread and reused (tantivy copies the text into the
/// document), so that building a document allocates nothing once its
/// buffers have grown.
#[derive(Default)]
struct DocBuilder {
    /// `name NAME_SEP value` items, separated by [`VALUE_SEP`].
    words: String,
    /// Whole terms (numbers, IPs), one after another.
    kw: String,
    /// Where each term of `kw` ends.
    kw_ends: Vec<usize>,
    /// The lower-cased name of the field at hand.
    name: String,
}

/// Buffers larger than this are not kept for the next document.
const KEEP_BUFFER: usize = 1 << 20;

impl DocBuilder {
    fn clear(&mut self) {
        for b in [&mut self.words, &mut self.kw] {
            b.clear();
            if b.capacity() > KEEP_BUFFER {
                b.shrink_to(KEEP_BUFFER);
            }
        }
        self.kw_ends.clear();
    }

    /// Sets the name of the field whose values come next, lower-cased.
    fn set_name(&mut self, name: &str) {
        self.name.clear();
        if name.is_ascii() {
            self.name.push_str(name);
            self.name.make_ascii_lowercase();
        } else {
            self.name.push_str(&name.to_lowercase());
        }
    }

    /// Adds the values of the field named by [`DocBuilder::set_name`].
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => {}
            Value::Bool(b) => self.string(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                self.number(*i as f64);
                if i.unsigned_abs() < 1_000_000 {
                    self.short_number(small_int(*i, &mut [0; 8]));
                }
            }
            Value::Float(f) => {
                if f.is_finite() {
                    self.number(*f);
                }
            }
            Value::Str(s) => {
                if let Some(n) = numeric_str(s) {
                    self.number(n);
                    self.short_number(s);
                    return;
                }
                if let Some(ip) = ip_str(s) {
                    self.key("i:", true, |out| push_ip_key(out, ip));
                    self.key("i:*=", false, |out| push_ip_key(out, ip));
                }
                self.string(s);
            }
            Value::List(vs) => {
                for v in vs {
                    self.value(v);
                }
            }
        }
    }

    /// The sortable key of a number, under the field's name.
    fn number(&mut self, v: f64) {
        self.key("n:", true, |out| push_num_key(out, v));
    }

    /// Adds the term `prefix`, then (if `named`) the field's name and `=`,
    /// then what `value` writes.
    fn key(&mut self, prefix: &str, named: bool, value: impl FnOnce(&mut String)) {
        self.kw.push_str(prefix);
        if named {
            self.kw.push_str(&self.name);
            self.kw.push('=');
        }
        value(&mut self.kw);
        self.kw_ends.push(self.kw.len());
    }

    /// The terms of `kw`.
    fn keys(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.kw_ends.iter().map(move |&end| {
            let k = &self.kw[start..end];
            start = end;
            k
        })
    }

    /// Numbers are words too (`4624`, `3389`), of no field: by field a
    /// number is found through its sortable key in `kw`, and under their
    /// fields' names the ports, counters and ids of every event would be
    /// terms of their own. Long numbers (ids, byte counts, timestamps) are
    /// nearly all unique and would bloat the dictionary: those are found by
    /// field only (`sessionid:123456789`).
    fn short_number(&mut self, s: &str) {
        if s.len() <= SHORT_NUMBER {
            self.item(NUMBER_FIELD, s);
        }
    }

    /// A text value of the field named by [`DocBuilder::set_name`].
    fn string(&mut self, s: &str) {
        push_item(&mut self.words, &self.name, s);
    }

    /// A text value of the field `name` (as it is).
    fn item(&mut self, name: &str, s: &str) {
        push_item(&mut self.words, name, s);
    }
}

/// `i` (less than a million either way) in decimal, written in `buf`.
fn small_int(i: i64, buf: &mut [u8; 8]) -> &str {
    let mut n = i.unsigned_abs().min(999_999);
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

/// Appends `name NAME_SEP value VALUE_SEP` to the text of `words`.
fn push_item(words: &mut String, name: &str, value: &str) {
    push_clean(words, name);
    words.push(NAME_SEP);
    push_clean(words, value);
    words.push(VALUE_SEP);
}

/// Appends `s` to `out` with the characters that separate names and values
/// in the text handed to the tokenizer made spaces; what
/// [`without_separators`] gives, written where it is wanted.
fn push_clean(out: &mut String, s: &str) {
    let mut rest = s;
    // Both are single bytes, never part of a longer UTF-8 sequence, so
    // slicing at them keeps to character boundaries.
    while let Some(i) = memchr::memchr2(VALUE_SEP as u8, NAME_SEP as u8, rest.as_bytes()) {
        out.push_str(&rest[..i]);
        out.push(' ');
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// The IP address `s` holds (around spaces), if any.
fn ip_str(s: &str) -> Option<std::net::IpAddr> {
    let s = s.trim();
    // Every address starts with a hex digit or `:`; most values do not.
    let first = *s.as_bytes().first()?;
    if s.len() > 45 || !(first.is_ascii_hexdigit() || first == b':') {
        return None;
    }
    s.parse().ok()
}

/// tantivy's log merge policy, held back on request.
#[derive(Debug)]
struct HeldMergePolicy {
    inner: LogMergePolicy,
    held: Arc<AtomicBool>,
}

impl MergePolicy for HeldMergePolicy {
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        if self.held.load(Ordering::Acquire) && segments.len() < MAX_HELD_SEGMENTS {
            return Vec::new();
        }
        self.inner.compute_merge_candidates(segments)
    }
}

/// The tokenizer of the `words` field: [`tokenize`] per value, with a gap
/// in positions between values; each token is followed by [`WORD_END`] and
/// its field's name.
#[derive(Clone, Default)]
struct ValuesTokenizer {
    tokens: Vec<Token>,
    suffix: String,
}

/// Tokens made by [`ValuesTokenizer`].
struct ValuesTokenStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl tantivy::tokenizer::TokenStream for ValuesTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl tantivy::tokenizer::Tokenizer for ValuesTokenizer {
    type TokenStream<'a> = ValuesTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ValuesTokenStream<'a> {
        let mut n = 0usize;
        let mut pos = 0usize;
        let tokens = &mut self.tokens;
        let suffix = &mut self.suffix;
        let mut rest = text;
        while !rest.is_empty() {
            // Both separators are single bytes, never inside a longer UTF-8
            // sequence, so slicing at them keeps to character boundaries.
            let end = memchr::memchr(VALUE_SEP as u8, rest.as_bytes()).unwrap_or(rest.len());
            let item = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            let Some(at) = memchr::memchr(NAME_SEP as u8, item.as_bytes()) else {
                continue;
            };
            let (name, value) = (&item[..at], &item[at + 1..]);
            if value.is_empty() {
                continue;
            }
            suffix.clear();
            suffix.push(WORD_END);
            suffix.push_str(name);
            let next = tokenize(value, pos, &mut |t, p| {
                if n == tokens.len() {
                    tokens.push(Token::default());
                }
                let tok = &mut tokens[n];
                tok.text.clear();
                tok.text.push_str(t);
                tok.text.push_str(suffix);
                tok.position = p;
                tok.position_length = 1;
                tok.offset_from = 0;
                tok.offset_to = 0;
                n += 1;
            });
            pos = next + VALUE_GAP;
        }
        ValuesTokenStream {
            tokens: &mut self.tokens[..n],
            next: 0,
        }
    }
}

fn document(f: &Fields, seq: u64, ev: &Event) -> TantivyDocument {
    thread_local! {
        static BUILDER: std::cell::RefCell<DocBuilder> = std::cell::RefCell::default();
    }
    BUILDER.with_borrow_mut(|b| {
        b.clear();
        for (name, v) in [
            ("source", ev.source.as_str()),
            ("host", ev.host.as_str()),
            ("decoder", ev.decoder.as_str()),
        ] {
            if !v.is_empty() {
                b.item(name, v);
            }
        }
        let ls = &ev.logsource;
        for (name, v) in [
            ("logsource.product", &ls.product),
            ("logsource.service", &ls.service),
            ("logsource.category", &ls.category),
        ] {
            if let Some(v) = v {
                b.item(name, v);
            }
        }
        if ev.flags.contains(mamori_event::Flags::UNDECODED) {
            b.item("undecoded", "true");
        }
        if ev.flags.contains(mamori_event::Flags::TRUNCATED) {
            b.item("truncated", "true");
        }
        for (name, v) in ev.fields.iter() {
            b.set_name(name);
            b.value(v);
        }
        let mut doc = TantivyDocument::with_capacity(b.words.len() + b.kw.len() + 64);
        doc.add_u64(f.seq, seq);
        doc.add_i64(f.time, ev.time_ns);
        doc.add_text(f.words, &b.words);
        for k in b.keys() {
            doc.add_text(f.kw, k);
        }
        doc
    })
}

fn term_q(field: Field, s: &str) -> Box<dyn TQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, s),
        IndexRecordOption::Basic,
    ))
}

fn prefix_q(field: Field, p: &str) -> Box<dyn TQuery> {
    Box::new(RangeQuery::new(
        TBound::Included(Term::from_field_text(field, p)),
        TBound::Excluded(Term::from_field_text(field, &format!("{p}\u{10FFFF}"))),
    ))
}

/// `word` in any field: the terms that are `word`, [`WORD_END`] and a name.
fn word_anywhere(f: &Fields, word: &str) -> Box<dyn TQuery> {
    let lo = format!("{word}{WORD_END}");
    let hi = format!("{word}\u{1}");
    Box::new(RangeQuery::new(
        TBound::Included(Term::from_field_text(f.words, &lo)),
        TBound::Excluded(Term::from_field_text(f.words, &hi)),
    ))
}

fn text_range(field: Field, lo: TBound<String>, hi: TBound<String>) -> Box<dyn TQuery> {
    let t = |s: String| Term::from_field_text(field, &s);
    Box::new(RangeQuery::new(lo.map(t), hi.map(t)))
}

fn and(parts: Vec<Box<dyn TQuery>>) -> Box<dyn TQuery> {
    match parts.len() {
        0 => Box::new(AllQuery),
        1 => parts
            .into_iter()
            .next()
            .unwrap_or_else(|| Box::new(AllQuery)),
        _ => Box::new(BooleanQuery::new(
            parts.into_iter().map(|p| (Occur::Must, p)).collect(),
        )),
    }
}

fn or(parts: Vec<Box<dyn TQuery>>) -> Box<dyn TQuery> {
    match parts.len() {
        0 => Box::new(EmptyQuery),
        1 => parts
            .into_iter()
            .next()
            .unwrap_or_else(|| Box::new(EmptyQuery)),
        _ => Box::new(BooleanQuery::new(
            parts.into_iter().map(|p| (Occur::Should, p)).collect(),
        )),
    }
}

fn ip_q(f: &Fields, name: &str, net: &IpNet) -> Box<dyn TQuery> {
    let (lo, hi) = net.bounds();
    if lo == hi {
        return term_q(f.kw, &format!("i:{name}={lo:032x}"));
    }
    text_range(
        f.kw,
        TBound::Included(format!("i:{name}={lo:032x}")),
        TBound::Included(format!("i:{name}={hi:032x}")),
    )
}

fn build(f: &Fields, q: &Query) -> Box<dyn TQuery> {
    match q {
        Query::All => Box::new(AllQuery),
        Query::Text(s) => {
            let toks = crate::tokenize::tokens(s);
            match toks.len() {
                0 => Box::new(EmptyQuery),
                1 => word_anywhere(f, &toks[0]),
                _ => Box::new(RegexPhraseQuery::new(
                    f.words,
                    toks.iter()
                        .map(|t| format!("{}\\x00(?s:.)*", regex_escape(t)))
                        .collect(),
                )),
            }
        }
        Query::TextPrefix(p) => {
            let mut toks = crate::tokenize::prefix_tokens(p);
            let Some(last) = toks.pop() else {
                return Box::new(EmptyQuery);
            };
            let mut parts: Vec<Box<dyn TQuery>> =
                toks.iter().map(|t| word_anywhere(f, t)).collect();
            parts.push(prefix_q(f.words, &last));
            and(parts)
        }
        Query::AnyIp(net) => ip_q(f, "*", net),
        Query::Field(name, FieldValue::Text(s)) => {
            let toks = crate::tokenize::tokens(s);
            if toks.is_empty() {
                return Box::new(EmptyQuery);
            }
            // The words in this order, inside the field.
            let words: Box<dyn TQuery> = if toks.len() == 1 {
                term_q(f.words, &word_term(&toks[0], name))
            } else {
                Box::new(PhraseQuery::new(
                    toks.iter()
                        .map(|t| Term::from_field_text(f.words, &word_term(t, name)))
                        .collect(),
                ))
            };
            match numeric_str(s) {
                Some(n) => or(vec![
                    term_q(f.kw, &format!("n:{name}={}", num_key(n))),
                    words,
                ]),
                None => words,
            }
        }
        Query::Field(name, FieldValue::Prefix(p)) => {
            let mut toks = crate::tokenize::prefix_tokens(p);
            let Some(last) = toks.pop() else {
                return Box::new(EmptyQuery);
            };
            let mut parts: Vec<Box<dyn TQuery>> = toks
                .iter()
                .map(|t| term_q(f.words, &word_term(t, name)))
                .collect();
            let pattern = format!(
                "{}[^\\x00]*\\x00{}",
                regex_escape(&last),
                regex_escape(&without_separators(name))
            );
            match RegexQuery::from_pattern(&pattern, f.words) {
                Ok(q) => parts.push(Box::new(q)),
                Err(e) => {
                    tracing::warn!(field = %name, error = %e, "a field prefix could not be searched");
                    return Box::new(EmptyQuery);
                }
            }
            and(parts)
        }
        Query::Field(name, FieldValue::Ip(net)) => ip_q(f, name, net),
        Query::Field(name, FieldValue::Range(lo, hi)) => {
            let key = |b: &Bound, open: &str| match b {
                Bound::Unbounded => TBound::Included(format!("n:{name}={open}")),
                Bound::Included(v) => TBound::Included(format!("n:{name}={}", num_key(*v))),
                Bound::Excluded(v) => TBound::Excluded(format!("n:{name}={}", num_key(*v))),
            };
            text_range(f.kw, key(lo, ""), key(hi, "ffffffffffffffff"))
        }
        Query::And(parts) => {
            let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
            for p in parts {
                match p {
                    Query::Not(inner) => clauses.push((Occur::MustNot, build(f, inner))),
                    p => clauses.push((Occur::Must, build(f, p))),
                }
            }
            if !clauses.iter().any(|(o, _)| *o == Occur::Must) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        Query::Or(parts) => or(parts.iter().map(|p| build(f, p)).collect()),
        Query::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery)),
            (Occur::MustNot, build(f, inner)),
        ])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_of_another_version_is_replaced_not_kept_aside() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("index");
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = Schema::builder();
        b.add_text_field("text", tantivy::schema::TEXT);
        tantivy::Index::create_in_dir(&dir, b.build()).unwrap();
        let err = Index::open_read_only(&dir).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("mamori reindex")),
            "{err:?}"
        );
        let index = Index::open(&dir).unwrap();
        let mut ev = Event::new(b"x".to_vec());
        ev.fields.push("user.name", "yamada");
        index.add(0, &ev).unwrap();
        index.commit(1).unwrap();
        let q = crate::parse_query("user.name:yamada").unwrap();
        assert_eq!(
            index.search(&q, TimeRange::default(), 1, 0).unwrap().total,
            1
        );
        let names: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "nothing left beside the index");
    }

    #[test]
    fn an_index_of_the_previous_layout_is_of_another_version() {
        // The same fields, without the name of the term-dictionary layout:
        // its files would be misread.
        let dir = tempfile::tempdir().unwrap();
        let mut b = Schema::builder();
        for (_, entry) in schema().0.fields() {
            if entry.name() != LAYOUT {
                b.add_field(entry.clone());
            }
        }
        tantivy::Index::create_in_dir(dir.path(), b.build()).unwrap();
        assert!(matches!(
            Index::open_read_only(dir.path()),
            Err(SearchError::OtherVersion(_))
        ));
    }

    #[test]
    fn an_index_of_the_previous_words_is_of_another_version() {
        // The same fields, its words cut by the tokenizer before GUIDs
        // were words: a search for a GUID would miss what it holds.
        let dir = tempfile::tempdir().unwrap();
        let mut b = Schema::builder();
        for (_, entry) in schema().0.fields() {
            if entry.name() == "words" {
                let opts = TextOptions::default().set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer("mamori_words")
                        .set_fieldnorms(false)
                        .set_index_option(IndexRecordOption::WithFreqsAndPositions),
                );
                b.add_text_field("words", opts);
            } else {
                b.add_field(entry.clone());
            }
        }
        tantivy::Index::create_in_dir(dir.path(), b.build()).unwrap();
        assert!(matches!(
            Index::open_read_only(dir.path()),
            Err(SearchError::OtherVersion(_))
        ));
    }

    #[test]
    fn separators_in_names_and_values_become_spaces() {
        let mut out = String::from("x");
        push_clean(&mut out, "a\u{1}b\u{2}\u{2}c\u{1}");
        assert_eq!(out, "xa b  c ");
        push_clean(&mut out, "認証\u{2}失敗");
        assert_eq!(out, "xa b  c 認証 失敗");
    }

    #[test]
    fn addresses_are_read_around_spaces_and_nothing_else_is() {
        assert_eq!(ip_str(" 10.1.2.3 "), "10.1.2.3".parse().ok());
        assert_eq!(ip_str("::ffff:10.9.8.7"), "::ffff:10.9.8.7".parse().ok());
        assert_eq!(ip_str("fe80::1"), "fe80::1".parse().ok());
        for not in ["", " ", "Administrator", "10.1.2", "S-1-5-18", "deadbeef"] {
            assert_eq!(ip_str(not), None, "{not:?}");
        }
    }

    #[test]
    fn number_keys_sort_like_numbers() {
        let vals = [-1e9, -2.5, -1.0, 0.0, 1.0, 2.5, 443.0, 65535.0, 1e12];
        let keys: Vec<String> = vals.iter().map(|v| num_key(*v)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(num_key(443.0), "c07bb", "whole numbers have short keys");
        assert_eq!(
            num_key(f64::from_bits(u64::MAX)),
            "",
            "all bits set: no digits"
        );
    }

    #[test]
    fn small_numbers_are_written_in_decimal() {
        for i in [0, 7, -7, 10, 443, -3389, 999_999, -999_999] {
            assert_eq!(small_int(i, &mut [0; 8]), i.to_string());
        }
    }

    proptest::proptest! {
        /// Keys without their trailing zeros sort as the numbers do, and
        /// only equal numbers have equal keys.
        #[test]
        fn number_keys_keep_the_order_of_numbers(a in proptest::num::f64::NORMAL | proptest::num::f64::ZERO, b in proptest::num::f64::NORMAL | proptest::num::f64::ZERO) {
            let (ka, kb) = (num_key(a), num_key(b));
            proptest::prop_assert_eq!(ka.cmp(&kb), a.total_cmp(&b));
        }

        /// The keys are the bits' hex digits (sign flipped), without the
        /// trailing zeros: the terms of indexes already written.
        #[test]
        fn number_and_address_keys_are_their_hex_digits(v in proptest::num::f64::ANY, ip in proptest::num::u128::ANY) {
            let b = v.to_bits();
            let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
            let hex = format!("{k:016x}");
            let trimmed = hex.trim_end_matches('0');
            proptest::prop_assert_eq!(num_key(v), trimmed);
            let mut key = String::new();
            push_ip_key(&mut key, std::net::IpAddr::V6(ip.into()));
            proptest::prop_assert_eq!(key, format!("{ip:032x}"));
        }
    }
}
