//! The citizen form: the input up to its first NUL byte is the submitted body, parsed
//! the two ways `POST /api/v1/reports` and the form page parse one
//! (`application/x-www-form-urlencoded` and JSON); what follows the NUL is one uploaded
//! file, `filename NUL bytes`, so the attachment checks (content sniffing) run too.
//! Whatever parses is validated; nothing may panic, and a valid report keeps the
//! connector contract once it is an item.

#![no_main]

use std::sync::LazyLock;

use aduan_kit::testing::check_inbound;
use aduan_kit::{ChannelName, Raw};
use aduan_webform::fields::Category;
use aduan_webform::{FileUpload, FormRules, ReportFields};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

static CHANNEL: LazyLock<ChannelName> =
    LazyLock::new(|| ChannelName::parse("formulir").expect("a valid channel name"));

static RULES: LazyLock<FormRules> = LazyLock::new(|| FormRules {
    categories: vec![Category {
        slug: "air-bersih".into(),
        label: "Air bersih".into(),
    }],
    ..FormRules::default()
});

fn check(fields: ReportFields, files: Vec<FileUpload>, body: &[u8], content_type: &str) {
    if let Ok(valid) = fields.validate(&RULES, files) {
        let item = valid.into_inbound(
            CHANNEL.clone(),
            Raw {
                content_type: content_type.into(),
                bytes: Bytes::copy_from_slice(body),
            },
        );
        if !body.is_empty() {
            check_inbound(&item, &CHANNEL);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (body, file) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let files = || {
        file.map(|f| {
            let (name, bytes) = match f.iter().position(|b| *b == 0) {
                Some(i) => (&f[..i], &f[i + 1..]),
                None => (&b""[..], f),
            };
            FileUpload {
                field: "lampiran".into(),
                filename: String::from_utf8_lossy(name).into_owned(),
                bytes: Bytes::copy_from_slice(bytes),
            }
        })
        .into_iter()
        .collect::<Vec<_>>()
    };
    if let Ok(fields) = serde_urlencoded::from_bytes::<ReportFields>(body) {
        check(fields, files(), body, "application/x-www-form-urlencoded");
    }
    if let Ok(fields) = serde_json::from_slice::<ReportFields>(body) {
        check(fields, files(), body, "application/json");
    }
});
