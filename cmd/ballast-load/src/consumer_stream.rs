//! `ballast-load consumer-stream`: how fast the consumer service delivers a validator-set
//! update, and what 1,000 subscribers cost the node.
//!
//! The node runs in this process exactly as `ballastd dev` runs it (the same `App`, the dev
//! block producer, its JSON-RPC and the gRPC server), on a fresh home that `ballastd init`
//! writes with short epochs. A consumer is registered and the home's operator opted in; its
//! allocation then alternates every epoch, so every epoch end writes one update. The
//! subscribers run in a child process (`ballast-load consumer-subscribe`), so this process's
//! CPU time and memory are the node's alone.
//!
//! Latency of one delivery = the moment a subscriber's `message()` returned the update minus
//! the moment `App::commit` of the update's block (the epoch-end block that wrote it) returned
//! (this process watches `App::subscribe_commits`). Both are wall-clock times on one machine.

use anyhow::{anyhow, bail, Context};
use ballast_app::config::GrpcServerConfig;
use ballast_app::dev::{serve_rpc, DevChain, DevConfig};
use ballast_app::{App, AppConfig};
use ballast_proto::ballast::consumer::v1 as pb;
use ballast_proto::ballast::consumer::v1::consumer_client::ConsumerClient;
use ballast_tests::consumer_grpc::{ConsumerDriver, CONSUMER_ID};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// `ballast-load consumer-stream` options.
#[derive(clap::Args, Debug)]
pub struct StreamArgs {
    /// Subscriber counts to measure, in order (0: the node without subscribers, as a baseline).
    #[arg(long, value_delimiter = ',', default_value = "0,1,100,1000")]
    subscribers: Vec<usize>,
    /// Updates delivered per measurement.
    #[arg(long, default_value_t = 20)]
    updates: u64,
    /// HTTP/2 connections the subscribers share (at most 200 streams each: the server's limit).
    #[arg(long, default_value_t = 10)]
    connections: usize,
    /// Blocks per epoch.
    #[arg(long, default_value_t = 2)]
    epoch_length: u64,
    /// Time between blocks.
    #[arg(long, default_value_t = 200)]
    block_interval_ms: u64,
    /// The `ballastd` binary that initialises the home (default: beside this binary).
    #[arg(long)]
    ballastd: Option<PathBuf>,
}

/// `ballast-load consumer-subscribe` (run by `consumer-stream`): subscribers that report when
/// each update reached every one of them.
#[derive(clap::Args, Debug)]
pub struct SubscribeArgs {
    /// The node's gRPC `host:port`.
    #[arg(long)]
    grpc: String,
    /// Streams to open.
    #[arg(long)]
    subscribers: usize,
    /// Connections they share.
    #[arg(long)]
    connections: usize,
    /// Subscribe from this update id.
    #[arg(long)]
    from: u64,
    /// Stop after this update id.
    #[arg(long)]
    until: u64,
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process has used, and its resident memory in bytes.
fn cpu_and_rss() -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected /proc/self/stat: {stat}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here (0-based 11, 12).
    let ticks: u64 = fields
        .get(11)
        .zip(fields.get(12))
        .and_then(|(u, s)| Some(u.parse::<u64>().ok()? + s.parse::<u64>().ok()?))
        .ok_or_else(|| anyhow!("no utime/stime in /proc/self/stat"))?;
    let hz = match clock_ticks_per_second() {
        0 => 100,
        n => n,
    };
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/self/status"))?;
    Ok((ticks as f64 / hz as f64, rss_kb * 1024))
}

/// Clock ticks per second as `getconf CLK_TCK` prints it (0 if unknown).
fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(us: u128) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// `ballastd init`, then the epoch length into genesis.
fn init_home(ballastd: &Path, home: &Path, epoch_length: u64) -> anyhow::Result<()> {
    let out = Command::new(ballastd)
        .args(["init", "bench", "--home"])
        .arg(home)
        .env_remove("BALLAST_KEYRING_BACKEND")
        .output()
        .with_context(|| format!("running {}", ballastd.display()))?;
    if !out.status.success() {
        bail!(
            "ballastd init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let gpath = home.join("config/genesis.json");
    let mut genesis: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&gpath)?)?;
    genesis["app_state"]["app"]["epoch_length"] = epoch_length.into();
    std::fs::write(&gpath, serde_json::to_string_pretty(&genesis)?)?;
    Ok(())
}

/// One measured row.
struct Row {
    subscribers: usize,
    deliveries: usize,
    p50: u128,
    p99: u128,
    max: u128,
    /// Latency until the last subscriber had the update, median over updates.
    all_p50: u128,
    cpu_percent: f64,
    rss_max: u64,
}

pub fn run(args: StreamArgs) -> anyhow::Result<()> {
    if args.updates == 0 || args.connections == 0 || args.epoch_length == 0 {
        bail!("updates, connections and epoch length must be positive");
    }
    let ballastd = match &args.ballastd {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow!("this binary has no directory"))?
            .join("ballastd"),
    };
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("node");
    init_home(&ballastd, &home, args.epoch_length)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(args, home))
}

