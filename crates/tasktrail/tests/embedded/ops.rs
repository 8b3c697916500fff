use reqwest::{Method, StatusCode};

use crate::harness::{Backend, TestApp, fresh_postgres_database};

#[tokio::test]
async fn health_readiness_metrics_docs_and_the_page_are_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ada = app.signup().await;
    app.create_task(&ada, "counted").await;
    app.wait_for_trail(&ada, 1).await;

    let (s, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, ready) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((s, ready["ready"].as_bool()), (StatusCode::OK, Some(true)), "{ready}");

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "tasktrail_outbox_delivered_total",
        "tasktrail_outbox_backlog",
        "tasktrail_event_delivery_lag_seconds",
        "tasktrail_http_requests_total",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }

    let (s, doc) = app.call(Method::GET, "/api/docs", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for path in ["/api/{user_id}/tasks", "/api/{user_id}/audit", "/api/auth/signup"] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }

    let page = app.client.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.text().await.unwrap().contains("tasktrail"));

    let (s, body) = app.call(Method::GET, "/api/nothing/here/at/all", None, None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, body) = app.call(Method::DELETE, "/api/auth/login", None, None).await;
    assert!(s.is_client_error() && body["error"]["code"].is_string(), "{s} {body}");
}

/// Managed PostgreSQL (DigitalOcean's among them) accepts only TLS connections: a URL with
/// `sslmode=require` must give the app encrypted connections, and the app must work over them.
#[tokio::test]
async fn postgres_over_tls_when_the_url_requires_it() {
    let url = format!("{}?sslmode=require", fresh_postgres_database().await);
    let app = TestApp::spawn_on(Some(url.clone()), &[]).await;
    let ada = app.signup().await;
    app.create_task(&ada, "stored over TLS").await;
    assert_eq!(app.wait_for_trail(&ada, 1).await[0]["event_type"], "created");

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (connections, encrypted): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(connections > 0, "the app holds no connection to its database");
    assert_eq!(
        encrypted, connections,
        "some of the app's connections are not encrypted"
    );
}

/// `tasktrail migrate --database-url` (the chart's migration Job, on a read-only root
/// filesystem) applies both schemas and never creates the SQLite data directory.
#[tokio::test]
async fn migrate_with_a_database_url_leaves_the_data_directory_alone() {
    use clap::Parser;
    use tasktrail::config::{Cli, Command};

    let url = fresh_postgres_database().await;
    let data_dir = std::env::temp_dir().join(format!("tasktrail-test-{}", uuid::Uuid::new_v4().simple()));
    let cli = Cli::try_parse_from([
        "tasktrail",
        "migrate",
        "--database-url",
        &url,
        "--data-dir",
        &data_dir.display().to_string(),
    ])
    .unwrap();
    let Some(Command::Migrate(args)) = cli.command else {
        unreachable!()
    };
    tasktrail::embedded::migrate(args).await.expect("migrations apply");
    assert!(!data_dir.exists(), "migrate created {}", data_dir.display());

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for table in ["tasks", "outbox", "audit_log"] {
        let (found,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(found, "migrate did not create {table}");
    }
}

/// With `--metrics-addr`, /metrics is served there only (Prometheus text) and the main address
/// answers 404 for it; without it, the main address serves it.
#[tokio::test]
async fn metrics_can_have_an_admin_address_of_their_own() {
    use clap::Parser;
    use tasktrail::config::{Cli, Command};

    let start = |extra: &'static [&'static str]| async move {
        let argv = crate::harness::serve_argv("127.0.0.1:0", &crate::harness::fresh_dir(), None, extra);
        let Some(Command::Serve(args)) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        tasktrail::embedded::start(args).await.expect("app starts")
    };
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };

    let apart = start(&["--metrics-addr", "127.0.0.1:0"]).await;
    let admin = apart.metrics_addr.expect("a metrics address");
    assert_ne!(admin, apart.addr);
    let (status, _) = get(format!("http://{}/healthz", apart.addr)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = get(format!("http://{admin}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("# TYPE tasktrail_http_requests_total counter"), "{text}");
    let (status, body) = get(format!("http://{}/metrics", apart.addr)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains("tasktrail_"), "{body}");
    let (status, _) = get(format!("http://{admin}/healthz")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the admin address serves metrics only");

    let together = start(&[]).await;
    assert_eq!(together.metrics_addr, None);
    let (status, text) = get(format!("http://{}/metrics", together.addr)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("tasktrail_http_requests_total"), "{text}");

    apart.shutdown();
    apart.wait().await.unwrap();
    assert!(
        reqwest::Client::new()
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .is_err(),
        "the metrics listener stops with the server"
    );
}
