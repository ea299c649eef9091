//! Channel icons: small inline SVG (no icon font, no external request), drawn by each
//! channel's crate (`KindInfo::icon`) and wrapped here once. They are decorative; the
//! channel's name is always written next to them for screen readers.

use std::sync::LazyLock;

/// The icon of a kind no factory describes.
const OTHER: &str = r#"<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor"/>"#;

fn wrap(shapes: &str) -> String {
    format!(
        r#"<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">{shapes}</svg>"#
    )
}

/// Every registered kind's icon, then the one for any other kind.
static ICONS: LazyLock<(Vec<(&'static str, String)>, String)> = LazyLock::new(|| {
    let known = crate::registry::kinds()
        .iter()
        .map(|f| (f.kind(), wrap(f.kind_info().icon)))
        .collect();
    (known, wrap(OTHER))
});

/// The icon of a channel kind, from its factory (whose compliance check keeps it to
/// plain shapes); never built from input.
pub fn channel_icon(kind: &str) -> &'static str {
    let (known, other) = &*ICONS;
    known
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(other.as_str(), |(_, icon)| icon.as_str())
}
