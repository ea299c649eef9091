//! What the webhook and the poller share around the pure normalizer: learning the bot's
//! username, downloading files before the commit, and answering `/start` and
//! `/status NOMOR` after it.
//!
//! A command is recorded as an ignored item first, so a redelivered update is a
//! duplicate and is not answered twice; the answer goes straight out with
//! `sendMessage` (it belongs to no complaint, so not through the outbox), and a
//! failure is logged without the token.

use std::sync::Arc;

use aduan_kit::{Delivery, Inbound, InboundKind, Outcome, Sink, TrackingId};
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{json, Value};

use crate::api::BotApi;
use crate::normalize::{media_of, message_of, Command, Normalizer, HELP_TEXT};

pub struct Answers {
    pub api: Arc<BotApi>,
    pub normalizer: Arc<Normalizer>,
    /// The daemon's public address, without a trailing slash, for status links.
    pub public_url: String,
}

/// `2026-12-05 14:30 WIB`.
fn wib(t: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| unreachable!("+07:00"));
    t.with_timezone(&offset)
        .format("%d-%m-%Y %H:%M WIB")
        .to_string()
}

impl Answers {
    /// Reads the bot's username with `getMe` when it is not known yet. Without it, a
    /// group message that mentions the bot would not be recognised.
    pub async fn learn_username(&self) -> Result<(), aduan_kit::ConnectorError> {
        if self.normalizer.username().is_none() {
            let (_, username) = self.api.get_me().await?;
            self.normalizer.set_username(&username);
        }
        Ok(())
    }

