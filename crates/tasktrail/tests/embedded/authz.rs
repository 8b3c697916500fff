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

const ISSUER: &str = "https://id.example";
const AUDIENCE: &str = "https://todo.example";

/// External tokens: signed by a key of the provider's JWKS, issued by the configured issuer for
/// the configured audience; their user is `ext:` + `sub`, never a local user.
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

    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            "--jwks-url",
            &jwks_url,
            "--jwt-issuer",
            ISSUER,
            "--jwt-audience",
            AUDIENCE,
        ],
    )
    .await;
    let key = EncodingKey::from_ed_pem(ED25519_PRIVATE_PEM.as_bytes()).unwrap();
    let sign = |kid: &str, claims: Value| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        encode(&header, &claims, &key).unwrap()
    };
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = |sub: &str| json!({"sub": sub, "exp": exp, "iss": ISSUER, "aud": AUDIENCE});
    let token = sign("key-1", claims("external-user-7"));
    let tasks = "/api/ext:external-user-7/tasks";
    let (s, b) = app
        .call(
            Method::POST,
            tasks,
            Some(&token),
            Some(json!({"title": "from better auth"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["user_id"], "ext:external-user-7");
    let user = User {
        id: "ext:external-user-7".into(),
        token: token.clone(),
    };
    assert_eq!(app.wait_for_trail(&user, 1).await.len(), 1);
    let (s, me) = app.call(Method::GET, "/api/auth/me", Some(&token), None).await;
    assert_eq!(
        (s, me["user_id"].as_str()),
        (StatusCode::OK, Some("ext:external-user-7"))
    );
    // An audience list that names us passes too.
    let listed = sign(
        "key-1",
        json!({"sub": "external-user-7", "exp": exp, "iss": ISSUER, "aud": ["https://other.example", AUDIENCE]}),
    );
    let (s, b) = app.call(Method::GET, tasks, Some(&listed), None).await;
    assert_eq!((s, b.as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{b}");

    let mut refused = vec![
        ("unknown kid", sign("key-2", claims("external-user-7"))),
        (
            "expired",
            sign(
                "key-1",
                json!({"sub": "external-user-7", "exp": exp - 7200, "iss": ISSUER, "aud": AUDIENCE}),
            ),
        ),
    ];
    for (what, iss, aud) in [
        ("wrong iss", json!("https://evil.example"), json!(AUDIENCE)),
        ("iss not a string", json!(7), json!(AUDIENCE)),
        ("wrong aud", json!(ISSUER), json!("https://other.example")),
        ("aud list without us", json!(ISSUER), json!(["https://other.example"])),
    ] {
        refused.push((
            what,
            sign(
                "key-1",
                json!({"sub": "external-user-7", "exp": exp, "iss": iss, "aud": aud}),
            ),
        ));
    }
    refused.push((
        "no aud",
        sign("key-1", json!({"sub": "external-user-7", "exp": exp, "iss": ISSUER})),
    ));
    refused.push((
        "no iss",
        sign("key-1", json!({"sub": "external-user-7", "exp": exp, "aud": AUDIENCE})),
    ));
    refused.push(("a subject too long to store", sign("key-1", claims(&"x".repeat(300)))));
    refused.push(("a control character in the subject", sign("key-1", claims("a\u{0}b"))));
    for (what, bad) in refused {
        let (s, b) = app.call(Method::GET, tasks, Some(&bad), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {b}");
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }

    // An external subject equal to a local user's id is another user: it can neither read nor
    // change the local user's tasks, and sees only its own (empty) list.
    let local = app.signup().await;
    app.create_task(&local, "local secret").await;
    let twin = sign("key-1", claims(&local.id));
    let local_tasks = format!("/api/{}/tasks", local.id);
    for (method, body) in [(Method::GET, None), (Method::POST, Some(json!({"title": "planted"})))] {
        let (s, b) = app.call(method, &local_tasks, Some(&twin), body).await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    let (s, b) = app
        .call(Method::GET, &format!("/api/{}/audit", local.id), Some(&twin), None)
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, b) = app
        .call(Method::GET, &format!("/api/ext:{}/tasks", local.id), Some(&twin), None)
        .await;
    assert_eq!((s, b), (StatusCode::OK, json!([])));
    let (_, me) = app.call(Method::GET, "/api/auth/me", Some(&twin), None).await;
    assert_eq!(
        me,
        json!({"user_id": format!("ext:{}", local.id), "email": "", "name": ""})
    );
    let (_, mine) = app.call(Method::GET, &local_tasks, Some(&local.token), None).await;
    let titles: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert_eq!(titles, ["local secret"]);
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

/// A sign-up from `forwarded_for` (an X-Forwarded-For value; None: no header): its status.
async fn signup_from(app: &TestApp, forwarded_for: Option<&str>) -> StatusCode {
    let mut request = app
        .client
        .post(format!("{}/api/auth/signup", app.base))
        .json(&json!({"email": format!("{}@example.com", uuid::Uuid::new_v4().simple()), "password": "correct horse"}));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    request.send().await.unwrap().status()
}

/// Without trusted proxies, X-Forwarded-For is the client's own say: it changes no bucket.
#[tokio::test]
async fn a_forged_forwarded_for_does_not_escape_the_per_ip_limit() {
    let app = TestApp::spawn_with(Backend::Sqlite, &["--signup-limit", "2"]).await;
    assert_eq!(signup_from(&app, Some("203.0.113.1")).await, StatusCode::CREATED);
    assert_eq!(signup_from(&app, Some("203.0.113.2")).await, StatusCode::CREATED);
    for forged in ["203.0.113.3", "198.51.100.1, 203.0.113.4", "127.0.0.2"] {
        assert_eq!(
            signup_from(&app, Some(forged)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{forged}"
        );
    }
}

/// An IPv6 client holds a whole /64: hopping between its addresses does not buy it more
/// sign-ups; the next /64 is another client.
#[tokio::test]
async fn an_ipv6_client_is_counted_by_its_64_network() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &["--signup-limit", "2", "--trusted-proxies", "127.0.0.1"],
    )
    .await;
    assert_eq!(signup_from(&app, Some("2001:db8:0:1::1")).await, StatusCode::CREATED);
    assert_eq!(signup_from(&app, Some("2001:db8:0:1::2")).await, StatusCode::CREATED);
    for hop in ["2001:db8:0:1::3", "2001:db8:0:1:dead:beef:0:1"] {
        assert_eq!(
            signup_from(&app, Some(hop)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{hop}"
        );
    }
    assert_eq!(signup_from(&app, Some("2001:db8:0:2::1")).await, StatusCode::CREATED);
}

/// Behind a trusted proxy (here 127.0.0.1, the test client) each forwarded client has its own
/// buckets, for sign-ups and failed logins; a client that rotates the left-most entry (its own
/// writing) stays in the bucket of the address the proxy appended; a malformed header counts
/// against the proxy's own address and is never an error.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            "--signup-limit",
            "2",
            "--login-failure-limit",
            "1",
            "--trusted-proxies",
            "127.0.0.1",
        ],
    )
    .await;
    assert_eq!(signup_from(&app, Some("203.0.113.1")).await, StatusCode::CREATED);
    assert_eq!(
        signup_from(&app, Some("198.51.100.9, 203.0.113.1")).await,
        StatusCode::CREATED
    );
    for rotated in ["198.51.100.10, 203.0.113.1", "198.51.100.11,203.0.113.1", "203.0.113.1"] {
        assert_eq!(
            signup_from(&app, Some(rotated)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{rotated}"
        );
    }
    assert_eq!(signup_from(&app, Some("203.0.113.2")).await, StatusCode::CREATED);
    assert_eq!(signup_from(&app, Some("2001:db8::2")).await, StatusCode::CREATED);
    // Malformed or absent: the proxy's own address (127.0.0.1) is the client, one bucket.
    assert_eq!(signup_from(&app, Some("not an address")).await, StatusCode::CREATED);
    assert_eq!(signup_from(&app, None).await, StatusCode::CREATED);
    assert_eq!(
        signup_from(&app, Some("203.0.113.9,")).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Failed logins (an unknown email fails like a wrong password): one per account and
    // client here. Another forwarded client may still try.
    let login_from = |forwarded_for: &'static str, password: &'static str| {
        app.client
            .post(format!("{}/api/auth/login", app.base))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"email": "owner@example.com", "password": password}))
            .send()
    };
    assert_eq!(
        login_from("203.0.113.5", "wrong horse").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from("198.51.100.1, 203.0.113.5", "wrong horse")
            .await
            .unwrap()
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from("203.0.113.6", "wrong horse").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}
