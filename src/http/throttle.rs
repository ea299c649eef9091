//! Login throttling: password guesses against one account are limited, whichever door
//! they come through (the console's form or `POST /api/v1/session`). The limit is kept
//! in memory by each daemon instance; an attacker spreading guesses over several
//! instances gets at most that many times the allowance.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts allowed in a burst, per username.
const BURST: u32 = 8;
/// One more attempt becomes possible every this long.
const REFILL: Duration = Duration::from_secs(30);
/// Past this many tracked usernames, forget those whose allowance is full again.
const TIDY_ABOVE: usize = 10_000;

pub struct LoginThrottle {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(REFILL)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
        }
    }
}

impl LoginThrottle {
    /// Counts one login attempt for `username`; `Err` with how long to wait when its
    /// allowance is spent (the password is then not even checked).
    pub fn attempt(&self, username: &str) -> Result<(), Duration> {
        if self.limiter.len() > TIDY_ABOVE {
            self.limiter.retain_recent();
        }
        let key = username.trim().to_lowercase();
        self.limiter.check_key(&key).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_throttled_after_a_burst_and_others_are_not() {
        let t = LoginThrottle::default();
        for _ in 0..BURST {
            assert!(t.attempt("sari").is_ok());
        }
        let wait = t
            .attempt("SARI ")
            .expect_err("throttled, case and spaces aside");
        assert!(wait > Duration::ZERO && wait <= REFILL);
        assert!(t.attempt("budi").is_ok());
    }
}
