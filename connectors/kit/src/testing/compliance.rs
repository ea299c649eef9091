//! The factory side of the contract as one check every connector crate runs in its own
//! tests: [`check_factory`]. A kind that passes it can be registered with one line, and
//! the daemon shows it, colours it and limits its answers from its [`KindInfo`] alone.

#[cfg(test)]
use crate::Words;
use crate::{BuildContext, Channel, ChannelFactory, ChannelName, ConfigError, KindInfo};
use crate::{OutboundKind, OutboundMessage, Recipient};

/// The shapes an icon may draw with: nothing that loads, links or runs anything.
const SHAPES: [&str; 8] = [
    "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "g",
];

/// The key [`check_factory`] adds to prove that an unknown key is refused by name.
const UNKNOWN_KEY: &str = "no_such_key_in_any_connector";

/// Checks a connector's factory against the contract, panicking with what is wrong:
///
/// * its kind is a valid name (it is a `kind = "..."` value, a URL-safe identifier and the
///   console's `ch-<kind>` CSS class);
/// * its [`KindInfo`] keeps the rules written there ([`check_kind_info`]);
/// * `sample_config` (the TOML keys of one `[[channels]]` entry, without `kind`, `name`
///   and `enabled`, which the check adds as the daemon does) builds, outside any async
///   runtime, as `build` must start nothing;
/// * the channel built carries the factory's kind and the configured name, whatever the
///   name;
/// * an unknown key is refused with an error that names it;
/// * a short answer's preview carries the draft whole, and a draft over the answer
///   limit is reported cut.
///
/// Call it from a plain `#[test]`, not a `#[tokio::test]`.
pub fn check_factory(factory: &dyn ChannelFactory, sample_config: &str) {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "call check_factory from a plain #[test]: building must not need a runtime"
    );
    let kind = factory.kind();
    if let Err(e) = ChannelName::parse(kind) {
        panic!("kind: {e}");
    }
    check_kind_info(factory.kind_info());

    let mut table: toml::Table = sample_config
        .parse()
        .unwrap_or_else(|e| panic!("the sample configuration is not TOML: {e}"));
    for key in ["kind", "name", "enabled"] {
        assert!(
            !table.contains_key(key),
            "the sample configuration sets `{key}`; the check adds the daemon's keys itself"
        );
    }
    table.insert("kind".into(), kind.into());
    table.insert("enabled".into(), true.into());
    for name in ["kanal-uji", "another_name-2"] {
        let name = ChannelName::parse(name).unwrap_or_else(|e| panic!("{e}"));
        let channel = build(factory, &name, &table)
            .unwrap_or_else(|e| panic!("the sample configuration does not build: {e}"));
        assert_eq!(channel.kind, kind, "the channel built carries another kind");
        assert_eq!(channel.name, name, "the channel built carries another name");
    }

    let name = ChannelName::parse("kanal-uji").unwrap_or_else(|e| panic!("{e}"));
    let mut unknown = table.clone();
    unknown.insert(UNKNOWN_KEY.into(), 1.into());
    match build(factory, &name, &unknown) {
        Ok(_) => panic!("an unknown key was accepted (use #[serde(deny_unknown_fields)])"),
        Err(e) => assert_eq!(e.key, UNKNOWN_KEY, "the error names another key: {e}"),
    }

    check_previews(factory, &name);
}

/// The rules a [`KindInfo`] keeps: the label (and any advice to re-authorize) written in
/// both languages, the icon a well-formed SVG fragment of plain shapes, the colours `#rgb`
/// or `#rrggbb`, an answer limit above zero.
pub fn check_kind_info(info: &KindInfo) {
    let mut words = vec![("label", info.label)];
    words.extend(info.reauthorize.map(|w| ("reauthorize", w)));
    for (what, w) in words {
        for (lang, text) in [("id", w.id), ("en", w.en)] {
            assert!(!text.trim().is_empty(), "{what}.{lang} is empty");
            assert_eq!(text, text.trim(), "{what}.{lang} has space around it");
            assert!(
                !text.chars().any(char::is_control),
                "{what}.{lang} has a control character"
            );
        }
    }
    if let Err(e) = check_icon(info.icon) {
        panic!("icon: {e}: {:?}", info.icon);
    }
    for (what, colour) in [("colour", info.colour), ("chart_colour", info.chart_colour)] {
        assert!(
            is_colour(colour),
            "{what} {colour:?} is not #rgb or #rrggbb"
        );
    }
    assert_ne!(
        info.answer_limit,
        Some(0),
        "answer_limit is zero: no answer could be sent (None means no limit)"
    );
}

