use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use web::ApiError;

/// A fixed-window counter per key (an IP, an email). Memory stays bounded: expired windows are
/// dropped whenever the map grows large.
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const PRUNE_ABOVE: usize = 10_000;

impl RateLimiter {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses when `key` has used up its window.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        let windows = self.windows.lock().expect("rate limiter lock");
        match windows.get(key) {
            Some((start, count)) if *count >= self.limit && start.elapsed() < self.window => {
                let retry_after_secs = (self.window - start.elapsed()).as_secs().max(1);
                Err(ApiError::TooManyRequests { retry_after_secs })
            }
            _ => Ok(()),
        }
    }

    /// Counts one use of `key`.
    pub fn record(&self, key: &str) {
        let mut windows = self.windows.lock().expect("rate limiter lock");
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (start, _)| start.elapsed() < self.window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    pub fn clear(&self, key: &str) {
        self.windows.lock().expect("rate limiter lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_and_names_a_retry_time() {
        let limiter = RateLimiter::per_minute(2);
        limiter.record("a");
        limiter.record("a");
        assert!(
            matches!(limiter.check("a"), Err(ApiError::TooManyRequests { retry_after_secs }) if retry_after_secs >= 1)
        );
        assert!(limiter.check("b").is_ok());
        limiter.clear("a");
        assert!(limiter.check("a").is_ok());
    }
}
