//! Events just written, kept decoded for the store's one follower.
//!
//! In `mamori serve` the indexer reads every event the writer has just
//! written, and reading it back means decompressing its block and decoding
//! it again. Once a follower is registered ([`crate::Store::follow`]), the
//! writer hands each batch it has written to this ring instead of dropping
//! it, and the follower's [`crate::Scan`] takes the events from here while
//! it is in step, reading the store only when it is not.
//!
//! The ring holds at most [`KEEP`] events; when the writer adds more, the
//! oldest batches go and the follower reads those from the store (it is
//! then out of step). To keep it in step through a flood, stream listeners
//! hold back while [`HOLD_AT`] events wait here for a follower that is in
//! step and moving ([`Recent::holds_streams`]): TCP and TLS senders are
//! slowed, the events they send are not lost, and the work of decoding
//! them twice is saved. A follower that fell out of step by a little (at
//! most [`CATCH_UP`] events, as when more arrived while it committed) is
//! waited for too, while it reads those from the store, so that it comes
//! back in step rather than stay behind for the rest of the flood. UDP is
//! never held (it would lose datagrams), and a follower further behind
//! (rebuilding the index from the start) or that has not moved for
//! [`STALLED`] is not waited for.

use mamori_event::Event;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most events the ring keeps.
pub const KEEP: usize = 16_384;
/// Stream listeners hold back while this many events wait in the ring.
pub const HOLD_AT: usize = 4_096;
/// A follower out of step by at most this many events is waited for
/// while it reads them from the store.
pub const CATCH_UP: u64 = 4 * KEEP as u64;
/// A follower that has not moved for this long is not waited for.
pub const STALLED: Duration = Duration::from_secs(1);
/// A follower busy for a moment (see [`Recent::set_paused`]) counts as
/// moving for this long: a commit that takes more than [`STALLED`] does
/// not let the writer run far past it.
pub const PAUSED_STALLED: Duration = Duration::from_secs(5);
/// Streams held within this long mean a flood (see [`Recent::in_flood`]).
pub const FLOOD_WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    /// Batches of consecutive events: the first one's sequence number and
    /// the events, oldest first.
    batches: VecDeque<(u64, Vec<Event>)>,
    /// Events in `batches`.
    events: usize,
    /// The follower's next event, and when it last moved.
    follower: Option<(u64, Instant)>,
    /// The follower's scans alive: between its passes (none) nobody is
    /// held back.
    reading: usize,
    /// When stream listeners were last told to hold back.
    last_held: Option<Instant>,
    /// Since when the follower is busy with other work for a moment (an
    /// index commit): streams are held only once the ring is nearly full,
    /// and it counts as moving for up to [`PAUSED_STALLED`].
    paused: Option<Instant>,
    /// Events the follower took from here rather than from the store.
    taken: u64,
}

impl State {
    /// Drops the batches wholly before `next`.
    fn drop_before(&mut self, next: u64) {
        while let Some((first, evs)) = self.batches.front() {
            if first + evs.len() as u64 > next {
                break;
            }
            self.events -= evs.len();
            self.batches.pop_front();
        }
    }
}

/// The ring of events just written (see the module's text).
#[derive(Default)]
pub(crate) struct Recent {
    state: Mutex<State>,
}

impl Recent {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a follower is registered (only then are batches kept).
    pub(crate) fn wanted(&self) -> bool {
        self.state().follower.is_some()
    }

    /// Keeps `events`, the ones numbered from `first` on, just written.
    pub(crate) fn publish(&self, first: u64, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut st = self.state();
        let Some((next, _)) = st.follower else {
            return;
        };
        st.drop_before(next);
        // A gap (a batch not kept) would be taken for events that do not
        // exist: start again from this batch.
        if st
            .batches
            .back()
            .is_some_and(|(f, evs)| f + evs.len() as u64 != first)
        {
            st.batches.clear();
            st.events = 0;
        }
        st.events += events.len();
        st.batches.push_back((first, events));
        while st.events > KEEP && st.batches.len() > 1 {
            if let Some((_, evs)) = st.batches.pop_front() {
                st.events -= evs.len();
            }
        }
    }

    /// Registers the follower at its next event `next` (it moved there).
    pub(crate) fn follower_at(&self, next: u64) {
        let mut st = self.state();
        st.follower = Some((next, Instant::now()));
        st.drop_before(next);
    }

    /// The follower is busy with other work (true) for a moment, or back
    /// (false).
    pub(crate) fn set_paused(&self, paused: bool) {
        self.state().paused = paused.then(Instant::now);
    }

    /// One of the follower's scans starts (true) or ends (false).
    pub(crate) fn set_reading(&self, reading: bool) {
        let mut st = self.state();
        st.reading = if reading {
            st.reading + 1
        } else {
            st.reading.saturating_sub(1)
        };
    }

    /// The kept events from `next` on, as the first one's number and the
    /// events of the batch holding `next`, taken out of the ring; `None`
    /// when the ring does not hold `next` (the follower, now at `next`,
    /// reads the store).
    pub(crate) fn take(&self, next: u64) -> Option<(u64, Vec<Event>)> {
        let mut st = self.state();
        st.drop_before(next);
        if st.batches.front().is_none_or(|(first, _)| *first > next) {
            st.follower = Some((next, Instant::now()));
            return None;
        }
        let (first, evs) = st.batches.pop_front()?;
        st.events -= evs.len();
        let end = first + evs.len() as u64;
        st.taken += end - next;
        st.follower = Some((end, Instant::now()));
        Some((first, evs))
    }

