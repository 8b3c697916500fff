//! The api's internal recipient lookup, which the notification service reaches through the
//! sidecars: refused to anyone who calls the api directly, answered through Dapr service
//! invocation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::stack::*;

const NOTIFY_SIDECAR: &str = "http://127.0.0.1:3502";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_sidecar_may_ask_the_api_for_a_users_address() {
    let _turn = exclusive_stack().await;
    let http = client();
    let user = new_user(&http).await;
    let path = format!("/internal/users/{}", user.id);

    // Straight to the api's public port: without the token, with a wrong one, even with the
    // user's own bearer token.
    let (status, body) = call(&http, API, Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = call(&http, API, Method::GET, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = http
        .get(format!("{API}{path}"))
        .header("dapr-api-token", "a-guess")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // Through Dapr service invocation, as the notification service asks.
    let answer = http
        .get(format!("{NOTIFY_SIDECAR}/v1.0/invoke/api/method{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let recipient: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(recipient["user_id"], user.id.as_str());
    assert!(
        recipient["email"].as_str().unwrap().ends_with("@example.com"),
        "{recipient}"
    );
    assert_eq!(recipient["preferences"], json!({"completion_emails": true}));

    let unknown = http
        .get(format!("{NOTIFY_SIDECAR}/v1.0/invoke/api/method/internal/users/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
