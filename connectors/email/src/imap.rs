//! IMAP intake: IDLE where the server offers it (re-issued every `idle_renew_secs`),
//! polling otherwise; every command under a timeout; a per-folder cursor
//! `UIDVALIDITY:last UID` committed together with the complaints it covers; fetching with
//! `BODY.PEEK[]` so nothing is marked read before the store committed; the after-ingest
//! action (`\Seen`, move, nothing) only after the commit.

use std::sync::Arc;
use std::time::Duration;

use aduan_kit::{
    Batch, ChannelName, ConnectorError, Cursor, CursorUpdate, Inbound, PullContext, PullSource,
};
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::Fetch;
use futures::TryStreamExt;
use rand::Rng;
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::auth::{Credential, CredentialSource, XOAuth2};
use crate::config::{AfterIngest, EmailConfig, TlsMode};
use crate::normalize::{Normalizer, ReceiptPolicy};

/// Any byte stream IMAP can run over (plain TCP or TLS).
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> ImapIo for T {}
pub type Session = async_imap::Session<Box<dyn ImapIo>>;

pub struct ImapSource {
    name: ChannelName,
    cfg: Arc<EmailConfig>,
    credentials: CredentialSource,
    normalizer: Arc<Normalizer>,
}

impl ImapSource {
    pub fn new(name: ChannelName, cfg: Arc<EmailConfig>, credentials: CredentialSource) -> Self {
        let mut own = vec![cfg.user.clone()];
        own.extend(cfg.smtp.as_ref().map(|s| s.from.clone()));
        let mut normalizer = Normalizer::new(name.clone(), cfg.message_id_domain.clone(), own);
        if cfg.smtp.is_some() && cfg.ack.enabled {
            normalizer = normalizer
                .with_acknowledgement(
                    cfg.ack.template.clone(),
                    Duration::from_secs(cfg.ack.window_secs),
                )
                .with_receipt_policy(ReceiptPolicy {
                    require_authentication: cfg.ack.require_authentication,
                    authserv_id: cfg.ack.authserv_id.clone(),
                    reply_to_other_domain: cfg.ack.reply_to_other_domain,
                    max_per_hour: Some(cfg.ack.max_per_hour).filter(|n| *n > 0),
                });
        }
        let normalizer = Arc::new(normalizer);
        Self {
            name,
            cfg,
            credentials,
            normalizer,
        }
    }

    fn transient(&self, what: &str, e: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::transient(
            &self.name,
            format!("{}:{}: {what}: {e}", self.cfg.host, self.cfg.port()),
        )
    }

