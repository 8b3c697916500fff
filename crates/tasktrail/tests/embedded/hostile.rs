//! Hostile input: search over non-ASCII text, and a bounded property run of arbitrary
//! requests against the api (no 5xx, and a refused request writes nothing).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    search_folds_case_beyond_ascii,
    tasks_written_before_search_text_are_found,
    arbitrary_requests_never_fail_and_refusals_write_nothing
);

async fn create(app: &TestApp, token: &str, user_id: &str, title: &str, description: &str) -> i64 {
    let (status, task) = app
        .call(
            Method::POST,
            &format!("/api/{user_id}/tasks"),
            Some(token),
            Some(json!({"title": title, "description": description})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    task["id"].as_i64().unwrap()
}

/// The titles of the tasks a search for `q` returns, sorted.
async fn search(app: &TestApp, token: &str, user_id: &str, q: &str) -> Vec<String> {
    let mut url = reqwest::Url::parse(&format!("{}/api/{user_id}/tasks", app.base)).unwrap();
    url.query_pairs_mut().append_pair("q", q).append_pair("sort", "title");
    let response = app.client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "search {q:?}");
    let tasks: Vec<Value> = response.json().await.unwrap();
    let mut titles: Vec<String> = tasks.iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect();
    titles.sort();
    titles
}

async fn search_folds_case_beyond_ascii(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let (token, id) = (ada.token.as_str(), ada.id.as_str());
    for (title, description) in [
        ("ärzte lower", ""),
        ("ÄRZTE upper", ""),
        ("visit", "Termin beim Ärztehaus"),
        ("ÉCOLE", ""),
        ("ΟΔΟΣ", ""),
        ("σοφία", ""),
        ("Straße", ""),
        ("Buy MILK", ""),
        ("bread", "from the bakery"),
    ] {
        create(&app, token, id, title, description).await;
    }
    let cases: &[(&str, &[&str])] = &[
        ("Ärzte", &["visit", "ÄRZTE upper", "ärzte lower"]),
        ("ärzte", &["visit", "ÄRZTE upper", "ärzte lower"]),
        ("ÄRZTEHAUS", &["visit"]),
        ("école", &["ÉCOLE"]),
        ("École", &["ÉCOLE"]),
        // Σ, σ and word-final ς are one letter.
        ("Σ", &["ΟΔΟΣ", "σοφία"]),
        ("ς", &["ΟΔΟΣ", "σοφία"]),
        ("οδοσ", &["ΟΔΟΣ"]),
        ("ΣΟΦΊΑ", &["σοφία"]),
        ("ß", &["Straße"]),
        ("STRAẞE", &["Straße"]),
        ("milk", &["Buy MILK"]),
        ("BAKERY", &["bread"]),
        ("a", &["bread", "visit", "Straße"]),
        ("zz", &[]),
    ];
    for (q, expected) in cases {
        let mut expected: Vec<String> = expected.iter().map(|t| t.to_string()).collect();
        expected.sort();
        assert_eq!(search(&app, token, id, q).await, expected, "search {q:?}");
    }

    // An edit moves the task's search text with it.
    let task = create(&app, token, id, "Übung", "").await;
    assert_eq!(search(&app, token, id, "ÜBUNG").await, ["Übung"]);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/{id}/tasks/{task}"),
            Some(token),
            Some(json!({"title": "Öl", "description": "ÜBERALL"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(search(&app, token, id, "übung").await, Vec::<String>::new());
    assert_eq!(search(&app, token, id, "öl").await, ["Öl"]);
    assert_eq!(search(&app, token, id, "überall").await, ["Öl"]);
}

/// Tasks from before migration 0004 have no search text: a search fills it in first.
async fn tasks_written_before_search_text_are_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let bob = app.signup().await;
    let old = create(&app, &ada.token, &ada.id, "ÄRZTE", "Σχολή").await;
    create(&app, &bob.token, &bob.id, "ärzte of bob", "").await;
    let database = db::Database::connect(&app.api_database_url(), 1).await.unwrap();
    match &database {
        db::Database::Sqlite(pools) => {
            sqlx::query("UPDATE tasks SET search_text = NULL WHERE id = $1")
                .bind(old)
                .execute(&pools.writer)
                .await
                .unwrap();
        }
        db::Database::Postgres(pools) => {
            sqlx::query("UPDATE tasks SET search_text = NULL WHERE id = $1")
                .bind(old as i32)
                .execute(&pools.writer)
                .await
                .unwrap();
        }
    }
    assert_eq!(search(&app, &ada.token, &ada.id, "ärzte").await, ["ÄRZTE"]);
    assert_eq!(search(&app, &ada.token, &ada.id, "σχολή").await, ["ÄRZTE"]);
    assert_eq!(search(&app, &bob.token, &bob.id, "ÄRZTE").await, ["ärzte of bob"]);
}

/// One generated request.
#[derive(Clone)]
struct Attempt {
    method: Method,
    path: String,
    token: Option<String>,
    content_type: &'static str,
    body: Vec<u8>,
}

/// The body as text, so that a failing case can be read and replayed.
impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|t| &t[..t.len().min(12)]))
            .field("content_type", &self.content_type)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

fn noise_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9 ]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
        Just("x".repeat(300)),
        Just("\u{0}\u{1b}[31m\r\n".to_owned()),
        Just("'; DROP TABLE tasks; --".to_owned()),
        Just("%_\\".to_owned()),
    ]
}

