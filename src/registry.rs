//! The channel kinds this daemon knows, and building the configured channels.
//!
//! Everything the daemon shows or limits per kind (the console's labels, icons, colours,
//! answer limits and previews) comes from the factories listed here, through [`kinds`]
//! and [`kind_info`]: no other code names a kind to present it.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use aduan_kit::{BuildContext, Channel, ChannelFactory, ChannelName, ConfigError, KindInfo};

use crate::config::Config;

/// Every channel kind, one line each. Adding a channel is a crate and a line here.
pub fn builtin_factories() -> Vec<Arc<dyn ChannelFactory>> {
    vec![
        Arc::new(aduan_webform::WebformFactory),
        Arc::new(aduan_email::EmailFactory),
        Arc::new(aduan_x::XFactory),
        Arc::new(aduan_facebook::FacebookFactory),
        Arc::new(aduan_telegram::TelegramFactory),
        Arc::new(aduan_whatsapp::WhatsAppFactory),
    ]
}

static KINDS: LazyLock<Vec<Arc<dyn ChannelFactory>>> = LazyLock::new(builtin_factories);

/// The factory of every known kind, in registration order (the order the console lists
/// kinds in).
pub fn kinds() -> &'static [Arc<dyn ChannelFactory>] {
    &KINDS
}

/// The factory of `kind`; `None` for a kind no factory builds (a test's fake channel).
pub fn factory_of(kind: &str) -> Option<&'static dyn ChannelFactory> {
    KINDS.iter().find(|f| f.kind() == kind).map(|f| &**f)
}

/// How the console presents `kind`, and its answer limit.
pub fn kind_info(kind: &str) -> Option<&'static KindInfo> {
    match factory_of(kind) {
        Some(f) => Some(f.kind_info()),
        None => (kind == crate::cli::import::KIND).then_some(&IMPORTED),
    }
}

/// Complaints `aduan import` filed from a legacy register: no channel of this kind is
/// configured or answers, but the console names them.
static IMPORTED: KindInfo = KindInfo {
    label: aduan_kit::Words {
        id: "Impor data lama",
        en: "Legacy import",
    },
    icon: r#"<path d="M8 1.5v8M4.5 6 8 9.5 11.5 6M2 11v3.5h12V11" fill="none" stroke="currentColor" stroke-width="1.5"/>"#,
    colour: "#595959",
    chart_colour: "#a6a6a6",
    answer_limit: None,
    reauthorize: None,
};

/// The configured, built channels by name.
#[derive(Default)]
pub struct Channels {
    by_name: BTreeMap<ChannelName, Channel>,
    /// The web-form channel that serves `GET /`, if any.
    pub public_form: Option<ChannelName>,
}

impl Channels {
    pub fn build(cfg: &Config, factories: &[Arc<dyn ChannelFactory>]) -> Result<Self, ConfigError> {
        let mut globals = toml::Table::new();
        globals.insert(
            "form".into(),
            toml::Value::try_from(&cfg.form)
                .map_err(|e| ConfigError::new("form", "form", e.to_string()))?,
        );
        let mut out = Channels::default();
        for (i, table) in cfg.enabled_channels().enumerate() {
            let kind = table
                .get("kind")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let raw_name = table
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let name = ChannelName::parse(raw_name)
                .map_err(|e| ConfigError::new(format!("channels[{i}]"), "name", e.to_string()))?;
            let factory = factories.iter().find(|f| f.kind() == kind).ok_or_else(|| {
                let known: Vec<_> = factories.iter().map(|f| f.kind()).collect();
                ConfigError::new(
                    name.as_str(),
                    "kind",
                    format!("one of {}, got {kind:?}", known.join(", ")),
                )
            })?;
            let channel = factory.build(BuildContext {
                name: name.clone(),
                config: table,
                globals: &globals,
                public_url: &cfg.public_url,
                data_dir: cfg.data_dir.clone(),
            })?;
            let is_form = kind == aduan_webform::KIND
                && table
                    .get("public_form")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(channel.push.is_none());
            if is_form {
                if let Some(other) = &out.public_form {
                    return Err(ConfigError::new(
                        name.as_str(),
                        "public_form",
                        format!("only one public form; {other} is one already"),
                    ));
                }
                out.public_form = Some(name.clone());
            }
            out.by_name.insert(name, channel);
        }
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Option<&Channel> {
        ChannelName::parse(name)
            .ok()
            .and_then(|n| self.by_name.get(&n))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.by_name.values()
    }

    /// Adds a channel built elsewhere (tests register fakes this way).
    pub fn insert(&mut self, channel: Channel) {
        self.by_name.insert(channel.name.clone(), channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once_and_describes_itself() {
        let mut seen = std::collections::BTreeSet::new();
        for f in kinds() {
            assert!(seen.insert(f.kind()), "{} registered twice", f.kind());
            // The console's stylesheet writes the kind into a class name.
            assert!(ChannelName::parse(f.kind()).is_ok(), "{}", f.kind());
            aduan_kit::testing::compliance::check_kind_info(f.kind_info());
            assert!(std::ptr::eq(
                kind_info(f.kind()).expect("found"),
                f.kind_info()
            ));
        }
        assert!(kind_info("no-such-kind").is_none());
    }
}
