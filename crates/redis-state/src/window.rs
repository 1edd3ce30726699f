//! A per-minute usage counter (requests or tokens of one deployment) as one instance sees it:
//! the shared total of the last sync plus this instance's own increments since, read as a
//! sliding window over two fixed minutes. Pure: no I/O, no clock; time is passed in.
//!
//! The sliding window is the usual two-bucket estimate: at `e` seconds into minute `m`, usage
//! is `count(m-1) × (60 - e) / 60 + count(m)`. It admits a burst of the whole limit, then
//! gives capacity back gradually, like the in-memory store's GCRA limiter, and needs only two
//! integers per deployment in Redis.

use std::time::Duration;

const MINUTE: u64 = 60;

fn minute_of(now: Duration) -> u64 {
    now.as_secs() / MINUTE
}

/// Seconds since the start of the minute of `now`.
fn into_minute(now: Duration) -> f64 {
    (now.as_secs() % MINUTE) as f64 + f64::from(now.subsec_nanos()) / 1e9
}

/// One deployment's counter for one quantity (requests or tokens).
#[derive(Debug, Default, Clone)]
pub(crate) struct Counter {
    /// The minute `shared` and `unpushed` count.
    minute: u64,
    /// The total of `minute - 1`: this instance's estimate when the minute rolled, raised by
    /// later syncs that read the complete count.
    prev: u64,
    /// The total of `minute` in Redis as of the last sync (this instance's pushed increments
    /// included).
    shared: u64,
    /// This instance's increments to `minute` not yet handed to the sync task.
    unpushed: u64,
    /// Increments handed to the sync task whose round has not come back yet.
    pushing: u64,
    /// The minute `pushing` belongs to.
    pushing_minute: u64,
    /// Increments of `minute - 1` not yet pushed (the minute rolled before the sync took them).
    carry: u64,
}

/// What one sync round takes from a counter: the increments to push, and the minute whose
/// total (and the previous minute's) it reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Round {
    /// The minute read, and the one `delta` is added to.
    pub(crate) minute: u64,
    /// Increments for `minute`.
    pub(crate) delta: u64,
    /// Increments for `minute - 1`.
    pub(crate) carry: u64,
}

impl Counter {
    /// Admits `cost` if the estimate leaves room under `limit`, and counts it; else says how
    /// long until it would fit (assuming no other traffic).
    pub(crate) fn try_take(
        &mut self,
        now: Duration,
        limit: u64,
        cost: u64,
    ) -> Result<(), Duration> {
        self.room(now, limit, cost)?;
        self.unpushed += cost;
        Ok(())
    }

    /// `Ok` if `need` more would fit under `limit` now, else how long until it would.
    pub(crate) fn room(&mut self, now: Duration, limit: u64, need: u64) -> Result<(), Duration> {
        self.roll(now);
        let current = self.current();
        let estimate = self.prev as f64 * (1.0 - into_minute(now) / MINUTE as f64) + current as f64;
        if estimate + need as f64 <= limit as f64 {
            Ok(())
        } else {
            Err(wait_for(now, self.prev, current, limit, need))
        }
    }

    /// Counts `n` (tokens after the fact: the count may go over the limit).
    pub(crate) fn add(&mut self, now: Duration, n: u64) {
        self.roll(now);
        self.unpushed += n;
    }

    /// The count of the minute of `now`, as far as this instance knows.
    pub(crate) fn used(&mut self, now: Duration) -> u64 {
        self.roll(now);
        self.current()
    }

    /// Hands this round's increments to the sync task.
    pub(crate) fn begin_round(&mut self) -> Round {
        let round = Round {
            minute: self.minute,
            delta: self.unpushed,
            carry: self.carry,
        };
        self.pushing = self.unpushed;
        self.pushing_minute = self.minute;
        self.unpushed = 0;
        self.carry = 0;
        round
    }

    /// The round reached Redis: its pushes are in `current` (the total of `round.minute`, read
    /// after the pushes) and `previous` is the total of the minute before.
    pub(crate) fn end_round(&mut self, round: Round, current: u64, previous: u64) {
        self.pushing = 0;
        if self.minute == round.minute {
            // Within a minute Redis only grows; a lower count means Redis lost data (a restart),
            // and then what this instance saw is the better lower bound.
            self.shared = self.shared.max(current);
            self.prev = self.prev.max(previous);
        } else if self.minute == round.minute + 1 {
            self.prev = self.prev.max(current);
        }
    }

