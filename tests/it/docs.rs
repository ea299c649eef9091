//! The documentation against the tree: `docs/configuration.md` names every key of
//! `config/aduan.example.toml` and no other, and every relative link in the README,
//! SECURITY.md and under `docs/` leads to a file (and heading) that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A key name: lowercase words joined by `_`, parts joined by `.`.
fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The keys of an inline table's text (`{ a = 1, b = "x" }`): each `, name = ` or
/// `{ name = `. Values here hold no `, x = ` of their own.
fn inline_keys(value: &str) -> Vec<String> {
    let body = value.trim().trim_start_matches('{');
    body.split(", ")
        .filter_map(|part| part.trim().split_once(" = "))
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| is_key(k))
        .collect()
}

/// Every (section, key) of the example file, commented-out examples included
/// (`# key = value`, `# # key = value`). Channel keys go under `channels.<kind>` (the
/// common `kind`, `name` and `enabled` under `channels`); keys of a sub-table or an
/// inline table are dotted (`ack.enabled`, `fields.title`, `categories.slug`).
fn example_keys(text: &str) -> BTreeSet<(String, String)> {
    let mut keys = BTreeSet::new();
    let mut section = String::new();
    let mut prefix = String::new();
    for line in text.lines() {
        let line = line.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
        if let Some(header) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            // An array of tables: `[[channels]]`, or one inside a section.
            match header.split_once('.') {
                Some((sec, sub)) => {
                    section = sec.to_owned();
                    prefix = format!("{sub}.");
                }
                None => {
                    section = header.to_owned();
                    prefix.clear();
                }
            }
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if !is_key(header) {
                continue;
            }
            match header.strip_prefix("channels.") {
                // A sub-table of the channel being described.
                Some(sub) => prefix = format!("{sub}."),
                None => {
                    section = header.to_owned();
                    prefix.clear();
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        if !is_key(key) {
            continue;
        }
        if section.starts_with("channels") && prefix.is_empty() {
            if key == "kind" {
                section = format!("channels.{}", value.trim().trim_matches('"'));
            }
            if matches!(key, "kind" | "name" | "enabled") {
                keys.insert(("channels".to_owned(), key.to_owned()));
                continue;
            }
        }
        let key = format!("{prefix}{key}");
        if value.trim_start().starts_with('{') {
            for inner in inline_keys(value) {
                keys.insert((section.clone(), format!("{key}.{inner}")));
            }
        } else {
            keys.insert((section.clone(), key));
        }
    }
    keys
}

/// The key tables of the configuration page: for each section (from its heading:
/// `` `[http]` `` is `http`, `` `kind = "email"` `` is `channels.email`, "Top level" is
/// the empty section), each row's keys (the backquoted names of its first cell) and the
/// row's whole text. A key of an inline table or sub-table (`smtp.host`) is documented by
/// a row of the table's own name (`smtp`) that mentions it.
fn doc_tables(text: &str) -> BTreeMap<String, Vec<(Vec<String>, String)>> {
    let mut tables: BTreeMap<String, Vec<(Vec<String>, String)>> = BTreeMap::new();
    let mut section = None;
    for line in text.lines() {
        if line.starts_with('#') {
            let title = line.trim_start_matches('#').trim();
            section = if title == "Top level" {
                Some(String::new())
            } else if let Some(kind) = title
                .strip_prefix("`kind = \"")
                .and_then(|t| t.strip_suffix("\"`"))
            {
                Some(format!("channels.{kind}"))
            } else {
                title
                    .strip_prefix('`')
                    .and_then(|t| t.strip_suffix('`'))
                    .map(|t| t.trim_matches(|c| c == '[' || c == ']').to_owned())
                    .filter(|t| is_key(t))
            };
            continue;
        }
        let (Some(section), Some(row)) = (&section, line.strip_prefix("| `")) else {
            continue;
        };
        let first = row.split(" |").next().unwrap_or_default();
        let keys: Vec<String> = format!("`{first}")
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|k| is_key(k))
            .map(str::to_owned)
            .collect();
        if !keys.is_empty() {
            tables
                .entry(section.clone())
                .or_default()
                .push((keys, line.to_owned()));
        }
    }
    tables
}

#[test]
fn configuration_doc_matches_the_example_file() {
    let example = example_keys(&read(&root().join("config/aduan.example.toml")));
    let tables = doc_tables(&read(&root().join("docs/configuration.md")));
    // The parsers themselves: a regression here would make the checks below vacuous.
    for probe in [
        ("http", "listen"),
        ("http.rate_limit", "submit.burst"),
        ("channels", "kind"),
        ("channels.email", "ack.max_per_hour"),
        ("channels.webform", "fields.title"),
        ("form", "categories.slug"),
    ] {
        let probe = (probe.0.to_owned(), probe.1.to_owned());
        assert!(example.contains(&probe), "example parser lost {probe:?}");
    }
    assert!(tables.contains_key("") && tables.contains_key("channels.facebook"));

    let mut missing = Vec::new();
    for (section, key) in &example {
        let rows = tables.get(section).map(Vec::as_slice).unwrap_or_default();
        let documented = rows.iter().any(|(names, text)| {
            names.iter().any(|name| {
                name == key
                    || key
                        .strip_prefix(&format!("{name}."))
                        .is_some_and(|inner| text.contains(inner))
            })
        });
        if !documented {
            missing.push(format!("[{section}] {key}"));
        }
    }
    assert!(
        missing.is_empty(),
        "keys of config/aduan.example.toml that docs/configuration.md does not document: {missing:?}"
    );

    let mut unknown = Vec::new();
    for (section, rows) in &tables {
        for name in rows.iter().flat_map(|(names, _)| names) {
            let known = example
                .iter()
                .any(|(s, k)| s == section && (k == name || k.starts_with(&format!("{name}."))));
            if !known {
                unknown.push(format!("[{section}] {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "keys in docs/configuration.md's tables that config/aduan.example.toml lacks: {unknown:?}"
    );
}

/// GitHub's anchor for a heading: lowercase, punctuation other than `-` and `_`
/// dropped, spaces made `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let base = anchor(line.trim_start_matches('#'));
        let n = seen.entry(base.clone()).or_default();
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of `[text](target)` links outside code.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    out
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let mut pages = vec![root().join("README.md"), root().join("SECURITY.md")];
    let docs = std::fs::read_dir(root().join("docs")).expect("docs/ exists");
    for entry in docs.flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            pages.push(entry.path());
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = read(page);
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, fragment) = match link.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(&root()).join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}", page.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                if !anchors(&read(&target)).contains(fragment) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} links found: the link parser is broken"
    );
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

/// Every `ADUAN_…` variable the deployment files set names a key of the example file:
/// the daemon takes such a variable as configuration, so a misspelt one would be
/// ignored or stop it.
#[test]
fn deployment_files_set_only_real_configuration_keys() {
    let example = example_keys(&read(&root().join("config/aduan.example.toml")));
    let mut files = vec![
        root().join("deploy/Dockerfile"),
        root().join("deploy/compose.yaml"),
        root().join("deploy/aduan.service"),
    ];
    let k8s = root().join("deploy/kubernetes");
    for entry in std::fs::read_dir(&k8s).unwrap_or_else(|e| panic!("{}: {e}", k8s.display())) {
        files.push(entry.expect("entry").path());
    }
    let mut seen = 0;
    let mut unknown = Vec::new();
    for file in &files {
        let text = read(file);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("ADUAN_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            // The configuration file's path, prose ("every ADUAN_ variable") and the
            // placeholder that explains the naming are not keys.
            if name == "ADUAN_CONFIG" || name.ends_with('_') || name == "ADUAN_SECTION__KEY" {
                continue;
            }
            seen += 1;
            let path = name["ADUAN_".len()..].to_ascii_lowercase();
            let key = match path.split_once("__") {
                Some((section, key)) => (section.to_owned(), key.replace("__", ".")),
                None => (String::new(), path.clone()),
            };
            if !example.contains(&key) {
                unknown.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(seen >= 5, "the scan found only {seen} variables");
    assert!(
        unknown.is_empty(),
        "variables that name no key of config/aduan.example.toml:\n{}",
        unknown.join("\n")
    );
}
