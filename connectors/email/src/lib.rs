//! The e-mail channel.
//!
//! * [`normalize`] and [`loops`]: the wire side as pure functions with no I/O: a raw
//!   RFC 5322 message becomes an [`aduan_kit::Inbound`], and mail that must never be
//!   treated as a complaint or answered is recognized (RFC 3834).
//! * [`imap`]: the intake loop (IDLE or polling) around them.

pub mod auth;
pub mod authres;
pub mod config;
pub mod imap;
pub mod loops;
pub mod normalize;
pub mod smtp;

use std::sync::Arc;

use aduan_kit::{
    BuildContext, Channel, ChannelFactory, ConfigError, ConnectorError, HealthCheck, KindInfo,
    Words,
};

use auth::CredentialSource;
pub use config::{AfterIngest, EmailConfig, TlsMode};
pub use normalize::{Normalizer, KIND};

/// How the console shows e-mail complaints. A mail carries an answer of any length.
pub static KIND_INFO: KindInfo = KindInfo {
    label: Words {
        id: "E-mail",
        en: "E-mail",
    },
    icon: r#"<rect x="1.5" y="3.5" width="13" height="9" rx="1" fill="none" stroke="currentColor"/><path d="M2 4l6 5 6-5" fill="none" stroke="currentColor"/>"#,
    colour: "#1a4d99",
    chart_colour: "#1a4d99",
    answer_limit: None,
    reauthorize: None,
};

/// Builds `kind = "email"` channels.
pub struct EmailFactory;

impl ChannelFactory for EmailFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn kind_info(&self) -> &'static KindInfo {
        &KIND_INFO
    }

    fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError> {
        let cfg: EmailConfig = ctx.parse()?;
        let name = ctx.name.as_str();
        if cfg.host.trim().is_empty() {
            return Err(ConfigError::new(
                name,
                "host",
                "the IMAP server's host name",
            ));
        }
        let credentials = CredentialSource::new(
            cfg.auth,
            cfg.password.as_ref(),
            cfg.oauth2_token.as_ref(),
            cfg.oauth2_token_path.as_ref(),
        )
        .map_err(|(key, expected)| ConfigError::new(name, key, expected))?;
        if cfg.after_ingest == AfterIngest::Move && cfg.move_to.as_deref().unwrap_or("").is_empty()
        {
            return Err(ConfigError::new(
                name,
                "move_to",
                "the folder to move ingested mail to (after_ingest = \"move\")",
            ));
        }
        if cfg.folders.is_empty() {
            return Err(ConfigError::new(
                name,
                "folders",
                "at least one folder, for example [\"INBOX\"]",
            ));
        }
        let cfg = Arc::new(cfg);
        let source = Arc::new(imap::ImapSource::new(
            ctx.name.clone(),
            cfg.clone(),
            credentials,
        ));
        let mut channel = Channel::new(KIND, ctx.name.clone());
        channel.pull = Some(source.clone());
        let smtp = match &cfg.smtp {
            Some(smtp) => Some(
                smtp::sender(ctx.name.clone(), smtp, cfg.message_id_domain.as_deref())
                    .map_err(|e| ConfigError::new(name, "smtp", e))?,
            ),
            None => None,
        };
        channel.outbound = smtp
            .clone()
            .map(|s| s as Arc<dyn aduan_kit::OutboundSender>);
        channel.health_check = Some(Arc::new(ImapCheck {
            name: ctx.name.clone(),
            smtp,
            source,
            cfg,
        }));
        Ok(channel)
    }
}

struct ImapCheck {
    name: aduan_kit::ChannelName,
    smtp: Option<Arc<smtp::SmtpSender>>,
    source: Arc<imap::ImapSource>,
    cfg: Arc<EmailConfig>,
}

#[async_trait::async_trait]
impl HealthCheck for ImapCheck {
    async fn check(&self) -> Result<String, ConnectorError> {
        let mut session = self.source.connect().await?;
        let mut seen = Vec::new();
        for folder in &self.cfg.folders {
            let mailbox = session.select(folder).await.map_err(|e| {
                ConnectorError::permanent(&self.name, format!("folder {folder}: {e}"))
            })?;
            seen.push(format!("{folder} ({} messages)", mailbox.exists));
        }
        let _ = session.logout().await;
        let mut report = format!(
            "IMAP login as {} on {}:{} ok; {}",
            self.cfg.user,
            self.cfg.host,
            self.cfg.port(),
            seen.join(", ")
        );
        if let Some(smtp) = &self.smtp {
            if !smtp.test_connection().await? {
                return Err(ConnectorError::transient(
                    &self.name,
                    "SMTP server did not answer NOOP",
                ));
            }
            report.push_str("; SMTP ok");
        }
        Ok(report)
    }
}
