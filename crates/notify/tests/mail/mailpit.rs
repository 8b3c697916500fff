//! A real Mailpit per test (scripts/mailpit builds it once): its own loopback ports and its
//! own data folder, read back through its HTTP API, stopped and removed on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The Mailpit binary: $TASKTRAIL_MAILPIT_BIN, else `scripts/mailpit prepare` (cached; the
/// first run of a fresh machine builds it).
fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("TASKTRAIL_MAILPIT_BIN") {
            return PathBuf::from(bin);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mailpit");
        let out = Command::new(&script)
            .arg("prepare")
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(out.status.success(), "scripts/mailpit prepare failed");
        let path = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(path.lines().last().expect("scripts/mailpit printed no path").trim())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Mailpit {
    child: Option<Child>,
    /// While stopped, the SMTP port stays bound (refusing connections) so that no other test
    /// takes it before the restart.
    held: Option<tokio::net::TcpSocket>,
    dir: PathBuf,
    args: Vec<String>,
    pub smtp_port: u16,
    pub http_port: u16,
    http: reqwest::Client,
}

impl Mailpit {
    /// Mailpit with these extra flags (e.g. `--smtp-auth-accept-any`), in a folder of its own.
    pub async fn start(extra: &[&str]) -> Mailpit {
        Self::start_in(new_dir(), extra).await
    }

    /// As [`Mailpit::start`], in a folder the test prepared (`{dir}` in a flag is replaced by it).
    pub async fn start_in(dir: PathBuf, extra: &[&str]) -> Mailpit {
        let args: Vec<String> = extra
            .iter()
            .map(|a| a.replace("{dir}", &dir.display().to_string()))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .unwrap();
        let mut mailpit = Mailpit {
            child: None,
            held: None,
            dir,
            args,
            smtp_port: 0,
            http_port: 0,
            http,
        };
        // A port picked free may be taken again before Mailpit binds it: try a few times.
        for _ in 0..3 {
            (mailpit.smtp_port, mailpit.http_port) = (free_port(), free_port());
            if mailpit.spawn().await {
                return mailpit;
            }
        }
        panic!("Mailpit did not start; its log: {}", log_of(&mailpit.dir));
    }

    /// Whether Mailpit itself answers on its SMTP port: a port picked free may have gone to
    /// another test's listener meanwhile (Mailpit, unable to bind it, then exits). A plain
    /// server greets; one that wants TLS from the first byte cannot, so there the process must
    /// still be running a moment after the port answered.
    async fn smtp_answers(&mut self, smtp: SocketAddr) -> bool {
        if !self.args.iter().any(|a| a == "--smtp-require-tls") {
            return greets(smtp);
        }
        if TcpStream::connect_timeout(&smtp, Duration::from_millis(200)).is_err() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Stops the server (SMTP down: connections are refused), keeping its ports, folder and
    /// messages.
    pub fn stop(&mut self) {
        self.kill();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let _ = socket.set_reuseaddr(true);
        if socket.bind(([127, 0, 0, 1], self.smtp_port).into()).is_ok() {
            self.held = Some(socket);
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports, with the messages it had.
    pub async fn restart(&mut self) {
        self.kill();
        // The old listener's port may take a moment to be free again.
        for _ in 0..20 {
            if self.spawn().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("Mailpit did not restart; its log: {}", log_of(&self.dir));
    }

    /// Starts the process and waits until it answers; false if it exited or did not answer.
    async fn spawn(&mut self) -> bool {
        self.held = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mailpit.log"))
            .unwrap();
        let child = Command::new(binary())
            .arg("--smtp")
            .arg(format!("127.0.0.1:{}", self.smtp_port))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .arg("--database")
            .arg(self.dir.join("mailpit.db"))
            .args(["--smtp-disable-rdns", "--disable-version-check"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary().display()));
        self.child = Some(child);
        if self.wait_ready().await {
            return true;
        }
        self.kill();
        false
    }

    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        let smtp: SocketAddr = ([127, 0, 0, 1], self.smtp_port).into();
        while Instant::now() < deadline {
            let exited = self.child.as_mut().is_none_or(|c| c.try_wait().unwrap().is_some());
            if exited {
                return false;
            }
            let http_ok = self
                .http
                .get(self.api("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if http_ok && self.smtp_answers(smtp).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(self.api(path)).send().await.unwrap();
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Mailpit's chaos triggers (needs `--enable-chaos`): e.g. `{"Recipient": {"ErrorCode":
    /// 451, "Probability": 100}}` answers every RCPT with 451; `{}` turns them all off.
    pub async fn set_chaos(&self, triggers: Value) {
        let response = self
            .http
            .put(self.api("/api/v1/chaos"))
            .json(&triggers)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "PUT /api/v1/chaos: {}",
            response.status()
        );
    }

    /// The summaries of every message received, newest first.
    pub async fn messages(&self) -> Vec<Value> {
        let list = self.get("/api/v1/messages").await;
        list["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (at most 5 s) until `n` messages are there, and returns them in full; then
    /// checks for a moment that no more arrive.
    pub async fn expect_messages(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut summaries = self.messages().await;
        while summaries.len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            summaries = self.messages().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        summaries = self.messages().await;
        assert_eq!(summaries.len(), n, "messages in Mailpit: {summaries:#?}");
        let mut full = Vec::new();
        for summary in summaries {
            let id = summary["ID"].as_str().unwrap();
            full.push(self.get(&format!("/api/v1/message/{id}")).await);
        }
        full
    }

    /// The headers of a message as Mailpit parsed them: name -> [values].
    pub async fn headers(&self, message: &Value) -> serde_json::Map<String, Value> {
        let id = message["ID"].as_str().unwrap();
        match self.get(&format!("/api/v1/message/{id}/headers")).await {
            Value::Object(map) => map,
            other => panic!("headers of {id}: {other}"),
        }
    }

    /// The message as it came over SMTP.
    pub async fn raw(&self, message: &Value) -> String {
        let id = message["ID"].as_str().unwrap();
        let response = self
            .http
            .get(self.api(&format!("/api/v1/message/{id}/raw")))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }
}

impl Drop for Mailpit {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether an SMTP server greets on `addr`.
fn greets(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut greeting = [0u8; 64];
    let greeted = stream
        .read(&mut greeting)
        .is_ok_and(|n| greeting[..n].starts_with(b"220 "));
    let _ = stream.write_all(b"QUIT\r\n");
    greeted
}

/// A fresh folder for one test's files.
pub fn new_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tasktrail-test-mailpit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("mailpit.log")).unwrap_or_default()
}