    /// Runs `fut` under the command timeout.
    async fn timed<T, E: std::fmt::Display>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, ConnectorError> {
        match tokio::time::timeout(
            Duration::from_secs(self.cfg.command_timeout_secs.max(1)),
            fut,
        )
        .await
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.transient(what, e)),
            Err(_) => Err(self.transient(
                what,
                format!("no answer within {} s", self.cfg.command_timeout_secs),
            )),
        }
    }

    async fn tls(&self, tcp: TcpStream) -> Result<Box<dyn ImapIo>, ConnectorError> {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| self.transient("TLS", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let server = tokio_rustls::rustls::pki_types::ServerName::try_from(self.cfg.host.clone())
            .map_err(|e| {
            ConnectorError::permanent(&self.name, format!("host {:?}: {e}", self.cfg.host))
        })?;
        let tls = self
            .timed(
                "TLS handshake",
                tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server, tcp),
            )
            .await?;
        Ok(Box::new(tls))
    }

    /// Connects, upgrades to TLS as configured, and logs in.
    pub async fn connect(&self) -> Result<Session, ConnectorError> {
        let addr = (self.cfg.host.as_str(), self.cfg.port());
        let tcp = self.timed("connect", TcpStream::connect(addr)).await?;
        let stream: Box<dyn ImapIo> = match self.cfg.tls {
            TlsMode::Plain => Box::new(tcp),
            TlsMode::Implicit => self.tls(tcp).await?,
            TlsMode::Starttls => {
                let mut client = async_imap::Client::new(tcp);
                self.timed("greeting", client.read_response()).await?;
                self.timed(
                    "STARTTLS",
                    client.run_command_and_check_ok("STARTTLS", None),
                )
                .await?;
                self.tls(client.into_inner()).await?
            }
        };
        let mut client = async_imap::Client::new(stream);
        if self.cfg.tls != TlsMode::Starttls {
            let greeting = self.timed("greeting", client.read_response()).await?;
            if greeting.is_none() {
                return Err(self.transient("greeting", "connection closed"));
            }
        }
        let secret = self
            .credentials
            .current()
            .map_err(|e| ConnectorError::auth_expired(&self.name, e))?;
        let login = tokio::time::timeout(
            Duration::from_secs(self.cfg.command_timeout_secs.max(1)),
            async {
                match &secret {
                    Credential::Password(p) => {
                        client.login(&self.cfg.user, p.expose_secret()).await
                    }
                    Credential::Bearer(t) => {
                        client
                            .authenticate("XOAUTH2", XOAuth2::new(&self.cfg.user, t))
                            .await
                    }
                }
            },
        )
        .await
        .map_err(|_| self.transient("login", "no answer"))?;
        match login {
            Ok(session) => Ok(session),
            Err((async_imap::error::Error::No(msg) | async_imap::error::Error::Bad(msg), _)) => {
                Err(ConnectorError::auth_expired(
                    &self.name,
                    format!(
                        "{} as {} refused by {}: {msg}",
                        match secret {
                            Credential::Password(_) => "login",
                            Credential::Bearer(_) => "XOAUTH2 login",
                        },
                        self.cfg.user,
                        self.cfg.host
                    ),
                ))
            }
            Err((e, _)) => Err(self.transient("login", e)),
        }
    }

    /// Reads one folder until shutdown; returns `Err` when the connection must be replaced.
    async fn watch(&self, folder: &str, ctx: &PullContext) -> Result<(), ConnectorError> {
        let mut session = self.connect().await?;
        let caps = self.timed("CAPABILITY", session.capabilities()).await?;
        let can_idle = self.cfg.idle && caps.has_str("IDLE");
        let mailbox = self.timed("SELECT", session.select(folder)).await?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        let stream = format!("folder:{folder}");
        let stored = ctx
            .sink
            .cursor(&self.name, &stream)
            .await
            .map_err(|e| self.transient("cursor", e.0))?;
        let mut last = match stored.as_ref().and_then(|c| c.0.split_once(':')) {
            // A new UIDVALIDITY means the UIDs mean something else now: read the folder
            // again; what was stored before is recognized by its Message-ID (or hash).
            Some((v, uid)) if v == validity.to_string() => uid.parse::<u32>().unwrap_or(0),
            _ => 0,
        };
        ctx.health.ok();
        loop {
            last = self
                .fetch_new(&mut session, folder, validity, last, ctx)
                .await?;
            ctx.health.ok();
            if ctx.shutdown.is_cancelled() {
                let _ = self.timed("LOGOUT", session.logout()).await;
                return Ok(());
            }
            if can_idle {
                session = self.idle(session, ctx).await?;
            } else {
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_secs(self.cfg.poll_interval_secs.max(1))) => {}
                }
            }
            if ctx.shutdown.is_cancelled() {
                let _ = self.timed("LOGOUT", session.logout()).await;
                return Ok(());
            }
        }
    }

    async fn idle(&self, session: Session, ctx: &PullContext) -> Result<Session, ConnectorError> {
        let mut idle = session.idle();
        self.timed("IDLE", idle.init()).await?;
        let renew = Duration::from_secs(self.cfg.idle_renew_secs.max(5));
        {
            let (wait, _stop) = idle.wait_with_timeout(renew);
            tokio::select! {
                r = wait => match r {
                    Ok(IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt) => {}
                    Err(e) => return Err(self.transient("IDLE", e)),
                },
                _ = ctx.shutdown.cancelled() => {}
                // The server's keepalives reset the library's timer; this one does not.
                _ = tokio::time::sleep(renew + Duration::from_secs(5)) => {}
            }
        }
        self.timed("DONE", idle.done()).await
    }

    /// Fetches, stores and acknowledges everything after `last`; returns the new last UID.
    async fn fetch_new(
        &self,
        session: &mut Session,
        folder: &str,
        validity: u32,
        last: u32,
        ctx: &PullContext,
    ) -> Result<u32, ConnectorError> {
        let found = self
            .timed(
                "UID SEARCH",
                session.uid_search(format!("UID {}:*", last.saturating_add(1))),
            )
            .await?;
        // `n:*` always matches the last message, even below n.
        let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last).collect();
        uids.sort_unstable();
        let mut last = last;
        for chunk in uids.chunks(self.cfg.batch_size.max(1)) {
            let set = chunk
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let sizes = self.fetch(session, &set, "(UID RFC822.SIZE)").await?;
            let limit = self.cfg.max_message_bytes;
            let (small, big): (Vec<u32>, Vec<u32>) = chunk.iter().partition(|uid| {
                sizes
                    .iter()
                    .find(|f| f.uid == Some(**uid))
                    .and_then(|f| f.size)
                    .unwrap_or(0)
                    <= limit
            });
            let mut items: Vec<(u32, Inbound)> = Vec::with_capacity(chunk.len());
            if !small.is_empty() {
                let set = small
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                for f in self
                    .fetch(session, &set, "(UID INTERNALDATE BODY.PEEK[])")
                    .await?
                {
                    let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                        continue;
                    };
                    let at = f
                        .internal_date()
                        .map(|d| d.with_timezone(&chrono::Utc))
                        .unwrap_or_else(chrono::Utc::now);
                    items.push((uid, self.normalizer.normalize(body, at)));
                }
            }
            if !big.is_empty() {
                let set = big.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                for f in self
                    .fetch(
                        session,
                        &set,
                        "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER])",
                    )
                    .await?
                {
                    let (Some(uid), Some(header)) = (f.uid, f.header().or(f.body())) else {
                        continue;
                    };
                    let at = f
                        .internal_date()
                        .map(|d| d.with_timezone(&chrono::Utc))
                        .unwrap_or_else(chrono::Utc::now);
                    items.push((
                        uid,
                        self.normalizer
                            .oversized(header, f.size.unwrap_or(0), limit, at),
                    ));
                }
            }
            items.sort_by_key(|(uid, _)| *uid);
            // Every UID of the chunk must have been read, or the cursor would skip it.
            if items.len() != chunk.len() {
                return Err(self.transient(
                    "FETCH",
                    format!("{} of {} messages came back", items.len(), chunk.len()),
                ));
            }
            let max = chunk.iter().copied().max().unwrap_or(last);
            let batch = Batch {
                items: items.iter().map(|(_, i)| i.clone()).collect(),
                cursor: Some(CursorUpdate {
                    channel_name: self.name.clone(),
                    stream: format!("folder:{folder}"),
                    cursor: Cursor(format!("{validity}:{max}")),
                }),
            };
            let deliveries = ctx
                .sink
                .commit(batch)
                .await
                .map_err(|e| self.transient("store", e.0))?;
            if !deliveries.iter().all(|d| d.is_committed()) {
                return Err(self.transient(
                    "store",
                    "some messages were not committed; reading them again",
                ));
            }
            last = max;
            self.after_ingest(session, chunk).await;
        }
        Ok(last)
    }

    async fn fetch(
        &self,
        session: &mut Session,
        set: &str,
        query: &str,
    ) -> Result<Vec<Fetch>, ConnectorError> {
        let stream = self
            .timed("UID FETCH", session.uid_fetch(set, query))
            .await?;
        self.timed("UID FETCH", stream.try_collect::<Vec<_>>())
            .await
    }

    /// Runs only after the commit. A failure here is cosmetic (the cursor already moved
    /// past these messages), so it is logged, not retried.
    async fn after_ingest(&self, session: &mut Session, uids: &[u32]) {
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let result = match (self.cfg.after_ingest, self.cfg.move_to.as_deref()) {
            (AfterIngest::Seen, _) => match self
                .timed(
                    "UID STORE",
                    session.uid_store(&set, "+FLAGS.SILENT (\\Seen)"),
                )
                .await
            {
                Ok(stream) => self
                    .timed("UID STORE", stream.try_collect::<Vec<_>>())
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            },
            (AfterIngest::Move, Some(to)) => self.timed("UID MOVE", session.uid_mv(&set, to)).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(channel = %self.name, error = %e.message, "after-ingest action failed");
        }
    }
}

