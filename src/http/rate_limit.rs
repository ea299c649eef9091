//! Per-address limits on the public doors: filing a report (the form and the API), the
//! status lookups, and the API's login. Past its allowance a client gets `429` with
//! `Retry-After`. Kept in memory by each daemon instance.
//!
//! The address is [`ClientAddr`]'s; an IPv6 client is limited by its /64, since one
//! subscriber usually holds a whole /64 and could otherwise change address at will.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::client_addr::ClientAddr;
use super::Problem;

/// One door's allowance per client address: `burst` requests at once, then
/// `per_minute` more each minute. `per_minute = 0` switches the limit off.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

/// `[http.rate_limit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// `false` switches every door's limit off.
    pub enabled: bool,
    /// `POST /` (the form) and `POST /api/v1/reports`, together.
    pub submit: Rate,
    /// `GET /laporan`, `GET /laporan/{id}` and `GET /api/v1/reports/{id}`, together.
    pub lookup: Rate,
    /// `POST /api/v1/session`.
    pub session: Rate,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Generous: many citizens may share one address behind a carrier's NAT.
            submit: Rate {
                burst: 20,
                per_minute: 6,
            },
            lookup: Rate {
                burst: 60,
                per_minute: 60,
            },
            session: Rate {
                burst: 10,
                per_minute: 10,
            },
        }
    }
}

/// Which allowance a route draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Submit,
    Lookup,
    Session,
}

impl Door {
    fn name(self) -> &'static str {
        match self {
            Door::Submit => "submit",
            Door::Lookup => "lookup",
            Door::Session => "session",
        }
    }
}

type Limiter = DefaultKeyedRateLimiter<IpAddr>;

/// The limiters of every door.
pub struct RateLimits {
    submit: Option<Limiter>,
    lookup: Option<Limiter>,
    session: Option<Limiter>,
}

fn limiter(rate: Rate) -> Option<Limiter> {
    let per_minute = NonZeroU32::new(rate.per_minute)?;
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Some(RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

/// The key an address is limited by, here and by the login throttle: itself, or its /64
/// for IPv6 (an IPv4-mapped IPv6 address counts as the IPv4 one).
pub(super) fn subscriber(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// How long until a spent allowance has room again.
pub(super) fn wait_of(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> Duration {
    not_until.wait_time_from(DefaultClock::default().now())
}

impl RateLimits {
    pub fn new(cfg: &RateLimitConfig) -> Self {
        if !cfg.enabled {
            return Self {
                submit: None,
                lookup: None,
                session: None,
            };
        }
        Self {
            submit: limiter(cfg.submit),
            lookup: limiter(cfg.lookup),
            session: limiter(cfg.session),
        }
    }

    fn limiter(&self, door: Door) -> Option<&Limiter> {
        match door {
            Door::Submit => self.submit.as_ref(),
            Door::Lookup => self.lookup.as_ref(),
            Door::Session => self.session.as_ref(),
        }
    }

    /// Counts one request from `client` at `door`; `Err` with how long to wait when its
    /// allowance is spent.
    pub fn check(&self, door: Door, client: IpAddr) -> Result<(), Duration> {
        let Some(l) = self.limiter(door) else {
            return Ok(());
        };
        l.check_key(&subscriber(client)).map_err(wait_of)
    }

    /// Forgets addresses whose allowance is whole again, so the maps hold only recent
    /// clients.
    pub fn tidy(&self) {
        for l in [&self.submit, &self.lookup, &self.session]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Tidies every `every` until `stop`.
    pub async fn tidy_until(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => self.tidy(),
            }
        }
    }
}

/// Middleware: the request counts against `door` for its client address.
pub async fn limit(
    State((limits, door)): State<(Arc<RateLimits>, Door)>,
    req: Request,
    next: Next,
) -> Response {
    let client = ClientAddr::of(req.extensions());
    match limits.check(door, client.0) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            metrics::counter!("aduan_http_rate_limited_total", "door" => door.name()).increment(1);
            too_many(req.uri().path(), wait)
        }
    }
}

fn too_many(path: &str, wait: Duration) -> Response {
    // Whole seconds, rounded up: a client that waits what it is told is let in.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut res = if path.starts_with("/api/") {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!("too many requests from this address; try again in {secs} s"),
        )
        .into_response()
    } else {
        super::form::message_page(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Terlalu banyak permintaan dari alamat Anda. Silakan coba lagi dalam {secs} detik."
            ),
        )
    };
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_429_per_address_and_ipv6_by_its_64() {
        let limits = RateLimits::new(&RateLimitConfig {
            lookup: Rate {
                burst: 2,
                per_minute: 1,
            },
            ..RateLimitConfig::default()
        });
        let a: IpAddr = "198.51.100.1".parse().expect("ip");
        assert!(limits.check(Door::Lookup, a).is_ok());
        assert!(limits.check(Door::Lookup, a).is_ok());
        let wait = limits.check(Door::Lookup, a).expect_err("limited");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        // Another door, another address: their own allowances.
        assert!(limits.check(Door::Submit, a).is_ok());
        assert!(limits
            .check(Door::Lookup, "198.51.100.2".parse().expect("ip"))
            .is_ok());
        let v6 = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(limits.check(Door::Lookup, v6("2001:db8:1:2::1")).is_ok());
        assert!(limits.check(Door::Lookup, v6("2001:db8:1:2::ffff")).is_ok());
        assert!(limits
            .check(Door::Lookup, v6("2001:db8:1:2:aaaa::9"))
            .is_err());
        assert!(limits.check(Door::Lookup, v6("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn per_minute_zero_switches_a_door_off() {
        let limits = RateLimits::new(&RateLimitConfig {
            session: Rate {
                burst: 1,
                per_minute: 0,
            },
            ..RateLimitConfig::default()
        });
        let a: IpAddr = "198.51.100.1".parse().expect("ip");
        for _ in 0..100 {
            assert!(limits.check(Door::Session, a).is_ok());
        }
    }
}
