//! Parallel evaluation of a batch of events. Matching an event against the
//! detection rules is stateless (the rule set is shared read-only; each
//! thread keeps its own scratch buffers), so a batch is split into small
//! chunks that threads take in turn, and the results come back in input
//! order. What is stateful (correlation) is then applied by the caller,
//! sequentially, over the ordered results: parallel matching never changes
//! which alerts a batch raises nor their order.
//!
//! Threads are scoped (`std::thread::scope`) and live for one batch; a batch
//! too small to be worth a thread runs on the caller's thread.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Inputs a thread takes at a time: small enough to balance events of
/// very different cost (a Windows event costs several Linux ones), large
/// enough that taking work is rare.
const CHUNK: usize = 32;

/// The threads batch evaluation uses for `requested`: 0 means one per
/// available core.
pub fn threads(requested: usize) -> usize {
    // Asked once: `available_parallelism` reads the cgroup's CPU quota
    // from files on every call (1 % of the node's CPU under ingest load,
    // asked once per batch).
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if requested > 0 {
        requested
    } else {
        *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }
}

/// Maps every input with `f` on up to `threads` threads (0: one per core),
/// each with its own state from `init`, and returns the outputs in input
/// order. `f` is also given the input's position.
pub fn map_ordered<I, O, S, N, F>(inputs: &[I], threads: usize, init: N, f: F) -> Vec<O>
where
    I: Sync,
    O: Send,
    N: Fn() -> S + Sync,
    F: Fn(&mut S, usize, &I) -> O + Sync,
{
    let workers = self::threads(threads).min(inputs.len().div_ceil(CHUNK)).max(1);
    if workers == 1 {
        let mut state = init();
        return inputs.iter().enumerate().map(|(i, input)| f(&mut state, i, input)).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut state = init();
        let mut done: Vec<(usize, Vec<O>)> = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            let Some(chunk) = inputs.get(start..inputs.len().min(start + CHUNK)).filter(|c| !c.is_empty()) else {
                break;
            };
            let out = chunk.iter().enumerate().map(|(k, input)| f(&mut state, start + k, input)).collect();
            done.push((start, out));
        }
        done
    };
    let mut chunks: Vec<(usize, Vec<O>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in handles {
            match h.join() {
                Ok(done) => all.extend(done),
                // A panic in `f` is the caller's; it resumes here.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    chunks.sort_unstable_by_key(|(start, _)| *start);
    let mut out = Vec::with_capacity(inputs.len());
    for (_, chunk) in chunks {
        out.extend(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_keep_input_order_whatever_the_threads() {
        let inputs: Vec<u64> = (0..10_007).collect();
        let want: Vec<(usize, u64)> = inputs.iter().map(|x| (*x as usize, x * 3)).collect();
        for threads in [1, 2, 3, 8] {
            let got = map_ordered(
                &inputs,
                threads,
                || 0usize,
                |calls, i, x| {
                    *calls += 1;
                    // Uneven cost, so threads finish chunks out of order.
                    if x % 97 == 0 {
                        std::thread::yield_now();
                    }
                    (i, x * 3)
                },
            );
            assert_eq!(got, want, "{threads} threads");
        }
        assert!(map_ordered(&[] as &[u8], 4, || (), |_, _, x| *x).is_empty());
        assert_eq!(threads(3), 3);
        assert!(threads(0) >= 1);
    }

    #[test]
    fn several_threads_take_part() {
        let inputs = vec![(); 4096];
        let ids = map_ordered(
            &inputs,
            2,
            || (),
            |_, _, _| {
                std::thread::sleep(std::time::Duration::from_micros(20));
                std::thread::current().id()
            },
        );
        let distinct: std::collections::HashSet<_> = ids.into_iter().collect();
        assert_eq!(distinct.len(), 2);
    }
}
