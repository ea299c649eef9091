//! Channel icons: small inline SVG of our own (no icon font, no external request). They
//! are decorative; the channel's name is always written next to them for screen readers.

const EMAIL: &str = r#"<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"><rect x="1.5" y="3.5" width="13" height="9" rx="1" fill="none" stroke="currentColor"/><path d="M2 4l6 5 6-5" fill="none" stroke="currentColor"/></svg>"#;
const X: &str = r#"<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"><path d="M2 2h3.2l3.3 4.5L12.3 2H14l-4.7 5.6L14.5 14h-3.2L7.7 9.2 3.6 14H2l5-6L2 2z" fill="currentColor"/></svg>"#;
const FACEBOOK: &str = r##"<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="7" fill="currentColor"/><path d="M8.8 14V9.2h1.6l.3-1.9H8.8V6.1c0-.5.2-.9.9-.9h1V3.5c-.2 0-.8-.1-1.5-.1-1.5 0-2.4.9-2.4 2.5v1.4H5.2v1.9h1.6V14" fill="#fff"/></svg>"##;
const WEBFORM: &str = r#"<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"><rect x="2.5" y="1.5" width="11" height="13" rx="1" fill="none" stroke="currentColor"/><path d="M5 5h6M5 8h6M5 11h3" stroke="currentColor"/></svg>"#;
const OTHER: &str = r#"<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="6" fill="none" stroke="currentColor"/></svg>"#;

/// The icon of a channel kind: a constant of this module, never built from input.
pub fn channel_icon(kind: &str) -> &'static str {
    match kind {
        "email" => EMAIL,
        "x" => X,
        "facebook" => FACEBOOK,
        "webform" => WEBFORM,
        _ => OTHER,
    }
}