#[async_trait::async_trait]
impl PullSource for ImapSource {
    async fn run(&self, ctx: PullContext) -> Result<(), ConnectorError> {
        let folders = self.cfg.folders.clone();
        let ctx = &ctx;
        let watchers = folders.iter().map(|folder| async move {
            let mut failures = 0u32;
            loop {
                let started = tokio::time::Instant::now();
                match self.watch(folder, ctx).await {
                    Ok(()) => return Ok(()),
                    // Refused credentials: the supervisor reports and paces the retries.
                    Err(e) if e.kind != aduan_kit::ErrorKind::Transient => return Err(e),
                    Err(e) => {
                        if started.elapsed() > Duration::from_secs(60) {
                            failures = 0;
                        }
                        ctx.health.error(&e);
                        tracing::warn!(channel = %self.name, folder, error = %e.message, "IMAP connection lost; reconnecting");
                        let cap = Duration::from_millis(500).saturating_mul(2u32.saturating_pow(failures.min(10)));
                        let wait = cap.min(Duration::from_secs(300)).mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
                        failures = failures.saturating_add(1);
                        tokio::select! {
                            _ = ctx.shutdown.cancelled() => return Ok(()),
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                }
            }
        });
        futures::future::try_join_all(watchers).await.map(|_| ())
    }
}
