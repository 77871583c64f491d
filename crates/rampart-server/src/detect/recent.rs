//! Events the ledger committed lately, as they were appended, for the
//! detection stage to take instead of decoding the entries it reads back.
//!
//! Detection follows the ledger (it resumes from a saved cursor and sees
//! exactly what is recorded), so it used to read every entry back and
//! decode it: under ingest load that decoding, and dropping the copies it
//! made, took about a tenth of the node's CPU. When detection is on, the
//! audit sink puts each committed batch here with its ledger position; detection takes the
//! events at its cursor when they are here, contiguously, and reads the
//! ledger for anything else (entries appended by another path, batches
//! evicted while detection lagged, everything after a restart). The ledger
//! announces a commit before the sink that made it has put the batch here,
//! so detection, woken by that announcement, waits briefly for the batch
//! ([`RecentEvents::take_arriving`]) instead of
//! decoding the same events back (without the wait, under ingest load,
//! detection spent as much time on batches it read back as on the ones it
//! took). Either way
//! it evaluates the same events: an entry decodes to the event it was
//! encoded from.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use rampart_core::Event;

/// The most events held. Past it the oldest batches go: detection reads
/// those from the ledger. Detection keeps up under load, so this only
/// bounds memory when it does not.
pub const MAX_EVENTS: usize = 16_384;

/// Recent committed batches by the ledger index of their first event.
#[derive(Debug, Default)]
pub struct RecentEvents {
    inner: Mutex<Held>,
    /// Signalled by every [`RecentEvents::put`] (one stored permit: the
    /// detection loop is the one waiter).
    arrived: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Held {
    batches: BTreeMap<u64, Arc<[Event]>>,
    events: usize,
    /// Where the first batch ever put began: from there on every commit
    /// comes through here; before it are the entries of earlier runs.
    since: Option<u64>,
    /// The end of the last batch dropped (evicted, or too large to hold):
    /// what is before it may never be here.
    dropped_to: u64,
}

/// An event taken from [`RecentEvents`]: its batch, and where in it.
pub type Taken = (Arc<[Event]>, usize);

impl RecentEvents {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `events` are committed at ledger indexes from `first`.
    pub fn put(&self, first: u64, events: Arc<[Event]>) {
        if events.is_empty() {
            return;
        }
        let end = first.saturating_add(events.len() as u64);
        let mut held = self.held();
        held.since.get_or_insert(first);
        if events.len() > MAX_EVENTS {
            held.dropped_to = held.dropped_to.max(end);
            drop(held);
            self.arrived.notify_one();
            return;
        }
        held.events += events.len();
        if let Some(old) = held.batches.insert(first, events) {
            held.events -= old.len();
        }
        while held.events > MAX_EVENTS {
            let Some((oldest_first, oldest)) = held.batches.pop_first() else { break };
            held.events -= oldest.len();
            held.dropped_to = held.dropped_to.max(oldest_first.saturating_add(oldest.len() as u64));
        }
        drop(held);
        self.arrived.notify_one();
    }

    /// Whether the events at `from` are worth waiting for: committed in
    /// this run (a catch-up after a restart reads the ledger at once) and
    /// not dropped (evicted while detection lagged, or a batch too large).
    /// Batches committed together are put in no particular order, so a
    /// later one already here says nothing about this one.
    fn expects(&self, from: u64) -> bool {
        let held = self.held();
        held.since.is_some_and(|since| from >= since) && from >= held.dropped_to
    }

    /// Waits until the next [`RecentEvents::put`] (or one since the last
    /// wait), at most `limit`. The ledger announces a commit before the
    /// sink that made it has put its events here (it does so as soon as its
    /// task runs again), so detection, woken by the commit, waits this long
    /// for them rather than decoding the same events back from the ledger.
    async fn arrival(&self, limit: std::time::Duration) {
        let _ = tokio::time::timeout(limit, self.arrived.notified()).await;
    }

    /// [`RecentEvents::take`], waiting up to `grace` for the events at
    /// `from` when they are committed but not put yet (and
    /// [`RecentEvents::expects`] them); empty if they do not arrive, and
    /// the caller reads them from the ledger.
    pub async fn take_arriving(&self, from: u64, to: u64, grace: std::time::Duration) -> Vec<Taken> {
        let deadline = std::time::Instant::now() + grace;
        let mut held = self.take(from, to);
        while held.is_empty() && from < to && self.expects(from) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            self.arrival(left).await;
            held = self.take(from, to);
        }
        held
    }

