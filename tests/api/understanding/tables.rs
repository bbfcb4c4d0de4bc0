//! Loads the hand-written conversation tables, tests/conversations/*.toml
//! (format: /work/notes/conversation-format.md). Every error names the file and conversation.

use super::case::{Case, Changed, Expect, Spec};
use super::harness::check_expect;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use hpcbot::domain::Inventory;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The reference clock when a conversation names none (a Thursday).
pub const DEFAULT_NOW: &str = "2026-11-26T10:00:00Z";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    conv: Vec<RawConv>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    model: String,
    count: u32,
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    index: usize,
    model: Option<String>,
    count: Option<u32>,
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConv {
    name: String,
    now: Option<String>,
    tz: Option<String>,
    #[serde(default)]
    existing: Vec<RawSpec>,
    #[serde(default)]
    others: Vec<RawSpec>,
    turns: Vec<String>,
    expect: String,
    booking: Option<RawSpec>,
    cancelled: Option<Vec<usize>>,
    changed: Option<RawChange>,
    #[serde(default)]
    reply_has: Vec<String>,
    /// Free text for the reader; ignored.
    #[allow(dead_code)]
    note: Option<String>,
    /// Extra report categories.
    #[serde(default)]
    tags: Vec<String>,
}

/// The folder of the tables: `HPCBOT_TABLES_DIR` when set (to run a fresh table once, on
/// its own, before it joins the others), else `tests/conversations`.
pub fn folder() -> PathBuf {
    match std::env::var_os("HPCBOT_TABLES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations"),
    }
}

/// Every `*.toml` in `dir`, sorted by name.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    Ok(out)
}

/// Loads every table of `dir`.
pub fn load_dir(dir: &Path, inv: &Inventory) -> Result<Vec<Case>, String> {
    let mut all = Vec::new();
    for f in files(dir)? {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&f)
            .display()
            .to_string();
        all.extend(parse(&name, &text, inv)?);
    }
    Ok(all)
}

/// Parses one table; `origin` names it in errors and reports.
pub fn parse(origin: &str, text: &str, inv: &Inventory) -> Result<Vec<Case>, String> {
    let file: RawFile = toml::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, raw) in file.conv.into_iter().enumerate() {
        let at = format!("{origin}: conv #{} `{}`", i + 1, raw.name);
        if !names.insert(raw.name.clone()) {
            return Err(format!("{at}: the name is used twice in this file"));
        }
        out.push(convert(origin, raw, inv).map_err(|e| format!("{at}: {e}"))?);
    }
    Ok(out)
}

fn time(field: &str, s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{field}: `{s}` is not an RFC 3339 time ({e})"))
}

fn model(field: &str, name: &str, inv: &Inventory) -> Result<String, String> {
    inv.find(name).map(|m| m.name.clone()).ok_or_else(|| {
        format!("{field}: `{name}` is not a model of the sample inventory (or is ambiguous)")
    })
}

fn spec(field: &str, r: &RawSpec, inv: &Inventory) -> Result<Spec, String> {
    let s = Spec {
        model: model(&format!("{field}.model"), &r.model, inv)?,
        count: r.count,
        start: time(&format!("{field}.start"), &r.start)?,
        end: time(&format!("{field}.end"), &r.end)?,
    };
    if s.end <= s.start {
        return Err(format!("{field}: end is not after start"));
    }
    if s.count == 0 {
        return Err(format!("{field}.count: must be at least 1"));
    }
    Ok(s)
}

fn convert(origin: &str, r: RawConv, inv: &Inventory) -> Result<Case, String> {
    let now = time("now", r.now.as_deref().unwrap_or(DEFAULT_NOW))?;
    let tz_name = r.tz.as_deref().unwrap_or("UTC");
    let tz: Tz = tz_name
        .parse()
        .map_err(|_| format!("tz: `{tz_name}` is not an IANA timezone name"))?;
    let existing = r
        .existing
        .iter()
        .enumerate()
        .map(|(i, s)| spec(&format!("existing[{i}]"), s, inv))
        .collect::<Result<Vec<_>, _>>()?;
    let others = r
        .others
        .iter()
        .enumerate()
        .map(|(i, s)| spec(&format!("others[{i}]"), s, inv))
        .collect::<Result<Vec<_>, _>>()?;
    if r.turns.is_empty() {
        return Err("turns: empty".into());
    }
    let only = |present: &[(&str, bool)], allowed: &str| -> Result<(), String> {
        match present.iter().find(|(k, p)| *p && *k != allowed) {
            Some((k, _)) => Err(format!("`{k}` does not go with expect = \"{}\"", r.expect)),
            None => Ok(()),
        }
    };
    let present = [
        ("booking", r.booking.is_some()),
        ("cancelled", r.cancelled.is_some()),
        ("changed", r.changed.is_some()),
    ];
    let expect = match r.expect.as_str() {
        "book" => {
            only(&present, "booking")?;
            let b = r
                .booking
                .as_ref()
                .ok_or("expect = \"book\" needs `booking`")?;
            Expect::Book(spec("booking", b, inv)?)
        }
        "none" => {
            only(&present, "")?;
            Expect::None
        }
        "answer" => {
            only(&present, "")?;
            if r.reply_has.is_empty() {
                return Err("expect = \"answer\" needs `reply_has`".into());
            }
            Expect::Answer
        }
        "cancel" => {
            only(&present, "cancelled")?;
            Expect::Cancel(
                r.cancelled
                    .clone()
                    .ok_or("expect = \"cancel\" needs `cancelled`")?,
            )
        }
        "change" => {
            only(&present, "changed")?;
            let c = r
                .changed
                .as_ref()
                .ok_or("expect = \"change\" needs `changed`")?;
            Expect::Change(Changed {
                index: c.index,
                model: c
                    .model
                    .as_deref()
                    .map(|m| model("changed.model", m, inv))
                    .transpose()?,
                count: c.count,
                start: c
                    .start
                    .as_deref()
                    .map(|s| time("changed.start", s))
                    .transpose()?,
                end: c
                    .end
                    .as_deref()
                    .map(|s| time("changed.end", s))
                    .transpose()?,
            })
        }
        other => {
            return Err(format!(
                "expect: `{other}` is not one of book, none, cancel, change, answer"
            ))
        }
    };
    check_expect(&expect, &existing)?;
    let file = origin.rsplit('/').next().unwrap_or(origin);
    let mut tags = vec![format!("expect:{}", expect.kind()), format!("file:{file}")];
    tags.extend(r.tags);
    Ok(Case {
        name: r.name,
        origin: origin.to_string(),
        now,
        tz,
        existing,
        others,
        turns: r.turns,
        expect,
        reply_has: r.reply_has,
        tags,
        act_turns: None,
    })
}