    /// Makes the items of updates ready to commit: group messages judged without the
    /// username are judged again once it is known, and files are downloaded.
    pub async fn complete(&self, items: Vec<Inbound>) -> Vec<Inbound> {
        let unsure = |i: &Inbound| matches!(&i.kind, InboundKind::Ignored { reason } if reason.contains("not addressed"));
        if self.normalizer.username().is_none() && items.iter().any(unsure) {
            if let Err(e) = self.learn_username().await {
                tracing::warn!(channel = %self.api.name, error = %e, "cannot read the bot's username; mentions in groups are not recognised");
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let mut item = match serde_json::from_slice::<Value>(&item.raw.bytes) {
                Ok(update) if unsure(&item) => self.normalizer.update(&update, &item.raw.bytes),
                _ => item,
            };
            self.attach(&mut item).await;
            out.push(item);
        }
        out
    }

    /// Downloads the photo and the document of a complaint's message; what is not
    /// downloaded is named in the text, with why.
    pub async fn attach(&self, item: &mut Inbound) {
        let InboundKind::Complaint(draft) = &mut item.kind else {
            return;
        };
        let Ok(update) = serde_json::from_slice::<Value>(&item.raw.bytes) else {
            return;
        };
        let Some((m, _)) = message_of(&update) else {
            return;
        };
        for (i, media) in media_of(m, self.normalizer.max_media_bytes())
            .iter()
            .enumerate()
        {
            match self.api.download(&item.external_id, i + 1, media).await {
                Ok(file) => draft.attachments.push(file),
                Err(why) => {
                    tracing::warn!(channel = %self.api.name, error = %why, "file not downloaded");
                    draft
                        .body
                        .push_str(&format!("\n[{} tidak diunduh: {why}]", media.what));
                }
            }
        }
    }

    /// What `/status` answers for `arg`.
    pub async fn status_text(&self, arg: &str, sink: &dyn Sink) -> String {
        let Ok(id) = TrackingId::parse(arg) else {
            return "Kirim /status diikuti nomor laporan Anda, misalnya /status ABCD-EFGH.".into();
        };
        match sink.public_status(&id).await {
            Ok(Some(s)) => format!(
                "Laporan {}: {}.\nDiterima {}, terakhir diperbarui {}.\nRinciannya: {}/laporan/{}",
                s.tracking_id,
                s.status_label,
                wib(s.received_at),
                wib(s.updated_at),
                self.public_url,
                s.tracking_id
            ),
            Ok(None) => {
                format!("Laporan dengan nomor {id} tidak ditemukan. Periksa kembali nomornya.")
            }
            Err(e) => {
                tracing::warn!(channel = %self.api.name, error = %e, "status not read for /status");
                "Maaf, status laporan belum dapat dibaca. Silakan coba lagi nanti.".into()
            }
        }
    }

    /// Answers the commands among committed items: only those recorded just now
    /// (`Ignored`), not a redelivery (`Duplicate`).
    pub async fn answer(&self, items: &[Inbound], deliveries: &[Delivery], sink: &dyn Sink) {
        for (item, d) in items.iter().zip(deliveries) {
            if !matches!(
                d,
                Delivery::Committed {
                    outcome: Outcome::Ignored,
                    ..
                }
            ) {
                continue;
            }
            let Some((cmd, chat, message)) = self.normalizer.command_in(item) else {
                continue;
            };
            let text = match cmd {
                Command::Help => HELP_TEXT.to_owned(),
                Command::Status(arg) => self.status_text(&arg, sink).await,
            };
            let body = json!({
                "chat_id": chat,
                "text": text,
                "reply_to_message_id": message,
                "allow_sending_without_reply": true,
                "disable_web_page_preview": true,
            });
            if let Err(e) = self.api.call("sendMessage", &body).await {
                tracing::warn!(channel = %self.api.name, error = %e, "command not answered");
            }
        }
    }
}

/// The raw bytes of each update in a `getUpdates` answer, with its `update_id`.
pub fn updates_in(answer: &[u8]) -> Result<Vec<(Option<i64>, Bytes)>, String> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        result: Vec<&'a serde_json::value::RawValue>,
    }
    let a: Answer<'_> = serde_json::from_slice(answer).map_err(|e| e.to_string())?;
    Ok(a.result
        .into_iter()
        .map(|r| {
            let id = serde_json::from_str::<Value>(r.get())
                .ok()
                .and_then(|v| v["update_id"].as_i64());
            (id, Bytes::copy_from_slice(r.get().as_bytes()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_updates_of_an_answer_keep_their_bytes() {
        let answer = br#"{"ok":true,"result":[{"update_id":7,"message":{"text":"a"}},{"update_id":8 ,"x":1}]}"#;
        let u = updates_in(answer).expect("updates");
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].0, Some(7));
        assert_eq!(&u[1].1[..], br#"{"update_id":8 ,"x":1}"#);
        assert!(updates_in(b"{}").is_err());
        assert_eq!(
            wib(DateTime::from_timestamp(0, 0).expect("t")),
            "01-01-1970 07:00 WIB"
        );
    }

    #[tokio::test]
    async fn status_answers_what_the_public_page_shows() {
        use aduan_kit::testing::MemorySink;
        use aduan_kit::{ChannelName, PublicStatus};
        use secrecy::SecretString;
        let name = ChannelName::parse("tg").expect("name");
        let answers = Answers {
            api: Arc::new(
                BotApi::new(
                    name.clone(),
                    "https://api.telegram.org",
                    SecretString::from("7000000001:AAHrahasia".to_owned()),
                    std::time::Duration::from_secs(5),
                    1024,
                    false,
                )
                .expect("api"),
            ),
            normalizer: Arc::new(Normalizer::new(name, 7_000_000_001)),
            public_url: "https://lapor.example.go.id".into(),
        };
        let sink = MemorySink::new();
        let id = TrackingId::generate();
        let at = DateTime::from_timestamp(1_764_900_000, 0).expect("t");
        sink.set_status(PublicStatus {
            tracking_id: id.to_string(),
            status_label: "Ditindaklanjuti".into(),
            received_at: at,
            updated_at: at + chrono::Duration::hours(26),
        });
        let text = answers
            .status_text(&id.to_string().to_lowercase(), &sink)
            .await;
        assert!(
            text.starts_with(&format!("Laporan {id}: Ditindaklanjuti.")),
            "{text}"
        );
        assert!(
            text.contains("05-12-2025 09:00 WIB") && text.contains("06-12-2025 11:00 WIB"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("https://lapor.example.go.id/laporan/{id}")),
            "{text}"
        );
        let other = TrackingId::generate();
        assert!(answers
            .status_text(other.as_str(), &sink)
            .await
            .contains("tidak ditemukan"));
        assert!(answers
            .status_text("", &sink)
            .await
            .starts_with("Kirim /status"));
        assert!(answers
            .status_text("ABCD", &sink)
            .await
            .starts_with("Kirim /status"));
    }
}
