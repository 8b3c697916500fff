use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use web::ApiError;

/// A fixed-window counter per key (an IP, an email and IP). Memory stays bounded: expired
/// windows are dropped whenever the map grows large.
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const PRUNE_ABOVE: usize = 10_000;

/// One use of a key, counted from the moment it was granted, so that parallel requests cannot
/// all pass before any of them is counted. Dropped without [`Use::keep`], it is given back
/// (the attempt turned out not to count: a correct password, invalid input, a dependency down,
/// or the client went away).
#[must_use]
pub struct Use<'a> {
    limiter: &'a RateLimiter,
    key: String,
    window_start: Instant,
    kept: bool,
}

impl Use<'_> {
    /// The use counts.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Use<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let mut windows = self.limiter.windows.lock().expect("rate limiter lock");
        if let Some((start, count)) = windows.get_mut(&self.key)
            && *start == self.window_start
        {
            *count = count.saturating_sub(1);
        }
    }
}

impl RateLimiter {
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one use of `key`, or refuses when its window is used up. Checking and counting
    /// are one step under the lock.
    pub fn take(&self, key: &str) -> Result<Use<'_>, ApiError> {
        let mut windows = self.windows.lock().expect("rate limiter lock");
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (start, _)| start.elapsed() < self.window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        if entry.1 >= self.limit {
            let retry_after_secs = (self.window.saturating_sub(entry.0.elapsed())).as_secs().max(1);
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
        entry.1 += 1;
        Ok(Use {
            limiter: self,
            key: key.to_owned(),
            window_start: entry.0,
            kept: false,
        })
    }

    /// Forgets `key`'s window.
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
        limiter.take("a").unwrap().keep();
        limiter.take("a").unwrap().keep();
        assert!(
            matches!(limiter.take("a"), Err(ApiError::TooManyRequests { retry_after_secs }) if retry_after_secs >= 1)
        );
        assert!(limiter.take("b").is_ok());
        limiter.clear("a");
        assert!(limiter.take("a").is_ok());
    }

    #[test]
    fn uses_held_at_once_count_and_a_use_given_back_frees_its_place() {
        let limiter = RateLimiter::per_minute(2);
        let first = limiter.take("a").unwrap();
        let second = limiter.take("a").unwrap();
        assert!(limiter.take("a").is_err(), "two uses in flight fill the window");
        drop(first);
        let third = limiter.take("a").unwrap();
        second.keep();
        third.keep();
        assert!(limiter.take("a").is_err());
    }
}
