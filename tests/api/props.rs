//! Property: random sequences of book/cancel never double-book a device, never exceed a
//! model's capacity, and availability equals capacity minus the overlapping bookings.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hpcbot::assistant::tools::Tools;
use hpcbot::domain::booking::{check_against, BookingLimits};
use hpcbot::domain::{BookingStatus, Clock, Interval, Owner};
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
                    })
                    .await;
                match r {
                    Ok(b) => made.push(b.id),
                    Err(StoreError::InsufficientCapacity { free, total, .. }) => {
                        assert!(free < count, "refused although {free} >= {count} were free");
                        assert_eq!(total, m.total());
                        let busy = store.busy(&m.name, &interval).await.unwrap();
                        let devices: std::collections::HashSet<_> =
                            busy.iter().flat_map(|b| b.gpus.iter()).collect();
                        assert_eq!(free, m.total() - devices.len() as u32);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Cancel(i) if !made.is_empty() => {
                let id = made[i % made.len()].clone();
                let b = store.cancel(&owner, &id).await.unwrap();
                assert_eq!(b.status, BookingStatus::Cancelled);
            }
            Op::Cancel(_) => {}
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn booking_sequences_keep_the_rules(ops in proptest::collection::vec(op(), 1..30)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run(ops));
    }
}
