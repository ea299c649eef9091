//! The accept loop: HTTP/1 connections (hyper) with a bound on how many are open at
//! once and a deadline for request headers, and a shutdown that lets requests being
//! answered finish but does not wait for connections that have not sent a whole one.
//!
//! hyper starts the header deadline when a connection opens and again as soon as an
//! answer is sent on it, so the same deadline also closes idle kept-alive connections.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::client_addr::{client_ip, ClientAddr, TrustedProxies};

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time to send a request's headers, counted from when the connection opens or the
    /// previous answer on it was sent.
    pub header_read_timeout: Duration,
    /// Most connections open at once; more wait in the listen queue.
    pub max_connections: usize,
    pub trusted_proxies: Arc<TrustedProxies>,
}

/// Serves `router` on `listener` until `stop`; returns when every connection still
/// answering a request at that moment has finished.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    stop: CancellationToken,
) {
    let max =
        u32::try_from(opts.max_connections.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max as usize));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    loop {
        let slot = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    accept_failed(e, &stop).await;
                    continue;
                }
            },
        };
        let answering = Arc::new(AtomicUsize::new(0));
        let service = {
            let answering = answering.clone();
            let router = router.clone();
            let trusted = opts.trusted_proxies.clone();
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let client = client_ip(peer.ip(), req.headers(), &trusted);
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(ClientAddr(client));
                let answer = Answering::start(&answering);
                let router = router.clone();
                async move {
                    let res = router.oneshot(req).await?;
                    Ok::<_, Infallible>(res.map(|body| Tracked {
                        body,
                        _answer: answer,
                    }))
                }
            })
        };
        let conn = http.serve_connection(TokioIo::new(tcp), service);
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.cancelled() => {}
            }
            // Nothing being answered: the connection is idle or still sending headers,
            // and is closed now rather than when its header deadline passes.
            if answering.load(Ordering::Acquire) == 0 {
                return;
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    // Every connection holds a slot until it ends.
    let _ = slots.acquire_many(max).await;
}

/// Accepting fails for the connection alone (reset before it was taken) or for the
/// process (out of file descriptors): in the second case, wait for some to close.
async fn accept_failed(e: std::io::Error, stop: &CancellationToken) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection; retrying in a second");
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
}

/// A request being answered on a connection: from when its headers are in until its
/// answer's body has been sent (or dropped).
struct Answering(Arc<AtomicUsize>);

impl Answering {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body, holding its [`Answering`] until hyper is done with it.
struct Tracked {
    body: axum::body::Body,
    _answer: Answering,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
