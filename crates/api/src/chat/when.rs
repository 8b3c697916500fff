//! Dates, times and repetition in the offline assistant's commands. The date and duration
//! phrases themselves ("tomorrow 5pm", "friday 9:30", "dec 5", "2026-12-05", "30 minutes") are
//! read by the `interim` crate; this module only finds where they sit in a command ("… due
//! <when>", "… every <interval>", "… remind me <lead> before") and what they mean for a task.
//! Times are UTC unless the phrase ends with another offset ("5pm UTC+2", "17:00 -05:00").

use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Month, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use domain::Reminder;
use interim::{Dialect, Interval};

/// What an "add" command says about when.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schedule {
    pub due: Option<DateTime<Utc>>,
    /// A rule in the API's form (`weekly`, `every 2 weeks until 2027-03-01`).
    pub recurrence: Option<String>,
    pub reminder: Option<Reminder>,
}

/// Splits "call mom tomorrow at 5pm every week remind me 30 minutes before" into the title and
/// its schedule. An error is the question to ask: a phrase that is plainly about time (after
/// "remind me", "every" or "until") that could not be read, or no title left.
pub fn split_schedule(text: &str, now: DateTime<Utc>) -> Result<(String, Schedule), String> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let mut schedule = Schedule::default();

    if let Some(at) =
        (0..words.len().saturating_sub(1)).find(|&i| lower(words[i]) == "remind" && lower(words[i + 1]) == "me")
    {
        let clause = &words[at + 2..];
        schedule.reminder = Some(reminder(clause, now).ok_or_else(|| {
            format!(
                "I couldn't read \"remind me {}\". Say e.g. \"remind me 30 minutes before\" or \"remind me at 4pm\".",
                clause.join(" ")
            )
        })?);
        words.truncate(at);
        trim_connectors(&mut words);
    }

    let mut due_phrase: Option<Vec<String>> = None;
    if let Some(at) = words.iter().position(|w| lower(w) == "every") {
        let (rule, phrase) = repetition(&words[at + 1..], now)?;
        schedule.recurrence = Some(rule);
        due_phrase = phrase;
        words.truncate(at);
        trim_connectors(&mut words);
    } else if words.len() > 1
        && let Some(rule) = words
            .last()
            .map(|w| lower(w))
            .filter(|w| matches!(w.as_str(), "daily" | "weekly" | "monthly"))
    {
        schedule.recurrence = Some(rule);
        words.pop();
    }

    // An explicit date ("due friday") wins over the day a repetition names ("every monday").
    if let Some((at, due)) = find_when(&words, now) {
        schedule.due = Some(due);
        words.truncate(at);
    } else if let Some(phrase) = due_phrase {
        let phrase: Vec<&str> = phrase.iter().map(String::as_str).collect();
        let due =
            when(&phrase, now).ok_or_else(|| format!("I couldn't read \"{}\" as a day or time.", phrase.join(" ")))?;
        // "every day at 9am" said after 9am starts tomorrow rather than overdue.
        schedule.due = Some(if due <= now { due + TimeDelta::days(1) } else { due });
    }

    trim_connectors(&mut words);
    let title = words.join(" ").trim_end_matches(',').trim().to_owned();
    if title.is_empty() {
        return Err("What should the task be called? Say e.g. \"add call mom tomorrow at 5pm\".".into());
    }
    Ok((title, schedule))
}

/// Drops a trailing "and" (or a lone comma or dash) left where a clause was cut off.
fn trim_connectors(words: &mut Vec<&str>) {
    while words
        .last()
        .is_some_and(|w| matches!(lower(w).as_str(), "and" | "," | "-"))
    {
        words.pop();
    }
}

/// The earliest place in `words` (after the first word, which belongs to the title) where a
/// day or time phrase starts and runs to the end: its index and the time it means.
pub fn find_when(words: &[&str], now: DateTime<Utc>) -> Option<(usize, DateTime<Utc>)> {
    (1..words.len())
        .filter(|&i| starts_when(words[i]))
        .find_map(|i| when(&words[i..], now).map(|t| (i, t)))
}

/// A word that may open a day or time phrase.
fn starts_when(word: &str) -> bool {
    let word = lower(word);
    matches!(
        word.as_str(),
        "due" | "on" | "by" | "at" | "today" | "tomorrow" | "next" | "this"
    ) || Weekday::from_str(&word).is_ok()
        || Month::from_str(&word).is_ok()
        || word.starts_with(|c: char| c.is_ascii_digit())
}

