//! Wiring: the store, the ingest writer, the channels, the supervisor, the outbox
//! dispatcher and the HTTP server, started together and stopped in order.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aduan_kit::Channel;
use anyhow::Context as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::http::{self, AppState};
use crate::registry::{builtin_factories, Channels};
use crate::store::{IngestWriter, Store, StoreSink};
use crate::supervisor::{self, ChannelHealth};

/// The process-wide Prometheus recorder (one per process, however many apps a test starts).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed (an embedding program's); the
            // handle then renders nothing but the daemon keeps working.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Opens the store named by the configuration and applies pending migrations.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(
        &cfg.database_url(),
        &cfg.data_dir,
        cfg.database.max_connections,
    )
    .await
    .context("cannot open the database")?
    .with_blob_backend(cfg.attachments.store, &cfg.data_dir)
    .context("cannot open the attachment store")?;
    let applied = store.migrate().await.context("cannot apply migrations")?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(store)
}

/// A running daemon.
pub struct RunningApp {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when `http.metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub store: Store,
    pub health: ChannelHealth,
    pub outbox_wake: Arc<Notify>,
    /// The admin queue as the HTTP API uses it (same answer routes).
    pub queue: crate::queue::Queue,
    shutdown: CancellationToken,
    servers: Vec<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    writer: JoinHandle<()>,
    sink: Option<StoreSink>,
    scheduler: Option<tokio_cron_scheduler::JobScheduler>,
}

/// Which channels carry approved answers (from the configured channels' outbound sides).
pub fn answer_routes(
    cfg: &Config,
    channels: &Channels,
) -> anyhow::Result<crate::queue::AnswerRoutes> {
    let mut routes = crate::queue::AnswerRoutes::default();
    for c in channels.iter() {
        if c.outbound.is_some() {
            routes.outbound.push((c.name.clone(), c.kind.to_owned()));
        }
    }
    routes.email_channel = match &cfg.queue.answer_email_channel {
        Some(n) => Some(
            routes
                .outbound
                .iter()
                .find(|(c, k)| c.as_str() == n && k == "email")
                .map(|(c, _)| c.clone())
                .with_context(|| {
                    format!("queue.answer_email_channel: no e-mail channel {n:?} with smtp")
                })?,
        ),
        None => routes
            .outbound
            .iter()
            .find(|(_, k)| k == "email")
            .map(|(c, _)| c.clone()),
    };
    Ok(routes)
}

/// Starts everything; `extra` channels are added to the configured ones (tests use this
/// to plug in fakes).
pub async fn start(cfg: Config, extra: Vec<Channel>) -> anyhow::Result<RunningApp> {
    let store = open_store(&cfg).await?;
    let mut channels = Channels::build(&cfg, &builtin_factories())?;
    for c in extra {
        channels.insert(c);
    }
    let channels = Arc::new(channels);
    let (writer, writer_handle) =
        IngestWriter::spawn(store.clone(), cfg.database.max_batch, cfg.ingest_writers());
    let sink = StoreSink::new(store.clone(), writer);
    let instance: Arc<str> = cfg.instance.resolve_id().into();
    let health = ChannelHealth::for_channels(&channels, instance.clone());
    let shutdown = CancellationToken::new();

    let mut workers = supervisor::start(
        &channels,
        &health,
        sink.clone(),
        supervisor::Leasing::new(store.clone(), instance.clone(), cfg.instance.lease.clone()),
        shutdown.clone(),
        cfg.supervisor.clone(),
    );
    let outbox_wake = Arc::new(Notify::new());
    let dispatcher = Dispatcher::new(
        store.clone(),
        &channels,
        health.clone(),
        cfg.outbox.clone(),
        outbox_wake.clone(),
        &cfg.public_url,
    );
    workers.push(tokio::spawn(dispatcher.run(shutdown.clone())));
    let forwarding = crate::forward::Forwarding::new(
        store.clone(),
        cfg.forwarders()?,
        cfg.outbox.clone(),
        &cfg.public_url,
    )
    .map_err(anyhow::Error::msg)?;
    workers.push(tokio::spawn(forwarding.run(shutdown.clone())));

    crate::queue::jobs::seed_holidays(&store).await?;
    store
        .seed_categories(
            &cfg.form
                .categories
                .iter()
                .map(|c| (c.slug.clone(), c.label.clone()))
                .collect::<Vec<_>>(),
        )
        .await?;
    let routes = answer_routes(&cfg, &channels)?;
    let digest_channel = routes.email_channel.clone();
    let mut queue = crate::queue::Queue::new(store.clone(), routes);
    queue.claim_lease_secs = cfg.queue.claim_lease_secs.max(30);
    let digest = digest_channel.as_ref().and_then(|name| {
        channels
            .iter()
            .find(|c| &c.name == name)
            .and_then(|c| c.outbound.clone())
            .map(|sender| crate::queue::jobs::DigestRoute {
                schedule: cfg.queue.digest_schedule.clone(),
                sender,
                channel: name.clone(),
                public_url: cfg.public_url.clone(),
            })
    });
    let blob_gc = crate::queue::jobs::BlobGc {
        schedule: cfg.attachments.gc_schedule.clone(),
        grace: cfg.attachments.gc_grace(),
    };
    let scheduler = crate::queue::jobs::start_scheduler(
        store.clone(),
        &cfg.queue.sla_schedule,
        digest,
        blob_gc,
    )
    .await
    .context("queue.sla_schedule / queue.digest_schedule / attachments.gc_schedule")?;

    let state = AppState::new(http::AppParts {
        store: store.clone(),
        sink: sink.clone(),
        channels: channels.clone(),
        health: health.clone(),
        form: Arc::new(cfg.form.clone()),
        public_url: Arc::from(cfg.public_url.as_str()),
        max_request_bytes: cfg.http.max_request_bytes,
        metrics: metrics_handle(),
        queue: queue.clone(),
        login_throttle: Default::default(),
        open311: cfg.open311.enabled.then(|| http::Open311Settings {
            api_key: cfg
                .open311
                .api_key
                .as_ref()
                .map(|k| SecretString::from(k.expose_secret()))
                .filter(|k| !k.expose_secret().is_empty()),
        }),
    });
    let rate_limits = Arc::new(http::rate_limit::RateLimits::new(&cfg.http.rate_limit));
    workers.push(tokio::spawn(
        rate_limits
            .clone()
            .tidy_until(Duration::from_secs(60), shutdown.clone()),
    ));
    let router = http::router(
        state.clone(),
        &http::RouterOptions {
            request_timeout: Duration::from_secs(cfg.http.request_timeout_secs.max(1)),
            metrics_apart: cfg.http.metrics_listen.is_some(),
            rate_limits,
            hsts: cfg.public_https(),
        },
    );
    let serve = http::serve::ServeOptions {
        header_read_timeout: Duration::from_secs(cfg.http.header_read_timeout_secs.max(1)),
        max_connections: cfg.http.max_connections,
        trusted_proxies: Arc::new(cfg.http.trusted_proxies.clone()),
    };
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.http.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match cfg.http.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} (http.metrics_listen)"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let mut servers = vec![tokio::spawn(http::serve::serve(
        listener,
        router,
        serve.clone(),
        shutdown.clone(),
    ))];
    if let Some(listener) = metrics_listener {
        servers.push(tokio::spawn(http::serve::serve(
            listener,
            http::metrics_router(state),
            serve,
            shutdown.clone(),
        )));
    }
    tracing::info!(%addr, ?metrics_addr, %instance, channels = channels.iter().count(), "aduan is listening");
    Ok(RunningApp {
        addr,
        metrics_addr,
        queue,
        store,
        health,
        outbox_wake,
        shutdown,
        servers,
        workers,
        writer: writer_handle,
        sink: Some(sink),
        scheduler: Some(scheduler),
    })
}

impl RunningApp {
    /// Stops accepting, lets in-flight requests and writes finish within `grace`, then
    /// closes the database. Returns whether everything finished in time.
    pub async fn stop(mut self, grace: Duration) -> bool {
        self.shutdown.cancel();
        if let Some(mut s) = self.scheduler.take() {
            let _ = s.shutdown().await;
        }
        let sink = self.sink.take();
        let finished = tokio::time::timeout(grace, async {
            for s in self.servers.drain(..) {
                let _ = s.await;
            }
            for w in self.workers.drain(..) {
                let _ = w.await;
            }
            // The writer ends once every sender is gone, after committing what was queued.
            drop(sink);
            let _ = (&mut self.writer).await;
        })
        .await
        .is_ok();
        if !finished {
            tracing::warn!(?grace, "shutdown grace period over; stopping anyway");
        }
        self.store.close().await;
        finished
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}
