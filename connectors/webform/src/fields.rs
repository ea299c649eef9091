//! The report fields shared by the HTML form, the JSON API and form-provider webhooks.

use aduan_kit::{
    AttachmentData, ChannelName, ComplaintDraft, Inbound, InboundKind, Location, Raw, Reporter,
    Threading,
};
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Content types accepted for attachments unless configured otherwise; checked against
/// the bytes (magic numbers), not the name the browser sent.
pub const DEFAULT_ALLOWED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heif",
    "application/pdf",
    "video/mp4",
    "audio/mpeg",
    "audio/ogg",
    "text/plain",
];

/// The fields of a report exactly as submitted (JSON body, form fields, or mapped from a
/// provider's payload). Everything optional here; [`ReportFields::validate`] decides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportFields {
    pub title: Option<String>,
    pub body: Option<String>,
    pub category: Option<String>,
    pub location: Option<String>,
    pub occurred_on: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub anonymous: bool,
    #[serde(deserialize_with = "flag")]
    pub confidential: bool,
    /// A client-chosen id that makes a retried submission idempotent.
    pub submission_id: Option<String>,
}

/// Accepts JSON booleans and the strings HTML checkboxes and form tools send.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        B(bool),
        S(String),
        N(i64),
    }
    Ok(match Option::<Flag>::deserialize(d)? {
        None => false,
        Some(Flag::B(b)) => b,
        Some(Flag::N(n)) => n != 0,
        Some(Flag::S(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "on" | "yes" | "ya"
        ),
    })
}

/// One uploaded file as received.
#[derive(Debug, Clone)]
pub struct FileUpload {
    pub field: String,
    pub filename: String,
    pub bytes: Bytes,
}

/// Limits and choices that come from configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FormRules {
    /// Allowed categories (slug → label); empty means any category text is refused
    /// except none.
    pub categories: Vec<Category>,
    pub max_title_chars: usize,
    pub max_body_chars: usize,
    pub max_field_chars: usize,
    pub max_files: usize,
    pub max_file_bytes: usize,
    pub allowed_types: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub slug: String,
    pub label: String,
}

impl Default for FormRules {
    fn default() -> Self {
        Self {
            categories: Vec::new(),
            max_title_chars: 200,
            max_body_chars: 20_000,
            max_field_chars: 500,
            max_files: 10,
            max_file_bytes: 10 * 1024 * 1024,
            allowed_types: DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

/// A field that failed validation: a stable code for programs, a message for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }
}

/// A report that passed validation, ready to become an [`Inbound`].
#[derive(Debug, Clone)]
pub struct ValidReport {
    pub draft: ComplaintDraft,
    pub submission_id: Option<String>,
}

/// Keeps newlines and tabs, drops other control characters, normalizes line ends and
/// trims. HTML is kept as the citizen typed it: it is text, escaped on every output.
fn clean(s: &str) -> String {
    let trimmed = s.trim();
    // The common case, text with nothing to remove, costs one copy.
    if !trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return trimmed.to_owned();
    }
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_owned()
}

fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(clean).filter(|s| !s.is_empty())
}

/// Indonesian mobile numbers are written 0812…, 62812… or +62812…; stored as +62….
pub fn normalize_phone(s: &str) -> Option<String> {
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let (plus, rest) = match digits.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, digits.as_str()),
    };
    if rest.len() < 8 || rest.len() > 15 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if plus {
        format!("+{rest}")
    } else if let Some(local) = rest.strip_prefix('0') {
        format!("+62{local}")
    } else {
        format!("+{rest}")
    })
}

/// The content type of a file judged by its bytes; `text/plain` for valid UTF-8 text.
pub fn sniff_content_type(bytes: &[u8]) -> Option<&'static str> {
    if let Some(t) = infer::get(bytes) {
        return Some(t.mime_type());
    }
    let looks_textual = std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0);
    looks_textual.then_some("text/plain")
}

fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*'))
        .take(120)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "lampiran".to_owned()
    } else {
        cleaned
    }
}

