//! Task lists in pages: following `X-Next-Cursor` (or the `Link` header) through any sort and
//! filter gives every task once, in the list's order, even with tasks added between pages;
//! bad cursors and limits are refused; a client that does not page sees up to 1,000 as before.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApp, User, create_task_from as create};
use crate::on_both_backends;

on_both_backends!(
    paging_through_every_sort_and_filter_gives_each_task_once_in_order,
    the_next_page_is_in_the_headers_and_absent_on_the_last,
    bad_cursors_and_limits_are_refused,
    a_client_that_does_not_page_gets_1000_and_learns_there_are_more
);

async fn get(app: &TestApp, user: &User, path_and_query: &str) -> (StatusCode, HeaderMap, Value) {
    let response = app
        .client
        .get(format!("{}{path_and_query}", app.base))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

fn time(task: &Value, field: &str) -> Option<DateTime<Utc>> {
    task[field].as_str().map(|s| s.parse().unwrap())
}

/// The list is in the sort's documented order (ids break ties: created and priority newest
/// first, the others ascending).
fn assert_in_order(sort: &str, list: &[Value]) {
    let rank = |t: &Value| match t["priority"].as_str().unwrap() {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    };
    for pair in list.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (ia, ib) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
        let created = (time(a, "created_at"), -ia) >= (time(b, "created_at"), -ib);
        let ordered = match sort {
            "created" => (time(a, "created_at"), ia) > (time(b, "created_at"), ib),
            "title" => {
                let (ta, tb) = (
                    a["title"].as_str().unwrap().to_lowercase(),
                    b["title"].as_str().unwrap().to_lowercase(),
                );
                (ta.clone(), ia) < (tb.clone(), ib)
            }
            "due_date" => match (time(a, "due_date"), time(b, "due_date")) {
                (Some(da), Some(db)) => (da, ia) < (db, ib),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => ia < ib,
            },
            "priority" => rank(a) < rank(b) || (rank(a) == rank(b) && created),
            _ => unreachable!(),
        };
        assert!(ordered, "sort={sort}: {a} before {b}");
    }
}

