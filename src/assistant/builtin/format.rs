//! How the built-in assistant writes times, money and tables (Markdown).

use crate::assistant::tools::GpuSummary;
use crate::domain::{Booking, Cents, Interval};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// "Fri 27 Nov 09:00–12:00 UTC", or with both dates when the interval spans days.
pub fn span(i: &Interval, tz: Tz) -> String {
    let (s, e) = (i.start().with_timezone(&tz), i.end().with_timezone(&tz));
    let zone = s.format("%Z");
    if s.date_naive() == e.date_naive() {
        format!(
            "{} {}–{} {}",
            s.format("%a %-d %b"),
            s.format("%H:%M"),
            e.format("%H:%M"),
            zone
        )
    } else if e.time() == chrono::NaiveTime::MIN
        && s.time() == chrono::NaiveTime::MIN
        && (e.date_naive() - s.date_naive()).num_days() == 1
    {
        format!("{} (all day, {})", s.format("%a %-d %b"), zone)
    } else {
        format!(
            "{} {} → {} {} {}",
            s.format("%a %-d %b"),
            s.format("%H:%M"),
            e.format("%a %-d %b"),
            e.format("%H:%M"),
            zone
        )
    }
}

/// A moment: "Fri 27 Nov 14:00 UTC".
pub fn moment(t: DateTime<Utc>, tz: Tz) -> String {
    let t = t.with_timezone(&tz);
    format!("{}", t.format("%a %-d %b %H:%M %Z"))
}

/// "3 h", "90 min", "2 days", "1 day 6 h".
pub fn duration(i: &Interval) -> String {
    let mins = i.duration().num_minutes();
    let (d, h, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d} day{}", if d == 1 { "" } else { "s" }));
    }
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    parts.join(" ")
}

/// "$12.34" for USD, else "12.34 EUR".
pub fn money(c: Cents, currency: &str) -> String {
    if currency.eq_ignore_ascii_case("usd") {
        format!("${c}")
    } else {
        format!("{c} {currency}")
    }
}

/// The inventory as a table.
pub fn gpu_table(gpus: &[GpuSummary], currency: &str) -> String {
    let mut s = String::from(
        "| Model | Memory | GPUs | Free now | Price / GPU-hour |\n|---|---:|---:|---:|---:|\n",
    );
    for g in gpus {
        s.push_str(&format!(
            "| {} | {} GB | {} | {} | {} |\n",
            g.model,
            g.memory_gb,
            g.total,
            g.available_now,
            money(g.price_per_hour, currency)
        ));
    }
    s
}

/// Bookings as a table.
pub fn booking_table(list: &[Booking], tz: Tz, currency: &str) -> String {
    let mut s = String::from("| Id | Model | GPUs | When | Devices | Price | Status |\n|---|---|---:|---|---|---:|---|\n");
    for b in list {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            b.id.short(),
            b.model,
            b.count(),
            span(&b.interval, tz),
            devices(&b.gpus),
            money(b.price_total, currency),
            b.status.as_str()
        ));
    }
    s
}

/// "ampere-01:0-3, ampere-02:0" — devices grouped by node.
pub fn devices(gpus: &[crate::domain::Device]) -> String {
    let mut out: Vec<(String, Vec<u32>)> = Vec::new();
    for d in gpus {
        match out.last_mut() {
            Some((n, v)) if *n == d.node => v.push(d.index),
            _ => out.push((d.node.clone(), vec![d.index])),
        }
    }
    out.iter()
        .map(|(n, v)| {
            let contiguous = v.windows(2).all(|w| w[1] == w[0] + 1);
            if v.len() > 2 && contiguous {
                format!("{n}:{}-{}", v[0], v[v.len() - 1])
            } else {
                format!(
                    "{n}:{}",
                    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
