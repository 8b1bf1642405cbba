//! The server under soak: a `ponder serve` child process on a loopback port, with its
//! log in a file, its RSS from `/proc`, its metrics, and a SIGTERM at the end.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A running `ponder serve`.
pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `ponder serve model flags...` on a free loopback port, logging to `log`,
    /// and waits until `/ready` answers 200 (at most `ready_timeout`).
    ///
    /// Errors: the binary cannot start, or it exits or is not ready in time.
    pub async fn start(
        ponder: &Path,
        model: &str,
        flags: &[String],
        log: PathBuf,
        ready_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(ponder)
            .arg("serve")
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(flags)
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", ponder.display()))?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + ready_timeout;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "ponder exited during start-up ({status}); see {}",
                    server.log.display()
                );
            }
            if let Ok(r) = client.get(format!("{}/ready", server.base)).send().await {
                if r.status().is_success() {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                let _ = server.child.kill();
                bail!(
                    "ponder not ready after {ready_timeout:?}; see {}",
                    server.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resident set size in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_of(self.child.id())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit (at most `timeout`, then SIGKILL).
    pub async fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("ponder did not exit within {timeout:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server running (a failed soak ends here too).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident set size of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kb * 1024)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One sample of `/metrics`: the value of every unlabelled or labelled series.
pub async fn metric(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap_or(f64::NAN))
        .unwrap_or(0.0))
}

/// Lines of the log that show a panic (`panicked at`) or a 5xx answered by a handler.
pub fn panics_in_log(log: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(log)?;
    Ok(text
        .lines()
        .filter(|l| l.contains("panicked at") || l.contains("RUST_BACKTRACE"))
        .map(str::to_owned)
        .collect())
}
