//! The offline assistant, used when no language model is configured: it understands plain
//! commands and drives the same tools as the model would. `parse` is pure; `OfflineAgent`
//! resolves task references and runs the tools.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Reminder, StatusFilter};
use serde_json::{Value, json};

use super::agent::{AgentError, AgentReply};
use super::tools::TurnTools;
use super::when::{self, Schedule};

const NAME: &str = "offline assistant";

#[derive(Debug, Clone, PartialEq)]
pub enum TaskRef {
    Id(i32),
    Title(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Add {
        title: String,
        schedule: Schedule,
    },
    List {
        status: StatusFilter,
    },
    Search {
        text: String,
    },
    Complete(TaskRef),
    Delete(TaskRef),
    Rename {
        task: TaskRef,
        title: String,
    },
    /// "remind me about <ref> 1 hour before" / "… at 4pm".
    Remind {
        task: TaskRef,
        reminder: Reminder,
    },
    /// A command it recognised but could not read (an unreadable time): the question to ask.
    Unclear(String),
    Help,
}

/// Understands: add / create / remember <title>; list / show [all|pending|completed] [tasks];
/// search / find <text>; complete / done / finish <ref>; delete / remove <ref>;
/// rename / update <ref> to <title>; remind me about <ref> <lead> before | at <time>. An added
/// title may end with when it is due, how it repeats and a reminder ("call mom tomorrow at 5pm",
/// "stand-up every monday", "… remind me 30 minutes before"), read relative to `now` (module
/// `when`). A <ref> is a task id ("3", "#3", "task 3") or words of its title ("the milk task").
pub fn parse(message: &str, now: DateTime<Utc>) -> Command {
    let text = message.trim().trim_end_matches(['.', '!', '?']).trim();
    let (verb, rest) = match text.split_once(char::is_whitespace) {
        Some((verb, rest)) => (verb.to_lowercase(), rest.trim().to_owned()),
        None => (text.to_lowercase(), String::new()),
    };
    match verb.as_str() {
        "add" | "create" | "remember" | "new" if !rest.is_empty() => {
            let title = strip_prefixes(&rest, &["a task to ", "a task ", "task ", "to "]);
            match when::split_schedule(title, now) {
                Ok((title, schedule)) => Command::Add { title, schedule },
                Err(question) => Command::Unclear(question),
            }
        }
        "remind" => match strip_prefixes(&rest, &["me "]) {
            about if about.len() < rest.len() => remind(strip_prefixes(about, &["about ", "of ", "to "]), now),
            _ => Command::Help,
        },
        "list" | "show" | "what" | "which" => {
            let lower_rest = rest.to_lowercase();
            let status = if lower_rest.contains("pending") || lower_rest.contains("open") || lower_rest.contains("todo")
            {
                StatusFilter::Pending
            } else if lower_rest.contains("completed") || lower_rest.contains("done") || lower_rest.contains("finished")
            {
                StatusFilter::Completed
            } else {
                StatusFilter::All
            };
            Command::List { status }
        }
        "search" | "find" if !rest.is_empty() => Command::Search {
            text: strip_prefixes(&rest, &["for "]).to_owned(),
        },
        "complete" | "done" | "finish" | "check" if !rest.is_empty() => Command::Complete(task_ref(&rest)),
        "mark" if !rest.is_empty() => Command::Complete(task_ref(strip_suffixes(
            &rest,
            &[" as done", " as completed", " done", " completed"],
        ))),
        "delete" | "remove" | "drop" if !rest.is_empty() => Command::Delete(task_ref(&rest)),
        "rename" | "update" | "change" => match split_to(&rest) {
            Some((target, title)) => Command::Rename {
                task: task_ref(target),
                title: title.to_owned(),
            },
            None => Command::Help,
        },
        _ => Command::Help,
    }
}

/// "<ref> 1 hour before" or "<ref> at 4pm tomorrow" (the ref first, the time to the end).
fn remind(text: &str, now: DateTime<Utc>) -> Command {
    let words: Vec<&str> = text.split_whitespace().collect();
    let reminder = match words.split_last() {
        Some((last, lead)) if last.eq_ignore_ascii_case("before") => {
            // The longest lead phrase that reads: "the dentist 1 hour" → "1 hour".
            (1..lead.len()).find_map(|at| when::minutes(&lead[at..]).map(|m| (at, Reminder::Before(m))))
        }
        _ => when::find_when(&words, now).map(|(at, time)| (at, Reminder::At(time))),
    };
    match reminder {
        Some((at, reminder)) => Command::Remind {
            task: task_ref(&words[..at].join(" ")),
            reminder,
        },
        None => Command::Unclear(
            "When should I remind you? Say e.g. \"remind me about the dentist 1 hour before\" or \
             \"remind me about the dentist tomorrow at 8am\"."
                .into(),
        ),
    }
}

/// `text` without the first of `prefixes` (ASCII, any case) it starts with.
fn strip_prefixes<'a>(text: &'a str, prefixes: &[&str]) -> &'a str {
    for prefix in prefixes {
        // `get` keeps the cut on a character boundary whatever the user typed.
        if text.len() > prefix.len()
            && text
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        {
            return text[prefix.len()..].trim();
        }
    }
    text
}

