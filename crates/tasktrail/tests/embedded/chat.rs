//! The chat assistant and its MCP tools, end to end: the offline assistant, a scripted
//! OpenAI-compatible model, a real MCP client over HTTP, persistence, idempotency, isolation.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, Utc, Weekday};
use reqwest::{Method, StatusCode};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::fake_llm::{FakeLlm, Scripted, text, tool_calls};
use crate::harness::*;
use crate::on_both_backends;

async fn chat(app: &TestApp, user: &User, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/api/{}/chat", user.id),
        Some(&user.token),
        Some(body),
    )
    .await
}

/// The assistant's reply to the next message of a conversation.
async fn say(app: &TestApp, user: &User, conversation: &str, message: &str) -> Value {
    chat(app, user, json!({"conversation_id": conversation, "message": message}))
        .await
        .1
}

/// An app whose assistant is the scripted model `llm`, with `extra` flags.
async fn app_with_model(backend: Backend, llm: &FakeLlm, extra: &[&str]) -> TestApp {
    let mut args = vec!["--openai-api-key", "k", "--openai-base-url", &llm.base_url];
    args.extend_from_slice(extra);
    TestApp::spawn_with(backend, &args).await
}

async fn conversations(app: &TestApp, user: &User) -> Value {
    let (_, list) = app
        .call(
            Method::GET,
            &format!("/api/{}/conversations", user.id),
            Some(&user.token),
            None,
        )
        .await;
    list
}

/// A model that takes `delay` to ask for `add_task("buy milk")`, then says it added it.
async fn slowly_adding_milk(delay: Duration) -> FakeLlm {
    FakeLlm::start(vec![
        Scripted::Slow(delay, tool_calls(&[("add_task", json!({"title": "buy milk"}))])),
        Scripted::Answer(text("Added \"buy milk\".")),
    ])
    .await
}