async fn measure(args: StreamArgs, home: PathBuf) -> anyhow::Result<()> {
    let bls = ballast_app::bls_key::load_bls_key(&home)?
        .ok_or_else(|| anyhow!("ballastd init wrote no BLS key"))?;
    let mut cfg = AppConfig::new(&home);
    cfg.bls_key = Some(Arc::new(bls));
    let app = App::open(cfg)?;
    let mut dev_cfg = DevConfig::new(&home);
    dev_cfg.block_interval = Duration::from_millis(args.block_interval_ms);
    let chain = DevChain::open(app.clone(), dev_cfg)?;
    let handle = chain.handle();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let producer = tokio::spawn(chain.run(stop()));
    let rpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let rpc = format!("http://{}", rpc_listener.local_addr()?);
    tokio::spawn(serve_rpc(handle.clone(), rpc_listener, stop()));
    let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc = grpc_listener.local_addr()?.to_string();
    tokio::spawn(ballast_app::grpc::serve_with(
        app.clone(),
        Arc::new(handle.clone()),
        grpc_listener,
        GrpcServerConfig::default(),
        stop(),
    ));

    // When each height's Commit returned.
    let commit_times: Arc<Mutex<BTreeMap<u64, u128>>> = Arc::default();
    let mut commits = app.subscribe_commits();
    let times = commit_times.clone();
    tokio::spawn(async move {
        while commits.changed().await.is_ok() {
            let h = *commits.borrow_and_update();
            let t = now_micros();
            times.lock().unwrap_or_else(|p| p.into_inner()).insert(h, t);
        }
    });

    let started = Instant::now();
    while app.storage().latest().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the node committed no block within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut driver = ConsumerDriver::new(&home, &rpc, &grpc);
    driver.register("operator").await;
    driver.opt_in().await;
    driver.wait_update(1).await;
    eprintln!(
        "node up (gRPC {grpc}, epochs of {} blocks every {} ms); consumer {CONSUMER_ID} active",
        args.epoch_length, args.block_interval_ms
    );

    let mut rows = Vec::new();
    for &n in &args.subscribers {
        rows.push(measure_one(&args, &mut driver, &grpc, n, &commit_times).await?);
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), producer).await;
    app.shutdown();

    println!();
    println!(
        "consumer stream delivery: from the Commit of the epoch-end block that wrote an update to \
         its arrival at a subscriber ({} updates per row, {} connections, epochs of {} blocks \
         every {} ms; node = this process, subscribers = a child process)",
        args.updates, args.connections, args.epoch_length, args.block_interval_ms
    );
    println!(
        "{:>11} | {:>10} | {:>8} | {:>8} | {:>8} | {:>16} | {:>9} | {:>11}",
        "subscribers",
        "deliveries",
        "p50 ms",
        "p99 ms",
        "max ms",
        "all-have p50 ms",
        "node CPU",
        "node RSS MB"
    );
    for r in &rows {
        let lat = |v: u128| {
            if r.subscribers == 0 {
                "-".to_string()
            } else {
                ms(v)
            }
        };
        println!(
            "{:>11} | {:>10} | {:>8} | {:>8} | {:>8} | {:>16} | {:>8.1}% | {:>11.1}",
            r.subscribers,
            r.deliveries,
            lat(r.p50),
            lat(r.p99),
            lat(r.max),
            lat(r.all_p50),
            r.cpu_percent,
            r.rss_max as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(())
}

async fn measure_one(
    args: &StreamArgs,
    driver: &mut ConsumerDriver,
    grpc: &str,
    n: usize,
    commit_times: &Arc<Mutex<BTreeMap<u64, u128>>>,
) -> anyhow::Result<Row> {
    let from = driver.last_update_id().await;
    let until = from + args.updates;
    let mut child = None;
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    if n > 0 {
        let mut c = Command::new(std::env::current_exe()?)
            .args([
                "consumer-subscribe",
                "--grpc",
                grpc,
                "--subscribers",
                &n.to_string(),
                "--connections",
                &args.connections.min(n).to_string(),
                "--from",
                &from.to_string(),
                "--until",
                &until.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the subscriber process")?;
        let stdout = c.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = tokio::task::block_in_place(|| line_rx.recv_timeout(Duration::from_secs(120)))
            .context("the subscribers did not get ready")?;
        if ready != "ready" {
            bail!("the subscriber process said {ready:?} instead of ready");
        }
        child = Some(c);
    }
    // Settle, then measure the node while the updates flow.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, _) = cpu_and_rss()?;
    let t0 = Instant::now();
    let rss_max = Arc::new(Mutex::new(0u64));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let rss_max = rss_max.clone();
        let sampling = sampling.clone();
        tokio::spawn(async move {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((_, rss)) = cpu_and_rss() {
                    let mut m = rss_max.lock().unwrap_or_else(|p| p.into_inner());
                    *m = (*m).max(rss);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    driver.updates_until(until).await;
    let mut lines = Vec::new();
    if let Some(mut c) = child {
        let status = tokio::task::block_in_place(|| c.wait())?;
        lines.extend(line_rx.try_iter());
        if !status.success() {
            bail!("the subscriber process failed ({status})");
        }
    }
    let (cpu1, _) = cpu_and_rss()?;
    let wall = t0.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.await;

    let times = commit_times
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut all = Vec::new();
    let mut all_have = Vec::new();
    for line in &lines {
        let mut it = line.split_whitespace();
        if it.next() != Some("u") {
            continue;
        }
        let _id: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let hub: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let Some(&committed) = times.get(&hub) else {
            eprintln!("no commit time recorded for height {hub}; skipping its update");
            continue;
        };
        let recv: Vec<u128> = it.filter_map(|v| v.parse().ok()).collect();
        let lats: Vec<u128> = recv.iter().map(|r| r.saturating_sub(committed)).collect();
        if let Some(m) = lats.iter().max() {
            all_have.push(*m);
        }
        all.extend(lats);
    }
    if n > 0 && all.len() != n * args.updates as usize {
        bail!(
            "expected {} deliveries, measured {}",
            n * args.updates as usize,
            all.len()
        );
    }
    all.sort_unstable();
    all_have.sort_unstable();
    let rss = *rss_max.lock().unwrap_or_else(|p| p.into_inner());
    let row = Row {
        subscribers: n,
        deliveries: all.len(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        max: all.last().copied().unwrap_or(0),
        all_p50: percentile(&all_have, 0.5),
        cpu_percent: (cpu1 - cpu0) / wall.max(1e-9) * 100.0,
        rss_max: rss,
    };
    eprintln!(
        "{n} subscribers: {} deliveries, p50 {} ms, p99 {} ms, node CPU {:.1}%, RSS {:.1} MB",
        row.deliveries,
        ms(row.p50),
        ms(row.p99),
        row.cpu_percent,
        row.rss_max as f64 / (1024.0 * 1024.0)
    );
    Ok(row)
}

/// The subscriber process.
pub fn subscribe(args: SubscribeArgs) -> anyhow::Result<()> {
    if args.subscribers == 0 || args.connections == 0 || args.until <= args.from {
        bail!("need subscribers, connections and until > from");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(subscribe_async(args))
}

async fn subscribe_async(args: SubscribeArgs) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", args.grpc))?
            .connect()
            .await?;
        clients.push(ConsumerClient::new(ch));
    }
    let mut streams = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let client = &mut clients[i % args.connections];
        let s = client
            .subscribe_validator_set(pb::SubscribeValidatorSetRequest {
                consumer_id: CONSUMER_ID.into(),
                from_update_id: args.from,
            })
            .await?
            .into_inner();
        streams.push(s);
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, u64, u128)>(args.subscribers * 4);
    let mut tasks = Vec::new();
    for (i, mut s) in streams.into_iter().enumerate() {
        let tx = tx.clone();
        let (from, until) = (args.from, args.until);
        tasks.push(tokio::spawn(async move {
            let mut prev = from;
            while prev < until {
                let u = s
                    .message()
                    .await
                    .map_err(|st| anyhow!("subscriber {i}: {st}"))?
                    .ok_or_else(|| anyhow!("subscriber {i}: stream ended after {prev}"))?;
                let t = now_micros();
                if u.update_id != prev + 1 {
                    bail!(
                        "subscriber {i}: update {} after {prev}: a gap or a duplicate",
                        u.update_id
                    );
                }
                prev = u.update_id;
                if tx.send((u.update_id, u.hub_height, t)).await.is_err() {
                    break;
                }
            }
            anyhow::Ok(())
        }));
    }
    drop(tx);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
    }
    let mut groups: BTreeMap<u64, (u64, Vec<u128>)> = BTreeMap::new();
    let deadline = Duration::from_secs(60 + 10 * (args.until - args.from));
    let collect = async {
        while let Some((id, hub, t)) = rx.recv().await {
            let g = groups.entry(id).or_insert((hub, Vec::new()));
            g.1.push(t);
            if g.1.len() == args.subscribers {
                let (hub, times) = groups.remove(&id).expect("present");
                let mut line = format!("u {id} {hub}");
                for t in times {
                    line.push(' ');
                    line.push_str(&t.to_string());
                }
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()?;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(deadline, collect)
        .await
        .map_err(|_| anyhow!("the updates did not all arrive within {deadline:?}"))??;
    for t in tasks {
        t.await??;
    }
    if !groups.is_empty() {
        bail!(
            "updates not delivered to every subscriber: {:?}",
            groups.keys()
        );
    }
    Ok(())
}
