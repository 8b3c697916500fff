use std::fmt;
use std::time::Duration;

use std::sync::atomic::Ordering;

use crate::user::{Settled, Totals};

pub struct Report {
    /// Operations answered within the measured window.
    pub ops: u64,
    /// All operations timed, including those of rounds finished after the window.
    pub ops_timed: usize,
    pub measured: Duration,
    pub errors: u64,
    /// Failed operations by cause (HTTP status or transport error kind), most frequent first.
    pub failures: Vec<(String, u64)>,
    /// Observers' trail reads that failed during the run and were retried.
    pub trail_errors: u64,
    pub http_p50_ms: f64,
    pub http_p99_ms: f64,
    pub audit_p50_ms: f64,
    pub audit_p99_ms: f64,
    pub audit_max_ms: f64,
    pub expected_events: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub unexpected: usize,
    /// The server's memory at the end of the run (`--server-pid`).
    pub server_memory: Option<ServerMemory>,
}

/// A process's resident memory, from /proc/{pid}/status.
#[derive(Debug, Clone, Copy)]
pub struct ServerMemory {
    /// VmHWM: the peak resident set size over the process's life.
    pub peak_mb: f64,
    /// VmRSS: resident now.
    pub resident_mb: f64,
}

impl ServerMemory {
    pub fn read(pid: u32) -> std::io::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = |field: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .ok_or_else(|| std::io::Error::other(format!("no {field} in /proc/{pid}/status")))
        };
        Ok(Self {
            peak_mb: kib("VmHWM:")? / 1024.0,
            resident_mb: kib("VmRSS:")? / 1024.0,
        })
    }
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

impl Report {
    pub fn new(users: Vec<Settled>, ops: u64, measured: Duration, totals: &Totals) -> Self {
        let mut failures: Vec<(String, u64)> = totals
            .failures
            .lock()
            .unwrap()
            .iter()
            .map(|(cause, n)| (cause.clone(), *n))
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.1));
        let mut http: Vec<u64> = users.iter().flat_map(|u| u.http_latencies_us.iter().copied()).collect();
        let mut audit: Vec<u64> = users
            .iter()
            .flat_map(|u| u.audit_latencies_us.iter().copied())
            .collect();
        http.sort_unstable();
        audit.sort_unstable();
        Self {
            ops,
            ops_timed: http.len(),
            measured,
            errors: totals.errors.load(Ordering::Relaxed),
            failures,
            trail_errors: totals.trail_errors.load(Ordering::Relaxed),
            http_p50_ms: percentile_ms(&http, 50.0),
            http_p99_ms: percentile_ms(&http, 99.0),
            audit_p50_ms: percentile_ms(&audit, 50.0),
            audit_p99_ms: percentile_ms(&audit, 99.0),
            audit_max_ms: audit.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0),
            expected_events: users.iter().map(|u| u.expected).sum(),
            missing: users.iter().map(|u| u.missing).sum(),
            duplicated: users.iter().map(|u| u.duplicated).sum(),
            unexpected: users.iter().map(|u| u.unexpected).sum(),
            server_memory: None,
        }
    }

    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.measured.as_secs_f64()
    }

    pub fn passed(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.unexpected == 0 && self.errors == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "operations       {} in {:.1}s = {:.0} ops/s ({} failed; {} timed incl. rounds finished after the window)",
            self.ops,
            self.measured.as_secs_f64(),
            self.ops_per_sec(),
            self.errors,
            self.ops_timed
        )?;
        if !self.failures.is_empty() {
            let causes: Vec<String> = self.failures.iter().map(|(cause, n)| format!("{cause}: {n}")).collect();
            writeln!(f, "failed by cause  {}", causes.join(", "))?;
        }
        if self.trail_errors > 0 {
            writeln!(
                f,
                "trail reads      {} failed during the run (retried)",
                self.trail_errors
            )?;
        }
        writeln!(
            f,
            "HTTP latency     p50 {:.1} ms   p99 {:.1} ms",
            self.http_p50_ms, self.http_p99_ms
        )?;
        writeln!(
            f,
            "op-to-audit      p50 {:.0} ms   p99 {:.0} ms   max {:.0} ms",
            self.audit_p50_ms, self.audit_p99_ms, self.audit_max_ms
        )?;
        writeln!(
            f,
            "audit trail      {} events expected, {} missing, {} duplicated, {} unexpected",
            self.expected_events, self.missing, self.duplicated, self.unexpected
        )?;
        if let Some(memory) = self.server_memory {
            writeln!(
                f,
                "server memory    peak {:.1} MB (VmHWM), resident at the end {:.1} MB",
                memory.peak_mb, memory.resident_mb
            )?;
        }
        writeln!(f, "result           {}", if self.passed() { "PASS" } else { "FAIL" })?;
        write!(f, "{}", self.summary_line())
    }
}

impl Report {
    /// One line of `key=value` pairs, for scripts: milliseconds, MB, counts; `peak_mb` is
    /// `-` without `--server-pid`.
    pub fn summary_line(&self) -> String {
        let peak = self
            .server_memory
            .map(|m| format!("{:.1}", m.peak_mb))
            .unwrap_or_else(|| "-".into());
        format!(
            "summary result={} ops_per_s={:.0} failed={} http_p50_ms={:.1} http_p99_ms={:.1} \
             audit_p50_ms={:.0} audit_p99_ms={:.0} audit_max_ms={:.0} events={} missing={} \
             duplicated={} unexpected={} peak_mb={peak}",
            if self.passed() { "pass" } else { "fail" },
            self.ops_per_sec(),
            self.errors,
            self.http_p50_ms,
            self.http_p99_ms,
            self.audit_p50_ms,
            self.audit_p99_ms,
            self.audit_max_ms,
            self.expected_events,
            self.missing,
            self.duplicated,
            self.unexpected,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_processs_peak_and_current_memory() {
        let memory = ServerMemory::read(std::process::id()).unwrap();
        assert!(memory.resident_mb > 1.0, "{memory:?}");
        assert!(memory.peak_mb >= memory.resident_mb, "{memory:?}");
        assert!(ServerMemory::read(u32::MAX).is_err(), "no such process");
    }

    #[test]
    fn the_summary_is_one_line_of_key_value_pairs() {
        let mut report = Report::new(Vec::new(), 3000, Duration::from_secs(30), &Totals::default());
        report.duplicated = 2;
        let line = report.summary_line();
        assert!(!line.contains('\n'));
        let pairs: std::collections::HashMap<&str, &str> = line
            .strip_prefix("summary ")
            .unwrap()
            .split(' ')
            .map(|pair| pair.split_once('=').unwrap())
            .collect();
        assert_eq!(pairs["result"], "fail", "a duplicate fails the run");
        assert_eq!(pairs["ops_per_s"], "100");
        assert_eq!(pairs["duplicated"], "2");
        assert_eq!(pairs["peak_mb"], "-", "no --server-pid");
        report.server_memory = Some(ServerMemory {
            peak_mb: 97.25,
            resident_mb: 80.0,
        });
        assert!(
            report.summary_line().ends_with(" peak_mb=97.2"),
            "{}",
            report.summary_line()
        );
        assert!(
            report.to_string().ends_with(&report.summary_line()),
            "the report ends with it"
        );
    }
}
