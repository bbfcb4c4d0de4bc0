//! The body of a delivery (API.md): `{"id", "type", "created_at", "data": {"booking", ...}}`,
//! built from the stored event, so every attempt of an event sends the same bytes.

use crate::assistant::tools::BookingView;
use crate::store::webhooks::StoredEvent;
use serde_json::{json, Value};

/// The JSON body of `e`.
pub fn body(e: &StoredEvent) -> Vec<u8> {
    let mut data = e.data.clone();
    if let Some(ev) = &e.booking {
        data.insert(
            "booking".into(),
            serde_json::to_value(BookingView::from(&ev.booking)).unwrap_or(Value::Null),
        );
        if e.kind.is_history() {
            data.insert("via".into(), json!(ev.via.as_str()));
            data.insert("request_id".into(), json!(ev.request_id));
        }
    }
    let v = json!({
        "id": e.id,
        "type": e.kind.as_str(),
        "created_at": e.created_at,
        "data": data,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}
