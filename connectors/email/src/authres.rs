//! Whether a message's From domain was authenticated, as the receiving server recorded
//! it in `Authentication-Results` (RFC 8601).
//!
//! Anyone can write an `Authentication-Results` header into a message before sending
//! it; only the one our own receiving server added is evidence. That server adds its
//! header on top of what arrived, so the header trusted is the topmost one, or, when
//! the server's authserv-id is configured, the topmost one carrying that id.
//!
//! A message counts as authenticated when SPF passed for the envelope sender's domain,
//! DKIM passed for the signing domain, or DMARC passed, and that domain is aligned with
//! the From domain (the same domain, or one a subdomain of the other: relaxed
//! alignment without the public-suffix list, stricter than DMARC where that matters).

use mailparse::{MailHeader, MailHeaderMap};

const HEADER: &str = "Authentication-Results";

/// One `method=result` with its properties (`smtp.mailfrom`, `header.d`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    pub method: String,
    pub result: String,
    /// `(ptype.property, value)`, names lowercase.
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed header: the authserv-id and its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub authserv_id: String,
    pub results: Vec<MethodResult>,
}

/// The header value with comments removed and quoted strings kept whole (their quotes
/// dropped), split at the `;` that are not inside quotes.
fn clauses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if depth == 0 {
                cur.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            ';' if !quoted && depth == 0 => out.push(std::mem::take(&mut cur)),
            '\r' | '\n' | '\t' if depth == 0 => cur.push(' '),
            _ if depth == 0 => cur.push(c),
            _ => {}
        }
    }
    out.push(cur);
    out
}

/// Parses one `Authentication-Results` value; `None` when it has no authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let clauses = clauses(value);
    let mut it = clauses.iter();
    let authserv_id = it
        .next()?
        .split_whitespace()
        .next()?
        .trim()
        .to_ascii_lowercase();
    if authserv_id.is_empty() {
        return None;
    }
    let mut results = Vec::new();
    for clause in it {
        let mut tokens = clause.split_whitespace();
        let Some((method, result)) = tokens.next().and_then(|t| t.split_once('=')) else {
            continue;
        };
        // `method/version`.
        let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
        let props = tokens
            .filter_map(|t| t.split_once('='))
            .filter(|(k, _)| k.contains('.'))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        results.push(MethodResult {
            method,
            result: result.to_ascii_lowercase(),
            props,
        });
    }
    Some(AuthResults {
        authserv_id,
        results,
    })
}

