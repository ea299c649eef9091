//! A raw RFC 5322 message → an [`Inbound`]: subject as title, the best text body
//! (text/plain preferred, HTML turned into text, never rendered), attachments and inline
//! images, the reporter from `From`, thread keys from `Message-ID`, `In-Reply-To`,
//! `References` and a tracking number in the subject. Whatever cannot be understood is
//! quarantined with the reason; nothing is dropped and nothing panics.

use aduan_kit::{
    Acknowledgement, AttachmentData, ChannelName, ComplaintDraft, Inbound, InboundKind, Raw,
    Recipient, Reporter, Threading, TrackingId,
};
use chrono::{DateTime, Utc};
use mailparse::{DispositionType, MailAddr, MailHeader, MailHeaderMap, ParsedMail};
use sha2::{Digest, Sha256};

use crate::loops::loop_reason;

/// The channel kind of complaints that came by e-mail.
pub const KIND: &str = "email";

/// MIME trees deeper than this are not walked further (their text is still kept raw).
const MAX_DEPTH: usize = 32;
/// Body text kept in the record; the raw original keeps everything.
const MAX_BODY_CHARS: usize = 100_000;
/// What a receipt repeats of the sender's subject and name: enough to recognize them,
/// too little to carry someone else's message to the address it goes to.
const RECEIPT_ECHO_CHARS: usize = 60;

/// Who gets a receipt. The default is the strict one.
#[derive(Debug, Clone)]
pub struct ReceiptPolicy {
    /// Only when the receiving server recorded an aligned SPF, DKIM or DMARC pass.
    pub require_authentication: bool,
    /// Whose `Authentication-Results` to believe (`None`: the topmost header).
    pub authserv_id: Option<String>,
    /// Whether a `Reply-To` in another domain than From may receive it.
    pub reply_to_other_domain: bool,
    /// At most this many receipts per hour on the channel.
    pub max_per_hour: Option<u32>,
}

impl Default for ReceiptPolicy {
    fn default() -> Self {
        Self {
            require_authentication: true,
            authserv_id: None,
            reply_to_other_domain: false,
            max_per_hour: Some(200),
        }
    }
}

/// `s` without braces (the store fills `{…}` placeholders) and cut at `max` characters.
fn echo(s: &str, max: usize) -> String {
    let clean: String = s.chars().filter(|c| !matches!(c, '{' | '}')).collect();
    if clean.chars().count() > max {
        let cut: String = clean.chars().take(max).collect();
        format!("{}…", cut.trim_end())
    } else {
        clean
    }
}

fn domain(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

pub struct Normalizer {
    channel: ChannelName,
    /// The domain of our own Message-IDs: mail carrying one is our own, never a complaint.
    own_domain: Option<String>,
    /// Our own addresses (the mailbox itself): mail from them is never a complaint.
    own_addresses: Vec<String>,
    /// The receipt for new complaints: (template, once-per window), when configured.
    ack: Option<(String, std::time::Duration)>,
    receipts: ReceiptPolicy,
}

/// mailparse walks nested parts recursively; a message nested thousands of levels deep
/// would exhaust the stack, which no error handling can catch. Such a message is
/// quarantined before it is parsed.
const MAX_CONTAINERS: usize = 100;

fn too_deep(raw: &[u8]) -> bool {
    let lower = raw.to_ascii_lowercase();
    let count = |needle: &[u8]| lower.windows(needle.len()).filter(|w| *w == needle).count();
    count(b"multipart/") + count(b"message/rfc822") > MAX_CONTAINERS
}

/// Message-IDs in a header value (`<a@b> <c@d>`), brackets kept.
fn message_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let id = &rest[start..start + len + 1];
        if id.len() > 2 && id.contains('@') {
            out.push(id.to_owned());
        }
        rest = &rest[start + len + 1..];
    }
    out
}

fn sha256_id(raw: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(raw)))
}

#[derive(Default)]
struct Walk {
    plain: Option<String>,
    html: Option<String>,
    other_text: Option<String>,
    attachments: Vec<AttachmentData>,
    problems: Vec<String>,
}

fn is_attachment(part: &ParsedMail<'_>) -> bool {
    let disp = part.get_content_disposition();
    disp.disposition == DispositionType::Attachment
        || disp.params.contains_key("filename")
        || part.ctype.params.contains_key("name")
}

