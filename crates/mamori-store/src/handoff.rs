//! Decoded events handed from one follower of the store to another.
//!
//! In `mamori serve` the indexer and live detection both follow the store,
//! and each would read and decode every stored event. With a [`Handoff`],
//! the indexer publishes the batches it has decoded and detection takes the
//! batch that holds its next event instead of decoding it again.
//!
//! That only works while the two go in step, so each waits a little for
//! the other:
//! - detection waits for a batch while the indexer is in a pass that will
//!   reach its next event and is at most [`MAX_LEAD`] events behind it;
//! - the indexer, with [`KEEP`] batches published, waits while detection
//!   still needs the oldest of them, or is reading the store for itself at
//!   most [`MAX_LEAD`] events behind it (so that it catches up, rather than
//!   fall further behind reading for itself).
//!
//! While the indexer commits, its pass is paused ([`Pass::pause`]) and
//! detection reads the store for itself rather than wait through the
//! commit with its core idle.
//!
//! Neither waits longer than [`WAIT`] at a time, nor for a follower that is
//! far away: an indexer rebuilding the index from the start, or detection
//! catching up after a stop, are not waited for, and detection then reads
//! the store itself. The handoff never holds more than [`KEEP`] batches,
//! and only ones detection has yet to reach (in a quiet hour detection is
//! ahead of the indexer's once-a-second passes and nothing is kept), so
//! neither follower can stop the other or make it hold much memory.

use mamori_event::Event;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Events of one published batch, in sequence order.
pub type Batch = Arc<Vec<(u64, Event)>>;

/// The events a publisher puts into one batch.
pub const BATCH: usize = 4096;
/// Batches kept for the taker.
pub const KEEP: usize = 2;
/// How far (in events) the publisher may be behind a taker's next event
/// for the taker to wait for it.
pub const MAX_LEAD: u64 = 16 * BATCH as u64;
/// The longest either side waits for the other at a time.
pub const WAIT: Duration = Duration::from_secs(1);

/// Decoded events passed from a publisher (the indexer) to a taker
/// (detection). Shared between threads.
#[derive(Default)]
pub struct Handoff {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    batches: VecDeque<Batch>,
    /// While the publisher is in a pass: the next event it will read, and
    /// where the pass ends (exclusive).
    reading: Option<(u64, u64)>,
    /// The taker's next event, and when it last asked.
    taker: Option<(u64, Instant)>,
    /// The publisher is in a pass but busy with other work for a while
    /// (see [`Pass::pause`]): the taker reads for itself meanwhile.
    paused: bool,
}

fn first_seq(b: &Batch) -> u64 {
    b.first().map_or(u64::MAX, |(s, _)| *s)
}

fn last_seq(b: &Batch) -> u64 {
    b.last().map_or(0, |(s, _)| *s)
}

impl State {
    /// Drops the batches the taker has gone past.
    fn drop_taken(&mut self, next: u64) -> bool {
        let before = self.batches.len();
        while self.batches.front().is_some_and(|b| last_seq(b) < next) {
            self.batches.pop_front();
        }
        self.batches.len() != before
    }
}

impl Handoff {
    /// A new, empty handoff.
    pub fn new() -> Handoff {
        Handoff::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_until<'a>(
        &self,
        st: MutexGuard<'a, State>,
        deadline: Instant,
    ) -> Option<MutexGuard<'a, State>> {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        Some(
            self.changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0,
        )
    }

    /// The publisher starts a pass over `from..upto`. The pass ends when the
    /// returned guard is dropped (on every path out of the pass).
    pub fn begin(&self, from: u64, upto: u64) -> Pass<'_> {
        self.state().reading = Some((from, upto));
        self.changed.notify_all();
        Pass { handoff: self }
    }

    /// The taker's view: the batch holding `next` and the index of `next`
    /// in it, waiting up to [`WAIT`] while the publisher is reading at most
    /// [`MAX_LEAD`] events behind `next` in a pass that reaches it. `None`:
    /// read the store.
    pub fn take(&self, next: u64) -> Option<(Batch, usize)> {
        let deadline = Instant::now() + WAIT;
        let mut st = self.state();
        st.taker = Some((next, Instant::now()));
        if st.drop_taken(next) {
            self.changed.notify_all();
        }
        loop {
            if let Some(b) = st.batches.front()
                && first_seq(b) <= next
            {
                let i = b.partition_point(|(s, _)| *s < next);
                return Some((b.clone(), i));
            }
            let coming = match st.reading {
                Some((at, end)) => !st.paused && at <= next && next - at <= MAX_LEAD && next < end,
                None => false,
            };
            if !coming {
                return None;
            }
            st = self.wait_until(st, deadline)?;
            st.drop_taken(next);
        }
    }
}

