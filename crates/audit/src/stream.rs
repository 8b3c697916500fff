//! The live trail: `GET /api/{user_id}/audit/stream`, the caller's new entries as server-sent
//! events the moment they are stored. Each event's `id` is the entry's cursor, so a client that
//! reconnects with `Last-Event-ID` gets exactly what it has not seen: nothing skipped (one
//! user's entries become visible in id order, see `store`), nothing repeated. The stream ends
//! when the token expires and when the server shuts down; the client reconnects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use auth::Owner;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use domain::audit::{AuditCursor, AuditFilter, AuditOrder, AuditQuery};
use domain::{AuditEntry, ValidationError};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use web::{ApiResult, Query};

use crate::AuditState;

/// The route, for the server's request deadline: a stream bounds itself.
pub const STREAM_ROUTE: &str = "/api/{user_id}/audit/stream";
/// Entries read per look.
const BATCH: u32 = 200;
/// How often a stream looks without being woken: entries stored by another replica.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// A comment line this often keeps proxies from closing an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// New entries of the caller's trail as they are stored (`text/event-stream`): each an event
/// `audit` whose `id` is its cursor and whose data is the entry. Starts after `Last-Event-ID`,
/// else after `cursor`, else at the end of the trail; `event_type` and `task_id` filter as on
/// the trail.
#[utoipa::path(get, path = "/api/{user_id}/audit/stream", tag = "audit",
    params(("user_id" = String, Path, description = "The caller's own user id (the token's subject)"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last event's id: resume after it"), AuditQuery),
    responses((status = 200, description = "Server-sent events: `event: audit`, `id: <cursor>`, `data: <AuditEntry>`; a comment every 15 s", content_type = "text/event-stream", body = String),
        (status = 400, description = "A query parameter of the wrong type (`invalid_query`)", body = crate::openapi::ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized), (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "An unknown event type, or a cursor or Last-Event-ID this API did not give (`validation_failed`)", body = crate::openapi::ErrorBody),
        (status = 503, response = crate::openapi::Unavailable)),
    security(("bearer" = [])))]
pub async fn audit_stream(
    owner: Owner,
    State(s): State<AuditState>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let mut filter = AuditFilter::parse(query)?;
    filter.order = AuditOrder::Asc;
    filter.limit = BATCH;
    if let Some(last) = headers.get("last-event-id") {
        let wrong = || ValidationError::new("Last-Event-ID", "is not an event id this stream sent");
        let last = last.to_str().map_err(|_| wrong())?;
        filter.after = Some(AuditCursor::decode(last.trim()).map_err(|_| wrong())?);
    }
    if filter.after.is_none() {
        filter.after = Some(end_of_trail(&s, &owner.user_id).await?);
    }
    // Subscribe before the first look, so that nothing stored in between goes unheard.
    let woken = s.feed.subscribe();
    let closing = s.closing.clone();
    let token_left = Duration::from_secs(owner.expires_at.saturating_sub(unix_now()));
    let follower = Follower {
        state: s,
        user_id: Arc::from(owner.user_id),
        filter,
        woken,
        ready: Vec::new().into_iter(),
    };
    let events = futures::stream::unfold(follower, |mut follower| async move {
        let event = follower.next().await?;
        Some((Ok(event), follower))
    })
    .take_until(async move {
        tokio::select! {
            _ = tokio::time::sleep(token_left) => {}
            _ = closing.cancelled() => {}
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}

/// Where the trail ends now: a stream without a starting point sends only what comes next.
async fn end_of_trail(s: &AuditState, user_id: &str) -> ApiResult<AuditCursor> {
    let newest = AuditFilter {
        event_types: Vec::new(),
        task_id: None,
        from: None,
        to: None,
        limit: 1,
        after: None,
        order: AuditOrder::Desc,
    };
    let rows = s.store.trail(user_id, &newest).await?;
    Ok(rows.first().map(AuditCursor::after).unwrap_or(AuditCursor { id: 0 }))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One open stream: reads what follows its cursor, and waits to be woken (or for its next
/// look) when there is nothing.
struct Follower {
    state: AuditState,
    user_id: Arc<str>,
    filter: AuditFilter,
    woken: broadcast::Receiver<Arc<str>>,
    ready: std::vec::IntoIter<AuditEntry>,
}

impl Follower {
    /// The next entry as an event; `None` ends the stream (the database failed: the client
    /// reconnects from its last event).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(entry) = self.ready.next() {
                self.filter.after = Some(AuditCursor::after(&entry));
                let data = serde_json::to_string(&entry).ok()?;
                return Some(Event::default().event("audit").id(entry.id.to_string()).data(data));
            }
            match self.state.store.trail(&self.user_id, &self.filter).await {
                Ok(mut rows) if !rows.is_empty() => {
                    // The store reads one more than the limit, to tell whether more follow.
                    rows.truncate(BATCH as usize);
                    self.ready = rows.into_iter();
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, user_id = %self.user_id, "the trail's stream could not read; ending it");
                    return None;
                }
            }
            self.wait().await;
        }
    }

    async fn wait(&mut self) {
        let look = tokio::time::sleep(LOOK_EVERY);
        tokio::pin!(look);
        loop {
            tokio::select! {
                _ = &mut look => return,
                heard = self.woken.recv() => match heard {
                    Ok(user_id) if user_id == self.user_id => return,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => {
                        (&mut look).await;
                        return;
                    }
                },
            }
        }
    }
}