impl ReportFields {
    /// Validates every field and every file, collecting all errors at once.
    pub fn validate(
        &self,
        rules: &FormRules,
        files: Vec<FileUpload>,
    ) -> Result<ValidReport, Vec<FieldError>> {
        let mut errs = Vec::new();
        let mut text = |field: &str,
                        v: &Option<String>,
                        required: bool,
                        max: usize,
                        label: &str|
         -> Option<String> {
            let v = opt(v);
            match &v {
                None if required => errs.push(FieldError::new(
                    field,
                    "required",
                    format!("{label} wajib diisi."),
                )),
                Some(s) if s.chars().count() > max => errs.push(FieldError::new(
                    field,
                    "too_long",
                    format!("{label} terlalu panjang (maksimal {max} karakter)."),
                )),
                _ => {}
            }
            v
        };
        let title = text(
            "title",
            &self.title,
            true,
            rules.max_title_chars,
            "Judul laporan",
        );
        let body = text(
            "body",
            &self.body,
            true,
            rules.max_body_chars,
            "Isi laporan",
        );
        let location = text(
            "location",
            &self.location,
            false,
            rules.max_field_chars,
            "Lokasi",
        );
        let name = text(
            "name",
            &self.name,
            false,
            rules.max_field_chars.min(200),
            "Nama",
        );
        let email = text("email", &self.email, false, 254, "Alamat e-mail");
        let phone_raw = text("phone", &self.phone, false, 32, "Nomor HP");
        let category = text("category", &self.category, false, 100, "Kategori");
        let occurred = text(
            "occurred_on",
            &self.occurred_on,
            false,
            10,
            "Tanggal kejadian",
        );
        let submission_id = text(
            "submission_id",
            &self.submission_id,
            false,
            128,
            "submission_id",
        );

        if let Some(e) = &email {
            if !email_address::EmailAddress::is_valid(e) {
                errs.push(FieldError::new(
                    "email",
                    "invalid_email",
                    "Alamat e-mail tidak valid, contoh: nama@contoh.id.",
                ));
            }
        }
        let phone = match &phone_raw {
            Some(p) => {
                let n = normalize_phone(p);
                if n.is_none() {
                    errs.push(FieldError::new(
                        "phone",
                        "invalid_phone",
                        "Nomor HP tidak valid, contoh: 0812 3456 7890.",
                    ));
                }
                n
            }
            None => None,
        };
        if let Some(c) = &category {
            if !rules.categories.iter().any(|k| &k.slug == c) {
                errs.push(FieldError::new(
                    "category",
                    "unknown_category",
                    "Pilih kategori dari daftar.",
                ));
            }
        }
        let occurred_on = match &occurred {
            Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) if d > Utc::now().date_naive() + chrono::Days::new(1) => {
                    errs.push(FieldError::new(
                        "occurred_on",
                        "in_future",
                        "Tanggal kejadian tidak boleh di masa depan.",
                    ));
                    None
                }
                Ok(d) if d < NaiveDate::from_ymd_opt(1945, 8, 17).unwrap_or(NaiveDate::MIN) => {
                    errs.push(FieldError::new(
                        "occurred_on",
                        "invalid_date",
                        "Tanggal kejadian tidak valid.",
                    ));
                    None
                }
                Ok(d) => Some(d),
                Err(_) => {
                    errs.push(FieldError::new(
                        "occurred_on",
                        "invalid_date",
                        "Tanggal kejadian tidak valid (format TTTT-BB-HH).",
                    ));
                    None
                }
            },
            None => None,
        };

        let files: Vec<FileUpload> = files
            .into_iter()
            .filter(|f| !f.bytes.is_empty() || !f.filename.is_empty())
            .collect();
        if files.len() > rules.max_files {
            errs.push(FieldError::new(
                "attachments",
                "too_many_files",
                format!("Maksimal {} lampiran.", rules.max_files),
            ));
        }
        let mut attachments = Vec::new();
        for f in files.iter().take(rules.max_files) {
            let filename = safe_filename(&f.filename);
            if f.bytes.is_empty() {
                errs.push(FieldError::new(
                    "attachments",
                    "empty_file",
                    format!("Berkas {filename} kosong."),
                ));
                continue;
            }
            if f.bytes.len() > rules.max_file_bytes {
                errs.push(FieldError::new(
                    "attachments",
                    "file_too_large",
                    format!(
                        "Berkas {filename} terlalu besar (maksimal {} MB).",
                        rules.max_file_bytes / (1024 * 1024)
                    ),
                ));
                continue;
            }
            match sniff_content_type(&f.bytes) {
                Some(t) if rules.allowed_types.iter().any(|a| a == t) => {
                    attachments.push(AttachmentData {
                        filename,
                        content_type: t.to_owned(),
                        bytes: f.bytes.clone(),
                    })
                }
                _ => errs.push(FieldError::new(
                    "attachments",
                    "file_type_not_allowed",
                    format!(
                        "Jenis berkas {filename} tidak diizinkan (foto, PDF, video, atau audio)."
                    ),
                )),
            }
        }

        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(ValidReport {
            draft: ComplaintDraft {
                title: title.unwrap_or_default(),
                body: body.unwrap_or_default(),
                category,
                reporter: Reporter {
                    name,
                    handle: None,
                    email,
                    phone,
                    user_id: None,
                },
                anonymous: self.anonymous,
                confidential: self.confidential,
                occurred_on,
                location: location.map(|text| Location {
                    text: Some(text),
                    lat: None,
                    lon: None,
                }),
                attachments,
            },
            submission_id,
        })
    }
}

