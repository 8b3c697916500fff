//! argon2id password hashing on a fixed set of threads, one per core, behind a bounded queue.
//!
//! Each hash costs 19 MiB and tens of milliseconds. A burst of sign-ups or logins queues here
//! instead of starving requests of CPU. Each thread allocates its 19 MiB of argon2 blocks once
//! and hashes in them for its whole life: allocated per hash, the blocks were kept by every
//! allocator arena the thread happened to use (six arenas of 57 MiB, 420 MB resident after 1,000
//! sign-ups). When the queue is full a request is refused at once (503) rather than waiting
//! behind a minute of hashing, and work whose request has gone away is skipped.

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use web::{ApiError, ApiResult};

/// Hashes waiting at most; with two cores that is about 15 s of work.
pub const QUEUE_CAPACITY: usize = 1024;

/// A valid argon2id hash of a random password, checked when the email is unknown so that a
/// login takes the same work whether or not the account exists.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H4rJ1b9rH9cAAvG2w0kp0nC0m+9cV0R8KzYt4g9B6kI";

/// A hashing thread's argon2 working memory, reused by every hash the thread computes.
pub struct Blocks(Vec<Block>);

impl Blocks {
    /// Empty until the first hash: an idle server does not hold 19 MiB per thread.
    fn new() -> Self {
        Self(Vec::new())
    }

    /// `argon2`'s output for `password` and `salt`, computed in these blocks (grown on first
    /// use, and when a stored hash asks for more memory than any before).
    fn compute(&mut self, argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
        let count = argon2.params().block_count();
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut self.0[..count])
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) with argon2's default
    /// parameters and a random 16-byte salt: what `Argon2::default().hash_password` makes.
    pub fn hash(&mut self, password: &[u8]) -> anyhow::Result<String> {
        let argon2 = Argon2::default();
        let salt = argon2::password_hash::generate_salt();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.compute(&argon2, password, &salt, &mut out)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        let phc = PasswordHash {
            algorithm: Algorithm::default().ident(),
            version: Some(Version::default().into()),
            params: ParamsString::try_from(argon2.params()).map_err(|e| anyhow::anyhow!("argon2: {e}"))?,
            salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("argon2 salt: {e}"))?),
            hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `hash`, with the parameters it names;
    /// compared in constant time. An unreadable hash matches nothing.
    pub fn verify(&mut self, password: &[u8], hash: &str) -> bool {
        let Ok(phc) = PasswordHash::new(hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
            return false;
        };
        let Ok(version) = phc.version.map_or(Ok(Version::default()), Version::try_from) else {
            return false;
        };
        let Ok(params) = Params::try_from(&phc) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params);
        let mut out = vec![0u8; expected.len()];
        if self.compute(&argon2, password, salt.as_ref(), &mut out).is_err() {
            return false;
        }
        Output::new(&out).is_ok_and(|computed| computed == *expected)
    }
}

type Job = Box<dyn FnOnce(&mut Blocks) + Send>;

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
                    let mut blocks = Blocks::new();
                    loop {
                        let job = match receiver.lock().expect("argon2 queue lock").recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        job(&mut blocks);
                    }
                })
                .expect("spawn an argon2 thread");
        }
        Self { jobs }
    }

    pub async fn hash(&self, password: String) -> ApiResult<String> {
        self.run(move |blocks| blocks.hash(password.as_bytes()))
            .await?
            .map_err(ApiError::Internal)
    }

    /// Whether `password` matches `hash`; the same work when there is no hash (no such user),
    /// so that timing does not reveal accounts.
    pub async fn verify(&self, password: String, hash: Option<String>) -> ApiResult<bool> {
        self.run(move |blocks| {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
            let ok = blocks.verify(password.as_bytes(), &hash);
            known && ok
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Blocks) -> T + Send + 'static) -> ApiResult<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |blocks| {
            // The request went away while this waited (the client left, or its timeout
            // passed): nobody would see the answer, so the work is skipped.
            if done.is_closed() {
                metrics::counter!("tasktrail_password_hashing_skipped_total").increment(1);
                return;
            }
            let _ = done.send(work(blocks));
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

    #[test]
    fn hashes_are_the_argon2_crates_own_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut blocks = Blocks::new();
        // Made here, checked by the crate's verifier: same format, parameters and output.
        let ours = blocks.hash(b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", ours.as_str())
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horsf", ours.as_str())
                .is_err()
        );
        // Made by the crate (as every stored hash was before), checked here.
        let theirs = Argon2::default().hash_password(b"battery staple").unwrap().to_string();
        assert!(blocks.verify(b"battery staple", &theirs));
        assert!(!blocks.verify(b"battery stapler", &theirs));
        // Other parameters, smaller and larger than the blocks at hand, are honoured.
        for m_cost in [64, 24 * 1024] {
            let params = Params::new(m_cost, 1, 1, None).unwrap();
            let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"staple")
                .unwrap()
                .to_string();
            assert!(blocks.verify(b"staple", &other), "m={m_cost}");
            assert!(!blocks.verify(b"stapel", &other), "m={m_cost}");
        }
        for unreadable in ["", "plain text", "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ"] {
            assert!(!blocks.verify(b"x", unreadable), "{unreadable:?}");
        }
    }

    /// Keeps the pool's one thread busy until the returned sender is sent to.
    fn occupy_the_only_thread(passwords: &Passwords) -> std::sync::mpsc::Sender<()> {
        let (started, has_started) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy: Job = Box::new(move |_| {
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
            passwords.jobs.try_send(Box::new(|_| {})).is_ok(),
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
            passwords.run(move |_| ran.store(true, std::sync::atomic::Ordering::SeqCst))
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
