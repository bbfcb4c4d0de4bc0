//! Finding free windows ("slots"): the earliest windows in which `count` devices of one
//! model are free for a whole `duration`, in one sweep over the edges of the bookings.
//!
//! A device is free for the window `[s, s + d)` unless one of its bookings `[a, b)` overlaps
//! it, i.e. unless `a - d < s < b`. So each device is *blocked* on a union of open start
//! ranges; the number of blocked devices at `s` is `#{ranges with lo < s} - #{hi <= s}`,
//! and it only falls at a range's end. The sweep therefore tries `after`, then only range
//! ends, and after a slot the slot's own end (a model's next slot starts at or after it).

use super::booking::Interval;
use super::gpu::Device;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// An open range of window starts `(lo, hi)` in which a device is blocked.
type Range = (DateTime<Utc>, DateTime<Utc>);

/// What to look for, for one model.
#[derive(Debug, Clone, Copy)]
pub struct SlotSearch {
    /// Devices wanted.
    pub count: u32,
    /// Length of each slot.
    pub duration: Duration,
    /// Earliest start.
    pub after: DateTime<Utc>,
    /// Latest end.
    pub before: DateTime<Utc>,
    /// Most slots.
    pub limit: usize,
}

/// The earliest slots of a model with `total` devices, given its confirmed bookings
/// (interval and devices) that overlap `[after, before)`. O(n log n) in the bookings.
pub fn find_slots(total: u32, busy: &[(Interval, &[Device])], q: &SlotSearch) -> Vec<Interval> {
    let mut out = Vec::new();
    if q.count == 0 || q.count > total || q.limit == 0 || q.duration <= Duration::zero() {
        return out;
    }
    // Per device, its blocked start ranges (open), merged where they overlap.
    let mut per_device: BTreeMap<&Device, Vec<Range>> = BTreeMap::new();
    for (iv, devices) in busy {
        for d in devices.iter() {
            per_device
                .entry(d)
                .or_default()
                .push((iv.start() - q.duration, iv.end()));
        }
    }
    let (mut los, mut his) = (Vec::new(), Vec::new());
    for ranges in per_device.values_mut() {
        ranges.sort();
        let mut cur: Option<Range> = None;
        for &(lo, hi) in ranges.iter() {
            match &mut cur {
                // Open ranges that touch (`lo == hi`) leave that instant free: keep apart.
                Some((_, h)) if lo < *h => *h = (*h).max(hi),
                _ => {
                    if let Some(c) = cur.replace((lo, hi)) {
                        los.push(c.0);
                        his.push(c.1);
                    }
                }
            }
        }
        if let Some(c) = cur {
            los.push(c.0);
            his.push(c.1);
        }
    }
    los.sort();
    his.sort();
    let (mut li, mut hi) = (0usize, 0usize);
    let mut s = q.after;
    while out.len() < q.limit && s + q.duration <= q.before {
        while li < los.len() && los[li] < s {
            li += 1;
        }
        while hi < his.len() && his[hi] <= s {
            hi += 1;
        }
        let blocked = (li - hi) as u32;
        if total.saturating_sub(blocked) >= q.count {
            let slot = Interval::new(s, s + q.duration).expect("positive duration");
            out.push(slot);
            s = slot.end();
        } else {
            // The count falls only where a range ends.
            match his.get(hi) {
                Some(&next) => s = next,
                None => break,
            }
        }
    }
    out
}

/// Parses `90m`, `8h`, `2d`, `1h30m` or ISO 8601 `PT8H` / `P1DT2H`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(iso) = s.strip_prefix('P').or_else(|| s.strip_prefix('p')) {
        let mut secs: i64 = 0;
        let (mut num, mut in_time, mut any) = (String::new(), false, false);
        for c in iso.chars() {
            match c.to_ascii_uppercase() {
                'T' if num.is_empty() && !in_time => in_time = true,
                d if d.is_ascii_digit() => num.push(d),
                unit => {
                    let n: i64 = num.parse().ok()?;
                    num.clear();
                    any = true;
                    secs += n * match (unit, in_time) {
                        ('W', false) => 7 * 86_400,
                        ('D', false) => 86_400,
                        ('H', true) => 3_600,
                        ('M', true) => 60,
                        ('S', true) => 1,
                        _ => return None,
                    };
                }
            }
        }
        return (any && num.is_empty()).then(|| Duration::seconds(secs));
    }
    humantime::parse_duration(s)
        .ok()
        .and_then(|d| Duration::from_std(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn finds_the_gap_after_a_booking_and_chains_slots() {
        let d: Vec<Device> = ["n:0", "n:1"]
            .iter()
            .map(|s| Device::parse(s).unwrap())
            .collect();
        let busy = vec![(Interval::new(t(1), t(3)).unwrap(), &d[..1])];
        let q = SlotSearch {
            count: 2,
            duration: Duration::hours(1),
            after: t(0),
            before: t(10),
            limit: 3,
        };
        let got = find_slots(2, &busy, &q);
        assert_eq!(
            got,
            vec![
                Interval::new(t(0), t(1)).unwrap(),
                Interval::new(t(3), t(4)).unwrap(),
                Interval::new(t(4), t(5)).unwrap()
            ]
        );
        assert!(find_slots(1, &busy, &q).is_empty());
    }

    #[test]
    fn durations_in_both_spellings() {
        assert_eq!(parse_duration("90m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("8h"), Some(Duration::hours(8)));
        assert_eq!(parse_duration("2d"), Some(Duration::days(2)));
        assert_eq!(parse_duration("PT8H"), Some(Duration::hours(8)));
        assert_eq!(
            parse_duration("P1DT2H30M"),
            Some(Duration::minutes(26 * 60 + 30))
        );
        for bad in ["", "P", "PT", "8x", "P8H"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