/// `text` without the first of `suffixes` (ASCII, any case) it ends with.
fn strip_suffixes<'a>(text: &'a str, suffixes: &[&str]) -> &'a str {
    for suffix in suffixes {
        let cut = text.len().saturating_sub(suffix.len());
        if cut > 0 && text.get(cut..).is_some_and(|tail| tail.eq_ignore_ascii_case(suffix)) {
            return text[..cut].trim();
        }
    }
    text
}

/// "3", "#3", "task 3", "task #3" → an id; otherwise the title phrase, without a leading
/// "the"/"my" and a trailing "task" ("the milk task" → "milk").
fn task_ref(text: &str) -> TaskRef {
    let cleaned = text.trim().trim_start_matches("task ").trim_start_matches('#').trim();
    if let Ok(id) = cleaned.parse::<i32>() {
        return TaskRef::Id(id);
    }
    let phrase = strip_prefixes(text.trim(), &["the ", "my ", "a "]);
    TaskRef::Title(strip_suffixes(phrase, &[" task", " item", " one"]).to_owned())
}

/// Does the title match the phrase: every significant word of the phrase appears in it.
fn title_matches(title: &str, phrase: &str) -> bool {
    let title = title.to_lowercase();
    let words: Vec<String> = phrase
        .to_lowercase()
        .split_whitespace()
        .filter(|w| !matches!(*w, "the" | "my" | "a" | "an" | "task" | "to"))
        .map(str::to_owned)
        .collect();
    !words.is_empty() && words.iter().all(|w| title.contains(w.as_str()))
}

/// "<target> to <title>" (the last " to " splits, so titles may not contain one).
fn split_to(text: &str) -> Option<(&str, &str)> {
    let at = text
        .char_indices()
        .rev()
        .map(|(i, _)| i)
        .find(|&i| text.get(i..i + 4).is_some_and(|s| s.eq_ignore_ascii_case(" to ")))?;
    let (target, title) = (text[..at].trim(), text[at + 4..].trim());
    (!target.is_empty() && !title.is_empty()).then_some((target, title))
}

pub struct OfflineAgent;