/// A publisher's pass; see [`Handoff::begin`].
pub struct Pass<'a> {
    handoff: &'a Handoff,
}

impl Pass<'_> {
    /// The pass now goes on up to `upto` (exclusive), where it was to end
    /// before; a taker waiting for events there may wait for it again.
    pub fn extend(&self, upto: u64) {
        let h = self.handoff;
        if let Some((_, end)) = &mut h.state().reading {
            *end = (*end).max(upto);
        }
        h.changed.notify_all();
    }

    /// The publisher stops publishing for a while (an index commit) until
    /// the returned guard is dropped: a taker waiting meanwhile is not kept
    /// waiting, and reads the store for itself instead of leaving its core
    /// idle. Once the pass goes on, a taker it is not far behind waits
    /// for it again.
    pub fn pause(&self) -> Paused<'_> {
        self.handoff.state().paused = true;
        self.handoff.changed.notify_all();
        Paused {
            handoff: self.handoff,
        }
    }

    /// Publishes a batch of decoded events (in sequence order, following
    /// what was published before in this pass). With [`KEEP`] batches kept,
    /// it first waits (up to [`WAIT`]) while the taker still needs the
    /// oldest, or is at most [`MAX_LEAD`] events behind it and asking; a
    /// taker further behind, or that stopped asking, is not waited for.
    pub fn publish(&self, batch: Vec<(u64, Event)>) {
        let Some(last) = batch.last().map(|(s, _)| *s) else {
            return;
        };
        let h = self.handoff;
        let deadline = Instant::now() + WAIT;
        let mut st = h.state();
        if let Some((at, _)) = &mut st.reading {
            *at = last + 1;
        }
        // Kept only for a taker that has yet to reach these events: one
        // that is past them, or none, would never take them.
        if st.taker.is_none_or(|(next, _)| next > last) {
            drop(st);
            h.changed.notify_all();
            return;
        }
        while st.batches.len() >= KEEP {
            // The taker still needs the oldest batch, or reads the store
            // for itself a little behind it and will need it soon: it is
            // waited for, so that it catches up rather than fall further
            // behind (reading the store is slower than taking from here).
            let needed = match (st.taker, st.batches.front()) {
                (Some((next, asked)), Some(oldest)) => {
                    next + MAX_LEAD >= first_seq(oldest) && asked.elapsed() < WAIT
                }
                _ => false,
            };
            if !needed {
                st.batches.pop_front();
                continue;
            }
            match h.wait_until(st, deadline) {
                Some(again) => st = again,
                None => {
                    st = h.state();
                    st.batches.pop_front();
                }
            }
        }
        st.batches.push_back(Arc::new(batch));
        drop(st);
        h.changed.notify_all();
    }
}

