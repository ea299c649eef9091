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
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    pub at: DateTime<Utc>,
    /// Earlier texts, oldest first, when the author edited or removed the message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<MessageRevision>,
    /// Set when the author removed the message on the provider; it is kept here.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "crate::http::serde_time::rfc3339_option")]
    pub removed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MessageRevision {
    /// `edited` or `removed`.
    pub kind: String,
    /// The text before this revision.
    pub previous_body: String,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
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
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    pub received_at: DateTime<Utc>,
    pub occurred_on: Option<NaiveDate>,
    pub location: Option<LocationRecord>,
    pub attachments: Vec<AttachmentMeta>,
    pub messages: Vec<MessageRecord>,
}

impl ComplaintRecord {
    /// Removes who filed the complaint: the reporter and the provider's ids of every
    /// message in the thread (an e-mail Message-ID, a tweet id, our reply's id under the
    /// citizen's post: each leads back to a person).
    pub fn hide_identity(&mut self) {
        self.reporter = None;
        self.external_id = String::new();
        for m in &mut self.messages {
            m.external_id = String::new();
        }
    }
}

/// What anyone holding a tracking number may see.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PublicReport {
    pub tracking_id: String,
    pub status: String,
    pub status_label: &'static str,
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
    pub received_at: DateTime<Utc>,
    /// Omitted for confidential (rahasia) complaints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub updates: Vec<PublicUpdate>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PublicUpdate {
    #[serde(serialize_with = "crate::http::serde_time::rfc3339")]
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

pub(crate) const COMPLAINT_COLUMNS: &str = "id, tracking_id, channel, channel_name, external_id, status, title, body, category, unit,
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
        self.read_threads(&mut [(id, rec)], false).await.map(|_| ())
    }

    /// [`Store::fill_thread`] for each of `records` (by complaint id), with what the
    /// admin queue shows beside each thread, in the same order.
    pub(crate) async fn fill_threads_for_queue(
        &self,
        records: &mut [(i64, &mut ComplaintRecord)],
    ) -> Result<Vec<QueueSide>, StoreError> {
        self.read_threads(records, true).await
    }

    /// One statement for the threads, however many parts and complaints: opening a
    /// complaint is what an admin does after every claim, and each round trip was a
    /// statement to plan and a connection to take.
    async fn read_threads(
        &self,
        records: &mut [(i64, &mut ComplaintRecord)],
        queue: bool,
    ) -> Result<Vec<QueueSide>, StoreError> {
        let ids: Vec<i64> = records.iter().map(|(id, _)| *id).collect();
        let (of, list) = self.id_list(&ids);
        let sql = thread_sql(of, queue);
        super::on_reads!(&self.reads, pool => {
            let rows = sqlx::query(&sql).bind(list).fetch_all(pool).await?;
            // Rows come grouped by complaint: where each complaint's run starts and ends.
            let mut runs: std::collections::HashMap<i64, (usize, usize)> = Default::default();
            for (i, r) in rows.iter().enumerate() {
                runs.entry(r.col::<i64>("cid")?).or_insert((i, i)).1 = i + 1;
            }
            records
                .iter_mut()
                .map(|(id, rec)| {
                    // A complaint with no rows still gets its first message.
                    let (start, end) = runs.get(id).copied().unwrap_or_default();
                    thread_from_rows(&rows[start..end], rec)
                })
                .collect()
        })
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
        // Merged into a rahasia complaint: that complaint's answers are not shown here.
        let row = sqlx::query(
            "SELECT c.id, c.status, c.title, c.confidential, c.received_at,
                 COALESCE(m.confidential, c.confidential) AS into_confidential
             FROM complaints c LEFT JOIN complaints m ON m.id = c.merged_into WHERE c.tracking_id = $1",
        )
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
        if !confidential && !flag(&row, "into_confidential")? {
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

    /// The raw original of the complaint a channel filed under `external_id`, for
    /// telling a retried submission from a different one under a reused key.
    pub async fn complaint_original(
        &self,
        channel_name: &str,
        external_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT raw FROM complaints WHERE channel_name = $1 AND external_id = $2",
        )
        .bind(channel_name)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?)
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
            "blobs",
            "raw_originals",
            "intake_rejects",
            "inbound_keys",
            "outbox",
            "audit_events",
            "forward_events",
            "forwards",
        ];
        if !TABLES.contains(&table) {
            return Err(StoreError::Invalid(format!("unknown table {table}")));
        }
        Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await?)
    }
}

