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
    let (status, recipient) = invoke_api(&http, &path).await;
    assert_eq!(status, StatusCode::OK, "{recipient}");
    assert_eq!(recipient["user_id"], user.id.as_str());
    assert!(
        recipient["email"].as_str().unwrap().ends_with("@example.com"),
        "{recipient}"
    );
    assert_eq!(recipient["preferences"], json!({"completion_emails": true}));

    let (status, unknown) = invoke_api(&http, "/internal/users/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    assert_eq!(unknown["error"]["code"], "not_found", "{unknown}");
}

/// `GET` on the api through the notification service's sidecar, as notify asks. The local
/// stack resolves app ids with mDNS, and a sidecar keeps the address of a replica that has
/// left (the drills' `api2`) for up to a minute. The local Resiliency retries such a call three
/// times, resolving the app id again each time, yet every try can still draw the departed
/// address; the call then fails with Dapr's own `ERR_DIRECT_INVOKE` while the next may reach
/// the live replica. Those answers (and only those) are asked again, at most five times;
/// notify itself retries its lookup with back-off.
async fn invoke_api(http: &reqwest::Client, path: &str) -> (StatusCode, serde_json::Value) {
    for _ in 0..5 {
        let answer = http
            .get(format!("{NOTIFY_SIDECAR}/v1.0/invoke/api/method{path}"))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or(serde_json::Value::Null);
        if body["errorCode"] != "ERR_DIRECT_INVOKE" {
            return (status, body);
        }
        eprintln!("the sidecar could not reach an api replica, asking again: {body}");
    }
    panic!("notify's sidecar reached no api replica in five calls")
}
