//! Login throttling, whichever door a guess comes through (the console's form or
//! `POST /api/v1/session`). Three allowances, all of which an attempt must find room
//! in:
//!
//! - per client address and username: guesses at one account from one place;
//! - per client address: one place trying many usernames;
//! - for the whole instance: a ceiling on password checks, each of which costs a slow
//!   hash, however many addresses an attacker spreads over.
//!
//! There is deliberately no allowance per username alone: a stranger spending it would
//! lock the real person out of their own account. IPv6 clients are counted by their
//! /64, the block one subscriber is usually given.
//!
//! The allowances are kept in memory by each daemon instance; an attacker spreading
//! guesses over several instances gets at most that many times the allowance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::rate_limit::{subscriber, wait_of};

/// Attempts at one account from one address in a burst, then one per `USER_REFILL`.
const USER_BURST: u32 = 8;
const USER_REFILL: Duration = Duration::from_secs(30);
/// Attempts from one address at any accounts in a burst, then one per `ADDR_REFILL`.
const ADDR_BURST: u32 = 30;
const ADDR_REFILL: Duration = Duration::from_secs(3);
/// Attempts the instance checks in a burst, then one per `ALL_REFILL`.
const ALL_BURST: u32 = 120;
const ALL_REFILL: Duration = Duration::from_millis(50);
/// Past this many tracked keys, forget those whose allowance is full again.
const TIDY_ABOVE: usize = 10_000;

/// Which allowance an attempt found spent, and how long until it has room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub wait: Duration,
    pub scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    AddressAndUser,
    Address,
    Everyone,
}

pub struct LoginThrottle {
    per_user: DefaultKeyedRateLimiter<(IpAddr, String)>,
    per_addr: DefaultKeyedRateLimiter<IpAddr>,
    everyone: DefaultDirectRateLimiter,
}

fn quota(burst: u32, refill: Duration) -> Quota {
    Quota::with_period(refill)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            per_user: RateLimiter::keyed(quota(USER_BURST, USER_REFILL)),
            per_addr: RateLimiter::keyed(quota(ADDR_BURST, ADDR_REFILL)),
            everyone: RateLimiter::direct(quota(ALL_BURST, ALL_REFILL)),
        }
    }
}

impl LoginThrottle {
    /// Counts one login attempt from `client` for `username`; `Err` with the spent
    /// allowance and how long to wait (the password is then not even checked).
    pub fn attempt(&self, client: IpAddr, username: &str) -> Result<(), Throttled> {
        if self.per_user.len() > TIDY_ABOVE {
            self.per_user.retain_recent();
        }
        if self.per_addr.len() > TIDY_ABOVE {
            self.per_addr.retain_recent();
        }
        let client = subscriber(client);
        let user = username.trim().to_lowercase();
        let spent = |scope| {
            move |n| Throttled {
                wait: wait_of(n),
                scope,
            }
        };
        self.per_user
            .check_key(&(client, user))
            .map_err(spent(Scope::AddressAndUser))?;
        self.per_addr
            .check_key(&client)
            .map_err(spent(Scope::Address))?;
        self.everyone.check().map_err(spent(Scope::Everyone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn an_account_is_throttled_per_address_and_a_stranger_cannot_lock_it() {
        let t = LoginThrottle::default();
        let attacker = ip("203.0.113.7");
        for _ in 0..USER_BURST {
            assert!(t.attempt(attacker, "admin").is_ok());
        }
        let spent = t
            .attempt(attacker, "ADMIN ")
            .expect_err("throttled, case and spaces aside");
        assert_eq!(spent.scope, Scope::AddressAndUser);
        assert!(spent.wait > Duration::ZERO && spent.wait <= USER_REFILL);
        // The real admin, elsewhere, is not locked out.
        assert!(t.attempt(ip("198.51.100.20"), "admin").is_ok());
        assert!(t.attempt(attacker, "budi").is_ok());
    }

    #[test]
    fn one_address_trying_many_usernames_is_throttled() {
        let t = LoginThrottle::default();
        let attacker = ip("2001:db8:1:2::1");
        for i in 0..ADDR_BURST {
            // Each from another address of the same /64.
            let from = ip(&format!("2001:db8:1:2::{:x}", i + 2));
            assert!(t.attempt(from, &format!("user{i}")).is_ok());
        }
        let spent = t.attempt(attacker, "someone-else").expect_err("throttled");
        assert_eq!(spent.scope, Scope::Address);
        assert!(t.attempt(ip("2001:db8:1:3::1"), "someone-else").is_ok());
    }

    #[test]
    fn the_instance_has_a_ceiling_over_all_addresses() {
        let t = LoginThrottle::default();
        let mut refused = None;
        for i in 0..ALL_BURST * 2 {
            let from = IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8]);
            if let Err(e) = t.attempt(from, "admin") {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused.map(|e| e.scope), Some(Scope::Everyone));
    }

    #[test]
    fn ipv6_is_counted_by_its_64() {
        assert_eq!(subscriber(ip("2001:db8::1:2:3:4")), ip("2001:db8::"));
        assert_eq!(subscriber(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(subscriber(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
