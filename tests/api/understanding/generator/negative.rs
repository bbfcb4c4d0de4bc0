//! Requests whose right outcome is NO booking: past and impossible dates, an end before the
//! start, ambiguous dates, unknown models, too many GPUs, too long or too far, a "no"
//! instead of a yes, a "yes" with nothing pending, a missing count, time or start.

use super::when::{self, Local};
use super::words::{self, model_with_count, pick, MODELS, UNKNOWN_MODELS};
use super::{new_case, World};
use crate::understanding::case::{Case, Expect};
use chrono::{Datelike, Duration, NaiveDate, Timelike};
use rand::rngs::StdRng;
use rand::Rng;

const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn mon_d_y(d: NaiveDate) -> String {
    format!(
        "{} {} {}",
        MONTHS_SHORT[d.month0() as usize],
        d.day(),
        d.year()
    )
}

/// A plain time range that is fine on its own ("9-5", "from 10am to 2pm").
fn some_range(rng: &mut StdRng) -> String {
    pick(
        rng,
        &[
            "9-5",
            "from 10am to 2pm",
            "9am-5pm",
            "from 9 to 12",
            "13:00-15:00",
            "at 10 for 3 hours",
        ],
    )
    .to_string()
}

/// A negative conversation (tags say which kind).
pub fn case(rng: &mut StdRng, w: &mut World) -> Option<Case> {
    let l: Local = w.local;
    let today = l.today();
    let m = pick(rng, MODELS);
    let n = rng.random_range(1..=m.total.min(4));
    let (mtext, _, _) = model_with_count(rng, m, n);
    let yes = pick(rng, words::YES).to_string();
    let ask = |what: &str, when: &str| format!("book {what} {when}");
    let kind = rng.random_range(0..21);
    let (turns, tag): (Vec<String>, &str) = match kind {
        0 => (
            vec![ask(&mtext, &format!("yesterday {}", some_range(rng))), yes],
            "past-yesterday",
        ),
        1 => {
            let k = *pick(rng, &["two days ago", "3 days ago", "a week ago"]);
            (
                vec![ask(&mtext, &format!("{k} {}", some_range(rng))), yes],
                "past-days-ago",
            )
        }
        2 => {
            let wd = rng.random_range(0..7usize);
            (
                vec![
                    ask(
                        &mtext,
                        &format!("last {} {}", when::weekday_name(wd), some_range(rng)),
                    ),
                    yes,
                ],
                "past-last-weekday",
            )
        }
        3 => {
            let d = today - Duration::days(365 - rng.random_range(0..200));
            let text = if rng.random_bool(0.5) {
                format!("on {}", mon_d_y(d))
            } else {
                format!("on {}", d.format("%Y-%m-%d"))
            };
            (
                vec![ask(&mtext, &format!("{text} {}", some_range(rng))), yes],
                "past-year",
            )
        }
        4 => {
            // A time earlier today.
            let h = l.now.hour();
            if h < 3 {
                return None;
            }
            let s = rng.random_range(1..h.clamp(2, 12));
            if s + 1 >= h {
                return None;
            }
            let sp = if s < 12 {
                format!("{s}am")
            } else {
                "noon".into()
            };
            (
                vec![ask(&mtext, &format!("today at {sp} for 1 hour")), yes],
                "past-today-earlier",
            )
        }
        5 => {
            // Month + day of this year, already passed.
            let back = rng.random_range(1..=40);
            let d = today - Duration::days(back);
            if d.year() != today.year() {
                return None;
            }
            (
                vec![
                    ask(
                        &mtext,
                        &format!(
                            "on {} {} {}",
                            MONTHS_SHORT[d.month0() as usize],
                            d.day(),
                            some_range(rng)
                        ),
                    ),
                    yes,
                ],
                "past-month-day",
            )
        }
        6 => {
            let d = *pick(
                rng,
                &[
                    "June 31",
                    "Feb 30",
                    "the 32nd",
                    "31/11",
                    "April 31st",
                    "September 31",
                    "Nov 31",
                    "February 30th",
                ],
            );
            (
                vec![ask(&mtext, &format!("on {d} {}", some_range(rng))), yes],
                "impossible-date",
            )
        }
        7 => {
            let r = *pick(
                rng,
                &[
                    "5pm to 3pm",
                    "17:00-15:00",
                    "from 4pm until 2pm",
                    "from 14:00 to 9am",
                    "between 6pm and 1pm",
                ],
            );
            (
                vec![ask(&mtext, &format!("tomorrow {r}")), yes],
                "end-before-start",
            )
        }
        8 => {
            // Both parts ≤ 12 and different: day/month or month/day?
            let (a, b) = loop {
                let a = rng.random_range(1..=12u32);
                let b = rng.random_range(1..=12u32);
                if a != b {
                    break (a, b);
                }
            };
            let y = today.year() + 1;
            (
                vec![
                    ask(&mtext, &format!("on {a}/{b}/{y} {}", some_range(rng))),
                    yes,
                ],
                "ambiguous-numeric-date",
            )
        }
        9 => {
            // "next <weekday>" where that weekday is still ahead this week.
            let wd = today.weekday().num_days_from_monday();
            if wd >= 6 {
                return None;
            }
            let t = rng.random_range(wd + 1..7) as usize;
            (
                vec![
                    ask(
                        &mtext,
                        &format!("next {} {}", when::weekday_name(t), some_range(rng)),
                    ),
                    yes,
                ],
                "ambiguous-next-weekday",
            )
        }
        10 => {
            let u = *pick(rng, UNKNOWN_MODELS);
            let what = if rng.random_bool(0.5) {
                format!("2 {u}s")
            } else {
                format!("{} {u}", words::article(u))
            };
            (
                vec![ask(&what, &format!("tomorrow {}", some_range(rng))), yes],
                "unknown-model",
            )
        }
        11 => {
            let too_many = m.total + rng.random_range(1..=4);
            let plural = *pick(rng, m.plural);
            (
                vec![
                    ask(
                        &format!("{too_many} {plural}"),
                        &format!("tomorrow {}", some_range(rng)),
                    ),
                    yes,
                ],
                "too-many",
            )
        }
        12 => {
            let t = *pick(
                rng,
                &[
                    "tomorrow for 45 days",
                    "tomorrow for 6 weeks",
                    "from tomorrow for 40 days",
                ],
            );
            (vec![ask(&mtext, t), yes], "too-long")
        }
        13 => {
            let d = today + Duration::days(rng.random_range(400..700));
            (
                vec![
                    ask(&mtext, &format!("on {} {}", mon_d_y(d), some_range(rng))),
                    yes,
                ],
                "too-far",
            )
        }
        14 => {
            let no = pick(rng, words::NO).to_string();
            let mut t = vec![ask(&mtext, &format!("tomorrow {}", some_range(rng))), no];
            if rng.random_bool(0.5) {
                t.push(yes);
            }
            (t, "no-instead-of-yes")
        }
        15 => {
            let t = match rng.random_range(0..3) {
                0 => vec![yes],
                1 => vec!["hello".into(), yes],
                _ => vec!["what GPUs do you have?".into(), yes],
            };
            (t, "yes-nothing-pending")
        }
        16 => {
            let plural = *pick(rng, m.plural);
            (
                vec![
                    format!("book some {plural} tomorrow {}", some_range(rng)),
                    yes,
                ],
                "plural-without-count",
            )
        }
        17 => (vec![ask(&mtext, "tomorrow overnight"), yes], "overnight"),
        // A day and a length but no start: when it begins is asked, a yes is no answer.
        19 => {
            let length = *pick(
                rng,
                &["for 3 hours", "for 90 minutes", "for a couple of hours"],
            );
            (
                vec![ask(&mtext, &format!("tomorrow {length}")), yes],
                "length-without-start",
            )
        }
        18 => {
            let t = *pick(
                rng,
                &[
                    "on blursday 9-5",
                    "on the 3st from 10am to 2pm",
                    "Decembruary 4 9-5",
                    "on Frunday 9-5",
                ],
            );
            (vec![ask(&mtext, t), yes], "unreadable-date")
        }
        _ => {
            // A date but no time: the assistant must ask, a yes is no answer.
            let dtext = if rng.random_bool(0.5) {
                format!("on {}", when::weekday_name(rng.random_range(0..7)))
            } else {
                "tomorrow".into()
            };
            (vec![ask(&mtext, &dtext), yes], "missing-time")
        }
    };
    Some(new_case(
        turns,
        Expect::None,
        vec![format!("neg:{tag}"), "neg:any".into()],
    ))
}
