//! Reading complaints back: the full record (DESIGN.md's complaint JSON) and the public
//! status view that carries no personal data.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{flag, from_micros, Cols, Store, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReporterRecord {
    pub name: Option<String>,
    pub handle: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LocationRecord {
    pub text: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttachmentMeta {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageRecord {
    pub direction: String,
    pub channel: String,
    pub external_id: String,
    /// The current text (after any edit by its author).
    pub body: String,
    pub at: DateTime<Utc>,
    /// Earlier texts, oldest first, when the author edited or removed the message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<MessageRevision>,
    /// Set when the author removed the message on the provider; it is kept here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageRevision {
    /// `edited` or `removed`.
    pub kind: String,
    /// The text before this revision.
    pub previous_body: String,
    pub at: DateTime<Utc>,
}

/// The normalized complaint record; field names are the public contract.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComplaintRecord {
    pub tracking_id: String,
    pub channel: String,
    pub channel_name: String,
    pub external_id: String,
    pub status: String,
    pub title: String,
    pub body: String,
    pub category: Option<String>,
    pub unit: Option<String>,
    /// `None` where the caller may not see who filed it.
    pub reporter: Option<ReporterRecord>,
    pub anonymous: bool,
    pub confidential: bool,
    pub received_at: DateTime<Utc>,
    pub occurred_on: Option<NaiveDate>,
    pub location: Option<LocationRecord>,
    pub attachments: Vec<AttachmentMeta>,
    pub messages: Vec<MessageRecord>,
}

/// What anyone holding a tracking number may see.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PublicReport {
    pub tracking_id: String,
    pub status: String,
    pub status_label: &'static str,
    pub received_at: DateTime<Utc>,
    /// Omitted for confidential (rahasia) complaints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub updates: Vec<PublicUpdate>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PublicUpdate {
    pub at: DateTime<Utc>,
    pub status: Option<String>,
    pub status_label: Option<&'static str>,
    /// An answer published to the citizen; omitted for confidential complaints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Status key → label in the Indonesian UI (SP4N-LAPOR!).
pub fn status_label(status: &str) -> &'static str {
    match status {
        "new" => "Belum terverifikasi",
        "verified" => "Terverifikasi",
        "forwarded" => "Didisposisikan",
        "in_progress" => "Ditindaklanjuti",
        "answered" => "Ditanggapi",
        "closed" => "Selesai",
        "on_hold" => "Ditunda",
        "not_authority" => "Bukan wewenang",
        "archived" => "Diarsipkan",
        "rejected" => "Ditolak",
        "merged" => "Digabungkan",
        _ => "Tidak diketahui",
    }
}

#[derive(Debug, Clone, Default)]
pub struct ComplaintFilter {
    pub status: Option<String>,
    pub limit: i64,
}

const COMPLAINT_COLUMNS: &str = "id, tracking_id, channel, channel_name, external_id, status, title, body, category, unit,
    reporter_name, reporter_handle, reporter_email, reporter_phone, anonymous, confidential, received_at, occurred_on,
    location_text, location_lat, location_lon";

pub(crate) fn complaint_from_row(row: &impl Cols) -> Result<(i64, ComplaintRecord), sqlx::Error> {
    let loc_text: Option<String> = row.col("location_text")?;
    let lat: Option<f64> = row.col("location_lat")?;
    let lon: Option<f64> = row.col("location_lon")?;
    let location =
        (loc_text.is_some() || lat.is_some() || lon.is_some()).then_some(LocationRecord {
            text: loc_text,
            lat,
            lon,
        });
    let occurred: Option<String> = row.col("occurred_on")?;
    Ok((
        row.col("id")?,
        ComplaintRecord {
            tracking_id: row.col("tracking_id")?,
            channel: row.col("channel")?,
            channel_name: row.col("channel_name")?,
            external_id: row.col("external_id")?,
            status: row.col("status")?,
            title: row.col("title")?,
            body: row.col("body")?,
            category: row.col("category")?,
            unit: row.col("unit")?,
            reporter: Some(ReporterRecord {
                name: row.col("reporter_name")?,
                handle: row.col("reporter_handle")?,
                email: row.col("reporter_email")?,
                phone: row.col("reporter_phone")?,
            }),
            anonymous: flag(row, "anonymous")?,
            confidential: flag(row, "confidential")?,
            received_at: from_micros(row.col("received_at")?),
            occurred_on: occurred.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()),
            location,
            attachments: Vec::new(),
            messages: Vec::new(),
        },
    ))
}

