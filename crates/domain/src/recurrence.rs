//! Recurrence rules: `daily`, `weekly`, `monthly`, `every N days|weeks|months`, each optionally
//! followed by ` until YYYY-MM-DD`. A task carries its rule as that text (canonical form:
//! "every 1 weeks" is `weekly`); completing it makes the next occurrence, due one interval on.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

/// Longest interval count: a rule of more than a year's days is a typo.
const MAX_EVERY: u32 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Days,
    Weeks,
    Months,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Recurrence {
    pub every: u32,
    pub unit: Unit,
    /// The last day (UTC) an occurrence may be due on.
    pub until: Option<NaiveDate>,
}

impl Recurrence {
    pub fn weekly() -> Self {
        Self {
            every: 1,
            unit: Unit::Weeks,
            until: None,
        }
    }

    /// When the occurrence after one due at `due` and completed at `completed_at` is due: one
    /// interval after `due` (or after the completion, for a task without a due date), and
    /// further intervals on while that is not after the completion, so that a late completion
    /// does not leave the next occurrence overdue at once. `None` past `until`.
    pub fn next_due(&self, due: Option<DateTime<Utc>>, completed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = due.unwrap_or(completed_at);
        // The smallest k >= 1 with start + k intervals > completed_at; estimated, then stepped
        // (at most a couple of steps), each from `start`, so that the 31st stays the 31st where
        // the month has one.
        let mut k = match self.unit {
            Unit::Days | Unit::Weeks => {
                let step = self.step_days();
                (completed_at - start).num_days().div_euclid(step).max(0) + 1
            }
            Unit::Months => {
                let months = months_between(start, completed_at);
                // Not + 1: the day of the month may put that many intervals still before it.
                (months / i64::from(self.every)).max(1)
            }
        };
        let next = loop {
            let candidate = self.after(start, k)?;
            if candidate > completed_at {
                break candidate;
            }
            k += 1;
        };
        match self.until {
            Some(until) if next.date_naive() > until => None,
            _ => Some(next),
        }
    }

    fn step_days(&self) -> i64 {
        let days = i64::from(self.every);
        if self.unit == Unit::Weeks { days * 7 } else { days }
    }

    /// `start` moved on by `k` intervals; `None` beyond the calendar.
    fn after(&self, start: DateTime<Utc>, k: i64) -> Option<DateTime<Utc>> {
        match self.unit {
            Unit::Days | Unit::Weeks => {
                start.checked_add_signed(TimeDelta::try_days(self.step_days().checked_mul(k)?)?)
            }
            Unit::Months => {
                let months = u32::try_from(i64::from(self.every).checked_mul(k)?).ok()?;
                start.checked_add_months(Months::new(months))
            }
        }
    }
}

fn months_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    use chrono::Datelike;
    (i64::from(to.year()) - i64::from(from.year())) * 12 + i64::from(to.month()) - i64::from(from.month())
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (one, many) = match self.unit {
            Unit::Days => ("daily", "days"),
            Unit::Weeks => ("weekly", "weeks"),
            Unit::Months => ("monthly", "months"),
        };
        if self.every == 1 {
            f.write_str(one)?;
        } else {
            write!(f, "every {} {many}", self.every)?;
        }
        if let Some(until) = self.until {
            write!(f, " until {}", until.format("%Y-%m-%d"))?;
        }
        Ok(())
    }
}

impl FromStr for Recurrence {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wrong = || {
            ValidationError::new(
                "recurrence",
                "must be daily, weekly, monthly or every N days|weeks|months (N 1 to 365), optionally followed by `until YYYY-MM-DD`",
            )
        };
        let lower = s.trim().to_ascii_lowercase();
        let words: Vec<&str> = lower.split_ascii_whitespace().collect();
        let (rule, until) = match words.iter().position(|w| *w == "until") {
            Some(at) => {
                let [date] = &words[at + 1..] else { return Err(wrong()) };
                let until = NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
                    ValidationError::new("recurrence", "the until date must be a real date, YYYY-MM-DD")
                })?;
                (&words[..at], Some(until))
            }
            None => (&words[..], None),
        };
        let unit = |word: &str| match word {
            "day" | "days" => Some(Unit::Days),
            "week" | "weeks" => Some(Unit::Weeks),
            "month" | "months" => Some(Unit::Months),
            _ => None,
        };
        let (every, unit) = match rule {
            ["daily"] => (1, Unit::Days),
            ["weekly"] => (1, Unit::Weeks),
            ["monthly"] => (1, Unit::Months),
            ["every", word] => (1, unit(word).ok_or_else(wrong)?),
            ["every", n, word] => {
                let n: u32 = n.parse().map_err(|_| wrong())?;
                if !(1..=MAX_EVERY).contains(&n) {
                    return Err(wrong());
                }
                (n, unit(word).ok_or_else(wrong)?)
            }
            _ => return Err(wrong()),
        };
        Ok(Self { every, unit, until })
    }
}

