//! Every message of the hostile corpus (tests/corpus, described by MANIFEST.tsv) ends as a
//! complaint with readable text, as an ignored loop with its reason, or as a quarantine
//! record with its reason, as the manifest says. None is dropped and none panics.

use std::path::Path;

use aduan_email::Normalizer;
use aduan_kit::testing::check_inbound;
use aduan_kit::{ChannelName, InboundKind};

#[test]
fn every_corpus_message_ends_where_the_manifest_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let channel = ChannelName::parse("email-pengaduan").expect("name");
    let n = Normalizer::new(
        channel.clone(),
        Some("aduan.test".into()),
        vec!["pengaduan@aduan.test".into()],
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expect, contains) = (
            cols[0],
            cols.get(1).copied().unwrap_or(""),
            cols.get(2).copied().unwrap_or("-"),
        );
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let result = std::panic::catch_unwind(|| n.normalize(&raw, chrono::Utc::now()));
        let Ok(item) = result else {
            failures.push(format!("{file}: normalize panicked"));
            continue;
        };
        if !raw.is_empty() {
            // (A zero-byte message has a zero-byte original; everything else must carry one.)
            check_inbound(&item, &channel);
        }
        assert_eq!(
            item.raw.bytes.as_ref(),
            raw.as_slice(),
            "{file}: raw original not kept byte for byte"
        );
        checked += 1;
        let ok = match (&item.kind, expect) {
            (InboundKind::Complaint(d), "complaint" | "complaint_or_quarantine") => {
                let text = format!("{}\n{}", d.title, d.body);
                if contains != "-" && !text.contains(contains) {
                    failures.push(format!(
                        "{file}: text lacks {contains:?}: {:?}",
                        text.chars().take(300).collect::<String>()
                    ));
                }
                if text.contains("alert(") || text.contains("<script") {
                    failures.push(format!("{file}: script text kept in the readable body"));
                }
                true
            }
            (InboundKind::Ignored { .. }, "ignored") => true,
            (InboundKind::Quarantine { .. }, "complaint_or_quarantine") => true,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{file}: expected {expect}, got {:?}",
                kind_name(&item.kind)
            ));
        }
    }
    assert!(checked >= 40, "only {checked} corpus messages");
    assert!(
        failures.is_empty(),
        "{} of {checked} corpus messages wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn kind_name(k: &InboundKind) -> String {
    match k {
        InboundKind::Complaint(d) => format!("complaint {:?}", d.title),
        InboundKind::Quarantine { reason } => format!("quarantine: {reason}"),
        InboundKind::Ignored { reason } => format!("ignored: {reason}"),
        InboundKind::Edited { of, .. } => format!("edit of {of}"),
        InboundKind::Removed { of } => format!("removal of {of}"),
        InboundKind::Status { of, status, .. } => format!("status {} of {of}", status.as_str()),
    }
}
