//! `ponder-bench soak`: a fault soak of a `ponder serve` it starts itself on loopback.
//!
//! `--requests` mixed requests at `--concurrency` ([`traffic::Kind`]: chat and
//! completions, streaming or not, `n` 1–8, JSON-schema output, thinking budgets, and
//! faulty clients: hang-ups before the headers, after the first chunk and mid-stream,
//! slow readers and clients that never read, malformed, mistyped and oversize bodies,
//! prompts that cannot fit), with three events on the way: a burst past the admission
//! limit at 30%, a `/pause` – `/update_weights_from_disk` – `/resume` cycle at 50%, and
//! a SIGTERM at the end with streams running. It asserts what issue 11 asks: no panic
//! in the server's log, no 5xx but documented 503s, every accepted request completed
//! or ended with an error event, the running/waiting/KV gauges back to 0, RSS after the
//! run within 10% of RSS after warm-up, and a clean exit (0) on SIGTERM.

mod server;
mod traffic;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use serde_json::json;

use self::server::{metric, Server};
use self::traffic::{send, verdict, Kind, Outcome, Target};

/// `ponder-bench soak` flags.
#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// The `ponder` binary (default: the one beside `ponder-bench`).
    #[arg(long)]
    pub ponder: Option<PathBuf>,
    /// Model folder to serve (also the checkpoint of the mid-run weight update).
    #[arg(long, default_value = "models/assets/tiny-reasoner")]
    pub model: String,
    /// Requests of the main phase (warm-up and events come on top).
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// Clients sending at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The report (JSON); the server's log goes beside it as `soak-server.log`.
    #[arg(long, default_value = "results/soak.json")]
    pub out: PathBuf,
    /// Gives up (and fails) after this many seconds in all.
    #[arg(long, default_value_t = 1800)]
    pub time_limit_s: u64,
}

const MAX_NUM_SEQS: usize = 16;
const MAX_WAITING: usize = 128;
const MAX_BODY_BYTES: usize = 1 << 20;
const STALL_TIMEOUT_S: f64 = 0.5;
const SHUTDOWN_TIMEOUT_S: f64 = 5.0;
const ADMIN: &str = "soak-admin";

#[derive(Debug, Default, Serialize)]
struct Report {
    requests: usize,
    seconds: f64,
    /// Outcome counts per kind.
    outcomes: BTreeMap<String, BTreeMap<String, usize>>,
    /// Every outcome a kind does not allow (empty when the soak passed).
    violations: Vec<String>,
    rss_after_warmup_mb: f64,
    rss_after_run_mb: f64,
    /// Server counters at the end.
    counters: BTreeMap<String, f64>,
    /// The gauges once idle: running, waiting, KV usage.
    gauges_idle: BTreeMap<String, f64>,
    exit_code: Option<i32>,
    panics_in_log: Vec<String>,
    failures: Vec<String>,
}

type Tally = Arc<Mutex<(BTreeMap<Kind, BTreeMap<String, usize>>, Vec<String>)>>;