/// A percent-encoded path or query piece: real-looking values, encoded controls, non-UTF-8.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("2147483648".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("%00".to_owned()),
        Just("..%2F..".to_owned()),
        Just("%E2%80%AE".to_owned()),
        "[a-z0-9_.-]{0,10}",
        proptest::collection::vec(any::<u8>(), 0..12)
            .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02X}")).collect()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        noise_text().prop_map(Value::from),
        Just(json!("2026-12-01")),
        Just(json!("daily")),
        Just(json!("high")),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(field(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The real field names, and some that are not.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("title".to_owned()),
        Just("description".to_owned()),
        Just("priority".to_owned()),
        Just("tags".to_owned()),
        Just("due_date".to_owned()),
        Just("recurrence".to_owned()),
        Just("completed".to_owned()),
        Just("id".to_owned()),
        Just("user_id".to_owned()),
        "[a-z_]{1,8}",
    ]
}

/// A body the api should take, or nearly: real fields with values of the right type.
fn good_body() -> impl Strategy<Value = Vec<u8>> {
    (
        "[a-zA-Z0-9 äÄßΣ%_]{0,20}",
        proptest::option::of(noise_text()),
        proptest::option::of(proptest::sample::select(vec!["low", "medium", "high", "urgent"])),
        proptest::option::of(proptest::collection::vec("[a-z]{0,6}", 0..3)),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::sample::select(vec!["2026-12-01", "2026-13-01", "yesterday"])),
    )
        .prop_map(|(title, description, priority, tags, completed, due_date)| {
            let mut body = json!({"title": title});
            let fields = [
                ("description", description.map(Value::from)),
                ("priority", priority.map(Value::from)),
                ("tags", tags.map(Value::from)),
                ("completed", completed.map(Value::from)),
                ("due_date", due_date.map(Value::from)),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    body[name] = value;
                }
            }
            serde_json::to_vec(&body).unwrap()
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => good_body(),
        // An object of the real fields with values of any type.
        1 => proptest::collection::btree_map(field(), json_value(), 0..6)
            .prop_map(|m| serde_json::to_vec(&Value::Object(m.into_iter().collect())).unwrap()),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => Just(b"[".repeat(5000)),
        1 => Just(format!("{}1{}", "[".repeat(300), "]".repeat(300)).into_bytes()),
        1 => Just(br#"{"title": 1e99999}"#.to_vec()),
        1 => Just(br#"{"title": "a", "priority": 18446744073709551616}"#.to_vec()),
        1 => Just(b"{\"title\": \"\xff\xfe\"}".to_vec()),
        1 => Just(br#"{"title":"a","title":"b"}"#.to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

/// One of the path's own `methods` four times in five, else any.
fn method_of(methods: &[Method]) -> impl Strategy<Value = Method> + use<> {
    let any_method = proptest::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::HEAD,
    ]);
    prop_oneof![4 => proptest::sample::select(methods.to_vec()), 1 => any_method]
}

fn attempt(user_id: String, token: String, task_id: i64) -> impl Strategy<Value = Attempt> {
    let tasks = format!("/api/{user_id}/tasks");
    // Each path with the methods it has (mostly) or any method.
    let path = prop_oneof![
        method_of(&[Method::GET, Method::POST]).prop_map({
            let tasks = tasks.clone();
            move |m| (m, tasks.clone())
        }),
        // The first task, or one the run may have created.
        (
            method_of(&[Method::GET, Method::PUT, Method::PUT, Method::DELETE]),
            task_id..task_id + 6
        )
            .prop_map({
                let tasks = tasks.clone();
                move |(m, id)| (m, format!("{tasks}/{id}"))
            }),
        (method_of(&[Method::PATCH]), task_id..task_id + 6).prop_map({
            let tasks = tasks.clone();
            move |(m, id)| (m, format!("{tasks}/{id}/complete"))
        }),
        (method_of(&[Method::GET, Method::PUT, Method::DELETE]), segment()).prop_map({
            let tasks = tasks.clone();
            move |(m, s)| (m, format!("{tasks}/{s}"))
        }),
        (method_of(&[Method::PATCH]), segment()).prop_map({
            let tasks = tasks.clone();
            move |(m, s)| (m, format!("{tasks}/{s}/complete"))
        }),
        // Someone else's tasks, or a user id that is no user's.
        (
            method_of(&[Method::GET, Method::POST]),
            prop_oneof![segment(), Just("someone-else".to_owned())]
        )
            .prop_map(|(m, s)| (m, format!("/api/{s}/tasks"))),
        (
            method_of(&[Method::GET]),
            proptest::sample::select(vec!["status", "sort", "q", "tag", "priority", "zzz"]),
            segment(),
            proptest::sample::select(vec!["status", "sort", "q", "tag", "priority"]),
            segment()
        )
            .prop_map({
                let tasks = tasks.clone();
                move |(m, k1, v1, k2, v2)| (m, format!("{tasks}?{k1}={v1}&{k2}={v2}"))
            }),
        (method_of(&[Method::GET, Method::POST]), segment()).prop_map(|(m, s)| (m, format!("/api/{s}"))),
    ];
    let token = prop_oneof![
        6 => Just(Some(token)),
        1 => Just(None),
        1 => Just(Some("not.a.jwt".to_owned())),
    ];
    let content_type = proptest::sample::select(vec![
        "application/json",
        "text/plain",
        "application/json; charset=latin1",
    ]);
    (path, token, content_type, body()).prop_map(|((method, path), token, content_type, body)| Attempt {
        method,
        path,
        token,
        content_type,
        body,
    })
}

const CASES: u32 = 600;

async fn tasks_of(app: &TestApp, user: &crate::harness::User) -> Value {
    let (status, tasks) = app
        .call(Method::GET, &format!("/api/{}/tasks", user.id), Some(&user.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    tasks
}

async fn arbitrary_requests_never_fail_and_refusals_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.signup().await;
    let task = create(&app, &ada.token, &ada.id, "existing", "").await;
    // Events ada's requests caused: one per 2xx write on her tasks.
    let mut writes = 1;
    let strategy = attempt(ada.id.clone(), ada.token.clone(), task);
    // A fixed seed: CI runs the same cases every time.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: CASES,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]),
    );
    let mut before = tasks_of(&app, &ada).await;
    let (mut refused, mut accepted) = (0, 0);
    for case in 0..CASES {
        let attempt = strategy.new_tree(&mut runner).unwrap().current();
        let Ok(url) = reqwest::Url::parse(&format!("{}{}", app.base, attempt.path)) else {
            continue;
        };
        let mut request = app
            .client
            .request(attempt.method.clone(), url)
            .header("content-type", attempt.content_type)
            .body(attempt.body.clone());
        if let Some(token) = &attempt.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer = response.bytes().await.unwrap();
        assert!(
            !status.is_server_error(),
            "case {case}: {attempt:?} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
        let after = tasks_of(&app, &ada).await;
        if status.is_client_error() {
            refused += 1;
            assert_eq!(
                after, before,
                "case {case}: {attempt:?} answered {status} but changed the tasks"
            );
        } else {
            accepted += 1;
            if [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(&attempt.method) {
                writes += 1;
            } else {
                assert_eq!(after, before, "case {case}: {attempt:?} read but changed the tasks");
            }
        }
        before = after;
    }
    // Enough of both kinds that the run tested something.
    assert!(refused > CASES / 3, "{refused} refused");
    assert!(accepted > 10, "{accepted} accepted");
    let trail = app.wait_for_trail(&ada, writes).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let trail_later = app.trail(&ada).await;
    assert_eq!(trail.len(), writes, "{trail:?}");
    assert_eq!(trail_later.len(), writes);
}