/// `#rgb` or `#rrggbb`.
pub fn is_colour(s: &str) -> bool {
    s.strip_prefix('#')
        .is_some_and(|h| matches!(h.len(), 3 | 6) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An icon is a sequence of [`SHAPES`] elements, properly nested, with lowercase
/// attributes in quotes and no text, comments, entities, event handlers or links.
pub fn check_icon(icon: &str) -> Result<(), String> {
    if icon.trim().is_empty() {
        return Err("empty".into());
    }
    let mut open: Vec<&str> = Vec::new();
    let mut rest = icon;
    while let Some(start) = rest.find('<') {
        if !rest[..start].trim().is_empty() {
            return Err(format!("text outside an element: {:?}", &rest[..start]));
        }
        let end = rest[start..].find('>').ok_or("a tag that does not end")? + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name.trim() => continue,
                o => return Err(format!("</{name}> closes {o:?}")),
            }
        }
        let (tag, closed) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let (name, attrs) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        if !SHAPES.contains(&name) {
            return Err(format!("<{name}> is not one of {SHAPES:?}"));
        }
        check_attributes(attrs)?;
        if !closed {
            open.push(name);
        }
    }
    if !rest.trim().is_empty() {
        return Err(format!("text outside an element: {rest:?}"));
    }
    match open.pop() {
        Some(o) => Err(format!("<{o}> is never closed")),
        None => Ok(()),
    }
}

/// `name="value"` pairs: lowercase names (no `on…` handlers, no `href`), values without
/// markup, entities or `url(…)` references.
fn check_attributes(attrs: &str) -> Result<(), String> {
    let mut rest = attrs.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("an attribute without a value: {rest:?}"))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return Err(format!("attribute name {name:?}"));
        }
        if name.starts_with("on") || name.contains("href") {
            return Err(format!("attribute {name:?} is not allowed"));
        }
        let after = after.trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|q| *q == '"' || *q == '\'')
            .ok_or_else(|| format!("attribute {name:?} is not quoted"))?;
        let close = after[1..]
            .find(quote)
            .ok_or_else(|| format!("attribute {name:?} is not closed"))?;
        let value = &after[1..=close];
        if value.contains(['<', '>', '&']) || value.contains("url(") {
            return Err(format!("attribute {name:?} holds {value:?}"));
        }
        rest = after[close + 2..].trim_start();
    }
    Ok(())
}

fn build(
    factory: &dyn ChannelFactory,
    name: &ChannelName,
    table: &toml::Table,
) -> Result<Channel, ConfigError> {
    let mut table = table.clone();
    table.insert("name".into(), name.as_str().into());
    factory.build(BuildContext {
        name: name.clone(),
        config: &table,
        globals: &toml::Table::new(),
        public_url: "https://lapor.example/",
        data_dir: std::env::temp_dir().join("aduan-compliance"),
    })
}

fn answer(name: &ChannelName, draft: &str) -> OutboundMessage {
    OutboundMessage {
        idempotency_key: "answer:1:ABCD-EFGH".into(),
        channel_name: name.clone(),
        kind: OutboundKind::Answer,
        tracking_id: "ABCD-EFGH".into(),
        recipient: Recipient::default(),
        subject: None,
        body: format!("{draft}\n\nLaporan ABCD-EFGH: https://lapor.example/laporan/ABCD-EFGH"),
        in_reply_to: Some("1".into()),
        references: Vec::new(),
        attempt: 0,
        last_inbound_at: None,
    }
}