/// A pause in a pass; see [`Pass::pause`].
pub struct Paused<'a> {
    handoff: &'a Handoff,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.handoff.state().paused = false;
        self.handoff.changed.notify_all();
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut st = self.handoff.state();
        st.reading = None;
        st.paused = false;
        if let Some((next, _)) = st.taker {
            st.drop_taken(next);
        }
        drop(st);
        self.handoff.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(from: u64, n: u64) -> Vec<(u64, Event)> {
        (from..from + n)
            .map(|s| (s, Event::new(format!("e{s}").into_bytes())))
            .collect()
    }

    #[test]
    fn the_batch_holding_the_next_event_is_taken_from_it_on() {
        let h = Handoff::new();
        // The taker says where it is (no pass: it reads for itself).
        assert!(h.take(0).is_none());
        let pass = h.begin(0, 100);
        pass.publish(batch(0, 10));
        pass.publish(batch(10, 10));
        let (b, i) = h.take(13).unwrap();
        assert_eq!(b[i].0, 13);
        assert_eq!(b[i].1.raw, b"e13");
        // The batch before is no longer kept.
        assert!(h.take(5).is_none());
    }

    #[test]
    fn a_taker_reads_for_itself_while_the_pass_is_paused() {
        let h = Arc::new(Handoff::new());
        assert!(h.take(0).is_none(), "no pass yet");
        let pass = h.begin(0, 100);
        pass.publish(batch(0, 10));
        assert_eq!(h.take(5).unwrap().1, 5);
        // Event 10 is coming, so a taker waits for it; the pause lets it
        // go at once rather than after WAIT.
        let taker = {
            let h = h.clone();
            std::thread::spawn(move || {
                let asked = Instant::now();
                (h.take(10).is_none(), asked.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let paused = pass.pause();
        let (read_itself, waited) = taker.join().unwrap();
        assert!(read_itself, "no batch while paused");
        assert!(waited < WAIT, "let go by the pause, not by the deadline");
        assert!(h.take(10).is_none(), "not kept waiting while paused");
        // The pass goes on: what it publishes is taken again.
        drop(paused);
        pass.publish(batch(10, 10));
        let (b, i) = h.take(12).unwrap();
        assert_eq!(b[i].0, 12);
    }

    #[test]
    fn batches_no_taker_will_take_are_not_kept() {
        let h = Handoff::new();
        let pass = h.begin(0, 100);
        pass.publish(batch(0, 10));
        assert!(h.state().batches.is_empty(), "no taker");
        drop(pass);
        assert!(h.take(15).is_none());
        let pass = h.begin(10, 100);
        pass.publish(batch(10, 5));
        assert!(h.state().batches.is_empty(), "the taker is past them");
        pass.publish(batch(15, 10));
        assert_eq!(h.state().batches.len(), 1, "the taker needs these");
        drop(h.take(20));
        drop(pass);
        // The pass is over and the taker is past what is kept.
        assert!(h.take(30).is_none());
        assert!(h.state().batches.is_empty());
    }

    #[test]
    fn nothing_is_waited_for_without_a_pass_that_reaches_the_event() {
        let h = Handoff::new();
        let t = Instant::now();
        assert!(h.take(0).is_none(), "no pass");
        let pass = h.begin(0, 10);
        assert!(h.take(10).is_none(), "past its end");
        pass.publish(batch(0, 5));
        drop(pass);
        assert!(h.take(7).is_none(), "pass over");
        let _rebuild = h.begin(0, u64::MAX);
        assert!(h.take(MAX_LEAD + 1).is_none(), "too far behind");
        assert!(t.elapsed() < WAIT / 2);
    }

    #[test]
    fn a_pass_that_goes_on_is_waited_for_past_its_first_end() {
        let h = Arc::new(Handoff::new());
        let pass = h.begin(0, 10);
        assert!(h.take(10).is_none(), "past its end");
        pass.extend(5);
        assert!(h.take(10).is_none(), "an end is never moved back");
        pass.extend(1000);
        let h2 = h.clone();
        let taker = std::thread::spawn(move || h2.take(100));
        std::thread::sleep(Duration::from_millis(20));
        pass.publish(batch(0, BATCH as u64));
        let (b, i) = taker.join().unwrap().expect("waited for the pass");
        assert_eq!(b[i].0, 100);
    }

    #[test]
    fn a_taker_waits_for_the_publisher_close_behind_it() {
        let h = Arc::new(Handoff::new());
        let pass_started = Arc::new(std::sync::Barrier::new(2));
        let (h2, b2) = (h.clone(), pass_started.clone());
        let publisher = std::thread::spawn(move || {
            let pass = h2.begin(0, 1000);
            b2.wait();
            std::thread::sleep(Duration::from_millis(50));
            pass.publish(batch(0, BATCH as u64));
        });
        pass_started.wait();
        let (b, i) = h.take(100).unwrap();
        assert_eq!(b[i].0, 100);
        publisher.join().unwrap();
    }

    #[test]
    fn the_publisher_waits_while_the_taker_needs_the_oldest_batch() {
        let h = Arc::new(Handoff::new());
        assert!(h.take(0).is_none());
        let pass = h.begin(0, 1000);
        for k in 0..KEEP as u64 {
            pass.publish(batch(k * 10, 10));
        }
        assert_eq!(h.take(3).unwrap().0[0].0, 0);
        std::thread::scope(|scope| {
            let publisher = scope.spawn(|| {
                let t = Instant::now();
                pass.publish(batch(KEEP as u64 * 10, 10));
                t.elapsed()
            });
            std::thread::sleep(Duration::from_millis(100));
            // Still there: the taker has not gone past it.
            assert_eq!(h.take(9).unwrap().0[0].0, 0);
            // Past it: the publisher goes on.
            assert_eq!(h.take(10).unwrap().0[0].0, 10);
            let waited = publisher.join().unwrap();
            assert!(waited >= Duration::from_millis(100), "{waited:?}");
            assert!(waited < WAIT, "{waited:?}");
        });
        assert_eq!(h.state().batches.len(), KEEP);
    }

    #[test]
    fn a_taker_that_falls_far_behind_or_stops_asking_is_not_waited_for_long() {
        let h = Handoff::new();
        let start = MAX_LEAD + 100;
        assert!(h.take(50).is_none());
        let pass = h.begin(start, start + 1000);
        for k in 0..KEEP as u64 {
            pass.publish(batch(start + k * 10, 10));
        }
        // Far behind the oldest batch: it reads the store itself.
        assert!(h.take(50).is_none());
        assert_eq!(h.state().batches.len(), KEEP);
        let t = Instant::now();
        pass.publish(batch(start + 20, 10));
        assert!(
            t.elapsed() < WAIT / 2,
            "a taker far behind is not waited for"
        );
        // Needs the oldest, then stops asking: waited for at most WAIT.
        assert_eq!(h.take(start + 15).unwrap().0[0].0, start + 10);
        let t = Instant::now();
        pass.publish(batch(start + 30, 10));
        let waited = t.elapsed();
        assert!(waited >= WAIT && waited < 2 * WAIT, "{waited:?}");
        assert_eq!(h.state().batches.len(), KEEP);
    }

    #[test]
    fn a_taker_a_little_behind_is_waited_for_while_it_catches_up() {
        let h = Handoff::new();
        assert!(h.take(0).is_none());
        let pass = h.begin(100, 1000);
        for k in 0..KEEP as u64 {
            pass.publish(batch(100 + k * 10, 10));
        }
        std::thread::scope(|scope| {
            let publisher = scope.spawn(|| {
                let t = Instant::now();
                pass.publish(batch(100 + KEEP as u64 * 10, 10));
                t.elapsed()
            });
            // Reading the store for itself, it asks again as it goes.
            for next in [30, 60, 90] {
                std::thread::sleep(Duration::from_millis(50));
                assert!(h.take(next).is_none());
            }
            // Caught up: it takes the oldest batch, then goes past it.
            assert_eq!(h.take(100).unwrap().0[0].0, 100);
            assert_eq!(h.take(110).unwrap().0[0].0, 110);
            let waited = publisher.join().unwrap();
            assert!(waited >= Duration::from_millis(150), "{waited:?}");
            assert!(waited < WAIT, "{waited:?}");
        });
    }
}
