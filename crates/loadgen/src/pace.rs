//! `--rate`: sends released at an even pace by a thread of their own.
//!
//! tokio's timer fires at millisecond ticks, so workers that each slept until their own send
//! time left together at every tick: at 8 000 requests/s, eight at once. A burst like that is
//! queueing the load generator made, and it weighs more on the slower path (through the proxy)
//! than on the direct one. The pacer is an OS thread that sleeps with the kernel's
//! high-resolution timer and, at each due time, adds a permit to a semaphore that the workers
//! take one send each from. Sends therefore leave one at a time, evenly spaced to within the
//! kernel's timer slack (tens of microseconds), to whichever worker is free. When every worker
//! is busy the permits wait, and a freed worker sends at once: the offered load stays the
//! asked-for rate, as with any open-loop generator.

use std::{
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use tokio::sync::Semaphore;

/// The sends a paced run may make: take one permit before each send.
pub(crate) struct Pacer {
    permits: Arc<Semaphore>,
}

impl Pacer {
    /// Releases `rate` sends per second from `start` until `end`, then closes, so that a
    /// worker waiting for a send learns that the run is over.
    pub(crate) fn start(rate: f64, start: Instant, end: Instant) -> std::io::Result<Pacer> {
        let permits = Arc::new(Semaphore::new(0));
        let interval = Duration::from_secs_f64(1.0 / rate);
        let released = Arc::clone(&permits);
        // Not joined: it ends by itself at `end`, and a run that stops early (`--requests`)
        // should not wait for it.
        thread::Builder::new()
            .name("loadgen-pacer".to_owned())
            .spawn(move || {
                let mut sent: u64 = 0;
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    // Every send due by now, counted from the start so that no rounding of a
                    // sleep accumulates into a lower rate.
                    let due = due_by(now.saturating_duration_since(start), interval);
                    if due > sent {
                        released.add_permits(usize::try_from(due - sent).unwrap_or(usize::MAX));
                        sent = due;
                    }
                    let next = start + interval.mul_f64(sent as f64);
                    thread::sleep(next.min(end).saturating_duration_since(Instant::now()));
                }
                released.close();
            })?;
        Ok(Pacer { permits })
    }

    /// Waits for the next send; `false` when the run is over.
    pub(crate) async fn next(&self) -> bool {
        match self.permits.acquire().await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }
}

/// Sends due in the first `elapsed` of a run: one at the start, then one per `interval`.
fn due_by(elapsed: Duration, interval: Duration) -> u64 {
    let n = elapsed.as_nanos() / interval.as_nanos().max(1);
    u64::try_from(n).unwrap_or(u64::MAX).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_due_one_per_interval_from_the_start() {
        let i = Duration::from_micros(125);
        assert_eq!(due_by(Duration::ZERO, i), 1);
        assert_eq!(due_by(Duration::from_micros(124), i), 1);
        assert_eq!(due_by(Duration::from_micros(125), i), 2);
        assert_eq!(due_by(Duration::from_secs(1), i), 8001);
    }

    #[test]
    fn the_pacer_releases_the_rate_then_closes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let start = Instant::now();
        let end = start + Duration::from_millis(200);
        let pacer = Pacer::start(1000.0, start, end).expect("pacing thread");
        let sends = runtime.block_on(async {
            let mut n = 0u32;
            while pacer.next().await {
                n += 1;
            }
            n
        });
        // 200 ms at 1000/s: at most 201 sends (the one at the start, then one per millisecond),
        // however the threads were scheduled. Fewer if this machine stalled the pacing thread,
        // so there is no lower bound here: a real run's count is the benchmark's to show.
        assert!(sends <= 201, "{sends} sends in 200 ms at 1000/s");
        assert!(Instant::now() >= end, "closed before the end of the run");
    }
}