/// Varied tasks: equal titles in different case, equal due dates, undated ones, every
/// priority, some tagged, some overdue, some completed.
async fn seed(app: &TestApp, user: &User) {
    let now = Utc::now();
    let titles = ["Alpha", "alpha", "beta", "Gamma", "delta", "ALPHA", "epsilon", "zeta"];
    let priorities = ["low", "medium", "high"];
    for i in 0..22usize {
        let due = match i % 4 {
            0 => Value::Null,
            1 => json!((now - Duration::days(2)).to_rfc3339()),
            2 => json!((now + Duration::days(3)).to_rfc3339()),
            _ => json!((now + Duration::days(i as i64)).to_rfc3339()),
        };
        let tags = if i % 3 == 0 { json!(["work"]) } else { json!([]) };
        let task = create(
            app,
            user,
            json!({"title": format!("{} {}", titles[i % titles.len()], if i % 5 == 0 { "" } else { "task" }).trim(),
                   "priority": priorities[i % 3], "due_date": due, "tags": tags}),
        )
        .await;
        if i % 5 == 1 {
            let (status, _) = app
                .call(
                    Method::PATCH,
                    &format!("/api/{}/tasks/{}/complete", user.id, task["id"]),
                    Some(&user.token),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }
}

async fn paging_through_every_sort_and_filter_gives_each_task_once_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signup().await;
    seed(&app, &user).await;
    let path = format!("/api/{}/tasks", user.id);
    let filters = [
        "",
        "&status=pending",
        "&status=completed",
        "&q=alpha",
        "&tag=work",
        "&priority=high",
        "&due=overdue",
    ];
    let mut added = 0;
    for sort in ["created", "title", "due_date", "priority"] {
        for filter in filters {
            let (status, _, whole) = get(&app, &user, &format!("{path}?sort={sort}{filter}")).await;
            assert_eq!(status, StatusCode::OK, "{whole}");
            let whole_list = whole.as_array().unwrap().clone();
            assert!(!whole_list.is_empty(), "sort={sort}{filter} matches some tasks");
            assert_in_order(sort, &whole_list);
            let expected = ids(&whole);

            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            for page_number in 0..300 {
                let after = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
                let (status, headers, page) =
                    get(&app, &user, &format!("{path}?sort={sort}{filter}&limit=3{after}")).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                assert!(page.as_array().unwrap().len() <= 3);
                seen.extend(ids(&page));
                // Tasks added between pages (one sorting first, one last, one in the middle of
                // every order) must not shift the pages still to come.
                let additions = if page_number < 2 { 3 } else { 0 };
                for (title, due) in [("Aardvark", -30), ("zzz last", 400), ("Gamma added", 3)]
                    .into_iter()
                    .take(additions)
                {
                    create(
                        &app,
                        &user,
                        json!({"title": title, "priority": "high", "tags": ["work"],
                               "due_date": (Utc::now() + Duration::days(due)).to_rfc3339()}),
                    )
                    .await;
                    added += 1;
                }
                cursor = headers.get("x-next-cursor").map(|v| v.to_str().unwrap().to_owned());
                if cursor.is_none() {
                    break;
                }
            }
            assert!(cursor.is_none(), "sort={sort}{filter}: paging ends");
            let unique: HashSet<_> = seen.iter().collect();
            assert_eq!(
                unique.len(),
                seen.len(),
                "sort={sort}{filter}: a task came twice: {seen:?}"
            );
            let of_the_original: Vec<i64> = seen.iter().copied().filter(|id| expected.contains(id)).collect();
            assert_eq!(
                of_the_original, expected,
                "sort={sort}{filter}: every task once, in order"
            );
        }
    }
    assert!(added > 0);
}

async fn the_next_page_is_in_the_headers_and_absent_on_the_last(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signup().await;
    for i in 0..5 {
        create(&app, &user, json!({"title": format!("task {i}")})).await;
    }
    let path = format!("/api/{}/tasks", user.id);
    let (_, _, all) = get(&app, &user, &format!("{path}?sort=title")).await;

    let (status, headers, first) = get(&app, &user, &format!("{path}?sort=title&limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&first), ids(&all)[..2]);
    let cursor = headers["x-next-cursor"].to_str().unwrap();
    let link = headers["link"].to_str().unwrap();
    assert_eq!(
        link,
        format!("<{path}?sort=title&limit=2&cursor={cursor}>; rel=\"next\"")
    );

    // Following the Link as it is: the next two, then the last one with no next.
    let next_url = link.trim_start_matches('<').split('>').next().unwrap();
    let (status, headers, second) = get(&app, &user, next_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&second), ids(&all)[2..4]);
    let cursor = headers["x-next-cursor"].to_str().unwrap();
    let (status, headers, last) = get(&app, &user, &format!("{path}?sort=title&limit=2&cursor={cursor}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&last), ids(&all)[4..]);
    assert!(headers.get("x-next-cursor").is_none(), "{headers:?}");
    assert!(headers.get("link").is_none(), "{headers:?}");

    // A page that ends exactly at the last task has no next either.
    let (_, headers, whole) = get(&app, &user, &format!("{path}?limit=5")).await;
    assert_eq!(whole.as_array().unwrap().len(), 5);
    assert!(headers.get("x-next-cursor").is_none());
}

async fn bad_cursors_and_limits_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signup().await;
    for i in 0..3 {
        create(&app, &user, json!({"title": format!("task {i}")})).await;
    }
    let path = format!("/api/{}/tasks", user.id);
    let (_, headers, _) = get(&app, &user, &format!("{path}?limit=1")).await;
    let created_cursor = headers["x-next-cursor"].to_str().unwrap().to_owned();

    let refused = |field: &'static str, query: String| {
        let (app, user, path) = (&app, &user, &path);
        async move {
            let (status, _, body) = get(app, user, &format!("{path}?{query}")).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
            assert_eq!(body["error"]["code"], "validation_failed", "{query}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(&format!("{field}:")), "{query}: {body}");
        }
    };
    for limit in ["0", "1001", "-1", "99999999999"] {
        refused("limit", format!("limit={limit}")).await;
    }
    // Another sort's cursor, and ones this API never made.
    for sort in ["title", "due_date", "priority"] {
        refused("cursor", format!("sort={sort}&cursor={created_cursor}")).await;
    }
    let not_json: String = b"not json".iter().map(|b| format!("{b:02x}")).collect();
    let missing_key: String = br#"{"s":"created","id":1}"#.iter().map(|b| format!("{b:02x}")).collect();
    for forged in [
        "",
        "abc",
        "zz",
        "eyJzIjoiY3JlYXRlZCJ9",
        not_json.as_str(),
        missing_key.as_str(),
    ] {
        refused("cursor", format!("cursor={forged}")).await;
    }
    // The created cursor itself still works for its own sort.
    let (status, _, page) = get(&app, &user, &format!("{path}?cursor={created_cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.as_array().unwrap().len(), 2);
    // Not a number at all: the query string does not parse (400, as for other bad params).
    let (status, _, body) = get(&app, &user, &format!("{path}?limit=ten")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn a_client_that_does_not_page_gets_1000_and_learns_there_are_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signup().await;
    let path = format!("/api/{}/tasks", user.id);
    futures::stream::iter(0..1001)
        .map(|i| {
            let (app, user) = (&app, &user);
            async move { create(app, user, json!({"title": format!("task {i}")})).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let (status, headers, first) = get(&app, &user, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first.as_array().unwrap().len(), 1000);
    let cursor = headers["x-next-cursor"].to_str().unwrap();
    let (_, headers, rest) = get(&app, &user, &format!("{path}?cursor={cursor}")).await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
    assert!(headers.get("x-next-cursor").is_none());
    let all: HashSet<i64> = ids(&first).into_iter().chain(ids(&rest)).collect();
    assert_eq!(all.len(), 1001);
}