async fn tasks(app: &TestApp, user: &User) -> Vec<Value> {
    let (status, body) = app
        .call(Method::GET, &format!("/api/{}/tasks", user.id), Some(&user.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn tools_used(reply: &Value) -> Vec<&str> {
    reply["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tool"].as_str().unwrap())
        .collect()
}

/// With no model configured the offline assistant answers, says so, and its changes are real
/// task changes with their events in the trail.
async fn the_offline_assistant_manages_tasks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signup().await;

    let (status, reply) = chat(&app, &user, json!({"message": "add buy milk"})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(
        reply["response"].as_str().unwrap().contains("offline assistant"),
        "{reply}"
    );
    assert_eq!(tools_used(&reply), ["add_task"]);
    assert_eq!(reply["tool_calls"][0]["result"]["status"], "created");
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    let listed = tasks(&app, &user).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["title"], "buy milk");

    let reply = say(&app, &user, &conversation, "add milk the cow").await;
    assert_eq!(tools_used(&reply), ["add_task"]);
    assert!(
        !reply["response"].as_str().unwrap().contains("offline assistant"),
        "introduces itself once: {reply}"
    );

    // Two tasks match "milk": it asks instead of guessing, and changes nothing.
    let reply = say(&app, &user, &conversation, "complete the milk task").await;
    assert!(reply["response"].as_str().unwrap().contains("Which one"), "{reply}");
    assert!(!tools_used(&reply).contains(&"complete_task"));

    let reply = say(&app, &user, &conversation, "complete buy milk").await;
    assert_eq!(tools_used(&reply), ["list_tasks", "complete_task"], "{reply}");
    let reply = say(&app, &user, &conversation, "show my pending tasks").await;
    let listing = reply["response"].as_str().unwrap();
    assert!(
        listing.contains("milk the cow") && !listing.contains("buy milk"),
        "{listing}"
    );
    let reply = say(&app, &user, &conversation, "delete milk the cow").await;
    assert_eq!(
        reply["tool_calls"].as_array().unwrap().last().unwrap()["result"]["status"],
        "deleted",
        "{reply}"
    );

    let trail = app.wait_for_trail(&user, 4).await;
    assert_eq!(event_types(&trail), ["created", "created", "completed", "deleted"]);

    let (status, history) = app
        .call(
            Method::GET,
            &format!("/api/{}/conversations/{conversation}/messages", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        12,
        "six turns, two messages each"
    );
    assert_eq!(history["messages"][0]["role"], "user");
    assert_eq!(history["messages"][0]["content"], "add buy milk");
    assert_eq!(history["messages"][1]["tool_calls"][0]["tool"], "add_task");
    let list = conversations(&app, &user).await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(list["conversations"][0]["title"], "add buy milk");
}

on_both_backends!(the_offline_assistant_manages_tasks);

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("not a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// The last task listed with this title.
fn titled<'a>(listed: &'a [Value], title: &str) -> &'a Value {
    listed
        .iter()
        .find(|t| t["title"] == title)
        .unwrap_or_else(|| panic!("no task {title:?} in {listed:?}"))
}

/// The first `weekday` after `day` (a week on when it is that day).
fn next(weekday: Weekday, day: chrono::NaiveDate) -> chrono::NaiveDate {
    (1..=7)
        .map(|n| day + TimeDelta::days(n))
        .find(|d| d.weekday() == weekday)
        .unwrap()
}

/// The offline assistant reads when a task is due, how it repeats and when to remind, in UTC,
/// creates the task with them, says what it set, and sets a reminder on an existing task.
async fn the_offline_assistant_understands_dates_and_reminders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.signup().await;
    let today = Utc::now().date_naive();
    let midnight = |day: chrono::NaiveDate| day.and_time(NaiveTime::MIN).and_utc();

    let (status, reply) = chat(&app, &user, json!({"message": "add call mom tomorrow at 5pm"})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    let tomorrow_5pm = midnight(today + TimeDelta::days(1)) + TimeDelta::hours(17);
    let answer = reply["response"].as_str().unwrap();
    assert!(
        answer.starts_with("Added \"call mom\"")
            && answer.contains(&format!("due {}", tomorrow_5pm.format("%a %-d %b")))
            && answer.contains("17:00 UTC"),
        "{answer}"
    );
    assert_eq!(reply["tool_calls"][0]["arguments"]["title"], "call mom");

    say(&app, &user, &conversation, "add stand-up every monday").await;
    say(&app, &user, &conversation, "add pay rent every month").await;
    let reply = say(
        &app,
        &user,
        &conversation,
        "add dentist on friday at 9:30 remind me 30 minutes before",
    )
    .await;
    assert!(
        reply["response"]
            .as_str()
            .unwrap()
            .contains("reminder 30 minutes before"),
        "{reply}"
    );
    say(&app, &user, &conversation, "add report due 2027-12-05").await;

    let listed = tasks(&app, &user).await;
    assert_eq!(listed.len(), 5, "{listed:?}");
    let call_mom = titled(&listed, "call mom");
    assert_eq!(time(&call_mom["due_date"]), tomorrow_5pm);
    assert_eq!(call_mom["recurrence"], Value::Null);

    let stand_up = titled(&listed, "stand-up");
    assert_eq!(stand_up["recurrence"], "weekly");
    assert_eq!(time(&stand_up["due_date"]), midnight(next(Weekday::Mon, today)));

    let rent = titled(&listed, "pay rent");
    assert_eq!(rent["recurrence"], "monthly");
    assert_eq!(rent["due_date"], Value::Null);

    let dentist = titled(&listed, "dentist");
    let due = time(&dentist["due_date"]);
    assert_eq!(
        (due.weekday(), due.time()),
        (Weekday::Fri, NaiveTime::from_hms_opt(9, 30, 0).unwrap())
    );
    assert!(
        due.date_naive() > today - TimeDelta::days(1) && due.date_naive() <= today + TimeDelta::days(7),
        "{due}"
    );
    assert_eq!(dentist["remind_before_minutes"], 30);
    assert_eq!(time(&dentist["remind_at"]), due - TimeDelta::minutes(30));

    let report = titled(&listed, "report");
    assert_eq!(time(&report["due_date"]).to_rfc3339(), "2027-12-05T00:00:00+00:00");

    // A reminder on an existing task, named by words of its title.
    let reply = say(&app, &user, &conversation, "remind me about the dentist 1 hour before").await;
    assert_eq!(tools_used(&reply), ["list_tasks", "update_task"], "{reply}");
    assert!(reply["response"].as_str().unwrap().contains("1 hour before"), "{reply}");
    let listed = tasks(&app, &user).await;
    let dentist = titled(&listed, "dentist");
    assert_eq!(dentist["remind_before_minutes"], 60);
    assert_eq!(time(&dentist["remind_at"]), due - TimeDelta::hours(1));

    // A reminder needs a due date: the API's refusal is the answer, and nothing changes.
    let reply = say(&app, &user, &conversation, "remind me about pay rent 10 minutes before").await;
    assert!(
        reply["response"].as_str().unwrap().starts_with("I couldn't do that"),
        "{reply}"
    );
    assert_eq!(titled(&tasks(&app, &user).await, "pay rent")["remind_at"], Value::Null);

    // An unreadable time is a question, not a task titled with it.
    let reply = say(&app, &user, &conversation, "add gym every blue moon").await;
    assert!(tools_used(&reply).is_empty(), "{reply}");
    assert!(reply["response"].as_str().unwrap().contains("every day"), "{reply}");
    assert_eq!(tasks(&app, &user).await.len(), 5);
}

on_both_backends!(the_offline_assistant_understands_dates_and_reminders);

/// A model sets a reminder through the tools, sees it in the list, and clears it with null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_sets_and_clears_a_reminder_through_the_tools() {
    let llm = FakeLlm::start(vec![
        Scripted::Answer(tool_calls(&[(
            "add_task",
            json!({"title": "dentist", "due_date": "2027-01-08T09:30:00Z", "remind_before_minutes": 30}),
        )])),
        Scripted::Answer(tool_calls(&[("list_tasks", json!({}))])),
        Scripted::Answer(text("Added \"dentist\" with a reminder at 09:00.")),
        Scripted::Answer(tool_calls(&[(
            "update_task",
            json!({"task_id": 1, "remind_before_minutes": null}),
        )])),
        Scripted::Answer(text("Reminder removed.")),
    ])
    .await;
    let app = app_with_model(Backend::Sqlite, &llm, &[]).await;
    let user = app.signup().await;

    let (status, reply) = chat(
        &app,
        &user,
        json!({"message": "dentist on 8 Jan at 9:30, remind me half an hour before"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(tools_used(&reply), ["add_task", "list_tasks"], "{reply}");
    let listed = tasks(&app, &user).await;
    assert_eq!(listed[0]["id"], 1);
    assert_eq!(listed[0]["remind_at"], "2027-01-08T09:00:00Z");
    assert_eq!(listed[0]["remind_before_minutes"], 30);
    // The model read the reminder back from list_tasks.
    let seen: Value = serde_json::from_str(
        llm.requests()[2]["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(seen[0]["remind_at"], "2027-01-08T09:00:00Z");
    assert_eq!(seen[0]["remind_before_minutes"], 30);
    // It was told today's date, to turn "tomorrow" into a time, and that times are UTC.
    let system = llm.requests()[0]["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(
        system.contains(&Utc::now().format("It is now %Y-%m-%dT").to_string()) && system.contains("UTC"),
        "{system}"
    );
    // The tools it was offered say what the reminder fields are.
    let add = &llm.requests()[0]["tools"][0]["function"];
    assert_eq!(add["name"], "add_task");
    assert!(add["parameters"]["properties"]["remind_before_minutes"]["description"].is_string());

    let conversation = reply["conversation_id"].as_str().unwrap();
    let reply = say(&app, &user, conversation, "no reminder after all").await;
    assert_eq!(reply["tool_calls"][0]["result"]["status"], "updated", "{reply}");
    let listed = tasks(&app, &user).await;
    assert_eq!(listed[0]["remind_at"], Value::Null);
    assert_eq!(listed[0]["remind_before_minutes"], Value::Null);
    assert_eq!(listed[0]["due_date"], "2027-01-08T09:30:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chat_input_is_a_4xx_and_changes_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let user = app.signup().await;
    for (body, status) in [
        (json!({"message": "   "}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"message": "x".repeat(4001)}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"message": 5}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"text": "add milk"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"message": "add milk", "conversation_id": "no-such-conversation"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (got, answer) = chat(&app, &user, body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    assert!(tasks(&app, &user).await.is_empty());
    let list = conversations(&app, &user).await;
    assert!(list["conversations"].as_array().unwrap().is_empty());
}

/// A model's tool calls go through the task service; a tool call the model repeats within the
/// turn runs once; the model sees the tools, the system prompt and the tool results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_drives_the_tools_and_a_repeated_call_runs_once() {
    let add = ("add_task", json!({"title": "buy milk"}));
    let llm = FakeLlm::start(vec![
        Scripted::Answer(tool_calls(&[add.clone(), add.clone()])),
        Scripted::Answer(tool_calls(&[add])),
        Scripted::Answer(text("Added \"buy milk\".")),
        Scripted::Answer(text("It is task 1.")),
    ])
    .await;
    let app = app_with_model(Backend::Sqlite, &llm, &[]).await;
    let user = app.signup().await;

    let (status, reply) = chat(&app, &user, json!({"message": "please remember to buy milk"})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["response"], "Added \"buy milk\".");
    assert_eq!(tools_used(&reply), ["add_task"], "one call recorded: {reply}");
    assert_eq!(
        tasks(&app, &user).await.len(),
        1,
        "one task, however often the model asked"
    );
    assert_eq!(event_types(&app.wait_for_trail(&user, 1).await), ["created"]);

    let requests = llm.requests();
    assert_eq!(requests.len(), 3);
    let tool_names: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tool_names,
        [
            "add_task",
            "list_tasks",
            "search_tasks",
            "complete_task",
            "delete_task",
            "update_task"
        ]
    );
    assert_eq!(requests[0]["messages"][0]["role"], "system");
    assert!(requests[0]["messages"][0]["content"].as_str().unwrap().contains("ask"));
    assert_eq!(
        requests[0]["messages"].as_array().unwrap().last().unwrap()["content"],
        "please remember to buy milk"
    );
    let tool_results: Vec<&Value> = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(tool_results.len(), 2);
    let first: Value = serde_json::from_str(tool_results[0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(first["status"], "created");
    assert_eq!(
        tool_results[1]["content"], tool_results[0]["content"],
        "the repeat got the first result"
    );
}

/// The model's failure is a 502, its silence a 504; neither leaves a task or a conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_failure_or_timeout_is_a_clear_error_and_changes_nothing() {
    let llm = FakeLlm::start(vec![
        Scripted::Fail(StatusCode::INTERNAL_SERVER_ERROR),
        Scripted::Slow(Duration::from_secs(5), text("too late")),
    ])
    .await;
    let app = app_with_model(Backend::Sqlite, &llm, &["--chat-timeout", "1s"]).await;
    let user = app.signup().await;

    let (status, body) = chat(&app, &user, json!({"message": "add buy milk"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_failed");
    assert!(
        !body.to_string().contains("scripted failure"),
        "the model server's error body is logged, not passed on: {body}"
    );
    let (status, body) = chat(&app, &user, json!({"message": "add buy milk"})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");

    assert!(tasks(&app, &user).await.is_empty());
    let list = conversations(&app, &user).await;
    assert!(list["conversations"].as_array().unwrap().is_empty(), "{list}");
}

/// A client retrying a chat request with the same Idempotency-Key gets the first answer; the
/// task is created once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_creates_one_task() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let user = app.signup().await;
    let send = || async {
        let response = app
            .client
            .post(format!("{}/api/{}/chat", app.base, user.id))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", "7d1f0a8e-retry")
            .json(&json!({"message": "add buy milk"}))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let (first_status, first) = send().await;
    let (second_status, second) = send().await;
    assert_eq!(first_status, StatusCode::OK, "{first}");
    assert_eq!(second_status, StatusCode::OK, "{second}");
    assert_eq!(first, second);
    assert_eq!(tasks(&app, &user).await.len(), 1);
    // Without the key the same message is a new request.
    chat(&app, &user, json!({"message": "add buy milk"})).await;
    assert_eq!(tasks(&app, &user).await.len(), 2);
}

/// Chat and MCP act only for the token's user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_token_reaches_nothing_through_chat_or_mcp() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = app.signup().await;
    let stranger = app.signup().await;
    let task = app.create_task(&owner, "owner's secret").await;
    let (_, reply) = chat(&app, &owner, json!({"message": "add another"})).await;
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();

    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/{}/chat", owner.id),
            Some(&stranger.token),
            Some(json!({"message": "list"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/{}/conversations", owner.id),
            Some(&stranger.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/{}/conversations/{conversation}/messages", stranger.id),
            Some(&stranger.token),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another user's conversation id is unknown to the stranger"
    );
    let (status, _) = chat(
        &app,
        &stranger,
        json!({"conversation_id": conversation, "message": "list"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, reply) = chat(&app, &stranger, json!({"message": format!("complete {}", task["id"])})).await;
    assert!(reply["tool_calls"][0]["result"]["error"].is_string(), "{reply}");
    let (_, reply) = chat(&app, &stranger, json!({"message": "show my tasks"})).await;
    assert!(!reply["response"].as_str().unwrap().contains("secret"), "{reply}");

    let mcp = mcp_client(&app, &stranger.token).await;
    let result = mcp
        .call_tool(
            CallToolRequestParams::new("complete_task")
                .with_arguments(json!({"task_id": task["id"]}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let result = mcp
        .call_tool(
            CallToolRequestParams::new("list_tasks")
                .with_arguments(json!({"user_id": owner.id}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        result.is_error,
        Some(true),
        "a user_id argument must be the caller's: {result:?}"
    );
    let owners_tasks = tasks(&app, &owner).await;
    assert_eq!(owners_tasks.len(), 2);
    assert!(owners_tasks.iter().all(|t| t["completed"] == false));
}

async fn mcp_client(app: &TestApp, token: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.base)).auth_header(token),
    );
    ().serve(transport).await.expect("MCP initialize")
}

fn structured(result: &rmcp::model::CallToolResult) -> Value {
    let text = result.content[0].as_text().expect("text content").text.clone();
    serde_json::from_str(&text).unwrap()
}

/// A standard MCP client over streamable HTTP: initialize, list the tools, call each one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_lists_and_calls_every_tool() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let user = app.signup().await;

    let response = app
        .client
        .post(format!("{}/mcp", app.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .post(format!("{}/mcp", app.base))
        .bearer_auth("not-a-token")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let mcp = mcp_client(&app, &user.token).await;
    let mut names: Vec<String> = mcp
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "add_task",
            "complete_task",
            "delete_task",
            "list_tasks",
            "search_tasks",
            "update_task"
        ]
    );

    let call = |name: &'static str, arguments: Value| {
        let mcp = &mcp;
        async move {
            mcp.call_tool(CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone()))
                .await
                .unwrap()
        }
    };
    let added = call("add_task", json!({"title": "buy milk", "description": "2 litres"})).await;
    let added = structured(&added);
    assert_eq!(added["status"], "created");
    assert_eq!(added["title"], "buy milk");
    let id = added["task_id"].clone();
    call("add_task", json!({"title": "walk the dog"})).await;

    let listed = structured(&call("list_tasks", json!({"status": "pending"})).await);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        listed[1],
        json!({"id": id, "title": "buy milk", "completed": false,
               "priority": "medium", "tags": [], "due_date": null, "recurrence": null,
               "remind_at": null, "remind_before_minutes": null})
    );
    let found = structured(&call("search_tasks", json!({"query": "MILK"})).await);
    assert_eq!(found.as_array().unwrap().len(), 1);
    let updated = structured(&call("update_task", json!({"task_id": id, "title": "buy oat milk"})).await);
    assert_eq!(updated["status"], "updated");
    assert_eq!(updated["title"], "buy oat milk");
    let completed = structured(&call("complete_task", json!({"task_id": id})).await);
    assert_eq!(completed["status"], "completed");
    let again = structured(&call("complete_task", json!({"task_id": id})).await);
    assert_eq!(again["status"], "already_completed");
    let deleted = structured(&call("delete_task", json!({"task_id": id})).await);
    assert_eq!(deleted["status"], "deleted");

    // Failures are tool errors with a message, not protocol errors.
    let missing = call("delete_task", json!({"task_id": id})).await;
    assert_eq!(missing.is_error, Some(true));
    assert!(missing.content[0].as_text().unwrap().text.contains("no such task"));
    let invalid = call("add_task", json!({"title": ""})).await;
    assert_eq!(invalid.is_error, Some(true), "{invalid:?}");

    // A reminder: set relative to the due date, listed with the time it goes out, refused after
    // the due date, cleared by null.
    let dentist = structured(
        &call(
            "add_task",
            json!({"title": "dentist", "due_date": "2027-01-08T09:30:00Z", "remind_before_minutes": 45}),
        )
        .await,
    );
    let found = structured(&call("search_tasks", json!({"query": "dentist"})).await);
    assert_eq!(found[0]["remind_at"], "2027-01-08T08:45:00Z");
    assert_eq!(found[0]["remind_before_minutes"], 45);
    let late = call(
        "update_task",
        json!({"task_id": dentist["task_id"], "remind_at": "2027-01-09T00:00:00Z"}),
    )
    .await;
    assert_eq!(late.is_error, Some(true), "{late:?}");
    assert!(
        late.content[0].as_text().unwrap().text.contains("remind_at"),
        "{late:?}"
    );
    call(
        "update_task",
        json!({"task_id": dentist["task_id"], "remind_before_minutes": null}),
    )
    .await;
    let found = structured(&call("search_tasks", json!({"query": "dentist"})).await);
    assert_eq!(found[0]["remind_at"], Value::Null);
    assert_eq!(found[0]["remind_before_minutes"], Value::Null);

    let trail = app.wait_for_trail(&user, 7).await;
    assert_eq!(
        event_types(&trail),
        [
            "created",
            "created",
            "updated",
            "completed",
            "deleted",
            "created",
            "updated"
        ]
    );
    mcp.cancel().await.unwrap();
}

/// The server keeps no chat state: after a restart the conversation is all there and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_a_conversation() {
    let dir = fresh_dir();
    let mut server = ServerProcess::start(&dir, None).await;
    let client = reqwest::Client::new();
    let user = signup(&client, &server.base).await;
    let (_, reply) = call(
        &client,
        &server.base,
        Method::POST,
        &format!("/api/{}/chat", user.id),
        Some(&user.token),
        Some(json!({"message": "add buy milk"})),
    )
    .await;
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    server.terminate(Duration::from_secs(10)).await;

    let server = ServerProcess::start(&dir, None).await;
    let messages_path = format!("/api/{}/conversations/{conversation}/messages", user.id);
    let (status, history) = call(
        &client,
        &server.base,
        Method::GET,
        &messages_path,
        Some(&user.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);
    let (status, reply) = call(
        &client,
        &server.base,
        Method::POST,
        &format!("/api/{}/chat", user.id),
        Some(&user.token),
        Some(json!({"conversation_id": conversation, "message": "show my tasks"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["response"].as_str().unwrap().contains("buy milk"), "{reply}");
    let (_, history) = call(
        &client,
        &server.base,
        Method::GET,
        &messages_path,
        Some(&user.token),
        None,
    )
    .await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 4);
}

/// Chat turns and MCP requests are limited per user: past the limit a 429 with Retry-After,
/// nothing stored, and another user is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_mcp_are_limited_per_user() {
    let app = TestApp::spawn_with(Backend::Sqlite, &["--chat-limit", "2", "--mcp-limit", "3"]).await;
    let (ada, bob) = (app.signup().await, app.signup().await);
    for i in 0..2 {
        let (s, b) = chat(&app, &ada, json!({"message": format!("add limited {i}")})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let response = app
        .client
        .post(format!("{}/api/{}/chat", app.base, ada.id))
        .bearer_auth(&ada.token)
        .json(&json!({"message": "add one too many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(tasks(&app, &ada).await.len(), 2, "the refused turn changed nothing");
    let (_, list) = app
        .call(
            Method::GET,
            &format!("/api/{}/conversations", ada.id),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 2);
    let (s, b) = chat(&app, &bob, json!({"message": "add bob's"})).await;
    assert_eq!(s, StatusCode::OK, "another user is not limited: {b}");

    let mcp = |user: &User| {
        app.client
            .post(format!("{}/mcp", app.base))
            .bearer_auth(&user.token)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .send()
    };
    for _ in 0..3 {
        assert_ne!(mcp(&ada).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let refused = mcp(&ada).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("retry-after").is_some());
    assert_ne!(mcp(&bob).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

on_both_backends!(
    a_turn_longer_than_the_request_timeout_is_answered,
    a_turn_goes_on_when_the_client_goes_away,
    a_shutdown_waits_for_a_turn_whose_client_went_away,
    an_idempotency_key_is_forgotten_after_a_day
);

/// A chat turn may take longer than the request timeout that bounds every other request (up to
/// the turn timeout): the client gets the answer, not a 408 with the turn cut short.
async fn a_turn_longer_than_the_request_timeout_is_answered(backend: Backend) {
    let llm = slowly_adding_milk(Duration::from_millis(2500)).await;
    let app = app_with_model(backend, &llm, &["--chat-timeout", "10s", "--request-timeout", "1s"]).await;
    let user = app.signup().await;

    let (status, reply) = chat(&app, &user, json!({"message": "add buy milk"})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["response"], "Added \"buy milk\".");
    assert_eq!(tools_used(&reply), ["add_task"]);
    let conversation = reply["conversation_id"].as_str().unwrap();
    let (_, history) = app
        .call(
            Method::GET,
            &format!("/api/{}/conversations/{conversation}/messages", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 2, "{history}");
    assert_eq!(tasks(&app, &user).await.len(), 1);
}

/// The client gives up mid-turn: the turn still runs to its end and is stored, and a retry
/// with the same Idempotency-Key gets its answer (409 only while it is still running).
async fn a_turn_goes_on_when_the_client_goes_away(backend: Backend) {
    let llm = slowly_adding_milk(Duration::from_millis(1500)).await;
    let app = app_with_model(backend, &llm, &[]).await;
    let user = app.signup().await;
    let send = |timeout: Duration| {
        app.client
            .post(format!("{}/api/{}/chat", app.base, user.id))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", "client-went-away")
            .json(&json!({"message": "add buy milk"}))
            .timeout(timeout)
            .send()
    };
    let gone = send(Duration::from_millis(300)).await;
    assert!(gone.is_err_and(|e| e.is_timeout()), "the client was meant to give up");

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let reply = loop {
        let response = send(Duration::from_secs(10)).await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        match status {
            StatusCode::OK => break body,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "conflict");
                assert!(
                    std::time::Instant::now() < deadline,
                    "the key is still claimed 15 s later: the turn was abandoned"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("{other} {body}"),
        }
    };
    assert_eq!(reply["response"], "Added \"buy milk\".", "{reply}");
    assert_eq!(tools_used(&reply), ["add_task"]);
    assert_eq!(llm.requests().len(), 2, "the retries did not run the turn again");
    assert_eq!(tasks(&app, &user).await.len(), 1);
    let list = conversations(&app, &user).await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["conversations"][0]["id"], reply["conversation_id"]);
    assert_eq!(event_types(&app.wait_for_trail(&user, 1).await), ["created"]);
}

/// Idempotency-Keys: a claim left running by a process that stopped mid-turn is taken over once
/// it is older than any live turn could be; every key is purged after 24 hours, a younger one kept.
async fn an_idempotency_key_is_forgotten_after_a_day(backend: Backend) {
    use api::store::ChatClaim;

    let app = TestApp::spawn(backend).await;
    let user = app.signup().await;
    let stores = api::store::open(db::Database::connect(&app.api_database_url(), 2).await.unwrap());
    let claims = stores.chat_requests.as_ref();
    let now = chrono::Utc::now();
    let (minutes_ago, in_a_second) = (now - chrono::Duration::minutes(2), now + chrono::Duration::seconds(1));
    assert_eq!(
        claims.claim(&user.id, "stuck", minutes_ago).await.unwrap(),
        ChatClaim::Claimed
    );
    assert_eq!(
        claims.claim(&user.id, "stuck", minutes_ago).await.unwrap(),
        ChatClaim::Running,
        "a young claim blocks its key"
    );
    // Once a claim is older than any live turn (here: pretend so), its process is gone.
    assert_eq!(
        claims.claim(&user.id, "stuck", in_a_second).await.unwrap(),
        ChatClaim::Claimed,
        "an abandoned claim is taken over"
    );
    assert_eq!(
        claims.claim(&user.id, "answered", minutes_ago).await.unwrap(),
        ChatClaim::Claimed
    );
    claims
        .finish(&user.id, "answered", &json!({"reply": "x"}))
        .await
        .unwrap();
    assert_eq!(
        claims.claim(&user.id, "answered", in_a_second).await.unwrap(),
        ChatClaim::Answered(json!({"reply": "x"})),
        "an answer is never taken over"
    );
    let send = || {
        app.client
            .post(format!("{}/api/{}/chat", app.base, user.id))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", "stuck")
            .json(&json!({"message": "add buy milk"}))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), StatusCode::CONFLICT);

    let purge = |at| api::chat::service::purge_idempotency_keys(stores.chat_requests.as_ref(), at);
    assert_eq!(purge(now + chrono::Duration::hours(23)).await.unwrap(), 0);
    assert_eq!(send().await.unwrap().status(), StatusCode::CONFLICT, "kept for a day");
    assert_eq!(purge(now + chrono::Duration::hours(25)).await.unwrap(), 2, "both keys");
    let response = send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(tools_used(&reply), ["add_task"]);
    assert_eq!(tasks(&app, &user).await.len(), 1);
}

/// A server stopping (SIGTERM) while a turn runs for a client that already went away waits for
/// the turn to be stored before it stops, instead of cutting it off after its tools ran.
async fn a_shutdown_waits_for_a_turn_whose_client_went_away(backend: Backend) {
    use clap::Parser;
    use tasktrail::config::{Cli, Command};

    let llm = slowly_adding_milk(Duration::from_millis(1500)).await;
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let data_dir = fresh_dir();
    let argv = serve_argv(
        "127.0.0.1:0",
        &data_dir,
        database_url.as_deref(),
        &["--openai-api-key", "k", "--openai-base-url", &llm.base_url],
    );
    let Some(Command::Serve(args)) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let server = tasktrail::embedded::start(args).await.expect("app starts");
    let (client, base) = (reqwest::Client::new(), format!("http://{}", server.addr));
    let user = signup(&client, &base).await;
    let gone = client
        .post(format!("{base}/api/{}/chat", user.id))
        .bearer_auth(&user.token)
        .json(&json!({"message": "add buy milk"}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()), "the client was meant to give up");

    server.shutdown();
    server.wait().await.unwrap();
    let api_url = database_url.unwrap_or_else(|| format!("sqlite://{}", data_dir.join("api.sqlite").display()));
    let stores = api::store::open(db::Database::connect(&api_url, 2).await.unwrap());
    let conversations = stores.conversations.list_conversations(&user.id).await.unwrap();
    assert_eq!(conversations.len(), 1, "the turn was stored before the server stopped");
    let messages = stores
        .conversations
        .recent_messages(&conversations[0].id, 10)
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].content, "Added \"buy milk\".");
}