    /// The events at `from`, `from + 1`, … up to `to` (exclusive), as far
    /// as they are held without a gap: possibly none. Forgets every batch
    /// that ends at or before `from` (the caller has moved past them).
    pub fn take(&self, from: u64, to: u64) -> Vec<Taken> {
        let mut held = self.held();
        while let Some((&first, batch)) = held.batches.first_key_value() {
            if first.saturating_add(batch.len() as u64) > from {
                break;
            }
            let len = batch.len();
            held.batches.pop_first();
            held.events -= len;
        }
        let mut out = Vec::new();
        let mut at = from;
        while at < to {
            let Some((&first, batch)) = held.batches.range(..=at).next_back() else { break };
            let offset = at - first;
            if offset >= batch.len() as u64 {
                break; // a gap: the event at `at` is not held
            }
            #[allow(clippy::cast_possible_truncation)] // below the batch's length
            let start = offset as usize;
            let end = batch.len().min(start.saturating_add((to - at) as usize));
            out.extend((start..end).map(|i| (batch.clone(), i)));
            at += (end - start) as u64;
        }
        out
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.held().events
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rampart_core::Outcome;

    use super::*;

    fn batch(kinds: &[&str]) -> Arc<[Event]> {
        kinds.iter().map(|k| Event::new(k, Outcome::Success, "t")).collect()
    }

    fn kinds(taken: &[Taken]) -> Vec<String> {
        taken.iter().map(|(b, i)| b[*i].kind.clone()).collect()
    }

    #[test]
    fn takes_the_contiguous_run_at_the_cursor_and_stops_at_a_gap() {
        let recent = RecentEvents::default();
        recent.put(10, batch(&["a", "b", "c"]));
        recent.put(13, batch(&["d"]));
        // 14 is missing (appended by another path): 15 is not reached.
        recent.put(15, batch(&["f", "g"]));
        assert_eq!(kinds(&recent.take(11, 100)), ["b", "c", "d"]);
        assert_eq!(kinds(&recent.take(11, 13)), ["b", "c"], "up to `to`, exclusive");
        assert!(recent.take(14, 100).is_empty(), "nothing held at 14");
        assert_eq!(kinds(&recent.take(15, 100)), ["f", "g"]);
        // Taking at 15 forgot everything that ends before it.
        assert_eq!(recent.len(), 2);
        assert!(recent.take(12, 100).is_empty());
    }

    #[test]
    fn batches_arriving_out_of_order_are_found_by_position() {
        let recent = RecentEvents::default();
        recent.put(3, batch(&["d", "e"]));
        recent.put(0, batch(&["a", "b", "c"]));
        assert_eq!(kinds(&recent.take(0, 5)), ["a", "b", "c", "d", "e"]);
        assert!(recent.take(5, 6).is_empty());
    }

    #[test]
    fn memory_is_bounded_by_dropping_the_oldest_batches() {
        let recent = RecentEvents::default();
        let half = MAX_EVENTS / 2;
        let big: Arc<[Event]> = (0..half).map(|_| Event::new("x", Outcome::Success, "t")).collect();
        recent.put(0, big.clone());
        recent.put(half as u64, big.clone());
        recent.put(2 * half as u64, batch(&["last"]));
        assert!(recent.len() <= MAX_EVENTS);
        assert!(recent.take(0, 10).is_empty(), "the oldest batch went");
        assert_eq!(recent.take(half as u64, half as u64 + 2).len(), 2);
        // A batch larger than the bound is not held at all.
        let huge: Arc<[Event]> = (0..=MAX_EVENTS).map(|_| Event::new("x", Outcome::Success, "t")).collect();
        recent.put(1 << 40, huge);
        assert!(recent.take(1 << 40, (1 << 40) + 1).is_empty());
        assert!(!recent.expects(1 << 40), "a batch too large to hold is not waited for");
        assert!(!recent.expects(0), "nor an evicted one");
    }

    #[test]
    fn only_events_committed_in_this_run_and_not_dropped_are_waited_for() {
        let recent = RecentEvents::default();
        assert!(!recent.expects(0), "nothing put yet: a catch-up reads the ledger at once");
        recent.put(100, batch(&["a", "b"]));
        assert!(!recent.expects(99), "before the first batch of this run");
        assert!(recent.expects(100) && recent.expects(102), "this run's, or about to be put");
    }

    #[tokio::test]
    async fn a_put_ends_the_wait_for_arrivals_and_the_wait_is_bounded() {
        let recent = Arc::new(RecentEvents::default());
        let started = std::time::Instant::now();
        recent.arrival(std::time::Duration::from_millis(30)).await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(30), "nothing put: waits out its limit");
        let putter = recent.clone();
        let put = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            putter.put(0, batch(&["a"]));
        });
        let started = std::time::Instant::now();
        recent.arrival(std::time::Duration::from_secs(30)).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the put woke the waiter");
        assert_eq!(kinds(&recent.take(0, 1)), ["a"]);
        put.await.unwrap();
    }
}
