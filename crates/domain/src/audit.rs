use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::event::EventType;
use crate::task::{TaskId, UserId};
use crate::validation::ValidationError;

/// One row of `audit_log`, as the audit API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i32,
    pub event_id: Uuid,
    pub event_type: String,
    pub user_id: UserId,
    pub task_id: TaskId,
    /// The whole event as it was received.
    pub event_data: serde_json::Value,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Where this page ends (`order=asc` only): pass it as `cursor` later to get what has been
    /// stored since, events that arrived late included. `null` when the trail so far is empty.
    pub tail_cursor: Option<String>,
}

/// The trail's order is the order the audit service stored the entries in: each user's
/// changes arrive in their order (see `sequence`), and an event that arrives late is stored,
/// and listed, after the entries before it, so a reader who follows the trail never misses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOrder {
    /// Oldest first.
    #[default]
    Asc,
    Desc,
}

/// Query string of `GET /api/{user_id}/audit`, before validation.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// One event type or a comma list: `created,completed`.
    pub event_type: Option<String>,
    pub task_id: Option<TaskId>,
    /// RFC 3339; inclusive.
    pub from: Option<String>,
    /// RFC 3339; exclusive.
    pub to: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub order: Option<AuditOrder>,
}

pub const AUDIT_DEFAULT_LIMIT: u32 = 50;
pub const AUDIT_MAX_LIMIT: u32 = 500;

/// A validated audit query for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFilter {
    /// Empty means every type.
    pub event_types: Vec<EventType>,
    pub task_id: Option<TaskId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
    pub after: Option<AuditCursor>,
    pub order: AuditOrder,
}

impl AuditFilter {
    pub fn parse(q: AuditQuery) -> Result<Self, ValidationError> {
        let mut event_types = Vec::new();
        for part in q
            .event_type
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let t = EventType::parse(part).ok_or_else(|| {
                ValidationError::new(
                    "event_type",
                    format!("unknown event type {part:?}; use created, updated, completed or deleted"),
                )
            })?;
            if !event_types.contains(&t) {
                event_types.push(t);
            }
        }
        let limit = q.limit.unwrap_or(AUDIT_DEFAULT_LIMIT);
        if !(1..=AUDIT_MAX_LIMIT).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("must be between 1 and {AUDIT_MAX_LIMIT}"),
            ));
        }
        let from = q.from.as_deref().map(|s| parse_time("from", s)).transpose()?;
        let to = q.to.as_deref().map(|s| parse_time("to", s)).transpose()?;
        let after = q.cursor.as_deref().map(AuditCursor::decode).transpose()?;
        Ok(Self {
            event_types,
            task_id: q.task_id,
            from,
            to,
            limit,
            after,
            order: q.order.unwrap_or_default(),
        })
    }
}

fn parse_time(field: &'static str, s: &str) -> Result<DateTime<Utc>, ValidationError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ValidationError::new(field, format!("must be an RFC 3339 timestamp, got {s:?}")))
}

/// Keyset position in the trail: the id of the last entry of a page. Ids follow storage order
/// (one user's entries are stored one transaction after another), never the producer's clock,
/// so an event stored late still comes after a cursor taken before it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub id: i32,
}

impl AuditCursor {
    pub fn after(entry: &AuditEntry) -> Self {
        Self { id: entry.id }
    }

    pub fn encode(&self) -> String {
        self.id.to_string()
    }

    /// Also takes the `<micros>_<id>` cursors of earlier versions, by their id.
    pub fn decode(s: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("cursor", "is not a cursor this API returned");
        let id = match s.split_once('_') {
            Some((micros, id)) if micros.parse::<i64>().is_ok() => id,
            Some(_) => return Err(bad()),
            None => s,
        };
        let id: i32 = id.parse().map_err(|_| bad())?;
        if id < 0 {
            return Err(bad());
        }
        Ok(Self { id })
    }
}

/// Builds a page from up to `limit + 1` rows fetched in the filter's order.
pub fn page(mut rows: Vec<AuditEntry>, filter: &AuditFilter) -> AuditPage {
    let has_more = rows.len() > filter.limit as usize;
    rows.truncate(filter.limit as usize);
    let next_cursor = if has_more {
        rows.last().map(|e| AuditCursor::after(e).encode())
    } else {
        None
    };
    let tail_cursor = match filter.order {
        AuditOrder::Asc => rows.last().map(AuditCursor::after).or(filter.after).map(|c| c.encode()),
        AuditOrder::Desc => None,
    };
    AuditPage {
        events: rows,
        next_cursor,
        tail_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_comma_list_of_event_types() {
        let f = AuditFilter::parse(AuditQuery {
            event_type: Some("created, completed,created".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(f.event_types, vec![EventType::Created, EventType::Completed]);
        assert_eq!(f.limit, 50);
        assert!(
            AuditFilter::parse(AuditQuery {
                event_type: Some("exploded".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn rejects_out_of_range_limits_and_bad_times() {
        assert!(
            AuditFilter::parse(AuditQuery {
                limit: Some(0),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            AuditFilter::parse(AuditQuery {
                limit: Some(501),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            AuditFilter::parse(AuditQuery {
                from: Some("yesterday".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = AuditCursor { id: 42 };
        assert_eq!(AuditCursor::decode(&c.encode()).unwrap(), c);
        assert_eq!(
            AuditCursor::decode("1764374400000000_42").unwrap(),
            c,
            "an earlier version's cursor"
        );
        assert!(AuditCursor::decode("x_1").is_err());
        assert!(AuditCursor::decode("-3").is_err());
        assert!(AuditCursor::decode("' OR 1=1 --").is_err());
    }

    fn entry(id: i32) -> AuditEntry {
        AuditEntry {
            id,
            event_id: Uuid::new_v4(),
            event_type: "created".into(),
            user_id: "u".into(),
            task_id: 1,
            event_data: serde_json::Value::Null,
            timestamp: crate::clock::now(),
        }
    }

    fn filter(query: AuditQuery) -> AuditFilter {
        AuditFilter::parse(query).unwrap()
    }

    #[test]
    fn a_page_says_where_to_go_on_and_where_the_tail_is() {
        let two = filter(AuditQuery {
            limit: Some(2),
            ..Default::default()
        });
        let full = page(vec![entry(3), entry(5), entry(9)], &two);
        assert_eq!(full.events.len(), 2);
        assert_eq!(full.next_cursor.as_deref(), Some("5"));
        assert_eq!(full.tail_cursor.as_deref(), Some("5"));

        let last = page(vec![entry(9)], &two);
        assert_eq!(last.next_cursor, None);
        assert_eq!(last.tail_cursor.as_deref(), Some("9"));

        let after_nine = filter(AuditQuery {
            cursor: Some("9".into()),
            ..Default::default()
        });
        assert_eq!(page(vec![], &after_nine).tail_cursor.as_deref(), Some("9"));
        assert_eq!(page(vec![], &filter(AuditQuery::default())).tail_cursor, None);

        let newest_first = filter(AuditQuery {
            order: Some(AuditOrder::Desc),
            ..Default::default()
        });
        assert_eq!(page(vec![entry(9), entry(5)], &newest_first).tail_cursor, None);
    }
}