impl Store {
    /// The whole record with its thread in time order and its attachments.
    pub async fn complaint(
        &self,
        tracking_id: &str,
    ) -> Result<Option<ComplaintRecord>, StoreError> {
        let sql = format!("SELECT {COMPLAINT_COLUMNS} FROM complaints WHERE tracking_id = $1");
        let Some(row) = sqlx::query(&sql)
            .bind(tracking_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let (id, mut rec) = complaint_from_row(&row)?;
        self.fill_thread(id, &mut rec).await?;
        Ok(Some(rec))
    }

    /// Fills in a complaint's attachments and its whole thread in time order, the first
    /// message (the complaint itself) first.
    pub(crate) async fn fill_thread(
        &self,
        id: i64,
        rec: &mut ComplaintRecord,
    ) -> Result<(), StoreError> {
        rec.attachments = sqlx::query(
            "SELECT filename, content_type, size, sha256 FROM attachments WHERE complaint_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AttachmentMeta {
                filename: r.try_get(0)?,
                content_type: r.try_get(1)?,
                size: r.try_get(2)?,
                sha256: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        // The first message is the complaint itself.
        let first = MessageRecord {
            direction: "in".into(),
            channel: rec.channel.clone(),
            external_id: rec.external_id.clone(),
            body: rec.body.clone(),
            at: rec.received_at,
            history: Vec::new(),
            removed_at: None,
        };
        let mut ids = vec![None];
        let mut messages = vec![first];
        for r in sqlx::query(
            "SELECT id, direction, channel, external_id, body, at FROM messages WHERE complaint_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        {
            ids.push(Some(r.try_get::<i64, _>(0)?));
            messages.push(MessageRecord {
                direction: r.try_get(1)?,
                channel: r.try_get(2)?,
                external_id: r.try_get(3)?,
                body: r.try_get(4)?,
                at: from_micros(r.try_get(5)?),
                history: Vec::new(),
                removed_at: None,
            });
        }
        for r in sqlx::query(
            "SELECT message_id, kind, previous_body, at FROM message_revisions WHERE complaint_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        {
            let of: Option<i64> = r.try_get(0)?;
            let Some(m) = ids.iter().position(|i| *i == of) else {
                continue;
            };
            let rev = MessageRevision {
                kind: r.try_get(1)?,
                previous_body: r.try_get(2)?,
                at: from_micros(r.try_get(3)?),
            };
            if rev.kind == "removed" {
                messages[m].removed_at = Some(rev.at);
            }
            messages[m].history.push(rev);
        }
        rec.messages = messages;
        Ok(())
    }

    /// Newest first, without threads or attachments.
    pub async fn complaints(
        &self,
        filter: &ComplaintFilter,
    ) -> Result<Vec<ComplaintRecord>, StoreError> {
        let limit = if filter.limit <= 0 {
            100
        } else {
            filter.limit.min(10_000)
        };
        let rows = match &filter.status {
            Some(s) => {
                let sql = format!("SELECT {COMPLAINT_COLUMNS} FROM complaints WHERE status = $1 ORDER BY received_at DESC, id DESC LIMIT $2");
                sqlx::query(&sql)
                    .bind(s)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT {COMPLAINT_COLUMNS} FROM complaints ORDER BY received_at DESC, id DESC LIMIT $1");
                sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?
            }
        };
        rows.iter()
            .map(|r| {
                complaint_from_row(r)
                    .map(|(_, c)| c)
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// The public status view: no personal data; for a confidential complaint only the
    /// status and its dates.
    pub async fn public_report(
        &self,
        tracking_id: &str,
    ) -> Result<Option<PublicReport>, StoreError> {
        let row = sqlx::query("SELECT id, status, title, confidential, received_at FROM complaints WHERE tracking_id = $1")
            .bind(tracking_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get(0)?;
        let status: String = row.try_get(1)?;
        let confidential = flag(&row, "confidential")?;
        let received_at = from_micros(row.try_get(4)?);
        let received = PublicUpdate {
            at: received_at,
            status: Some("new".into()),
            status_label: Some(status_label("new")),
            text: None,
        };
        let mut updates: Vec<PublicUpdate> = std::iter::once(Ok(received)).chain(sqlx::query(
            "SELECT at, after_state FROM audit_events WHERE complaint_id = $1 AND public = TRUE ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let st: Option<String> = r.try_get(1)?;
            Ok(PublicUpdate {
                at: from_micros(r.try_get(0)?),
                status_label: st.as_deref().map(status_label),
                status: st,
                text: None,
            })
        }))
        .collect::<Result<_, sqlx::Error>>()?;
        if !confidential {
            for r in sqlx::query("SELECT at, body FROM messages WHERE complaint_id = $1 AND direction = 'out' AND public = TRUE ORDER BY at, id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?
            {
                updates.push(PublicUpdate { at: from_micros(r.try_get(0)?), status: None, status_label: None, text: Some(r.try_get(1)?) });
            }
            updates.sort_by_key(|u| u.at);
        }
        Ok(Some(PublicReport {
            tracking_id: tracking_id.to_owned(),
            status_label: status_label(&status),
            status,
            received_at,
            title: if confidential {
                None
            } else {
                Some(row.try_get(2)?)
            },
            updates,
        }))
    }

    /// Counts by table, for tests and `aduan check`.
    pub async fn count(&self, table: &str) -> Result<i64, StoreError> {
        if table == "raw_originals" {
            // Raw originals live with their message or their intake record.
            return Ok(sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM complaints) + (SELECT COUNT(*) FROM messages WHERE raw IS NOT NULL)
                  + (SELECT COUNT(*) FROM intake_rejects)",
            )
            .fetch_one(&self.pool)
            .await?);
        }
        const TABLES: &[&str] = &[
            "complaints",
            "messages",
            "attachments",
            "raw_originals",
            "intake_rejects",
            "inbound_keys",
            "outbox",
            "audit_events",
        ];
        if !TABLES.contains(&table) {
            return Err(StoreError::Invalid(format!("unknown table {table}")));
        }
        Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await?)
    }
}
