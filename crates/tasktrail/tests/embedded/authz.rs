use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, User};
use crate::on_both_backends;

on_both_backends!(tokens_are_checked_and_paths_are_owned);

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

fn hs256(secret: &[u8], claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn tokens_are_checked_and_paths_are_owned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let tasks = format!("/api/{}/tasks", ada.id);
    let secret = std::fs::read(app.data_dir.join("jwt-secret")).unwrap();
    let now = chrono::Utc::now().timestamp();

    let (s, b) = app.call(Method::GET, &tasks, None, None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    for bad in [
        "not-a-jwt".to_owned(),
        hs256(
            b"another-secret-that-is-32-bytes-long!!",
            json!({"sub": ada.id, "exp": now + 600}),
        ),
        hs256(&secret, json!({"sub": ada.id, "exp": now - 3600})),
        hs256(&secret, json!({"sub": ada.id})),
        // alg none, signature stripped
        format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            ada.token.split('.').nth(1).unwrap()
        ),
        // a valid token with its payload swapped for Bob's
        format!(
            "{}.{}.{}",
            ada.token.split('.').next().unwrap(),
            bob.token.split('.').nth(1).unwrap(),
            ada.token.split('.').nth(2).unwrap()
        ),
    ] {
        let (s, b) = app.call(Method::GET, &tasks, Some(&bad), None).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // A token we signed ourselves with the right secret works: the checks above are not vacuous.
    let (s, _) = app
        .call(
            Method::GET,
            &tasks,
            Some(&hs256(&secret, json!({"sub": ada.id, "exp": now + 600}))),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // Bob's token on Ada's path: 403, whatever the method.
    for (method, path) in [
        (Method::GET, tasks.clone()),
        (Method::POST, tasks.clone()),
        (Method::GET, format!("/api/{}/audit", ada.id)),
    ] {
        let (s, b) = app
            .call(method, &path, Some(&bob.token), Some(json!({"title": "x"})))
            .await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }

    // Ada's task id on Bob's own path: 404, and nothing changes.
    let task = app.create_task(&ada, "private").await;
    let bobs_view = format!("/api/{}/tasks/{}", bob.id, task["id"]);
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"title": "hacked"}))),
        (Method::DELETE, None),
    ] {
        let (s, b) = app.call(method, &bobs_view, Some(&bob.token), body).await;
        assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    }
    let (s, b) = app
        .call(Method::PATCH, &format!("{bobs_view}/complete"), Some(&bob.token), None)
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (_, still) = app
        .call(Method::GET, &format!("{tasks}/{}", task["id"]), Some(&ada.token), None)
        .await;
    assert_eq!(
        (still["title"].as_str(), still["completed"].as_bool()),
        (Some("private"), Some(false))
    );
    let (_, bobs_list) = app
        .call(Method::GET, &format!("/api/{}/tasks", bob.id), Some(&bob.token), None)
        .await;
    assert_eq!(bobs_list, json!([]));
    assert!(app.trail(&bob).await.is_empty());
}

