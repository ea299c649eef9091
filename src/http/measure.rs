//! Every request counted and timed: `aduan_http_requests_total` by route, method and
//! status, `aduan_http_request_duration_seconds` by route.
//!
//! The handles are looked up in the recorder once for each route, method and status and
//! kept: a lookup builds the metric's key (its name and labels, each an owned string),
//! hashes it and searches the registry, work every request would otherwise repeat for
//! the same few series. The labels
//! are bounded whatever a client sends: routes are the router's own patterns (or
//! `unmatched`), a method outside HTTP's standard ones is `other`, a status is one of
//! the few hundred codes.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};

/// The handles of every route served so far. Built after the recorder is installed
/// (a handle taken before would record nothing, for good).
#[derive(Default)]
pub(super) struct RequestMetrics {
    routes: RwLock<HashMap<String, Arc<RouteMetrics>>>,
}

struct RouteMetrics {
    route: Box<str>,
    duration: Histogram,
    requests: RwLock<HashMap<(&'static str, u16), Counter>>,
}

/// The route label of requests no route matched.
const UNMATCHED: &str = "unmatched";

impl RequestMetrics {
    fn route(&self, route: &str) -> Arc<RouteMetrics> {
        kept(&self.routes, route, || {
            Arc::new(RouteMetrics {
                route: route.into(),
                duration: metrics::histogram!(
                    "aduan_http_request_duration_seconds",
                    "route" => route.to_owned()
                ),
                requests: RwLock::default(),
            })
        })
    }
}

impl RouteMetrics {
    fn requests(&self, method: &'static str, status: u16) -> Counter {
        kept(&self.requests, &(method, status), || {
            metrics::counter!(
                "aduan_http_requests_total",
                "route" => self.route.to_string(),
                "method" => method,
                "status" => status.to_string()
            )
        })
    }
}

/// The handle kept under `key`, made by `make` the first time: a shared lock for the
/// lookups that find it (all but the first), the exclusive one only to insert.
fn kept<K, Q, V>(map: &RwLock<HashMap<K, V>>, key: &Q, make: impl FnOnce() -> V) -> V
where
    K: Borrow<Q> + Hash + Eq,
    Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    V: Clone,
{
    // A poisoned lock only means a panic elsewhere while it was held; the map is whole
    // either way (an insert either happened or did not).
    if let Some(v) = map.read().unwrap_or_else(|e| e.into_inner()).get(key) {
        return v.clone();
    }
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    map.entry(key.to_owned()).or_insert_with(make).clone()
}

/// `method`'s label: its name when it is one of HTTP's own, else `other`, so that
/// invented methods cannot make a new series each.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The middleware: counts and times the request under its route.
pub(super) async fn record_request(
    State(m): State<Arc<RequestMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = m.route(
        req.extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED, MatchedPath::as_str),
    );
    let method = method_label(req.method());
    let start = Instant::now();
    let res = next.run(req).await;
    route.requests(method, res.status().as_u16()).increment(1);
    route.duration.record(start.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        for (m, label) in [
            (Method::GET, "GET"),
            (Method::DELETE, "DELETE"),
            (Method::PATCH, "PATCH"),
        ] {
            assert_eq!(method_label(&m), label);
        }
        for invented in ["FOO", "get", "PROPFIND", "X-ANYTHING-AT-ALL"] {
            let m = Method::from_bytes(invented.as_bytes()).expect("a token");
            assert_eq!(method_label(&m), "other", "{invented}");
        }
    }

    #[test]
    fn kept_handles_count_each_route_method_and_status_apart() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let prometheus = recorder.handle();
        let m = RequestMetrics::default();
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..3 {
                m.route("/api/v1/complaints")
                    .requests("GET", 200)
                    .increment(1);
            }
            m.route("/api/v1/complaints")
                .requests("GET", 404)
                .increment(1);
            m.route(UNMATCHED).requests("other", 405).increment(1);
            m.route("/api/v1/complaints").duration.record(0.25);
        });
        // One entry for each route, and for each method and status of a route.
        let a = m.route("/api/v1/complaints");
        assert!(Arc::ptr_eq(&a, &m.route("/api/v1/complaints")));
        assert_eq!(m.routes.read().expect("not poisoned").len(), 2);
        assert_eq!(a.requests.read().expect("not poisoned").len(), 2);
        let text = prometheus.render();
        for line in [
            r#"aduan_http_requests_total{route="/api/v1/complaints",method="GET",status="200"} 3"#,
            r#"aduan_http_requests_total{route="/api/v1/complaints",method="GET",status="404"} 1"#,
            r#"aduan_http_requests_total{route="unmatched",method="other",status="405"} 1"#,
            r#"aduan_http_request_duration_seconds_count{route="/api/v1/complaints"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
