//! argon2id password hashing on a fixed set of threads, one per core, behind a bounded queue.
//!
//! Each hash costs 19 MiB and tens of milliseconds. A burst of sign-ups or logins queues here
//! instead of starving requests of CPU, and since each thread reuses its own allocator arena,
//! memory stays at about 19 MiB per thread (on tokio's blocking pool, every new thread kept
//! another 19 MiB arena: 1 GB after 1,000 sign-ups). When the queue is full a request is
//! refused at once (503) rather than waiting behind a minute of hashing, and work whose
//! request has gone away is skipped.

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use web::{ApiError, ApiResult};

/// Hashes waiting at most; with two cores that is about 15 s of work.
pub const QUEUE_CAPACITY: usize = 1024;

/// A valid argon2id hash of a random password, checked when the email is unknown so that a
/// login takes the same work whether or not the account exists.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H4rJ1b9rH9cAAvG2w0kp0nC0m+9cV0R8KzYt4g9B6kI";

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Passwords {
    jobs: SyncSender<Job>,
}

impl Passwords {
    /// One thread per core and a queue of [`QUEUE_CAPACITY`].
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self::with_threads(threads, QUEUE_CAPACITY)
    }

    fn with_threads(threads: usize, capacity: usize) -> Self {
        let (jobs, receiver) = sync_channel::<Job>(capacity);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match receiver.lock().expect("argon2 queue lock").recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        job();
                    }
                })
                .expect("spawn an argon2 thread");
        }
        Self { jobs }
    }

    pub async fn hash(&self, password: String) -> ApiResult<String> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await?
        .map_err(ApiError::Internal)
    }

    /// Whether `password` matches `hash`; the same work when there is no hash (no such user),
    /// so that timing does not reveal accounts.
    pub async fn verify(&self, password: String, hash: Option<String>) -> ApiResult<bool> {
        self.run(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok();
            known && ok
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The request went away while this waited (the client left, or its timeout
            // passed): nobody would see the answer, so the work is skipped.
            if done.is_closed() {
                metrics::counter!("tasktrail_password_hashing_skipped_total").increment(1);
                return;
            }
            let _ = done.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!("tasktrail_password_hashing_refused_total").increment(1);
                return Err(ApiError::Unavailable(
                    "too many sign-ups and logins at once; try again shortly".into(),
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::internal(anyhow::anyhow!("argon2 threads are gone")));
            }
        }
        result.await.map_err(ApiError::internal)
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_dummy_hash_is_a_valid_argon2_hash_that_never_verifies() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
        let passwords = Passwords::new();
        assert!(!passwords.verify("password1".into(), None).await.unwrap());
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("wrong horse".into(), Some(hash)).await.unwrap());
    }

    /// Keeps the pool's one thread busy until the returned sender is sent to.
    fn occupy_the_only_thread(passwords: &Passwords) -> std::sync::mpsc::Sender<()> {
        let (started, has_started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy: Job = Box::new(move || {
            started.send(()).unwrap();
            released.recv().unwrap();
        });
        passwords.jobs.try_send(busy).unwrap();
        has_started.recv().unwrap();
        release
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_takes_work_again_once_it_drains() {
        let passwords = Passwords::with_threads(1, 1);
        let release = occupy_the_only_thread(&passwords);
        // The thread is busy; one job fits in the queue, the next is refused.
        assert!(
            passwords.jobs.try_send(Box::new(|| {})).is_ok(),
            "the queue holds one job"
        );
        let refused = passwords.verify("password1".into(), None).await;
        assert!(matches!(refused, Err(ApiError::Unavailable(_))), "got {refused:?}");
        release.send(()).unwrap();
        // The queue drains in microseconds; a few tries at most.
        let mut answer = passwords.verify("password1".into(), None).await;
        for _ in 0..100 {
            if !matches!(answer, Err(ApiError::Unavailable(_))) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            answer = passwords.verify("password1".into(), None).await;
        }
        assert!(!answer.unwrap(), "verified again once the queue drained");
    }

    #[tokio::test]
    async fn work_whose_request_went_away_is_skipped() {
        let passwords = Passwords::with_threads(1, 4);
        let release = occupy_the_only_thread(&passwords);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let abandoned = {
            let ran = ran.clone();
            passwords.run(move || ran.store(true, std::sync::atomic::Ordering::SeqCst))
        };
        // Polled once (queued behind the busy job), then dropped: the request is gone.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), abandoned)
                .await
                .is_err()
        );
        release.send(()).unwrap();
        // A later job runs after the abandoned one in queue order.
        assert!(!passwords.verify("password1".into(), None).await.unwrap());
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "the abandoned job did not run"
        );
    }
}