fn filename(part: &ParsedMail<'_>, n: usize) -> String {
    let disp = part.get_content_disposition();
    disp.params
        .get("filename")
        .or_else(|| part.ctype.params.get("name"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("lampiran-{n}"))
}

/// The body as text, decoding the transfer encoding and the charset; bytes a charset
/// cannot explain become U+FFFD rather than failing the message.
fn text_of(part: &ParsedMail<'_>) -> Result<String, String> {
    match part.get_body() {
        Ok(s) => Ok(s),
        Err(e) => match part.get_body_raw() {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => Err(e.to_string()),
        },
    }
}

fn html_to_text(html: &str) -> String {
    // html2text drops <script> and <style> and keeps the visible text; it is never
    // rendered anywhere, only read as text.
    // Link targets are left out: a `javascript:` URL is not text anyone should read.
    html2text::config::plain()
        .link_footnotes(false)
        .string_from_read(html.as_bytes(), 100)
        .unwrap_or_default()
}

fn walk(part: &ParsedMail<'_>, depth: usize, w: &mut Walk) {
    if depth > MAX_DEPTH {
        w.problems.push(format!(
            "MIME nesting deeper than {MAX_DEPTH} levels not read"
        ));
        return;
    }
    let mime = part.ctype.mimetype.to_ascii_lowercase();
    if mime.starts_with("multipart/") {
        for sub in &part.subparts {
            walk(sub, depth + 1, w);
        }
        return;
    }
    if mime == "message/rfc822" && !is_attachment(part) {
        // A forwarded message: its text counts as the complaint's text.
        match part.get_body_raw().map(|b| b.to_vec()) {
            Ok(inner) => match mailparse::parse_mail(&inner) {
                Ok(m) => {
                    let mut inner_walk = Walk::default();
                    walk(&m, depth + 1, &mut inner_walk);
                    let subject = m.headers.get_first_value("Subject").unwrap_or_default();
                    let text = inner_walk
                        .plain
                        .or(inner_walk.html)
                        .or(inner_walk.other_text)
                        .unwrap_or_default();
                    let forwarded = format!("--- Pesan terlampir: {subject} ---\n{text}");
                    w.other_text
                        .get_or_insert_with(String::new)
                        .push_str(&forwarded);
                    w.attachments.extend(inner_walk.attachments);
                    w.problems.extend(inner_walk.problems);
                }
                Err(e) => w
                    .problems
                    .push(format!("forwarded message unreadable: {e}")),
            },
            Err(e) => w
                .problems
                .push(format!("forwarded message unreadable: {e}")),
        }
        return;
    }
    if is_attachment(part) || !(mime.starts_with("text/") || mime.is_empty()) {
        let name = filename(part, w.attachments.len() + 1);
        match part.get_body_raw() {
            Ok(bytes) if !bytes.is_empty() => w.attachments.push(AttachmentData {
                filename: name,
                content_type: mime,
                bytes: bytes.into(),
            }),
            Ok(_) => {}
            Err(e) => w
                .problems
                .push(format!("lampiran {name} tidak dapat dibaca: {e}")),
        }
        return;
    }
    match text_of(part) {
        Ok(text) if mime == "text/plain" || mime.is_empty() => {
            if w.plain.is_none() {
                w.plain = Some(text);
            }
        }
        Ok(text) if mime == "text/html" => {
            if w.html.is_none() {
                w.html = Some(html_to_text(&text));
            }
        }
        Ok(text) => {
            if w.other_text.is_none() {
                w.other_text = Some(text);
            }
        }
        Err(e) => w.problems.push(format!("text part unreadable: {e}")),
    }
}

fn clean_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let s: String = s
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let s = s.trim();
    if s.chars().count() > MAX_BODY_CHARS {
        let cut: String = s.chars().take(MAX_BODY_CHARS).collect();
        format!("{cut}\n[… dipotong; pesan lengkap tersimpan sebagai aslinya]")
    } else {
        s.to_owned()
    }
}