/// Beside a complaint's thread, what the admin queue shows of it.
#[derive(Debug, Default)]
pub(crate) struct QueueSide {
    /// The outbox's rows for the complaint (receipts, answers), oldest first.
    pub deliveries: Vec<Delivery>,
    /// The newest answer draft waiting for the liaison's approval.
    pub pending_answer: Option<String>,
}

/// One outgoing message of a complaint and where it stands.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub channel_name: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The furthest the provider reported it got (`delivered`, `read`, `failed`).
    pub reported: Option<String>,
}

/// The parts of complaints' threads as one statement, for the complaints whose id is
/// `of` (a condition on `complaint_id`). Each part's rows take one shape (`cid`, `part`,
/// `id`, `at`, texts `a` to `d`, a number `n`, a text `e`), grouped by complaint in ascending id and
/// ordered as each part is read: attachments by id, messages and their revisions by
/// time; with `queue`, also its deliveries and its answer drafts awaiting approval.
fn thread_sql(of: &str, queue: bool) -> String {
    let mut sql = format!(
        "SELECT complaint_id AS cid, CAST(1 AS BIGINT) AS part, id, CAST(NULL AS BIGINT) AS at,
            filename AS a, content_type AS b, sha256 AS c, CAST(NULL AS TEXT) AS d, size AS n,
            CAST(NULL AS TEXT) AS e
            FROM attachments WHERE complaint_id {of}
        UNION ALL SELECT complaint_id, 2, id, at, direction, channel,
            CASE WHEN anonymous THEN '' ELSE external_id END, body, NULL, NULL
            FROM messages WHERE complaint_id {of}
        UNION ALL SELECT complaint_id, 3, id, at, kind, previous_body, NULL, NULL, message_id, NULL
            FROM message_revisions WHERE complaint_id {of}"
    );
    if queue {
        sql.push_str(&format!(
            "
        UNION ALL SELECT complaint_id, 4, id, NULL, channel_name, kind, status, last_error, attempts,
            (SELECT r.status FROM delivery_reports r
             WHERE r.channel_name = outbox.channel_name AND r.external_id = outbox.external_id
             ORDER BY CASE r.status WHEN 'failed' THEN 3 WHEN 'read' THEN 2 WHEN 'delivered' THEN 1 ELSE 0 END DESC
             LIMIT 1)
            FROM outbox WHERE complaint_id {of}
        UNION ALL SELECT complaint_id, 5, id, NULL, body, NULL, NULL, NULL, NULL, NULL
            FROM answers WHERE complaint_id {of} AND status = 'submitted'"
        ));
    }
    sql.push_str(" ORDER BY cid, part, at, id");
    sql
}

fn thread_from_rows(
    rows: &[impl Cols],
    rec: &mut ComplaintRecord,
) -> Result<QueueSide, StoreError> {
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
    let mut attachments = Vec::new();
    let mut side = QueueSide::default();
    for r in rows {
        match r.col::<i64>("part")? {
            1 => attachments.push(AttachmentMeta {
                filename: r.col("a")?,
                content_type: r.col("b")?,
                size: r.col("n")?,
                sha256: r.col("c")?,
            }),
            2 => {
                ids.push(Some(r.col::<i64>("id")?));
                messages.push(MessageRecord {
                    direction: r.col("a")?,
                    channel: r.col("b")?,
                    external_id: r.col("c")?,
                    body: r.col("d")?,
                    at: from_micros(r.col("at")?),
                    history: Vec::new(),
                    removed_at: None,
                });
            }
            // Every message comes before the revisions.
            3 => {
                let of: Option<i64> = r.col("n")?;
                let Some(m) = ids.iter().position(|i| *i == of) else {
                    continue;
                };
                let rev = MessageRevision {
                    kind: r.col("a")?,
                    previous_body: r.col("b")?,
                    at: from_micros(r.col("at")?),
                };
                if rev.kind == "removed" {
                    messages[m].removed_at = Some(rev.at);
                }
                messages[m].history.push(rev);
            }
            4 => side.deliveries.push(Delivery {
                channel_name: r.col("a")?,
                kind: r.col("b")?,
                status: r.col("c")?,
                attempts: r.col("n")?,
                last_error: r.col("d")?,
                reported: r.col("e")?,
            }),
            // Oldest first: the last one read is the newest.
            5 => side.pending_answer = Some(r.col("a")?),
            _ => {}
        }
    }
    rec.attachments = attachments;
    rec.messages = messages;
    Ok(side)
}
