//! Post length as X counts it (twitter-text, configuration v3): 280 weighted
//! characters, where a code point in the Latin, Latin-1, general-punctuation and
//! similar ranges weighs 1 and every other one (CJK, most emoji) weighs 2, and every
//! URL counts as 23 whatever its length (t.co wraps it).

/// The most a post may weigh.
pub const MAX_WEIGHT: usize = 280;
/// What any URL weighs.
pub const URL_WEIGHT: usize = 23;

fn char_weight(c: char) -> usize {
    let u = c as u32;
    if u <= 4351
        || (8192..=8205).contains(&u)
        || (8208..=8223).contains(&u)
        || (8242..=8247).contains(&u)
    {
        1
    } else {
        2
    }
}

fn is_url(token: &str) -> bool {
    let t = token.to_ascii_lowercase();
    (t.starts_with("https://") || t.starts_with("http://")) && token.len() > 8
}

/// The weighted length of `text`.
pub fn weighted_len(text: &str) -> usize {
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        total += rest[..start].chars().map(char_weight).sum::<usize>();
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..end];
        total += if is_url(token) {
            URL_WEIGHT
        } else {
            token.chars().map(char_weight).sum()
        };
        rest = &rest[end..];
    }
    total
}

/// `head` shortened with "…" (on a word boundary where it can be) so that `head` +
/// `tail` fits in a post; `tail` (the tracking number and the status link) is kept whole.
pub fn fit(head: &str, tail: &str) -> String {
    let whole = format!("{head}{tail}");
    if weighted_len(&whole) <= MAX_WEIGHT {
        return whole;
    }
    let budget = MAX_WEIGHT.saturating_sub(weighted_len(tail) + weighted_len("…"));
    let mut cut = String::new();
    for word in head.split_inclusive(char::is_whitespace) {
        if weighted_len(&format!("{cut}{word}")) > budget {
            break;
        }
        cut.push_str(word);
    }
    if cut.trim().is_empty() {
        // One long word: cut by characters.
        for c in head.chars() {
            if weighted_len(&format!("{cut}{c}")) > budget {
                break;
            }
            cut.push(c);
        }
    }
    format!("{}…{tail}", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_counts_one_cjk_two_urls_twenty_three() {
        assert_eq!(weighted_len("Terima kasih"), 12);
        assert_eq!(weighted_len("日本"), 4);
        assert_eq!(
            weighted_len("lihat https://lapor.siakkab.go.id/laporan/ABCD-EFGH ya"),
            6 + 23 + 3
        );
        assert_eq!(weighted_len("🙏"), 2);
        assert_eq!(weighted_len("a—b"), 3, "general punctuation weighs 1");
    }

    #[test]
    fn fit_keeps_the_tail_and_stays_within_280() {
        let tail = " Nomor ABCD-EFGH: https://lapor.siakkab.go.id/laporan/ABCD-EFGH";
        let head = "Terima kasih atas laporan Anda tentang jalan rusak. ".repeat(10);
        let out = fit(&head, tail);
        assert!(weighted_len(&out) <= MAX_WEIGHT, "{}", weighted_len(&out));
        assert!(out.ends_with(tail));
        assert!(out.contains('…'));
        let short = fit("Terima kasih.", tail);
        assert_eq!(short, format!("Terima kasih.{tail}"));
        let cjk = fit(&"漢".repeat(300), tail);
        assert!(weighted_len(&cjk) <= MAX_WEIGHT);
    }
}