impl OfflineAgent {
    /// Answers one message; the first answer of a conversation also says who is answering.
    pub async fn reply(&self, first_turn: bool, message: &str, tools: &TurnTools) -> Result<AgentReply, AgentError> {
        let now = domain::clock::now();
        let command = parse(message, now);
        let introduce = first_turn && command != Command::Help;
        let mut text = match command {
            Command::Add { title, schedule } => {
                let mut arguments = json!({"title": title});
                if let Some(due) = schedule.due {
                    arguments["due_date"] = json!(due.to_rfc3339_opts(SecondsFormat::Secs, true));
                }
                if let Some(rule) = &schedule.recurrence {
                    arguments["recurrence"] = json!(rule);
                }
                match schedule.reminder {
                    Some(Reminder::At(at)) => {
                        arguments["remind_at"] = json!(at.to_rfc3339_opts(SecondsFormat::Secs, true))
                    }
                    Some(Reminder::Before(minutes)) => arguments["remind_before_minutes"] = json!(minutes),
                    None => {}
                }
                let result = tools.call("add_task", arguments).await;
                outcome(&result, |r| {
                    format!(
                        "Added \"{}\" (task {}){}.",
                        r["title"].as_str().unwrap_or(""),
                        r["task_id"],
                        describe_schedule(&schedule, now)
                    )
                })
            }
            Command::Remind { task, reminder } => match resolve(task, tools).await {
                Ok(id) => {
                    let arguments = match reminder {
                        Reminder::At(at) => {
                            json!({"task_id": id, "remind_at": at.to_rfc3339_opts(SecondsFormat::Secs, true)})
                        }
                        Reminder::Before(minutes) => json!({"task_id": id, "remind_before_minutes": minutes}),
                    };
                    let result = tools.call("update_task", arguments).await;
                    outcome(&result, |r| match reminder {
                        Reminder::At(at) => format!(
                            "I'll remind you about \"{}\" at {}.",
                            title_of(r),
                            when::describe_time(at, now)
                        ),
                        Reminder::Before(minutes) => format!(
                            "I'll remind you about \"{}\" {} before it is due.",
                            title_of(r),
                            when::describe_lead(minutes)
                        ),
                    })
                }
                Err(question) => question,
            },
            Command::Unclear(question) => question,
            Command::List { status } => {
                let status_name = match status {
                    StatusFilter::All => "all",
                    StatusFilter::Pending => "pending",
                    StatusFilter::Completed => "completed",
                };
                let result = tools.call("list_tasks", json!({"status": status_name})).await;
                describe_list(&result, status_name)
            }
            Command::Search { text } => {
                let result = tools.call("search_tasks", json!({"query": text})).await;
                describe_list(&result, "matching")
            }
            Command::Complete(task) => match resolve(task, tools).await {
                Ok(id) => {
                    let result = tools.call("complete_task", json!({"task_id": id})).await;
                    outcome(&result, |r| match r["status"].as_str() {
                        Some("already_completed") => format!("\"{}\" was already completed.", title_of(r)),
                        _ => format!("Completed \"{}\".", title_of(r)),
                    })
                }
                Err(question) => question,
            },
            Command::Delete(task) => match resolve(task, tools).await {
                Ok(id) => {
                    let result = tools.call("delete_task", json!({"task_id": id})).await;
                    outcome(&result, |r| format!("Deleted \"{}\".", title_of(r)))
                }
                Err(question) => question,
            },
            Command::Rename { task, title } => match resolve(task, tools).await {
                Ok(id) => {
                    let result = tools.call("update_task", json!({"task_id": id, "title": title})).await;
                    outcome(&result, |r| {
                        format!("Renamed task {} to \"{}\".", r["task_id"], title_of(r))
                    })
                }
                Err(question) => question,
            },
            Command::Help => format!(
                "I'm the {NAME} (no language model is configured), so I understand plain commands: \
                 \"add buy milk\", \"show my pending tasks\", \"search milk\", \"complete 3\", \
                 \"delete the milk task\", \"rename 3 to buy oat milk\". An added task may say when it is \
                 due, how it repeats and when to remind you: \"add call mom tomorrow at 5pm\", \"add stand-up \
                 every monday\", \"add dentist on friday at 9:30 remind me 30 minutes before\", \"remind me \
                 about the dentist 1 hour before\". Times are UTC unless you add another offset (\"5pm UTC+2\")."
            ),
        };
        if introduce {
            text.push_str(&format!(
                "\n\n(I'm the {NAME}: no language model is configured, so I understand plain commands; say \"help\" to see them.)"
            ));
        }
        Ok(AgentReply { text })
    }
}

/// ", due Mon 30 Nov 17:00 UTC, repeating weekly, reminder 30 minutes before": what was set.
fn describe_schedule(schedule: &Schedule, now: DateTime<Utc>) -> String {
    let mut parts = Vec::new();
    if let Some(due) = schedule.due {
        parts.push(format!("due {}", when::describe_time(due, now)));
    }
    if let Some(rule) = &schedule.recurrence {
        parts.push(format!("repeating {rule}"));
    }
    match schedule.reminder {
        Some(Reminder::At(at)) => parts.push(format!("reminder at {}", when::describe_time(at, now))),
        Some(Reminder::Before(minutes)) => {
            let lead = when::describe_lead(minutes);
            match schedule.due {
                Some(due) => parts.push(format!(
                    "reminder {lead} before ({})",
                    when::describe_time(due - chrono::TimeDelta::minutes(minutes.into()), now)
                )),
                None => parts.push(format!("reminder {lead} before")),
            }
        }
        None => {}
    }
    parts.iter().map(|p| format!(", {p}")).collect()
}