/// The domain of an address or a bare domain, lowercase, without a trailing dot.
fn domain_of(s: &str) -> String {
    let s = s.trim().trim_matches(|c| c == '<' || c == '>');
    s.rsplit_once('@')
        .map_or(s, |(_, d)| d)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Relaxed alignment: equal, or one a subdomain of the other (the parent must have a
/// dot, so that no top-level domain aligns with everything under it).
pub fn aligned(authenticated: &str, from: &str) -> bool {
    let (a, f) = (domain_of(authenticated), domain_of(from));
    if a.is_empty() || f.is_empty() {
        return false;
    }
    let under = |child: &str, parent: &str| {
        parent.contains('.')
            && child
                .strip_suffix(parent)
                .is_some_and(|rest| rest.ends_with('.'))
    };
    a == f || under(&f, &a) || under(&a, &f)
}

/// Why the From domain counts as authenticated (`Ok`, e.g. `"dkim"`), or why not.
pub fn check(
    headers: &[MailHeader<'_>],
    from_domain: &str,
    trusted_id: Option<&str>,
) -> Result<&'static str, String> {
    let values = headers.get_all_values(HEADER);
    let chosen = match trusted_id {
        Some(id) => values
            .iter()
            .filter_map(|v| parse(v))
            .find(|r| r.authserv_id.eq_ignore_ascii_case(id.trim()))
            .ok_or_else(|| format!("no Authentication-Results from {id}"))?,
        None => values
            .first()
            .and_then(|v| parse(v))
            .ok_or("no Authentication-Results header")?,
    };
    for r in &chosen.results {
        if r.result != "pass" {
            continue;
        }
        let domain = match r.method.as_str() {
            "spf" => r.prop("smtp.mailfrom"),
            "dkim" => r.prop("header.d").or_else(|| r.prop("header.i")),
            "dmarc" => r.prop("header.from"),
            _ => None,
        };
        if domain.is_some_and(|d| aligned(d, from_domain)) {
            return Ok(match r.method.as_str() {
                "spf" => "spf",
                "dkim" => "dkim",
                _ => "dmarc",
            });
        }
    }
    Err(format!(
        "{} records no SPF, DKIM or DMARC pass for {}",
        chosen.authserv_id,
        domain_of(from_domain)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(raw: &str) -> Vec<MailHeader<'_>> {
        mailparse::parse_headers(raw.as_bytes()).expect("headers").0
    }

    #[test]
    fn a_header_is_read_with_its_comments_and_quotes() {
        let r = parse(
            "mx.aduan.test 1; (the check) spf=pass (sender SPF authorized) smtp.mailfrom=\"warga@warga.test\";\r\n dkim/1=pass header.d=warga.test header.s=s1; dmarc=none",
        )
        .expect("parsed");
        assert_eq!(r.authserv_id, "mx.aduan.test");
        assert_eq!(r.results.len(), 3);
        assert_eq!(r.results[0].method, "spf");
        assert_eq!(r.results[0].prop("smtp.mailfrom"), Some("warga@warga.test"));
        assert_eq!(r.results[1].method, "dkim");
        assert_eq!(r.results[1].prop("header.d"), Some("warga.test"));
        assert_eq!(r.results[2].result, "none");
        assert_eq!(
            parse("mx.aduan.test; none").map(|r| r.results.len()),
            Some(0)
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("   ;spf=pass"), None);
    }

    #[test]
    fn alignment_is_relaxed_but_never_through_a_top_level_domain() {
        assert!(aligned("warga.test", "siti@warga.test"));
        assert!(aligned("bounce@mail.warga.test", "warga.test"));
        assert!(aligned("warga.test", "mail.warga.test"));
        assert!(aligned("WARGA.test.", "warga.TEST"));
        assert!(!aligned("palsu.test", "warga.test"));
        assert!(!aligned("xwarga.test", "warga.test"));
        assert!(!aligned("test", "warga.test"));
        assert!(!aligned("", "warga.test"));
    }

    #[test]
    fn only_an_aligned_pass_in_the_trusted_header_counts() {
        let pass =
            "Authentication-Results: mx.aduan.test; spf=pass smtp.mailfrom=warga@warga.test\r\n";
        assert_eq!(check(&headers(pass), "warga.test", None), Ok("spf"));
        let dkim = "Authentication-Results: mx.aduan.test; spf=fail smtp.mailfrom=warga.test; dkim=pass header.d=warga.test\r\n";
        assert_eq!(check(&headers(dkim), "warga.test", None), Ok("dkim"));
        let dkim_i = "Authentication-Results: mx; dkim=pass header.i=@mail.warga.test\r\n";
        assert_eq!(check(&headers(dkim_i), "warga.test", None), Ok("dkim"));
        let dmarc = "Authentication-Results: mx; dmarc=pass header.from=warga.test\r\n";
        assert_eq!(check(&headers(dmarc), "warga.test", None), Ok("dmarc"));

        // Passes for someone else's domain, and results that are not a pass.
        for bad in [
            "Authentication-Results: mx; spf=pass smtp.mailfrom=penipu@palsu.test; dkim=pass header.d=palsu.test\r\n",
            "Authentication-Results: mx; spf=softfail smtp.mailfrom=warga.test; dkim=neutral header.d=warga.test\r\n",
            "Authentication-Results: mx; none\r\n",
            "Authentication-Results: mx; spf=pass\r\n",
            "Authentication-Results: mx; dkim=pass (header.d=warga.test)\r\n",
            "Subject: no header at all\r\n",
        ] {
            assert!(check(&headers(bad), "warga.test", None).is_err(), "{bad}");
        }

        // A pass written by the sender below our server's header is not believed.
        let forged = "Authentication-Results: mx.aduan.test; spf=fail smtp.mailfrom=warga.test\r\nAuthentication-Results: mx.aduan.test; dkim=pass header.d=warga.test\r\n";
        assert!(check(&headers(forged), "warga.test", None).is_err());
        // With the authserv-id configured, the topmost header of that server counts,
        // whatever other servers (or the sender) wrote above or below it.
        let relayed = "Authentication-Results: relay.other; dkim=fail header.d=warga.test\r\nAuthentication-Results: mx.aduan.test; dkim=pass header.d=warga.test\r\nAuthentication-Results: mx.aduan.test; dkim=fail header.d=warga.test\r\n";
        assert_eq!(
            check(&headers(relayed), "warga.test", Some("MX.aduan.test")),
            Ok("dkim")
        );
        assert!(check(&headers(relayed), "warga.test", None).is_err());
        let err = check(&headers(pass), "warga.test", Some("mx.lain.test")).unwrap_err();
        assert!(err.contains("mx.lain.test"), "{err}");
    }
}
