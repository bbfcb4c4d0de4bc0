//! `auth = token`: bearer tokens name users; another user's session or booking is 404;
//! admin routes need the admin role.

use crate::helpers::*;
use hpcbot::store::users::Role;
use serde_json::{json, Value};

struct Token(String);

async fn call(
    app: &TestApp,
    t: Option<&Token>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.client.request(method, app.url(path));
    if let Some(t) = t {
        r = r.bearer_auth(&t.0);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn tokens_name_users_and_keep_them_apart() {
    use reqwest::Method as M;
    let app = spawn_with(Spawn {
        settings: vec![("auth", "token".into())],
        ..Default::default()
    })
    .await;
    let add = |n: &'static str, r| {
        let users = app.state.users.clone();
        async move {
            Token(
                users
                    .add_user(n, r, &hpcbot::domain::ProjectName::default_project(), 0)
                    .await
                    .unwrap(),
            )
        }
    };
    let (ann, bob, root) = (
        add("ann", Role::User).await,
        add("bob", Role::User).await,
        add("root", Role::Admin).await,
    );

    let res = call(
        &app,
        None,
        M::POST,
        "/api/chat",
        Some(json!({"message": "hi"})),
    )
    .await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    expect_error(res, 401, "unauthorized").await;
    expect_error(
        call(
            &app,
            Some(&Token("hpc_nope".into())),
            M::GET,
            "/api/bookings",
            None,
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    expect_error(
        call(&app, None, M::GET, "/v1/models", None).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        call(&app, None, M::GET, "/health", None).await.status(),
        200
    );
    assert_eq!(
        call(&app, None, M::GET, "/api/openapi.json", None)
            .await
            .status(),
        200
    );

    let chat: Value = call(
        &app,
        Some(&ann),
        M::POST,
        "/api/chat",
        Some(json!({"message": "hello"})),
    )
    .await
    .json()
    .await
    .unwrap();
    let sid = chat["session_id"].as_str().unwrap();
    let booked = call(
        &app,
        Some(&ann),
        M::POST,
        "/api/bookings",
        Some(json!({"model": "L40S", "count": 1, "start": tomorrow(9), "end": tomorrow(10)})),
    )
    .await;
    assert_eq!(booked.status(), 201);
    let b: Value = booked.json().await.unwrap();
    let id = b["id"].as_str().unwrap();

    let mine: Value = call(&app, Some(&ann), M::GET, "/api/bookings", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["bookings"][0]["id"], id);
    let theirs: Value = call(&app, Some(&bob), M::GET, "/api/bookings", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(theirs["bookings"].as_array().unwrap().is_empty());
    expect_error(
        call(
            &app,
            Some(&bob),
            M::DELETE,
            &format!("/api/bookings/{id}"),
            None,
        )
        .await,
        404,
        "booking_not_found",
    )
    .await;
    expect_error(
        call(
            &app,
            Some(&bob),
            M::GET,
            &format!("/api/sessions/{sid}"),
            None,
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    expect_error(
        call(
            &app,
            Some(&bob),
            M::POST,
            "/api/chat",
            Some(json!({"message": "hi", "session_id": sid})),
        )
        .await,
        404,
        "session_not_found",
    )
    .await;
    assert_eq!(
        call(
            &app,
            Some(&ann),
            M::GET,
            &format!("/api/sessions/{sid}"),
            None
        )
        .await
        .status(),
        200
    );

    expect_error(
        call(&app, Some(&ann), M::GET, "/debug/requests", None).await,
        403,
        "forbidden",
    )
    .await;
    expect_error(
        call(&app, Some(&ann), M::GET, "/api/admin/bookings", None).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        call(&app, Some(&root), M::GET, "/debug/requests", None)
            .await
            .status(),
        200
    );
    let all: Value = call(&app, Some(&root), M::GET, "/api/admin/bookings", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["bookings"][0]["id"], id);
    assert_eq!(
        call(
            &app,
            Some(&ann),
            M::DELETE,
            &format!("/api/bookings/{id}"),
            None
        )
        .await
        .status(),
        200
    );
}
