use chrono::{DateTime, SubsecRound, Utc};

/// The current time truncated to microseconds: PostgreSQL keeps microseconds, so a
/// timestamp read back from either database equals the one we wrote and put in the event.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
