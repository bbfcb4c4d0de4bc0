//! Property: random sequences of book/change/cancel never double-book a device, never
//! exceed a model's capacity, and availability equals capacity minus the overlapping
//! bookings; a change that cannot fit changes nothing. And `/api/slots`' search agrees with
//! a brute-force search over random bookings, and its first slot can be booked.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hpcbot::assistant::tools::Tools;
use hpcbot::domain::booking::{check_against, BookingLimits};
use hpcbot::domain::{BookingStatus, Clock, Interval, Owner};
use hpcbot::store::bookings::{BookingChange, ChangeRules, Origin, Via};
use hpcbot::store::sql::{SqlOptions, SqlStore};
use hpcbot::store::{BookingStore, NewBooking, StoreError};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Op {
    Book {
        model: usize,
        count: u32,
        start: i64,
        hours: i64,
    },
    Cancel(usize),
    Change {
        which: usize,
        start: Option<i64>,
        hours: Option<i64>,
        count: Option<u32>,
    },
    Ask {
        model: usize,
        start: i64,
        hours: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 1..5u32, 0..24i64, 1..8i64).prop_map(|(model, count, start, hours)| Op::Book { model, count, start, hours }),
        1 => (0..64usize).prop_map(Op::Cancel),
        3 => (0..64usize, proptest::option::of(0..24i64), proptest::option::of(1..8i64), proptest::option::of(1..5u32))
            .prop_map(|(which, start, hours, count)| Op::Change { which, start, hours, count }),
        2 => (0..2usize, 0..24i64, 1..10i64).prop_map(|(model, start, hours)| Op::Ask { model, start, hours }),
    ]
}

const INVENTORY: &str = r#"{"models": [
  {"model": "X-16GB", "memory_gb": 16, "price_per_hour": 1.0, "nodes": [{"name": "x1", "gpus": 3}, {"name": "x2", "gpus": 2}]},
  {"model": "Y-8GB", "memory_gb": 8, "price_per_hour": 0.5, "nodes": [{"name": "y1", "gpus": 2}]}
]}"#;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn iv(start: i64, hours: i64) -> Interval {
    Interval::new(
        base() + Duration::hours(start),
        base() + Duration::hours(start + hours),
    )
    .unwrap()
}