fn title_of(result: &Value) -> &str {
    result["title"].as_str().unwrap_or("")
}

fn outcome(result: &Value, success: impl Fn(&Value) -> String) -> String {
    match result.get("error").and_then(Value::as_str) {
        Some(error) => format!("I couldn't do that: {error}."),
        None => success(result),
    }
}

fn describe_list(result: &Value, which: &str) -> String {
    let Some(tasks) = result.as_array() else {
        return outcome(result, |_| String::new());
    };
    if tasks.is_empty() {
        return format!("You have no {which} tasks.");
    }
    let lines: Vec<String> = tasks
        .iter()
        .map(|t| {
            let mark = if t["completed"].as_bool() == Some(true) {
                "x"
            } else {
                " "
            };
            format!("[{mark}] {} {}", t["id"], t["title"].as_str().unwrap_or(""))
        })
        .collect();
    format!("Your {which} tasks ({}):\n{}", tasks.len(), lines.join("\n"))
}

/// The id a reference means, or the question to ask when it is not exactly one task.
async fn resolve(task: TaskRef, tools: &TurnTools) -> Result<i64, String> {
    let words = match task {
        TaskRef::Id(id) => return Ok(id.into()),
        TaskRef::Title(words) if words.is_empty() => {
            return Err("Which task? Give its number or words of its title.".into());
        }
        TaskRef::Title(words) => words,
    };
    let all = tools.call("list_tasks", json!({"status": "all"})).await;
    let candidates: Vec<Value> = all
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .filter(|t| t["title"].as_str().is_some_and(|title| title_matches(title, &words)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // An exact title wins over partial matches.
    let exact: Vec<Value> = candidates
        .iter()
        .filter(|t| {
            t["title"]
                .as_str()
                .is_some_and(|title| title.eq_ignore_ascii_case(&words))
        })
        .cloned()
        .collect();
    match (exact.as_slice(), candidates.as_slice()) {
        ([only], _) | ([], [only]) => only["id"].as_i64().ok_or_else(|| "That task has no id.".to_owned()),
        (_, []) => Err(format!("I couldn't find a task matching \"{words}\".")),
        (_, many) => {
            let options: Vec<String> = many
                .iter()
                .map(|t| format!("{} \"{}\"", t["id"], t["title"].as_str().unwrap_or("")))
                .collect();
            Err(format!(
                "Several tasks match \"{words}\": {}. Which one? Say it by number.",
                options.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn title(s: &str) -> TaskRef {
        TaskRef::Title(s.into())
    }

    fn add(title: &str) -> Command {
        Command::Add {
            title: title.into(),
            schedule: Schedule::default(),
        }
    }

    /// Sunday 29 November 2026, 05:20 UTC.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 5, 20, 7).unwrap()
    }

    fn at(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, m, d, h, min, 0).unwrap()
    }

    fn scheduled(
        title: &str,
        due: Option<DateTime<Utc>>,
        recurrence: Option<&str>,
        reminder: Option<Reminder>,
    ) -> Command {
        Command::Add {
            title: title.into(),
            schedule: Schedule {
                due,
                recurrence: recurrence.map(str::to_owned),
                reminder,
            },
        }
    }

    #[test]
    fn understands_dates_rules_and_reminders() {
        let table = [
            (
                "add pay rent every month",
                scheduled("pay rent", None, Some("monthly"), None),
            ),
            (
                "add stand-up every monday",
                scheduled("stand-up", Some(at(11, 30, 0, 0)), Some("weekly"), None),
            ),
            (
                "add call mom tomorrow at 5pm",
                scheduled("call mom", Some(at(11, 30, 17, 0)), None, None),
            ),
            (
                "add dentist on friday at 9:30 remind me 30 minutes before",
                scheduled("dentist", Some(at(12, 4, 9, 30)), None, Some(Reminder::Before(30))),
            ),
            (
                "add report due 2026-12-05",
                scheduled("report", Some(at(12, 5, 0, 0)), None, None),
            ),
            (
                "Create a task to call mum tomorrow at 5pm UTC+1",
                scheduled("call mum", Some(at(11, 30, 16, 0)), None, None),
            ),
            (
                "remind me about the dentist 1 hour before",
                Command::Remind {
                    task: title("dentist"),
                    reminder: Reminder::Before(60),
                },
            ),
            (
                "remind me of task 4 30 minutes before",
                Command::Remind {
                    task: TaskRef::Id(4),
                    reminder: Reminder::Before(30),
                },
            ),
            (
                "remind me about the dentist tomorrow at 8am",
                Command::Remind {
                    task: title("dentist"),
                    reminder: Reminder::At(at(11, 30, 8, 0)),
                },
            ),
        ];
        for (message, expected) in table {
            assert_eq!(parse(message, now()), expected, "{message}");
        }
        for unclear in [
            "remind me about the dentist sometime",
            "add gym every blue moon",
            "add every monday",
        ] {
            assert!(matches!(parse(unclear, now()), Command::Unclear(_)), "{unclear}");
        }
        assert_eq!(parse("remind", now()), Command::Help);
    }

    #[test]
    fn says_what_was_set() {
        let Command::Add { schedule, .. } = parse("add dentist on friday at 9:30 remind me 30 minutes before", now())
        else {
            panic!("not an add");
        };
        assert_eq!(
            describe_schedule(&schedule, now()),
            ", due Fri 4 Dec 09:30 UTC, reminder 30 minutes before (Fri 4 Dec 09:00 UTC)"
        );
        let Command::Add { schedule, .. } = parse("add stand-up every monday", now()) else {
            panic!("not an add");
        };
        assert_eq!(
            describe_schedule(&schedule, now()),
            ", due Mon 30 Nov 00:00 UTC, repeating weekly"
        );
        assert_eq!(describe_schedule(&Schedule::default(), now()), "");
    }

    #[test]
    fn a_title_phrase_matches_titles_holding_all_its_words() {
        assert!(title_matches("Buy MILK", "milk"));
        assert!(title_matches("milk the cow", "milk the cow"));
        assert!(title_matches("milk the cow", "cow milk"));
        assert!(!title_matches("buy milk", "milk the cow"));
        assert!(!title_matches("anything", "the"));
    }

    #[test]
    fn understands_the_command_table() {
        let table = [
            ("add buy milk", add("buy milk")),
            ("Create a task to call mum", add("call mum")),
            ("remember to water the plants", add("water the plants")),
            (
                "show my pending tasks",
                Command::List {
                    status: StatusFilter::Pending,
                },
            ),
            (
                "list completed",
                Command::List {
                    status: StatusFilter::Completed,
                },
            ),
            (
                "list",
                Command::List {
                    status: StatusFilter::All,
                },
            ),
            (
                "what are my tasks?",
                Command::List {
                    status: StatusFilter::All,
                },
            ),
            ("search for milk", Command::Search { text: "milk".into() }),
            ("complete 3", Command::Complete(TaskRef::Id(3))),
            ("done #4", Command::Complete(TaskRef::Id(4))),
            ("finish task 5", Command::Complete(TaskRef::Id(5))),
            ("mark the milk task as done", Command::Complete(title("milk"))),
            ("delete the milk task", Command::Delete(title("milk"))),
            ("delete milk the cow", Command::Delete(title("milk the cow"))),
            ("remove 7", Command::Delete(TaskRef::Id(7))),
            (
                "rename 3 to buy oat milk",
                Command::Rename {
                    task: TaskRef::Id(3),
                    title: "buy oat milk".into(),
                },
            ),
            (
                "update the milk task to buy oat milk",
                Command::Rename {
                    task: title("milk"),
                    title: "buy oat milk".into(),
                },
            ),
            ("delete aéé", Command::Delete(title("aéé"))),
            ("Delete THE Milk Task", Command::Delete(title("Milk"))),
            ("İstanbul trip", Command::Help),
            (
                "rename çà va TO ça ira",
                Command::Rename {
                    task: title("çà va"),
                    title: "ça ira".into(),
                },
            ),
            ("hello", Command::Help),
            ("add", Command::Help),
            ("rename 3", Command::Help),
        ];
        for (message, expected) in table {
            assert_eq!(parse(message, now()), expected, "{message}");
        }
    }
}