#[tokio::test]
async fn login_works_and_failures_are_rate_limited() {
    let app = TestApp::spawn_with(Backend::Sqlite, &["--login-failure-limit", "3", "--signup-limit", "3"]).await;
    let email = "grace@example.com";
    let (s, b) = app
        .post_anonymously("/api/auth/signup", json!({"email": email, "password": "correct horse"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = app
        .post_anonymously(
            "/api/auth/signup",
            json!({"email": "GRACE@example.com", "password": "another one"}),
        )
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = app
        .post_anonymously(
            "/api/auth/signup",
            json!({"email": "x@example.com", "password": "short"}),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let (s, b) = app
        .post_anonymously("/api/auth/login", json!({"email": email, "password": "correct horse"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let user = User {
        id: b["user_id"].as_str().unwrap().into(),
        token: b["token"].as_str().unwrap().into(),
    };
    let (s, me) = app.call(Method::GET, "/api/auth/me", Some(&user.token), None).await;
    assert_eq!((s, me["email"].as_str()), (StatusCode::OK, Some(email)));

    // Unknown user and wrong password answer alike.
    let (s1, b1) = app
        .post_anonymously(
            "/api/auth/login",
            json!({"email": "nobody@example.com", "password": "whatever1"}),
        )
        .await;
    let (s2, b2) = app
        .post_anonymously("/api/auth/login", json!({"email": email, "password": "wrong horse"}))
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_error(s1, &b1, StatusCode::UNAUTHORIZED, "unauthorized");
    app.post_anonymously("/api/auth/login", json!({"email": email, "password": "wrong horse"}))
        .await;
    app.post_anonymously("/api/auth/login", json!({"email": email, "password": "wrong horse"}))
        .await;
    let (s, b) = app
        .post_anonymously("/api/auth/login", json!({"email": email, "password": "correct horse"}))
        .await;
    assert_error(s, &b, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // Sign-ups per IP: the limit is 3; two valid ones were made (grace, and the duplicate).
    let (s, b) = app
        .post_anonymously(
            "/api/auth/signup",
            json!({"email": "third@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let response = app
        .client
        .post(format!("{}/api/auth/signup", app.base))
        .json(&json!({"email": "late@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
}

const ED25519_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAli0LofkI6cDfIDu7vIqfwVosLUyc8xV9A6WjbrRzit\n-----END PRIVATE KEY-----\n";
const ED25519_PUBLIC_X: &str = "To0Q3TtIvUvTR11P1fIPrsbCkI16HzGx_Cf0QjEwhSE";

#[tokio::test]
async fn tokens_of_an_external_provider_are_verified_through_its_jwks() {
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ED25519_PUBLIC_X, "kid": "key-1", "alg": "EdDSA", "use": "sig"}]});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/api/auth/jwks", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/api/auth/jwks",
        axum::routing::get(move || async move { axum::Json(jwks.clone()) }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let app = TestApp::spawn_with(Backend::Sqlite, &["--jwks-url", &jwks_url]).await;
    let key = EncodingKey::from_ed_pem(ED25519_PRIVATE_PEM.as_bytes()).unwrap();
    let sign = |kid: &str, claims: Value| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        encode(&header, &claims, &key).unwrap()
    };
    let exp = chrono::Utc::now().timestamp() + 600;
    let token = sign(
        "key-1",
        json!({"sub": "external-user-7", "exp": exp, "aud": "http://frontend"}),
    );
    let (s, b) = app
        .call(
            Method::POST,
            "/api/external-user-7/tasks",
            Some(&token),
            Some(json!({"title": "from better auth"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let user = User {
        id: "external-user-7".into(),
        token: token.clone(),
    };
    assert_eq!(app.wait_for_trail(&user, 1).await.len(), 1);

    let unknown_kid = sign("key-2", json!({"sub": "external-user-7", "exp": exp}));
    let (s, _) = app
        .call(Method::GET, "/api/external-user-7/tasks", Some(&unknown_kid), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let expired = sign("key-1", json!({"sub": "external-user-7", "exp": exp - 7200}));
    let (s, _) = app
        .call(Method::GET, "/api/external-user-7/tasks", Some(&expired), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// Login throttling: parallel guesses cannot outrun the failure limit; a stranger failing
/// logins on someone's email locks out only the stranger; an email too long to exist is
/// refused before any work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttling_counts_parallel_guesses_and_never_locks_out_the_owner() {
    let app = TestApp::spawn_with(Backend::Sqlite, &["--login-failure-limit", "3"]).await;
    let email = "owner@example.com";
    let (s, b) = app
        .post_anonymously("/api/auth/signup", json!({"email": email, "password": "correct horse"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // A stranger on another address (127.0.0.2 is loopback too) guesses 20 times at once.
    let stranger = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let guesses = (0..20).map(|i| {
        let (stranger, url) = (stranger.clone(), format!("{}/api/auth/login", app.base));
        async move {
            stranger
                .post(url)
                .json(&json!({"email": email, "password": format!("guess number {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let answers = futures::future::join_all(guesses).await;
    let tried = answers.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = answers.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((tried, refused), (3, 17), "{answers:?}");
    let (s, _) = app
        .post_anonymously("/api/auth/login", json!({"email": email, "password": "correct horse"}))
        .await;
    assert_eq!(s, StatusCode::OK, "the owner, on their own address, still logs in");
    let response = stranger
        .post(format!("{}/api/auth/login", app.base))
        .json(&json!({"email": email, "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger stays locked out"
    );
    assert!(response.headers().get("retry-after").is_some());

    let long = format!("{}@example.com", "a".repeat(100_000));
    let (s, b) = app
        .post_anonymously("/api/auth/login", json!({"email": long, "password": "correct horse"}))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
