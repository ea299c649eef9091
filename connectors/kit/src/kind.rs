//! What the daemon shows and limits for one channel kind. Each factory carries it, the
//! daemon's console reads it from the registry, and so no code outside a connector's
//! crate needs to know that its kind exists.

use crate::OutboundMessage;

/// How the console presents a channel kind, and the limit its answers keep.
///
/// A connector declares it once, as a `static`, and its [`crate::ChannelFactory`]
/// returns it; the compliance check (`aduan_kit::testing::compliance`) holds every
/// field to the rules written here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind's name in the console: "Formulir web", "Web form".
    pub label: Words,
    /// The icon: SVG shapes (`path`, `rect`, `circle`, …) drawn in a 16×16 view box,
    /// coloured `currentColor` where they take the kind's colour. The console wraps them
    /// in its own `<svg>`; they name nothing outside themselves (no links, no script).
    pub icon: &'static str,
    /// `#rrggbb` (or `#rgb`): the kind's name and icon on white, dark enough to read.
    pub colour: &'static str,
    /// `#rrggbb` (or `#rgb`): its bars in the dashboard's charts, told apart from the
    /// other kinds' bars stacked beside them.
    pub chart_colour: &'static str,
    /// The longest answer the channel carries, counted as the channel counts (X weighs
    /// characters); `None` when it carries answers of any length. The console shows it
    /// in the answer composer; the connector's sender shortens to the same figure.
    pub answer_limit: Option<usize>,
    /// Where an operator gets new credentials when the provider refused them, in a few
    /// words ("a new Page token from Meta for Developers"); `None` when the provider's
    /// own error says enough. The console adds it to its advice to re-authorize.
    pub reauthorize: Option<Words>,
}

/// The same words in the console's two languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// Indonesian, the console's default language.
    pub id: &'static str,
    /// English.
    pub en: &'static str,
}

impl Words {
    /// The words in Indonesian or, with `en`, in English.
    pub fn get(&self, en: bool) -> &'static str {
        if en {
            self.en
        } else {
            self.id
        }
    }
}

/// An answer as the reporter will receive it on a channel: what the console previews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPreview {
    /// The text that goes out.
    pub text: String,
    /// Its length as the channel counts it.
    pub length: usize,
    /// Whether the part the staff wrote had to be cut to fit.
    pub cut: bool,
}

impl AnswerPreview {
    /// The body unchanged, counted in characters; cut when `draft` alone is over `limit`.
    pub fn unchanged(msg: &OutboundMessage, draft: &str, limit: Option<usize>) -> Self {
        Self {
            text: msg.body.clone(),
            length: msg.body.chars().count(),
            cut: limit.is_some_and(|l| draft.chars().count() > l),
        }
    }
}