/// The time a phrase such as "on friday at 9:30", "tomorrow 5pm UTC+1" or "2026-12-05" means.
/// A phrase without a time of day means the start of that day, as a plain date does over REST.
pub fn when(words: &[&str], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut words: Vec<String> = words
        .iter()
        .map(|w| lower(w.trim_matches(',')))
        .filter(|w| !w.is_empty() && !matches!(w.as_str(), "due" | "on" | "by" | "at" | "the"))
        .map(|w| if w == "noon" { "12:00".to_owned() } else { w })
        .collect();
    let offset = match words.last().and_then(|w| zone(w)) {
        Some(offset) => {
            words.pop();
            offset
        }
        None => FixedOffset::east_opt(0)?,
    };
    // interim reads a word by its first three letters ("mom" is Monday): only words that are
    // plainly about dates reach it.
    if words.is_empty() || !words.iter().all(|w| date_word(w)) {
        return None;
    }
    let phrase = words.join(" ");
    let local_now = now.with_timezone(&offset);
    let at = interim::parse_date_string(&phrase, local_now, Dialect::Uk).ok()?;
    let a_second_later = interim::parse_date_string(&phrase, local_now + TimeDelta::seconds(1), Dialect::Uk).ok()?;
    // "tomorrow" takes its time of day from the base (the two answers differ by the second):
    // it means the start of that day. A named time ("tomorrow 5pm") or day ("friday") does not
    // move with the base.
    let at = if at == a_second_later {
        at
    } else {
        offset
            .from_local_datetime(&at.date_naive().and_time(NaiveTime::MIN))
            .single()?
    };
    // "3" reads as the year 3: not a due date anyone means.
    ((at.year() - now.year()).abs() <= 100).then(|| at.with_timezone(&Utc))
}

fn date_word(word: &str) -> bool {
    word.contains(|c: char| c.is_ascii_digit())
        || Weekday::from_str(word).is_ok()
        || Month::from_str(word).is_ok()
        || matches!(
            word,
            "today"
                | "tomorrow"
                | "next"
                | "this"
                | "am"
                | "pm"
                | "day"
                | "days"
                | "week"
                | "weeks"
                | "month"
                | "months"
                | "year"
                | "years"
        )
}

/// "utc", "gmt", "z", "utc+2", "gmt-05:00", "+0530": the offset the user's times are in.
fn zone(word: &str) -> Option<FixedOffset> {
    let rest = word
        .strip_prefix("utc")
        .or_else(|| word.strip_prefix("gmt"))
        .unwrap_or(word);
    if rest.is_empty() || word == "z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, digits) = match rest.split_at_checked(1)? {
        ("+", digits) => (1, digits),
        ("-", digits) => (-1, digits),
        _ => return None,
    };
    let (hours, minutes) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() > 2 => digits.split_at(digits.len() - 2),
        None => (digits, "0"),
    };
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if !(0..=14).contains(&hours) || !(0..60).contains(&minutes) {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// "30 minutes before", "1 hour before", "at 4pm", "tomorrow 8am": the reminder a clause asks for.
fn reminder(clause: &[&str], now: DateTime<Utc>) -> Option<Reminder> {
    match clause.split_last() {
        Some((last, lead)) if lower(last) == "before" => minutes(lead).map(Reminder::Before),
        Some(_) => {
            // "at 4pm" — `when` drops the leading "at".
            when(clause, now).map(Reminder::At)
        }
        None => None,
    }
}

/// "30 minutes", "1 hour", "an hour", "2 days": whole minutes, at least one.
pub fn minutes(words: &[&str]) -> Option<u32> {
    let phrase = words.iter().map(|w| lower(w)).collect::<Vec<_>>().join(" ");
    let phrase = match phrase.as_str() {
        "half an hour" => "30 minutes".to_owned(),
        p => p
            .strip_prefix("an ")
            .or_else(|| p.strip_prefix("a "))
            .map_or_else(|| p.to_owned(), |unit| format!("1 {unit}")),
    };
    if phrase.is_empty() {
        return None;
    }
    let minutes = match interim::parse_duration(&phrase).ok()? {
        Interval::Seconds(s) if s > 0 && s % 60 == 0 => s / 60,
        Interval::Days(d) if d > 0 => d.checked_mul(24 * 60)?,
        _ => return None,
    };
    u32::try_from(minutes).ok()
}

/// The words after "every": the rule, and the phrase naming the first due day if it names
/// one ("monday at 9am" in "every monday at 9am").
fn repetition(words: &[&str], now: DateTime<Utc>) -> Result<(String, Option<Vec<String>>), String> {
    let unreadable = || {
        format!(
            "I couldn't read \"every {}\" as a repetition. Say e.g. \"every day\", \"every monday\", \"every 2 weeks\" or \"every month until 2027-06-30\".",
            words.join(" ")
        )
    };
    let (words, until) = match words.iter().position(|w| lower(w) == "until") {
        Some(at) => {
            let day = when(&words[at + 1..], now).ok_or_else(unreadable)?;
            (&words[..at], Some(day.format(" until %Y-%m-%d").to_string()))
        }
        None => (words, None),
    };
    let unit = |word: &str| match lower(word).trim_end_matches('s') {
        "day" => Some("day"),
        "week" => Some("week"),
        "month" => Some("month"),
        _ => None,
    };
    let first = words.first().map(|w| lower(w)).ok_or_else(unreadable)?;
    let (rule, rest, due) = if let Some(unit) = unit(&first) {
        let rule = match unit {
            "day" => "daily",
            "week" => "weekly",
            _ => "monthly",
        };
        (rule.to_owned(), &words[1..], None)
    } else if let Ok(weekday) = Weekday::from_str(&first) {
        // The day also says when the first one is due.
        let mut due = vec![weekday.to_string().to_lowercase()];
        due.extend(words[1..].iter().map(|w| lower(w)));
        ("weekly".to_owned(), &words[words.len()..], Some(due))
    } else {
        let count = match first.as_str() {
            "other" => 2,
            n => n.parse::<u32>().map_err(|_| unreadable())?,
        };
        let unit = words.get(1).and_then(|w| unit(w)).ok_or_else(unreadable)?;
        (format!("every {count} {unit}s"), &words[2..], None)
    };
    // "every day at 9am": the rest says when the first one is due.
    let due = due.or_else(|| (!rest.is_empty()).then(|| rest.iter().map(|w| lower(w)).collect()));
    Ok((format!("{rule}{}", until.unwrap_or_default()), due))
}

fn lower(word: &str) -> String {
    word.to_lowercase()
}

/// "Mon 30 Nov 17:00 UTC" (with the year when it is not this year's).
pub fn describe_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.year() == now.year() {
        at.format("%a %-d %b %H:%M UTC").to_string()
    } else {
        at.format("%a %-d %b %Y %H:%M UTC").to_string()
    }
}

