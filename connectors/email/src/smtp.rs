//! Outbound mail through SMTP (lettre): acknowledgements and answers, threaded into the
//! citizen's conversation and marked so that no auto-responder answers them back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aduan_kit::{
    ChannelName, ConnectorError, OutboundKind, OutboundMessage, OutboundSender, SendReceipt,
};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::auth::{AuthMethod, Credential, CredentialSource};
use crate::config::{SmtpConfig, TlsMode};

/// `Auto-Submitted` (RFC 3834).
#[derive(Clone)]
struct AutoSubmitted(&'static str);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(match s.trim() {
            "no" => "no",
            "auto-generated" => "auto-generated",
            _ => "auto-replied",
        }))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.to_owned())
    }
}

/// Our mark on everything we send, so our own mail coming back is never a complaint.
#[derive(Clone)]
struct AduanOutbound(String);

impl Header for AduanOutbound {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Aduan-Outbound")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

pub struct SmtpSender {
    name: ChannelName,
    from: Mailbox,
    message_id_domain: String,
    /// Everything but the credentials.
    builder: AsyncSmtpTransportBuilder,
    login: Option<(String, CredentialSource)>,
    /// The pooled transport for the current secret; replaced when a token file changes.
    transport: Mutex<Option<(Sha256Digest, AsyncSmtpTransport<Tokio1Executor>)>>,
}

type Sha256Digest = [u8; 32];

impl SmtpSender {
    pub fn new(
        name: ChannelName,
        cfg: &SmtpConfig,
        message_id_domain: Option<&str>,
    ) -> Result<Self, String> {
        let from: Mailbox = match &cfg.from_name {
            Some(n) => format!("{n} <{}>", cfg.from),
            None => cfg.from.clone(),
        }
        .parse()
        .map_err(|e| format!("smtp.from: {e}"))?;
        let builder = match cfg.tls {
            TlsMode::Implicit => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(|e| e.to_string())?
            }
            TlsMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
                .map_err(|e| e.to_string())?,
            TlsMode::Plain => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            }
        };
        let builder = builder
            .port(cfg.port())
            .timeout(Some(Duration::from_secs(cfg.timeout_secs.max(1))));
        let login = match &cfg.user {
            Some(user) => {
                let source = CredentialSource::new(
                    cfg.auth,
                    cfg.password.as_ref(),
                    cfg.oauth2_token.as_ref(),
                    cfg.oauth2_token_path.as_ref(),
                )
                .map_err(|(key, expected)| format!("smtp.{key}: expected {expected}"))?;
                Some((user.clone(), source))
            }
            None if cfg.auth == AuthMethod::Xoauth2 => {
                return Err("smtp.user: expected the account the token belongs to".into())
            }
            None => None,
        };
        let domain = message_id_domain
            .map(str::to_owned)
            .or_else(|| cfg.from.rsplit_once('@').map(|(_, d)| d.to_owned()))
            .unwrap_or_else(|| "aduan.invalid".into());
        Ok(Self {
            name,
            from,
            message_id_domain: domain,
            builder,
            login,
            transport: Mutex::new(None),
        })
    }

    /// The transport for the current secret (a token file is read again each time).
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConnectorError> {
        let (fingerprint, credentials) = match &self.login {
            None => ([0; 32], None),
            Some((user, source)) => {
                let (secret, mechanism) = match source
                    .current()
                    .map_err(|e| ConnectorError::auth_expired(&self.name, e))?
                {
                    Credential::Password(p) => (p, None),
                    Credential::Bearer(t) => (t, Some(Mechanism::Xoauth2)),
                };
                let fingerprint: Sha256Digest = Sha256::digest(secret.expose_secret()).into();
                (
                    fingerprint,
                    Some((
                        Credentials::new(user.clone(), secret.expose_secret().to_owned()),
                        mechanism,
                    )),
                )
            }
        };
        let mut slot = self
            .transport
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((fp, t)) = slot.as_ref() {
            if *fp == fingerprint {
                return Ok(t.clone());
            }
        }
        let mut builder = self.builder.clone();
        if let Some((credentials, mechanism)) = credentials {
            builder = builder.credentials(credentials);
            if let Some(m) = mechanism {
                builder = builder.authentication(vec![m]);
            }
        }
        let transport = builder.build();
        *slot = Some((fingerprint, transport.clone()));
        Ok(transport)
    }

    /// The same message gets the same Message-ID on every attempt, so a retry after a
    /// crash can be recognized by the receiving side, and the citizen's reply to it
    /// finds its complaint.
    pub fn message_id(&self, idempotency_key: &str) -> String {
        let h = hex::encode(&Sha256::digest(idempotency_key.as_bytes())[..16]);
        format!("<{h}@{}>", self.message_id_domain)
    }

    pub fn build(&self, msg: &OutboundMessage) -> Result<(Message, String), ConnectorError> {
        let to: Mailbox = match &msg.recipient.name {
            Some(n) => format!("{n} <{}>", msg.recipient.address)
                .parse()
                .or_else(|_| msg.recipient.address.parse()),
            None => msg.recipient.address.parse(),
        }
        .map_err(|e| {
            ConnectorError::permanent(
                &self.name,
                format!("recipient {:?}: {e}", msg.recipient.address),
            )
        })?;
        let id = self.message_id(&msg.idempotency_key);
        let subject = msg
            .subject
            .clone()
            .unwrap_or_else(|| format!("Laporan {}", msg.tracking_id));
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(id.clone()))
            .header(AduanOutbound(msg.tracking_id.clone()))
            .header(AutoSubmitted(match msg.kind {
                OutboundKind::Acknowledgement => "auto-replied",
                OutboundKind::Notice => "auto-generated",
                OutboundKind::Answer => "no",
            }));
        if let Some(irt) = &msg.in_reply_to {
            b = b.in_reply_to(irt.clone());
        }
        if !msg.references.is_empty() {
            b = b.references(msg.references.join(" "));
        }
        let m = b
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(msg.body.clone())
            .map_err(|e| ConnectorError::permanent(&self.name, format!("message: {e}")))?;
        Ok((m, id))
    }
}

impl SmtpSender {
    /// Connects and says NOOP (`aduan check --online`).
    pub async fn test_connection(&self) -> Result<bool, ConnectorError> {
        let transport = self.transport()?;
        transport
            .test_connection()
            .await
            .map_err(|e| ConnectorError::transient(&self.name, format!("SMTP: {e}")))
    }
}

#[async_trait::async_trait]
impl OutboundSender for SmtpSender {
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
        let (m, id) = self.build(msg)?;
        match self.transport()?.send(m).await {
            Ok(_) => Ok(SendReceipt {
                external_id: Some(id),
            }),
            Err(e) if e.is_permanent() => Err(ConnectorError::permanent(
                &self.name,
                format!("SMTP refused: {e}"),
            )),
            Err(e) => Err(ConnectorError::transient(&self.name, format!("SMTP: {e}"))),
        }
    }
}

pub fn sender(
    name: ChannelName,
    cfg: &SmtpConfig,
    domain: Option<&str>,
) -> Result<Arc<SmtpSender>, String> {
    SmtpSender::new(name, cfg, domain).map(Arc::new)
}