impl Normalizer {
    pub fn new(
        channel: ChannelName,
        own_domain: Option<String>,
        own_addresses: Vec<String>,
    ) -> Self {
        let own_addresses = own_addresses
            .into_iter()
            .map(|a| a.to_ascii_lowercase())
            .collect();
        Self {
            channel,
            own_domain,
            own_addresses,
            ack: None,
            receipts: ReceiptPolicy::default(),
        }
    }

    /// Who may get the receipt (see [`ReceiptPolicy`]).
    pub fn with_receipt_policy(mut self, policy: ReceiptPolicy) -> Self {
        self.receipts = policy;
        self
    }

    /// The receipt for a new complaint, when its sender may get one; why not is logged.
    fn receipt(
        &self,
        headers: &[MailHeader<'_>],
        draft: &ComplaintDraft,
        reply_to: Option<String>,
        thread: &Threading,
    ) -> Option<Acknowledgement> {
        let (template, once_per) = self.ack.as_ref()?;
        let Some(from) = draft.reporter.email.clone() else {
            tracing::info!(channel = %self.channel, "no receipt: the message has no From address");
            return None;
        };
        let from_domain = domain(&from);
        if self.receipts.require_authentication {
            if let Err(why) =
                crate::authres::check(headers, &from_domain, self.receipts.authserv_id.as_deref())
            {
                tracing::info!(channel = %self.channel, reason = %why, "no receipt: the sender's domain is not authenticated");
                return None;
            }
        }
        let address = match reply_to {
            Some(r) if self.receipts.reply_to_other_domain || domain(&r) == from_domain => r,
            Some(_) => {
                tracing::info!(channel = %self.channel, "the receipt goes to From: Reply-To is in another domain");
                from
            }
            None => from,
        };
        let mut references: Vec<String> = thread.refs.clone();
        references.extend(thread.keys.iter().cloned());
        let name = draft
            .reporter
            .name
            .as_deref()
            .map(|n| echo(n, RECEIPT_ECHO_CHARS));
        let title = echo(&draft.title, RECEIPT_ECHO_CHARS);
        let body = template
            .replace("{title}", &title)
            .replace("{name}", name.as_deref().unwrap_or("Bapak/Ibu"));
        Some(Acknowledgement {
            recipient: Recipient { address, name },
            subject: Some(format!("Re: {title} [{{tracking_id}}]")),
            body,
            in_reply_to: thread.keys.first().cloned(),
            references,
            once_per: *once_per,
            per_hour: self.receipts.max_per_hour,
        })
    }

    /// Every new complaint gets a receipt from this template (see `AckConfig`).
    pub fn with_acknowledgement(mut self, template: String, once_per: std::time::Duration) -> Self {
        self.ack = Some((template, once_per));
        self
    }

    fn inbound(
        &self,
        external_id: String,
        kind: InboundKind,
        thread: Threading,
        raw: &[u8],
        at: DateTime<Utc>,
    ) -> Inbound {
        Inbound {
            channel: KIND,
            channel_name: self.channel.clone(),
            external_id,
            received_at: at,
            kind,
            thread,
            raw: Raw {
                content_type: "message/rfc822".into(),
                bytes: bytes::Bytes::copy_from_slice(raw),
            },
            acknowledge: None,
        }
    }

    /// A message too large to fetch whole: quarantined from its headers, with the reason.
    pub fn oversized(
        &self,
        header: &[u8],
        size: u32,
        limit: u32,
        received_at: DateTime<Utc>,
    ) -> Inbound {
        let (external_id, thread) = match mailparse::parse_headers(header) {
            Ok((h, _)) => {
                let id = h
                    .get_first_value("Message-ID")
                    .and_then(|v| message_ids(&v).into_iter().next());
                let subject = h.get_first_value("Subject").unwrap_or_default();
                let thread = Threading {
                    keys: id.clone().into_iter().collect(),
                    refs: Vec::new(),
                    tracking_hint: TrackingId::find_in(&subject).map(|t| t.to_string()),
                    ..Threading::default()
                };
                (id.unwrap_or_else(|| sha256_id(header)), thread)
            }
            Err(_) => (sha256_id(header), Threading::default()),
        };
        let reason =
            format!("message of {size} bytes is over the limit of {limit} bytes; headers kept");
        self.inbound(
            external_id,
            InboundKind::Quarantine { reason },
            thread,
            header,
            received_at,
        )
    }

    /// Normalizes one message as fetched. `received_at` is when the server got it.
    pub fn normalize(&self, raw: &[u8], received_at: DateTime<Utc>) -> Inbound {
        if too_deep(raw) {
            let reason = format!("more than {MAX_CONTAINERS} nested MIME containers; not parsed");
            return self.inbound(
                sha256_id(raw),
                InboundKind::Quarantine { reason },
                Threading::default(),
                raw,
                received_at,
            );
        }
        let mail = match mailparse::parse_mail(raw) {
            Ok(m) => m,
            Err(e) => {
                let kind = InboundKind::Quarantine {
                    reason: format!("not a readable e-mail message: {e}"),
                };
                return self.inbound(sha256_id(raw), kind, Threading::default(), raw, received_at);
            }
        };
        let h = &mail.headers;
        let own_id = h
            .get_first_value("Message-ID")
            .and_then(|v| message_ids(&v).into_iter().next());
        let external_id = own_id.clone().unwrap_or_else(|| sha256_id(raw));
        let subject = h
            .get_first_value("Subject")
            .map(|s| clean_text(&s))
            .unwrap_or_default();
        let mut refs: Vec<String> = Vec::new();
        for name in ["In-Reply-To", "References"] {
            for v in h.get_all_values(name) {
                for id in message_ids(&v) {
                    if !refs.contains(&id) {
                        refs.push(id);
                    }
                }
            }
        }
        let thread = Threading {
            keys: own_id.into_iter().collect(),
            refs,
            tracking_hint: TrackingId::find_in(&subject).map(|t| t.to_string()),
            ..Threading::default()
        };

        if let Some(reason) = loop_reason(&mail, self.own_domain.as_deref()) {
            return self.inbound(
                external_id,
                InboundKind::Ignored { reason },
                thread,
                raw,
                received_at,
            );
        }

        let mut w = Walk::default();
        walk(&mail, 0, &mut w);
        let mut body = w
            .plain
            .or(w.html)
            .or(w.other_text)
            .map(|t| clean_text(&t))
            .unwrap_or_default();
        if !w.problems.is_empty() {
            if !body.is_empty() {
                body.push_str("\n\n");
            }
            body.push_str(&format!("[{}]", w.problems.join("; ")));
        }
        let nothing = subject.is_empty() && body.is_empty() && w.attachments.is_empty();
        let title = if subject.is_empty() {
            "(tanpa judul)".to_owned()
        } else {
            subject
        };
        if body.is_empty() {
            body = if w.attachments.is_empty() {
                "(pesan kosong)".into()
            } else {
                "(hanya lampiran)".into()
            };
        }

        let (name, email) = match h.get_first_header("From").map(mailparse::addrparse_header) {
            Some(Ok(list)) => match list.iter().next() {
                Some(MailAddr::Single(s)) => (s.display_name.clone(), Some(s.addr.clone())),
                Some(MailAddr::Group(g)) => (
                    Some(g.group_name.clone()),
                    g.addrs.first().map(|a| a.addr.clone()),
                ),
                None => (None, None),
            },
            _ => (None, h.get_first_value("From").map(|v| clean_text(&v))),
        };
        if let Some(from) = &email {
            if self.own_addresses.contains(&from.to_ascii_lowercase()) {
                let reason = format!("sent from our own address {from}");
                return self.inbound(
                    external_id,
                    InboundKind::Ignored { reason },
                    thread,
                    raw,
                    received_at,
                );
            }
        }
        if nothing {
            let reason = "empty message: no subject, no text, no attachment".to_owned();
            return self.inbound(
                external_id,
                InboundKind::Quarantine { reason },
                thread,
                raw,
                received_at,
            );
        }
        let draft = ComplaintDraft {
            title,
            body,
            reporter: Reporter {
                name: name.map(|n| clean_text(&n)).filter(|n| !n.is_empty()),
                email: email.filter(|e| e.contains('@')),
                ..Reporter::default()
            },
            attachments: w.attachments,
            ..ComplaintDraft::default()
        };
        let reply_to = match h
            .get_first_header("Reply-To")
            .map(mailparse::addrparse_header)
        {
            Some(Ok(list)) => list.extract_single_info().map(|s| s.addr),
            _ => None,
        };
        let acknowledge = self.receipt(h, &draft, reply_to, &thread);
        let mut item = self.inbound(
            external_id,
            InboundKind::Complaint(Box::new(draft)),
            thread,
            raw,
            received_at,
        );
        item.acknowledge = acknowledge;
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt_of(n: &Normalizer, extra: &str, subject: &str) -> Option<Acknowledgement> {
        let raw = format!(
            "{extra}From: Siti {{title}} <siti@warga.test>\r\nTo: pengaduan@aduan.test\r\nSubject: {subject}\r\nMessage-ID: <r1@warga.test>\r\n\r\nIsi.\r\n"
        );
        n.normalize(raw.as_bytes(), Utc::now()).acknowledge
    }

    fn with_receipts(policy: ReceiptPolicy) -> Normalizer {
        Normalizer::new(ChannelName::parse("surel").expect("name"), None, Vec::new())
            .with_acknowledgement(
                "Yth. {name}, laporan \"{title}\" nomor {tracking_id}.".into(),
                std::time::Duration::ZERO,
            )
            .with_receipt_policy(policy)
    }

    const PASS: &str = "Authentication-Results: mx.aduan.test; dkim=pass header.d=warga.test\r\n";

    #[test]
    fn only_authenticated_senders_get_a_receipt() {
        let n = with_receipts(ReceiptPolicy::default());
        assert!(receipt_of(&n, "", "Air mati").is_none());
        let forged = "Authentication-Results: mx.aduan.test; spf=fail smtp.mailfrom=warga.test\r\nAuthentication-Results: mx.aduan.test; dkim=pass header.d=warga.test\r\n";
        assert!(receipt_of(&n, forged, "Air mati").is_none());
        let a = receipt_of(&n, PASS, "Air mati").expect("receipt");
        assert_eq!(a.recipient.address, "siti@warga.test");
        assert_eq!(a.per_hour, Some(200));
        // With the check off, everyone gets one.
        let off = with_receipts(ReceiptPolicy {
            require_authentication: false,
            ..ReceiptPolicy::default()
        });
        assert!(receipt_of(&off, "", "Air mati").is_some());
    }

    #[test]
    fn a_reply_to_in_another_domain_gets_no_receipt_unless_allowed() {
        let n = with_receipts(ReceiptPolicy::default());
        let other = format!("{PASS}Reply-To: korban@lain.test\r\n");
        let a = receipt_of(&n, &other, "Air mati").expect("receipt");
        assert_eq!(a.recipient.address, "siti@warga.test");
        let same = format!("{PASS}Reply-To: balas@WARGA.test\r\n");
        let a = receipt_of(&n, &same, "Air mati").expect("receipt");
        assert_eq!(a.recipient.address, "balas@WARGA.test");
        let allowed = with_receipts(ReceiptPolicy {
            reply_to_other_domain: true,
            ..ReceiptPolicy::default()
        });
        let a = receipt_of(&allowed, &other, "Air mati").expect("receipt");
        assert_eq!(a.recipient.address, "korban@lain.test");
    }

    #[test]
    fn a_receipt_repeats_only_a_bounded_subject_and_no_placeholders() {
        let n = with_receipts(ReceiptPolicy::default());
        let long = format!("Beli obat murah {{tracking_id}} {}", "x".repeat(500));
        let a = receipt_of(&n, PASS, &long).expect("receipt");
        let subject = a.subject.expect("subject");
        assert!(subject.chars().count() < 90, "{subject}");
        assert!(subject.ends_with("… [{tracking_id}]"), "{subject}");
        assert!(!subject.contains("{tracking_id} x"), "{subject}");
        assert!(!a
            .body
            .contains("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
        assert!(a.body.contains("nomor {tracking_id}."), "{}", a.body);
        assert_eq!(a.body.matches('{').count(), 1, "{}", a.body);
        assert_eq!(a.recipient.name.as_deref(), Some("Siti title"));
    }

    #[test]
    fn message_ids_are_found_with_their_brackets() {
        assert_eq!(
            message_ids("<a@b> <c@d>\r\n <e@f>"),
            vec!["<a@b>", "<c@d>", "<e@f>"]
        );
        assert_eq!(message_ids("garbage <nope> <x@y"), Vec::<String>::new());
    }
}