impl ValidReport {
    /// The normalized record. Without a submission id the report gets a fresh one: a
    /// form post without an idempotency key cannot be told apart from a second report.
    pub fn into_inbound(self, channel_name: ChannelName, raw: Raw) -> Inbound {
        let external_id = self
            .submission_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Inbound {
            channel: crate::KIND,
            channel_name,
            external_id,
            received_at: Utc::now(),
            kind: InboundKind::Complaint(Box::new(self.draft)),
            thread: Threading::default(),
            raw,
            acknowledge: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> FormRules {
        FormRules {
            categories: vec![Category {
                slug: "air-bersih".into(),
                label: "Air bersih".into(),
            }],
            ..FormRules::default()
        }
    }

    fn codes(r: Result<ValidReport, Vec<FieldError>>) -> Vec<(String, &'static str)> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn requires_title_and_body() {
        let f = ReportFields {
            title: Some("  ".into()),
            ..Default::default()
        };
        assert_eq!(
            codes(f.validate(&rules(), vec![])),
            vec![("title".into(), "required"), ("body".into(), "required")]
        );
    }

    #[test]
    fn checks_lengths_email_phone_category_and_date() {
        let f = ReportFields {
            title: Some("x".repeat(201)),
            body: Some("isi".into()),
            email: Some("bukan-email".into()),
            phone: Some("12ab".into()),
            category: Some("jalan".into()),
            occurred_on: Some("2024-13-01".into()),
            ..Default::default()
        };
        assert_eq!(
            codes(f.validate(&rules(), vec![])),
            vec![
                ("title".into(), "too_long"),
                ("email".into(), "invalid_email"),
                ("phone".into(), "invalid_phone"),
                ("category".into(), "unknown_category"),
                ("occurred_on".into(), "invalid_date"),
            ]
        );
    }

    #[test]
    fn valid_report_is_cleaned_and_normalized() {
        let f = ReportFields {
            title: Some("  Air PDAM mati\r\n".into()),
            body: Some("Sudah 3 hari <b>tidak</b> mengalir\u{0}".into()),
            category: Some("air-bersih".into()),
            phone: Some("0812-3456-7890".into()),
            email: Some("warga@contoh.id".into()),
            occurred_on: Some("2026-01-05".into()),
            anonymous: true,
            ..Default::default()
        };
        let v = f.validate(&rules(), vec![]).expect("valid");
        assert_eq!(v.draft.title, "Air PDAM mati");
        assert_eq!(v.draft.body, "Sudah 3 hari <b>tidak</b> mengalir");
        assert_eq!(v.draft.reporter.phone.as_deref(), Some("+6281234567890"));
        assert!(v.draft.anonymous);
    }

    #[test]
    fn attachments_are_judged_by_their_bytes() {
        let png = Bytes::from_static(
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89",
        );
        let exe = Bytes::from_static(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0");
        let base = ReportFields {
            title: Some("t".into()),
            body: Some("b".into()),
            ..Default::default()
        };
        let ok = base
            .validate(
                &rules(),
                vec![FileUpload {
                    field: "attachments".into(),
                    filename: "../../foto.png".into(),
                    bytes: png,
                }],
            )
            .expect("png allowed");
        assert_eq!(ok.draft.attachments[0].content_type, "image/png");
        assert_eq!(ok.draft.attachments[0].filename, "foto.png");
        let bad = base.validate(
            &rules(),
            vec![FileUpload {
                field: "attachments".into(),
                filename: "foto.jpg".into(),
                bytes: exe,
            }],
        );
        assert_eq!(
            codes(bad),
            vec![("attachments".into(), "file_type_not_allowed")]
        );
    }

    #[test]
    fn checkbox_values_are_flags() {
        let f: ReportFields =
            serde_json::from_str(r#"{"anonymous":"on","confidential":1}"#).expect("parse");
        assert!(f.anonymous && f.confidential);
        let f: ReportFields =
            serde_json::from_str(r#"{"anonymous":false,"confidential":"0"}"#).expect("parse");
        assert!(!f.anonymous && !f.confidential);
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+62 812 3456 789").as_deref(),
            Some("+628123456789")
        );
        assert_eq!(
            normalize_phone("628123456789").as_deref(),
            Some("+628123456789")
        );
        assert_eq!(normalize_phone("0812"), None);
    }
}
