//! `[[forwarders]]`: where events go, which ones, and how they are sent.

use std::collections::BTreeMap;

use aduan_kit::fetch::FetchPolicy;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::store::ForwardKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwarderKind {
    /// Signed JSON, POSTed to `url`.
    Webhook,
    /// Files each new complaint into another Open311 GeoReport v2 endpoint.
    Open311,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwarderConfig {
    /// Names the forwarder in deliveries, logs and metrics; never change it while
    /// deliveries are open (they are kept under it).
    pub name: String,
    pub kind: ForwarderKind,
    /// The webhook's address, or the Open311 endpoint's base (the `requests.json` is
    /// added). https only.
    pub url: String,
    /// Webhook: the key of the HMAC-SHA256 signature (`Aduan-Signature`). Required.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// Open311: the `api_key` the other endpoint gave us.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// Open311: `jurisdiction_id`, where the endpoint serves several.
    #[serde(default)]
    pub jurisdiction_id: Option<String>,
    /// Open311: our category code → their `service_code`; a category not listed is
    /// sent as `default_service_code`, or as its own code without one.
    #[serde(default)]
    pub service_codes: BTreeMap<String, String>,
    #[serde(default)]
    pub default_service_code: Option<String>,
    /// The events sent; all of them by default (Open311: only `complaint.filed`).
    #[serde(default)]
    pub events: Option<Vec<ForwardKind>>,
    /// Only complaints of these categories (codes); empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Only complaints of these units (codes); empty: all. A new complaint has no unit
    /// yet, so a unit filter lets through the events after its disposisi.
    #[serde(default)]
    pub units: Vec<String>,
    /// Send who filed a complaint (name, e-mail, phone, handle). Never for a complaint
    /// filed anonymously, whatever this says.
    #[serde(default)]
    pub include_reporter: bool,
    /// Send rahasia (confidential) complaints too. Off: they never leave.
    #[serde(default)]
    pub include_confidential: bool,
    /// Seconds to connect, and for the whole request.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// FOR TESTS ONLY: plain http to a loopback address.
    #[serde(default)]
    pub insecure_local_http_for_tests: bool,
}

fn default_timeout() -> u64 {
    10
}

impl ForwarderConfig {
    /// The events this forwarder sends.
    pub fn events(&self) -> Vec<ForwardKind> {
        match (&self.events, self.kind) {
            (Some(e), _) => e.clone(),
            (None, ForwarderKind::Webhook) => ForwardKind::ALL.to_vec(),
            (None, ForwarderKind::Open311) => vec![ForwardKind::Filed],
        }
    }

    /// The URL and where requests may go: its host only, over https (plain http to a
    /// loopback address with the test switch), checked as every request will be.
    pub fn endpoint(&self) -> Result<(reqwest::Url, FetchPolicy), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| e.to_string())?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let policy =
            FetchPolicy::new([host]).allow_loopback_http(self.insecure_local_http_for_tests);
        policy.check(&url)?;
        Ok((url, policy))
    }

    /// What is wrong with it, as (key, what was expected).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Some(("name", "1 to 64 of a-z, 0-9, '-' and '_'".into()));
        }
        let url = match self.endpoint() {
            Ok((url, _)) => url,
            Err(why) => return Some(("url", format!("an https:// URL ({why})"))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Some((
                "url",
                "a URL without credentials (use secret or api_key)".into(),
            ));
        }
        if self.timeout_secs == 0 || self.timeout_secs > 300 {
            return Some(("timeout_secs", "1 to 300".into()));
        }
        let events = self.events();
        if events.is_empty() {
            return Some(("events", "at least one event".into()));
        }
        match self.kind {
            ForwarderKind::Webhook => {
                let short = self
                    .secret
                    .as_ref()
                    .is_none_or(|s| s.expose_secret().len() < 16);
                if short {
                    return Some((
                        "secret",
                        "a signing secret of at least 16 characters".into(),
                    ));
                }
            }
            ForwarderKind::Open311 => {
                if events != [ForwardKind::Filed] {
                    return Some((
                        "events",
                        "[\"complaint.filed\"] (Open311 has no way to update a request)".into(),
                    ));
                }
            }
        }
        None
    }

    /// Whether this forwarder wants `kind` for a complaint of `category` and `unit`.
    pub fn wants(
        &self,
        kind: ForwardKind,
        category: Option<&str>,
        unit: Option<&str>,
        confidential: bool,
    ) -> bool {
        let listed = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
        };
        self.events().contains(&kind)
            && listed(&self.categories, category)
            && listed(&self.units, unit)
            && (!confidential || self.include_confidential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> ForwarderConfig {
        toml::from_str(toml_text).expect("forwarder")
    }

    const HOOK: &str = "name = \"lapor\"\nkind = \"webhook\"\nurl = \"https://hook.contoh.id/in\"\nsecret = \"0123456789abcdef\"\n";

    #[test]
    fn a_webhook_needs_https_and_a_long_secret() {
        assert!(parse(HOOK).problem().is_none());
        let plain = parse(&HOOK.replace("https://hook.contoh.id", "http://hook.contoh.id"));
        assert_eq!(plain.problem().map(|p| p.0), Some("url"));
        // The test switch opens plain http to loopback only.
        let local = parse(&format!(
            "{}insecure_local_http_for_tests = true\n",
            HOOK.replace("https://hook.contoh.id", "http://127.0.0.1:9")
        ));
        assert!(local.problem().is_none());
        let remote = parse(&format!(
            "{}insecure_local_http_for_tests = true\n",
            HOOK.replace("https://hook.contoh.id", "http://hook.contoh.id")
        ));
        assert_eq!(remote.problem().map(|p| p.0), Some("url"));
        let short = parse(&HOOK.replace("0123456789abcdef", "pendek"));
        assert_eq!(short.problem().map(|p| p.0), Some("secret"));
        let creds = parse(&HOOK.replace("https://hook", "https://u:p@hook"));
        assert_eq!(creds.problem().map(|p| p.0), Some("url"));
    }

    #[test]
    fn filters_select_events_categories_units_and_rahasia() {
        let f = parse(&format!(
            "{HOOK}events = [\"answer.approved\"]\ncategories = [\"air-bersih\"]\n"
        ));
        assert!(f.wants(ForwardKind::AnswerApproved, Some("air-bersih"), None, false));
        assert!(!f.wants(ForwardKind::Filed, Some("air-bersih"), None, false));
        assert!(!f.wants(ForwardKind::AnswerApproved, Some("jalan"), None, false));
        assert!(!f.wants(ForwardKind::AnswerApproved, None, None, false));
        assert!(!f.wants(ForwardKind::AnswerApproved, Some("air-bersih"), None, true));
        let units = parse(&format!("{HOOK}units = [\"dinas-pu\"]\n"));
        assert!(!units.wants(ForwardKind::Filed, None, None, false));
        assert!(units.wants(ForwardKind::StatusChanged, None, Some("dinas-pu"), false));
    }

    #[test]
    fn open311_files_new_complaints_only() {
        let o = parse(
            "name = \"kota\"\nkind = \"open311\"\nurl = \"https://kota.contoh.id/open311/v2\"\n",
        );
        assert!(o.problem().is_none());
        assert_eq!(o.events(), vec![ForwardKind::Filed]);
        let more = parse("name = \"kota\"\nkind = \"open311\"\nurl = \"https://kota.contoh.id/open311/v2\"\nevents = [\"answer.approved\"]\n");
        assert_eq!(more.problem().map(|p| p.0), Some("events"));
    }
}