    /// The round failed: its increments go back to be pushed next time (if Redis did apply
    /// them before the failure was noticed, they count twice: the safe direction for a limit).
    pub(crate) fn fail_round(&mut self, round: Round) {
        self.pushing = 0;
        if self.minute == round.minute {
            self.unpushed += round.delta;
            self.carry += round.carry;
        } else if self.minute == round.minute + 1 {
            self.carry += round.delta;
        }
    }

    fn current(&self) -> u64 {
        let pushing = if self.pushing_minute == self.minute {
            self.pushing
        } else {
            0
        };
        self.shared + self.unpushed + pushing
    }

    fn roll(&mut self, now: Duration) {
        let m = minute_of(now);
        if m <= self.minute {
            return;
        }
        if m == self.minute + 1 {
            self.prev = self.current();
            self.carry = self.unpushed;
        } else {
            self.prev = 0;
            self.carry = 0;
        }
        self.minute = m;
        self.shared = 0;
        self.unpushed = 0;
    }
}

/// How long until `need` more fits under `limit`, when the previous minute counted `prev`, this
/// one `current`, and nothing else arrives.
fn wait_for(now: Duration, prev: u64, current: u64, limit: u64, need: u64) -> Duration {
    let (prev, current, limit, need) = (prev as f64, current as f64, limit as f64, need as f64);
    let minute = MINUTE as f64;
    let e = into_minute(now);
    let room_now = limit - need - current;
    let secs = if room_now >= 0.0 && prev > 0.0 {
        // The previous minute's weight falls linearly to zero over this minute.
        minute * (1.0 - room_now / prev) - e
    } else if limit < need {
        minute
    } else {
        // Not before the next minute, where this minute becomes the previous one.
        let next = if current > 0.0 {
            (minute * (1.0 - (limit - need) / current)).max(0.0)
        } else {
            0.0
        };
        minute - e + next
    };
    Duration::from_secs_f64(secs.clamp(0.001, 2.0 * minute))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn at(secs: f64) -> Duration {
        // Minute 1000 starts at 60 000 s.
        Duration::from_secs_f64(60_000.0 + secs)
    }

    #[test]
    fn burst_then_gradual_return() {
        let mut c = Counter::default();
        for _ in 0..10 {
            c.try_take(at(0.0), 10, 1).expect("within the limit");
        }
        let wait = c
            .try_take(at(30.0), 10, 1)
            .expect_err("the 11th in a minute");
        // 10 used this minute: the next minute starts full, one fits once the previous minute's
        // weight is 0.9, 6 s in.
        assert!((wait.as_secs_f64() - 36.0).abs() < 0.01, "{wait:?}");
        assert!(c.try_take(at(65.0), 10, 1).is_err());
        c.try_take(at(66.01), 10, 1)
            .expect("6 s into the next minute");
        assert_eq!(c.used(at(66.01)), 1);
        // Half a minute on, half the previous minute's 10 still count.
        for _ in 0..4 {
            c.try_take(at(90.0), 10, 1).expect("room for 4");
        }
        let wait = c.try_take(at(90.0), 10, 1).expect_err("5 + 5 = 10");
        assert!((wait.as_secs_f64() - 6.0).abs() < 0.01, "{wait:?}");
        // Two idle minutes forget everything.
        assert_eq!(c.used(at(200.0)), 0);
        for _ in 0..10 {
            c.try_take(at(200.0), 10, 1).expect("fresh");
        }
    }

    #[test]
    fn tokens_may_go_over_and_block_until_the_window_slides() {
        let mut c = Counter::default();
        assert!(c.room(at(0.0), 1000, 1).is_ok());
        c.add(at(0.0), 3000);
        assert_eq!(c.used(at(1.0)), 3000);
        let wait = c.room(at(1.0), 1000, 1).expect_err("in debt");
        // Next minute: 3000 × (1 - e/60) + 1 ≤ 1000 once e ≥ 40.02 s.
        assert!(
            (wait.as_secs_f64() - (59.0 + 40.02)).abs() < 0.01,
            "{wait:?}"
        );
        assert!(c.room(at(60.0 + 40.1), 1000, 1).is_ok());
        assert!(
            Counter::default().room(at(1.0), 0, 1).is_err(),
            "a zero limit admits nothing"
        );
    }

    #[test]
    fn a_sync_round_merges_other_instances_without_losing_own_increments() {
        let mut c = Counter::default();
        c.add(at(1.0), 3);
        let round = c.begin_round();
        assert_eq!(
            round,
            Round {
                minute: 1000,
                delta: 3,
                carry: 0
            }
        );
        // Counted while the round is out.
        c.add(at(1.1), 2);
        assert_eq!(c.used(at(1.1)), 5);
        // Redis had 7 from others; with our 3 it says 10.
        c.end_round(round, 10, 4);
        assert_eq!(c.used(at(1.2)), 12);
        assert_eq!(c.begin_round().delta, 2);
    }

    #[test]
    fn a_failed_round_pushes_again_and_a_roll_carries_to_the_old_minute() {
        let mut c = Counter::default();
        c.add(at(59.0), 3);
        let round = c.begin_round();
        c.fail_round(round);
        assert_eq!(c.used(at(59.5)), 3);
        assert_eq!(c.begin_round().delta, 3);
        c.fail_round(Round {
            minute: 1000,
            delta: 3,
            carry: 0,
        });
        // The minute rolls before the next round: the 3 still go to minute 1000.
        c.add(at(61.0), 1);
        let round = c.begin_round();
        assert_eq!(
            round,
            Round {
                minute: 1001,
                delta: 1,
                carry: 3
            }
        );
        // A round that fails after a roll keeps the old minute's increments as carry.
        let mut c = Counter::default();
        c.add(at(59.0), 2);
        let round = c.begin_round();
        assert_eq!(c.used(at(61.0)), 0);
        c.fail_round(round);
        assert_eq!(
            c.begin_round(),
            Round {
                minute: 1001,
                delta: 0,
                carry: 2
            }
        );
    }

    #[test]
    fn a_round_read_after_the_minute_rolled_raises_the_previous_minute() {
        let mut c = Counter::default();
        c.add(at(59.9), 1);
        let round = c.begin_round();
        c.add(at(60.1), 1);
        // Others counted 8 more in minute 1000 than this instance knew.
        c.end_round(round, 9, 0);
        // 9 × (1 - 0.1/60) + 1 ≈ 9.98: one more does not fit a limit of 10.
        assert!(c.room(at(60.1), 10, 1).is_err());
        assert!(c.room(at(60.1), 11, 1).is_ok());
    }

    #[test]
    fn redis_losing_data_does_not_lower_what_this_instance_saw() {
        let mut c = Counter::default();
        c.add(at(1.0), 5);
        let round = c.begin_round();
        c.end_round(round, 5, 0);
        let round = c.begin_round();
        c.end_round(round, 0, 0);
        assert_eq!(c.used(at(2.0)), 5);
    }

    /// Two instances share a limit through a simulated Redis; each syncs after every `every`
    /// of its own admissions. Together they admit at most the limit plus what they admit
    /// between syncs: the bound `docs/scaling.md` states.
    #[test]
    fn two_instances_overshoot_by_at_most_what_they_admit_between_syncs() {
        for every in [1_u64, 3, 10] {
            let limit = 100;
            let mut redis: HashMap<u64, u64> = HashMap::new();
            let mut instances = [Counter::default(), Counter::default()];
            let mut since_sync = [0_u64; 2];
            let mut admitted = 0;
            for i in 0..400_u32 {
                let who = (i % 2) as usize;
                let now = at(1.0 + f64::from(i) * 0.01);
                if instances[who].try_take(now, limit, 1).is_ok() {
                    admitted += 1;
                    since_sync[who] += 1;
                }
                if since_sync[who] >= every {
                    since_sync[who] = 0;
                    let round = instances[who].begin_round();
                    let total = redis.entry(round.minute).or_default();
                    *total += round.delta;
                    let total = *total;
                    instances[who].end_round(round, total, 0);
                }
            }
            assert!(admitted >= limit, "every={every}: admitted {admitted}");
            assert!(
                admitted <= limit + 2 * every,
                "every={every}: admitted {admitted}"
            );
        }
    }
}