    /// Whether stream listeners should hold back: the follower is reading
    /// and has moved within [`STALLED`] (or was paused within
    /// [`PAUSED_STALLED`]), and either it is in step (the ring
    /// holds its next event) and [`HOLD_AT`] events wait for it (while it
    /// is paused, [`KEEP`] less [`HOLD_AT`]), or it is out of step by at
    /// most [`CATCH_UP`] events.
    pub(crate) fn holds_streams(&self) -> bool {
        let mut st = self.state();
        let Some((next, moved)) = st.follower else {
            return false;
        };
        let (Some((first, _)), Some((last, evs))) = (st.batches.front(), st.batches.back()) else {
            return false;
        };
        let waiting = if *first <= next {
            // In step. While it is busy, what comes meanwhile fills the
            // ring rather than leave the processor idle, but not so far
            // that it falls out of step.
            let at = if st.paused.is_some() {
                KEEP - HOLD_AT
            } else {
                HOLD_AT
            };
            st.events >= at
        } else {
            // Out of step: the writer went on past the ring while it was
            // busy. Held while it reads what it missed from the store,
            // unless that is far more than a moment's worth.
            last + evs.len() as u64 - next <= CATCH_UP
        };
        let alive = match st.paused {
            Some(since) => since.elapsed() < PAUSED_STALLED,
            None => moved.elapsed() < STALLED,
        };
        let hold = st.reading > 0 && waiting && alive;
        if hold {
            st.last_held = Some(Instant::now());
        }
        hold
    }

    /// Whether stream listeners were held back within [`FLOOD_WINDOW`]:
    /// events come faster than the follower takes them.
    pub(crate) fn in_flood(&self) -> bool {
        self.state()
            .last_held
            .is_some_and(|t| t.elapsed() < FLOOD_WINDOW)
    }

    /// Events the follower took from the ring since the store was opened.
    pub(crate) fn taken(&self) -> u64 {
        self.state().taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event::new(format!("e{i}").into_bytes()))
            .collect()
    }

    #[test]
    fn nothing_is_kept_without_a_follower() {
        let r = Recent::default();
        r.publish(0, events(10));
        assert!(!r.wanted());
        assert!(r.take(0).is_none());
    }

    #[test]
    fn the_follower_takes_the_batch_holding_its_next_event() {
        let r = Recent::default();
        r.follower_at(0);
        r.publish(0, events(10));
        r.publish(10, events(5));
        let (first, evs) = r.take(3).expect("held");
        assert_eq!((first, evs.len()), (0, 10));
        assert_eq!(r.taken(), 7);
        let (first, evs) = r.take(10).expect("held");
        assert_eq!((first, evs.len()), (10, 5));
        assert!(r.take(15).is_none());
    }

    #[test]
    fn the_ring_keeps_at_most_its_size_and_a_follower_a_little_behind_it_is_waited_for() {
        let r = Recent::default();
        r.follower_at(0);
        let mut seq = 0;
        while seq < (KEEP + 4096) as u64 {
            r.publish(seq, events(1024));
            seq += 1024;
        }
        assert!(r.state().events <= KEEP);
        r.set_reading(true);
        // Its next event was dropped: it reads the store, and is waited for
        // while it is only a little behind.
        assert!(r.take(0).is_none());
        assert!(r.holds_streams(), "a little out of step");
        while seq <= CATCH_UP {
            r.publish(seq, events(1024));
            seq += 1024;
        }
        assert!(!r.holds_streams(), "far out of step: not waited for");
        assert!(r.take(seq - KEEP as u64).is_some(), "back in step");
    }

    #[test]
    fn streams_are_held_only_for_a_reading_follower_in_step() {
        let r = Recent::default();
        r.follower_at(0);
        r.set_reading(true);
        r.publish(0, events(HOLD_AT - 1));
        assert!(!r.holds_streams(), "fewer than HOLD_AT wait");
        r.publish(HOLD_AT as u64 - 1, events(1));
        assert!(r.holds_streams());
        assert!(r.in_flood());
        r.set_reading(false);
        assert!(!r.holds_streams(), "between passes");
        r.set_reading(true);
        r.take(0);
        assert!(!r.holds_streams(), "taken");
    }

    #[test]
    fn a_paused_follower_lets_the_ring_fill_before_streams_are_held() {
        let r = Recent::default();
        r.follower_at(0);
        r.set_reading(true);
        r.set_paused(true);
        r.publish(0, events(HOLD_AT));
        assert!(!r.holds_streams(), "room left while it is busy");
        r.publish(HOLD_AT as u64, events(KEEP - 2 * HOLD_AT));
        assert!(r.holds_streams(), "nearly full");
        r.set_paused(false);
        assert!(r.holds_streams());
        std::thread::sleep(STALLED + Duration::from_millis(100));
        assert!(!r.holds_streams(), "stalled");
        r.set_paused(true);
        assert!(r.holds_streams(), "busy is not stalled");
    }

    #[test]
    fn a_stalled_follower_is_not_waited_for() {
        let r = Recent::default();
        r.follower_at(0);
        r.set_reading(true);
        r.publish(0, events(HOLD_AT));
        assert!(r.holds_streams());
        std::thread::sleep(STALLED + Duration::from_millis(100));
        assert!(!r.holds_streams());
    }

    #[test]
    fn a_gap_starts_the_ring_again() {
        let r = Recent::default();
        r.follower_at(0);
        r.publish(0, events(10));
        r.publish(20, events(10));
        assert!(r.take(0).is_none());
        assert_eq!(r.take(20).map(|(f, e)| (f, e.len())), Some((20, 10)));
    }
}