/// Devices of `model` booked at hour `h`, from the store's own list.
fn used_at(list: &[hpcbot::domain::Booking], model: &str, h: i64) -> u32 {
    let t = base() + Duration::hours(h);
    list.iter()
        .filter(|b| b.model == model && b.status == BookingStatus::Confirmed)
        .filter(|b| b.interval.start() <= t && t < b.interval.end())
        .map(|b| b.count())
        .sum()
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let store = SqlStore::connect(&SqlOptions {
        url,
        max_connections: 2,
        timeout: std::time::Duration::from_secs(5),
    })
    .await
    .unwrap();
    store
        .import(
            Some(hpcbot::transfer::parse_inventory(INVENTORY).unwrap()),
            Some(vec![]),
        )
        .await
        .unwrap();
    let store: Arc<dyn BookingStore> = Arc::new(store);
    let tools = Tools::new(
        store.clone(),
        Clock::fixed(base()),
        BookingLimits::default(),
    );
    let inv = store.inventory().await.unwrap();
    let owner = Owner::user("prop");
    let mut made = Vec::new();
    for op in ops {
        match op {
            Op::Book {
                model,
                count,
                start,
                hours,
            } => {
                let m = &inv.models()[model];
                let interval = iv(start, hours);
                let r = store
                    .create(NewBooking {
                        owner: owner.clone(),
                        model: m.name.clone(),
                        count,
                        interval,
                        now: base(),
                        proposal: None,
                        origin: Origin::current(Via::Api),
                        quotas: None,
                        budget: None,
                        project: hpcbot::domain::ProjectName::default_project(),
                    })
                    .await;
                match r {
                    Ok(b) => made.push(b.id),
                    Err(StoreError::InsufficientCapacity { free, total, .. }) => {
                        assert!(free < count, "refused although {free} >= {count} were free");
                        assert_eq!(total, m.total());
                        let busy = store.busy(&m.name, &interval, base()).await.unwrap();
                        let devices: std::collections::HashSet<_> =
                            busy.iter().flat_map(|b| b.gpus.iter()).collect();
                        assert_eq!(free, m.total() - devices.len() as u32);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Cancel(i) if !made.is_empty() => {
                let id = made[i % made.len()].clone();
                let b = store
                    .cancel(&owner, &id, &Origin::current(Via::Api), base())
                    .await
                    .unwrap();
                // Cancelled, or ended early when it had started (API.md "Budget").
                assert!(b.status.is_cancelled(), "{:?}", b.status);
                if b.status == BookingStatus::Ended {
                    assert!(b.interval.start() <= base() && b.interval.end() > base());
                }
            }
            Op::Cancel(_) => {}
            Op::Change {
                which,
                start,
                hours,
                count,
            } if !made.is_empty() => {
                let id = made[which % made.len()].clone();
                let all = store.all().await.unwrap();
                let old = all.iter().find(|b| b.id == id).unwrap().clone();
                let new_start = start.map(|h| base() + Duration::hours(h));
                let new_end = match (new_start, hours) {
                    (s, Some(h)) => Some(s.unwrap_or(old.interval.start()) + Duration::hours(h)),
                    (Some(s), None) => Some(s + old.interval.duration()),
                    (None, None) => None,
                };
                let change = BookingChange {
                    start: new_start,
                    end: new_end,
                    count,
                };
                let rules = ChangeRules {
                    proposal: None,
                    now: base(),
                    limits: BookingLimits::default(),
                    dry_run: false,
                };
                let r = store
                    .change(&owner, &id, &change, &rules, &Origin::current(Via::Api))
                    .await;
                match r {
                    Ok(b) => {
                        assert_eq!(b.id, id);
                        assert_eq!(
                            b.interval.start(),
                            new_start.unwrap_or(old.interval.start())
                        );
                        assert_eq!(b.count(), count.unwrap_or(old.count()));
                        // It keeps the devices that stay free for it.
                        let now_mine: std::collections::HashSet<_> = b.gpus.iter().collect();
                        let others_busy: std::collections::HashSet<_> = all
                            .iter()
                            .filter(|o| {
                                o.id != id
                                    && o.status == BookingStatus::Confirmed
                                    && o.model == b.model
                                    && o.interval.overlaps(&b.interval)
                            })
                            .flat_map(|o| o.gpus.iter())
                            .collect();
                        let kept_possible =
                            old.gpus.iter().filter(|d| !others_busy.contains(d)).count();
                        let kept = old.gpus.iter().filter(|d| now_mine.contains(d)).count();
                        assert_eq!(
                            kept,
                            kept_possible.min(b.count() as usize),
                            "keeps free devices"
                        );
                    }
                    Err(StoreError::InsufficientCapacity { .. })
                    | Err(StoreError::BookingCancelled)
                    | Err(StoreError::Rejected { .. }) => {
                        assert_eq!(
                            store.all().await.unwrap(),
                            all,
                            "a refused change changes nothing"
                        );
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Change { .. } => {}
            Op::Ask {
                model,
                start,
                hours,
            } => {
                let m = &inv.models()[model];
                let a = tools.availability(&m.name, iv(start, hours)).await.unwrap();
                let list = store.all().await.unwrap();
                let peak = (start..start + hours)
                    .map(|h| used_at(&list, &m.name, h))
                    .max()
                    .unwrap();
                assert_eq!(
                    a.free,
                    m.total() - peak,
                    "availability = capacity - overlapping bookings"
                );
            }
        }
        // Invariants after every step.
        let list = store.all().await.unwrap();
        check_against(&inv, &list).expect("no device in two overlapping confirmed bookings");
        for m in inv.models() {
            for h in 0..40 {
                assert!(used_at(&list, &m.name, h) <= m.total(), "capacity exceeded");
            }
        }
    }
}

/// A random booking for the slots property: model, devices wanted, start hour, hours.
fn slot_booking() -> impl Strategy<Value = (usize, u32, i64, i64)> {
    (0..2usize, 1..4u32, 0..48i64, 1..10i64)
}

/// The slots by trying every hour: a window is a slot if `count` devices are in no
/// overlapping confirmed booking; a model's next slot starts at or after the last one's end.
fn brute_slots(
    list: &[hpcbot::domain::Booking],
    m: &hpcbot::domain::GpuModel,
    count: u32,
    hours: i64,
    after: i64,
    before: i64,
    limit: usize,
) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut s = after;
    while out.len() < limit && s + hours <= before {
        let w = iv(s, hours);
        let busy: std::collections::HashSet<_> = list
            .iter()
            .filter(|b| {
                b.model == m.name && b.status == BookingStatus::Confirmed && b.interval.overlaps(&w)
            })
            .flat_map(|b| b.gpus.iter())
            .collect();
        if m.total() - busy.len() as u32 >= count {
            out.push((s, s + hours));
            s += hours;
        } else {
            s += 1;
        }
    }
    out
}

async fn run_slots(
    bookings: Vec<(usize, u32, i64, i64)>,
    count: u32,
    hours: i64,
    after: i64,
    span: i64,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let store = SqlStore::connect(&SqlOptions {
        url,
        max_connections: 2,
        timeout: std::time::Duration::from_secs(5),
    })
    .await
    .unwrap();
    store
        .import(
            Some(hpcbot::transfer::parse_inventory(INVENTORY).unwrap()),
            Some(vec![]),
        )
        .await
        .unwrap();
    let store: Arc<dyn BookingStore> = Arc::new(store);
    let tools = Tools::new(
        store.clone(),
        Clock::fixed(base()),
        BookingLimits::default(),
    );
    let inv = store.inventory().await.unwrap();
    let owner = Owner::user("prop");
    for (model, c, start, h) in bookings {
        // Some do not fit: they are simply not made.
        let _ = tools
            .book(&owner, &inv.models()[model].name, c as i64, iv(start, h))
            .await;
    }
    let list = store.all().await.unwrap();
    let before = after + span;
    for m in inv.models() {
        let got = tools
            .slots(hpcbot::assistant::tools::SlotQuery {
                model: Some(m.name.clone()),
                count,
                duration: Duration::hours(hours),
                after: Some(base() + Duration::hours(after)),
                before: Some(base() + Duration::hours(before)),
                limit: 5,
            })
            .await
            .unwrap();
        let got: Vec<(i64, i64)> = got
            .iter()
            .map(|s| ((s.start - base()).num_hours(), (s.end - base()).num_hours()))
            .collect();
        assert_eq!(
            got,
            brute_slots(&list, m, count, hours, after, before, 5),
            "{}",
            m.name
        );
        if let Some(&(s, e)) = got.first() {
            tools
                .book(&owner, &m.name, count as i64, iv(s, e - s))
                .await
                .expect("a slot, booked at once, succeeds");
            // Put the store back as it was for the next model (other model, no effect).
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn slots_agree_with_a_brute_force_search(
        bookings in proptest::collection::vec(slot_booking(), 0..25),
        count in 1..4u32,
        hours in 1..6i64,
        after in 0..20i64,
        span in 1..60i64,
    ) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
            .block_on(run_slots(bookings, count, hours, after, span));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn booking_sequences_keep_the_rules(ops in proptest::collection::vec(op(), 1..30)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run(ops));
    }
}
