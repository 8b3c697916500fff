//! Notification preferences: on by default, switched by their owner only, and nothing but a
//! well-formed choice is saved.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(completion_emails_are_on_until_their_owner_turns_them_off);

async fn completion_emails_are_on_until_their_owner_turns_them_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let path = format!("/api/{}/preferences", ada.id);

    let (status, body) = app.call(Method::GET, &path, Some(&ada.token), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"completion_emails": true})));

    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&ada.token),
            Some(json!({"completion_emails": false})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"completion_emails": false})));
    let (_, body) = app.call(Method::GET, &path, Some(&ada.token), None).await;
    assert_eq!(body, json!({"completion_emails": false}), "saved");

    // Refused, and nothing changes: wrong shapes, a typo, another user.
    for bad in [
        json!([false]),
        json!({"completion_emails": "no"}),
        json!({"completion_email": true}),
        json!({"completion_emails": true, "also": 1}),
        json!({}),
        json!(null),
    ] {
        let (status, body) = app.call(Method::PUT, &path, Some(&ada.token), Some(bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
        assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    }
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&bob.token),
            Some(json!({"completion_emails": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app.call(Method::GET, &path, Some(&bob.token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.call(Method::DELETE, &path, Some(&ada.token), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (_, body) = app.call(Method::GET, &path, Some(&ada.token), None).await;
    assert_eq!(body, json!({"completion_emails": false}), "still what Ada chose");

    // Bob's own are untouched by Ada's.
    let (_, body) = app
        .call(
            Method::GET,
            &format!("/api/{}/preferences", bob.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(body, json!({"completion_emails": true}));
}