fn record(tally: &Tally, kind: Kind, outcome: &Outcome) {
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    *t.0.entry(kind)
        .or_default()
        .entry(outcome.label())
        .or_default() += 1;
    if let Err(why) = verdict(kind, outcome) {
        if t.1.len() < 50 {
            t.1.push(why);
        } else if t.1.len() == 50 {
            t.1.push("(more not shown)".into());
        }
    }
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    if args.requests == 0 || args.concurrency == 0 {
        bail!("--requests and --concurrency must be at least 1");
    }
    let ponder = match &args.ponder {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("ponder"),
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log = args.out.with_file_name("soak-server.log");
    let flags: Vec<String> = [
        "--kv-cache-memory",
        "64MiB",
        "--max-num-seqs",
        &MAX_NUM_SEQS.to_string(),
        "--max-waiting-requests",
        &MAX_WAITING.to_string(),
        "--max-queue-time",
        "30",
        "--stream-stall-timeout",
        &STALL_TIMEOUT_S.to_string(),
        "--stream-buffer-tokens",
        "256",
        "--shutdown-timeout",
        &SHUTDOWN_TIMEOUT_S.to_string(),
        "--max-body-bytes",
        &MAX_BODY_BYTES.to_string(),
        "--header-read-timeout",
        "5",
        "--admin-api-key",
        ADMIN,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut server = Server::start(
        &ponder,
        &args.model,
        &flags,
        log.clone(),
        Duration::from_secs(120),
    )
    .await?;
    println!(
        "soak: ponder serving {} at {} (log: {})",
        args.model,
        server.base,
        log.display()
    );
    let target = Target {
        base: server.base.clone(),
        client: crate::http::client(120)?,
        max_body_bytes: MAX_BODY_BYTES,
        never_read_hold: Duration::from_secs(20),
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.time_limit_s);
    let tally: Tally = Arc::default();
    let mut report = Report {
        requests: args.requests,
        ..Report::default()
    };

    // Warm-up: the same mix and a burst as large as the main phase's (so buffers, caches
    // and the allocator reach their working size), then the RSS baseline once idle.
    let warmup = (args.requests / 10).clamp(300, 1000);
    phase(
        &target,
        &Tally::default(),
        args.seed ^ 0xAAAA,
        warmup,
        args.concurrency,
        None,
    )
    .await;
    burst(&target, &Tally::default()).await;
    wait_idle(&target).await?;
    let rss_warm = server.rss_bytes()?;
    report.rss_after_warmup_mb = mb(rss_warm);
    println!(
        "soak: warm-up of {warmup} requests done; RSS {:.1} MB",
        mb(rss_warm)
    );

    // The main phase, with the burst and the pause/update/resume cycle on the way.
    let done = Arc::new(AtomicUsize::new(0));
    let events = tokio::spawn(events(
        target.clone(),
        tally.clone(),
        done.clone(),
        args.requests,
        args.model.clone(),
    ));
    let progress = tokio::spawn(progress(
        done.clone(),
        args.requests,
        tally.clone(),
        server.pid(),
    ));
    let main = phase(
        &target,
        &tally,
        args.seed,
        args.requests,
        args.concurrency,
        Some(done.clone()),
    );
    if tokio::time::timeout_at(deadline.into(), main)
        .await
        .is_err()
    {
        report.failures.push(format!(
            "the soak ran past --time-limit-s {}",
            args.time_limit_s
        ));
    }
    progress.abort();
    match events.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => report.failures.push(format!("mid-run event failed: {e:#}")),
        Err(e) => report
            .failures
            .push(format!("mid-run events panicked: {e}")),
    }
    if let Err(e) = wait_idle(&target).await {
        report.failures.push(format!("{e:#}"));
    }
    for name in [
        "ponder:num_requests_running",
        "ponder:num_requests_waiting",
        "ponder:kv_cache_usage_perc",
    ] {
        let v = metric(&target.client, &target.base, name).await?;
        report.gauges_idle.insert(name.into(), v);
        if v != 0.0 {
            report.failures.push(format!("{name} is {v} once idle"));
        }
    }
    for name in [
        "ponder:generation_tokens_total",
        r#"ponder:requests_expired_total{reason="slow_reader"}"#,
        r#"ponder:requests_expired_total{reason="queue_time"}"#,
        r#"ponder:request_rejected_total{reason="queue_full"}"#,
        r#"ponder:request_rejected_total{reason="request_too_large"}"#,
        r#"ponder:request_rejected_total{reason="invalid_value"}"#,
        r#"ponder:request_rejected_total{reason="invalid_request_error"}"#,
        "ponder:weight_updates_total",
    ] {
        report.counters.insert(
            name.into(),
            metric(&target.client, &target.base, name).await?,
        );
    }
    let rss_end = server.rss_bytes()?;
    report.rss_after_run_mb = mb(rss_end);
    if rss_end as f64 > rss_warm as f64 * 1.10 {
        report.failures.push(format!(
            "RSS grew from {:.1} MB to {:.1} MB (> 10%)",
            mb(rss_warm),
            mb(rss_end)
        ));
    }

    // SIGTERM with streams running: each ends cleanly, the process exits 0.
    let at_shutdown: Vec<_> = (0..8u64)
        .map(|i| {
            let (target, tally) = (target.clone(), tally.clone());
            tokio::spawn(async move {
                let outcome = send(&target, Kind::AtShutdown, i).await;
                record(&tally, Kind::AtShutdown, &outcome);
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    match server
        .terminate(Duration::from_secs_f64(SHUTDOWN_TIMEOUT_S + 20.0))
        .await
    {
        Ok(status) => {
            report.exit_code = status.code();
            if status.code() != Some(0) {
                report
                    .failures
                    .push(format!("ponder exited with {status} after SIGTERM"));
            }
        }
        Err(e) => report.failures.push(format!("{e:#}")),
    }
    for task in at_shutdown {
        let _ = task.await;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.panics_in_log = server::panics_in_log(&log)?;
    if !report.panics_in_log.is_empty() {
        report.failures.push(format!(
            "{} panic line(s) in {}",
            report.panics_in_log.len(),
            log.display()
        ));
    }
    let (outcomes, violations) =
        std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    report.outcomes = outcomes
        .into_iter()
        .map(|(k, v)| (format!("{k:?}"), v))
        .collect();
    report.violations = violations;
    if !report.violations.is_empty() {
        report.failures.push(format!(
            "{} request(s) ended in a way their kind does not allow",
            report.violations.len()
        ));
    }
    let burst = report.outcomes.get("Burst").cloned().unwrap_or_default();
    if !burst.keys().any(|k| k.starts_with("429")) {
        report
            .failures
            .push("the burst past the admission limit got no 429".into());
    }
    print(&report);
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    println!("soak: report written to {}", args.out.display());
    if !report.failures.is_empty() {
        bail!("soak failed: {}", report.failures.join("; "));
    }
    Ok(())
}

/// `count` requests from `concurrency` clients; request `i` draws its kind and details
/// from `seed` and `i`.
async fn phase(
    target: &Target,
    tally: &Tally,
    seed: u64,
    count: usize,
    concurrency: usize,
    done: Option<Arc<AtomicUsize>>,
) {
    use rand::SeedableRng;
    let next = Arc::new(AtomicUsize::new(0));
    // A JoinSet aborts its tasks when dropped: a phase cut by the time limit stops
    // sending at once.
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(count) {
        let (target, tally, next, done) =
            (target.clone(), tally.clone(), next.clone(), done.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let s = seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
                let mut rng = rand::rngs::StdRng::seed_from_u64(s);
                let kind = Kind::draw(&mut rng);
                let outcome = send(&target, kind, s).await;
                record(&tally, kind, &outcome);
                if let Some(d) = &done {
                    d.fetch_add(1, Ordering::Relaxed);
                }
                if matches!(outcome, Outcome::Refused(429 | 503, _)) {
                    // As a client honouring `Retry-After: 1`.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// The mid-run events: a burst at 30% of the requests, a pause / weight update /
/// resume cycle at 50%.
async fn events(
    target: Target,
    tally: Tally,
    done: Arc<AtomicUsize>,
    total: usize,
    model: String,
) -> anyhow::Result<()> {
    wait_for_count(&done, total * 3 / 10).await;
    let n = burst(&target, &tally).await;
    println!("soak: burst of {n} requests sent");
    wait_for_count(&done, total / 2).await;
    let admin = |path: &str| {
        target
            .client
            .post(format!("{}{path}", target.base))
            .bearer_auth(ADMIN)
    };
    let r = admin("/pause?mode=keep").send().await?;
    anyhow::ensure!(r.status() == 200, "/pause answered {}", r.status());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = admin("/update_weights_from_disk")
        .json(&json!({"model_path": model, "weight_version": "soak-v2"}))
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == 200,
        "/update_weights_from_disk answered {}: {}",
        r.status(),
        r.text().await?
    );
    let r = admin("/resume").send().await?;
    anyhow::ensure!(r.status() == 200, "/resume answered {}", r.status());
    let models: serde_json::Value = target
        .client
        .get(format!("{}/v1/models", target.base))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        models["data"][0]["weight_version"] == "soak-v2",
        "weight_version after the update: {models}"
    );
    println!("soak: pause / update_weights_from_disk / resume done (weight_version soak-v2)");
    Ok(())
}

/// Sends 3 × (waiting limit + batch) requests at once; returns how many.
async fn burst(target: &Target, tally: &Tally) -> usize {
    let n = 3 * (MAX_WAITING + MAX_NUM_SEQS);
    let tasks: Vec<_> = (0..n as u64)
        .map(|i| {
            let (target, tally) = (target.clone(), tally.clone());
            tokio::spawn(async move {
                let outcome = send(&target, Kind::Burst, 0xB0 + i).await;
                record(&tally, Kind::Burst, &outcome);
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    n
}

async fn wait_for_count(done: &AtomicUsize, n: usize) {
    while done.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A line every 5 s: requests done, unexpected outcomes so far, the server's RSS.
async fn progress(done: Arc<AtomicUsize>, total: usize, tally: Tally, pid: u32) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let violations = tally.lock().unwrap_or_else(|p| p.into_inner()).1.len();
        let rss = server::rss_of(pid).map(mb).unwrap_or(f64::NAN);
        println!(
            "soak: {}/{total} requests, {violations} unexpected outcome(s), RSS {rss:.1} MB",
            done.load(Ordering::Relaxed)
        );
    }
}

/// Waits (at most 60 s) until nothing runs, waits or holds KV blocks.
async fn wait_idle(target: &Target) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut busy = 0.0;
        for name in [
            "ponder:num_requests_running",
            "ponder:num_requests_waiting",
            "ponder:kv_cache_usage_perc",
        ] {
            busy += metric(&target.client, &target.base, name).await?;
        }
        if busy == 0.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server was not idle 60 s after the load ended");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn print(report: &Report) {
    println!(
        "soak: {} requests in {:.0} s",
        report.requests, report.seconds
    );
    for (kind, outcomes) in &report.outcomes {
        let list: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
        println!("  {kind:<26} {}", list.join(", "));
    }
    println!(
        "  RSS after warm-up {:.1} MB, after the run {:.1} MB",
        report.rss_after_warmup_mb, report.rss_after_run_mb
    );
    for (name, v) in &report.counters {
        println!("  {name} {v}");
    }
    println!("  exit code after SIGTERM: {:?}", report.exit_code);
    for v in &report.violations {
        println!("  UNEXPECTED: {v}");
    }
    for f in &report.failures {
        println!("  FAILED: {f}");
    }
}