/// "30 minutes", "1 hour", "2 days".
pub fn describe_lead(minutes: u32) -> String {
    let plural = |n: u32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match minutes {
        m if m.is_multiple_of(24 * 60) => plural(m / (24 * 60), "day"),
        m if m.is_multiple_of(60) => plural(m / 60, "hour"),
        m => plural(m, "minute"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sunday 29 November 2026, 05:20 UTC.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 5, 20, 7).unwrap()
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn split(text: &str) -> (String, Schedule) {
        split_schedule(text, now()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn reads_days_and_times_in_utc_unless_told_otherwise() {
        let table = [
            ("tomorrow at 5pm", at(2026, 11, 30, 17, 0)),
            ("tomorrow", at(2026, 11, 30, 0, 0)),
            ("on friday at 9:30", at(2026, 12, 4, 9, 30)),
            ("due 2026-12-05", at(2026, 12, 5, 0, 0)),
            ("by dec 5", at(2026, 12, 5, 0, 0)),
            ("tomorrow at noon", at(2026, 11, 30, 12, 0)),
            ("tomorrow at 5pm UTC", at(2026, 11, 30, 17, 0)),
            ("tomorrow at 5pm UTC+2", at(2026, 11, 30, 15, 0)),
            ("tomorrow 17:00 -05:00", at(2026, 11, 30, 22, 0)),
            ("monday", at(2026, 11, 30, 0, 0)),
        ];
        for (phrase, expected) in table {
            let words: Vec<&str> = phrase.split_whitespace().collect();
            assert_eq!(when(&words, now()), Some(expected), "{phrase}");
        }
        for phrase in ["mom", "3", "the balcony", "at home", "2 apples"] {
            let words: Vec<&str> = phrase.split_whitespace().collect();
            assert_eq!(when(&words, now()), None, "{phrase}");
        }
    }

    #[test]
    fn a_day_said_on_that_day_after_its_time_is_next_weeks() {
        // Monday 30 November 2026, 10:00 UTC.
        let monday = at(2026, 11, 30, 10, 0);
        let (_, s) = split_schedule("stand-up every monday", monday).unwrap();
        assert_eq!(s.due, Some(at(2026, 12, 7, 0, 0)));
        // Friday 4 December 2026, 10:00 UTC.
        let friday = at(2026, 12, 4, 10, 0);
        let (_, s) = split_schedule("dentist on friday at 9:30", friday).unwrap();
        assert_eq!(s.due, Some(at(2026, 12, 11, 9, 30)));
        let (_, s) = split_schedule("call mom tomorrow", friday).unwrap();
        assert_eq!(s.due, Some(at(2026, 12, 5, 0, 0)));
    }

    #[test]
    fn splits_a_title_from_its_schedule() {
        let (title, s) = split("call mom tomorrow at 5pm");
        assert_eq!(title, "call mom");
        assert_eq!(s.due, Some(at(2026, 11, 30, 17, 0)));
        assert_eq!((s.recurrence, s.reminder), (None, None));

        let (title, s) = split("pay rent every month");
        assert_eq!(title, "pay rent");
        assert_eq!((s.due, s.recurrence.as_deref()), (None, Some("monthly")));

        let (title, s) = split("stand-up every monday");
        assert_eq!(title, "stand-up");
        assert_eq!(s.recurrence.as_deref(), Some("weekly"));
        assert_eq!(s.due, Some(at(2026, 11, 30, 0, 0)), "the next Monday");

        let (title, s) = split("dentist on friday at 9:30 remind me 30 minutes before");
        assert_eq!(title, "dentist");
        assert_eq!(s.due, Some(at(2026, 12, 4, 9, 30)));
        assert_eq!(s.reminder, Some(Reminder::Before(30)));

        let (title, s) = split("report due 2026-12-05");
        assert_eq!(title, "report");
        assert_eq!(s.due, Some(at(2026, 12, 5, 0, 0)));

        let (title, s) = split("water plants every 3 days until 2027-01-31");
        assert_eq!(title, "water plants");
        assert_eq!(s.recurrence.as_deref(), Some("every 3 days until 2027-01-31"));

        let (title, s) = split("gym every other week");
        assert_eq!(
            (title.as_str(), s.recurrence.as_deref()),
            ("gym", Some("every 2 weeks"))
        );

        let (title, s) = split("standup every day at 9am");
        assert_eq!(title, "standup");
        assert_eq!(s.due, Some(at(2026, 11, 29, 9, 0)), "later today");
        let (_, s) = split("standup every day at 5am");
        assert_eq!(s.due, Some(at(2026, 11, 30, 5, 0)), "already past today: tomorrow");

        let (title, s) = split("backup weekly");
        assert_eq!((title.as_str(), s.recurrence.as_deref()), ("backup", Some("weekly")));

        let (title, s) = split("flight tomorrow 7am and remind me tomorrow at 5am");
        assert_eq!(title, "flight");
        assert_eq!(s.reminder, Some(Reminder::At(at(2026, 11, 30, 5, 0))));
    }

    #[test]
    fn words_that_are_not_dates_stay_in_the_title() {
        for text in [
            "call mom",
            "read chapter 3",
            "buy 2 apples",
            "water plants on the balcony",
            "lunch at home",
            "daily",
        ] {
            let (title, s) = split(text);
            assert_eq!(title, text);
            assert_eq!(s, Schedule::default(), "{text}");
        }
    }

    #[test]
    fn an_unreadable_time_phrase_is_a_question_not_a_title() {
        for text in [
            "dentist remind me soonish",
            "gym every blue moon",
            "report every week until never",
        ] {
            assert!(split_schedule(text, now()).is_err(), "{text}");
        }
        assert!(split_schedule("every monday", now()).is_err(), "no title");
        assert!(split_schedule("remind me 5 minutes before", now()).is_err(), "no title");
    }

    #[test]
    fn reads_leads() {
        let table = [
            ("30 minutes", Some(30)),
            ("1 hour", Some(60)),
            ("an hour", Some(60)),
            ("half an hour", Some(30)),
            ("2 days", Some(2880)),
            ("90 min", Some(90)),
            ("soon", None),
            ("", None),
        ];
        for (phrase, expected) in table {
            let words: Vec<&str> = phrase.split_whitespace().collect();
            assert_eq!(minutes(&words), expected, "{phrase}");
        }
        assert_eq!(describe_lead(60), "1 hour");
        assert_eq!(describe_lead(30), "30 minutes");
        assert_eq!(describe_lead(2880), "2 days");
        assert_eq!(describe_time(at(2026, 11, 30, 17, 0), now()), "Mon 30 Nov 17:00 UTC");
        assert_eq!(describe_time(at(2027, 1, 2, 8, 5), now()), "Sat 2 Jan 2027 08:05 UTC");
    }
}