impl TryFrom<String> for Recurrence {
    type Error = ValidationError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Recurrence> for String {
    fn from(r: Recurrence) -> Self {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
    }

    fn rule(s: &str) -> Recurrence {
        s.parse().unwrap()
    }

    #[test]
    fn rules_are_read_and_written_in_one_canonical_form() {
        for (given, canonical) in [
            ("weekly", "weekly"),
            (" Daily ", "daily"),
            ("monthly", "monthly"),
            ("every 1 weeks", "weekly"),
            ("every week", "weekly"),
            ("every 3 days", "every 3 days"),
            ("every 2 Weeks until 2027-03-01", "every 2 weeks until 2027-03-01"),
            ("every 1 day", "daily"),
            ("monthly until 2026-12-31", "monthly until 2026-12-31"),
            ("every 365 days", "every 365 days"),
        ] {
            assert_eq!(rule(given).to_string(), canonical, "{given}");
        }
        for wrong in [
            "",
            "fortnightly",
            "every 0 days",
            "every 366 days",
            "every -1 days",
            "every 2",
            "every 2 years",
            "weekly until",
            "weekly until 2027-02-30",
            "weekly until tomorrow",
            "weekly until 2027-01-01 2027-01-02",
            "until 2027-01-01",
            "every 2 weeks please",
        ] {
            assert!(wrong.parse::<Recurrence>().is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn the_next_occurrence_is_one_interval_after_the_due_date() {
        let done = at(2026, 3, 2);
        assert_eq!(
            rule("weekly").next_due(Some(at(2026, 3, 3)), done),
            Some(at(2026, 3, 10))
        );
        assert_eq!(rule("daily").next_due(Some(at(2026, 3, 3)), done), Some(at(2026, 3, 4)));
        assert_eq!(
            rule("every 3 days").next_due(Some(at(2026, 3, 3)), done),
            Some(at(2026, 3, 6))
        );
        assert_eq!(
            rule("monthly").next_due(Some(at(2026, 3, 3)), done),
            Some(at(2026, 4, 3))
        );
        // Without a due date: one interval after the completion.
        assert_eq!(rule("every 2 weeks").next_due(None, done), Some(at(2026, 3, 16)));
    }

    #[test]
    fn a_late_completion_moves_the_next_occurrence_past_it() {
        // Due on the 1st, done on the 6th: a daily task is next due on the 7th, not the 2nd.
        let done = Utc.with_ymd_and_hms(2026, 3, 6, 12, 0, 0).unwrap();
        assert_eq!(rule("daily").next_due(Some(at(2026, 3, 1)), done), Some(at(2026, 3, 7)));
        assert_eq!(
            rule("weekly").next_due(Some(at(2026, 1, 1)), done),
            Some(at(2026, 3, 12))
        );
        assert_eq!(
            rule("monthly").next_due(Some(at(2025, 11, 6)), done),
            Some(at(2026, 4, 6))
        );
        // Exactly at the due time of what would be next: that one is not after it, so one more.
        assert_eq!(
            rule("daily").next_due(Some(at(2026, 3, 5)), at(2026, 3, 6)),
            Some(at(2026, 3, 7))
        );
    }

    #[test]
    fn months_keep_their_day_where_the_month_has_it() {
        let jan31 = at(2026, 1, 31);
        assert_eq!(
            rule("monthly").next_due(Some(jan31), at(2026, 1, 30)),
            Some(at(2026, 2, 28))
        );
        assert_eq!(
            rule("monthly").next_due(Some(jan31), at(2026, 3, 1)),
            Some(at(2026, 3, 31))
        );
        assert_eq!(
            rule("every 12 months").next_due(Some(at(2024, 2, 29)), at(2024, 3, 1)),
            Some(at(2025, 2, 28))
        );
    }

    #[test]
    fn nothing_recurs_past_until() {
        let done = at(2026, 3, 2);
        assert_eq!(
            rule("weekly until 2026-03-10").next_due(Some(at(2026, 3, 3)), done),
            Some(at(2026, 3, 10))
        );
        assert_eq!(
            rule("weekly until 2026-03-09").next_due(Some(at(2026, 3, 3)), done),
            None
        );
        assert_eq!(rule("daily until 2026-01-01").next_due(None, done), None);
    }

    #[test]
    fn far_dates_end_the_series_instead_of_overflowing() {
        let end = DateTime::<Utc>::MAX_UTC - TimeDelta::days(1);
        assert_eq!(rule("every 365 days").next_due(Some(end), end), None);
        assert_eq!(rule("every 12 months").next_due(Some(end), end), None);
    }
}
