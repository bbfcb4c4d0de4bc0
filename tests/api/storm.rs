//! Many concurrent bookings of one slot: never more than capacity, never a device twice —
//! on SQLite, on PostgreSQL, and with two server instances sharing one PostgreSQL database.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Fires `n` concurrent single-GPU bookings of one A100 slot, spread over `apps`.
async fn storm(apps: &[&TestApp], n: usize) -> (Vec<Value>, usize) {
    let (start, end) = (tomorrow(10), tomorrow(14));
    let mut tasks = Vec::new();
    for i in 0..n {
        let app = apps[i % apps.len()];
        let (client, url) = (app.client.clone(), app.url("/api/bookings"));
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .json(&json!({"model": "A100-80GB", "count": 1, "start": start, "end": end}))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }));
    }
    let (mut ok, mut conflicts) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            (201, b) => ok.push(b),
            (409, e) => {
                assert_eq!(e["error"]["code"], "insufficient_capacity");
                conflicts += 1;
            }
            (s, body) => panic!("unexpected {s}: {body}"),
        }
    }
    (ok, conflicts)
}

fn assert_no_device_twice(ok: &[Value], capacity: usize) {
    let devices: Vec<&str> = ok
        .iter()
        .flat_map(|b| b["gpus"].as_array().unwrap())
        .map(|d| d.as_str().unwrap())
        .collect();
    let unique: HashSet<_> = devices.iter().collect();
    assert_eq!(unique.len(), devices.len(), "a device was booked twice");
    // Every request asked for one GPU: exactly the capacity can succeed.
    assert_eq!(ok.len(), capacity);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_on_sqlite() {
    let app = spawn_app().await;
    let (ok, conflicts) = storm(&[&app], 200).await;
    assert_no_device_twice(&ok, 12);
    assert_eq!(conflicts, 188);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_on_postgres() {
    let db = PgDb::new().await;
    let app = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    let (ok, conflicts) = storm(&[&app], 200).await;
    assert_no_device_twice(&ok, 12);
    assert_eq!(conflicts, 188);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_on_two_instances_sharing_postgres() {
    let db = PgDb::new().await;
    let a = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    let b = spawn_with(Spawn {
        database_url: Some(db.url.clone()),
        ..Default::default()
    })
    .await;
    let (ok, conflicts) = storm(&[&a, &b], 200).await;
    assert_no_device_twice(&ok, 12);
    assert_eq!(conflicts, 188);
    // Both instances see the same bookings.
    let q = format!(
        "/api/availability?model=A100&start={}&end={}",
        tomorrow(10).to_rfc3339(),
        tomorrow(14).to_rfc3339()
    )
    .replace('+', "%2B");
    for app in [&a, &b] {
        let v: Value = app.get(&q).await.json().await.unwrap();
        assert_eq!(v["free"], 0);
    }
}