fn check_previews(factory: &dyn ChannelFactory, name: &ChannelName) {
    let limit = factory.kind_info().answer_limit;
    let short = "Jalan sudah diperbaiki.";
    let p = factory.preview_answer(&answer(name, short), short);
    assert!(
        p.text.contains(short) && !p.cut,
        "a short answer is not carried whole: {p:?}"
    );
    assert!(p.length > 0, "a short answer counts as empty: {p:?}");
    if let Some(l) = limit {
        assert!(p.length <= l, "a short answer is over the limit: {p:?}");
    }
    let long = "Kata ".repeat(limit.unwrap_or(10_000) / 5 + 1);
    let long = long.trim();
    let p = factory.preview_answer(&answer(name, long), long);
    assert_eq!(
        p.cut,
        limit.is_some(),
        "a draft of {} characters with answer_limit {limit:?}: cut is {}",
        long.chars().count(),
        p.cut
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    static TOY_INFO: KindInfo = KindInfo {
        label: Words {
            id: "Mainan",
            en: "Toy",
        },
        icon: r#"<circle cx="8" cy="8" r="6" fill="currentColor"/>"#,
        colour: "#222",
        chart_colour: "#555555",
        answer_limit: Some(100),
        reauthorize: None,
    };

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ToyConfig {
        #[allow(dead_code)]
        token: String,
    }

    /// A factory that keeps the contract unless told to break one rule.
    struct Toy {
        kind: &'static str,
        lenient: bool,
    }

    impl ChannelFactory for Toy {
        fn kind(&self) -> &'static str {
            self.kind
        }

        fn kind_info(&self) -> &'static KindInfo {
            &TOY_INFO
        }

        fn build(&self, ctx: BuildContext<'_>) -> Result<Channel, ConfigError> {
            if !self.lenient {
                let _: ToyConfig = ctx.parse()?;
            }
            Ok(Channel::new("toy", ctx.name))
        }
    }

    #[test]
    fn a_factory_that_keeps_the_contract_passes() {
        check_factory(
            &Toy {
                kind: "toy",
                lenient: false,
            },
            r#"token = "t""#,
        );
    }

    #[test]
    #[should_panic(expected = "an unknown key was accepted")]
    fn a_factory_that_takes_any_key_is_caught() {
        check_factory(
            &Toy {
                kind: "toy",
                lenient: true,
            },
            r#"token = "t""#,
        );
    }

    #[test]
    #[should_panic(expected = "another kind")]
    fn a_channel_of_another_kind_is_caught() {
        check_factory(
            &Toy {
                kind: "mainan",
                lenient: false,
            },
            r#"token = "t""#,
        );
    }

    #[test]
    #[should_panic(expected = "kind: invalid")]
    fn a_kind_that_is_no_name_is_caught() {
        check_factory(
            &Toy {
                kind: "Toy Kind",
                lenient: false,
            },
            r#"token = "t""#,
        );
    }

    #[test]
    fn icons_of_plain_shapes_pass_and_anything_else_does_not() {
        for good in [
            r#"<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor"/>"#,
            r##"<g><path d="M2 4l6 5" fill='#fff'/></g> <rect x="1" y="1" width="2" height="2"></rect>"##,
        ] {
            assert_eq!(check_icon(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "<script>alert(1)</script>",
            r#"<path d="M0 0" onload="x()"/>"#,
            r#"<image href="https://example.org/a.png"/>"#,
            r#"<path d="M0 0" fill="url(https://example.org/#a)"/>"#,
            r#"<path d="M0 0"/>text"#,
            r#"<g><path d="M0 0"/>"#,
            r#"<g></rect>"#,
            r#"<path d=M0/>"#,
            r#"<path d="M0 0 />"#,
            "<!-- a comment -->",
        ] {
            assert!(check_icon(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn colours_are_hex() {
        assert!(is_colour("#1a4d99") && is_colour("#fff"));
        for bad in ["1a4d99", "#1a4d9", "#gggggg", "red", "#fff;}body{", ""] {
            assert!(!is_colour(bad), "{bad:?}");
        }
    }
}
