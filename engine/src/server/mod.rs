//! The networked server: one node on a data directory behind CrateDB's HTTP
//! protocol. Built only without `--cfg madsim` (the simulator talks to nodes
//! in-process).

mod http;
mod listener;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get, post};

use crate::disk::FsDisk;
use crate::error::{Error, Result};
use crate::node::{Node, NodeConfig};

/// Options of `shoal server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Data directory (created if missing).
    #[arg(long, default_value = "shoal-data")]
    pub data: PathBuf,
    /// HTTP listen address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:4200")]
    pub http: SocketAddr,
    /// This node's name.
    #[arg(long, default_value = "shoal")]
    pub node_name: String,
    /// The cluster's name.
    #[arg(long, default_value = "shoal")]
    pub cluster_name: String,
    /// Largest accepted request body, in bytes (CrateDB's http.max_content_length).
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    pub max_content_length: usize,
    /// Acknowledge writes before the translog is fsynced (faster, loses recent writes on power loss).
    #[arg(long)]
    pub async_translog: bool,
    /// Memory budget the circuit breakers' limits are shares of, CrateDB's heap
    /// size (`512mb`, `4gb`). Default: a quarter of the machine's memory.
    #[arg(long, value_parser = parse_size)]
    pub memory_limit: Option<u64>,
    /// A directory COPY FROM and COPY TO may use (repeatable). Without one,
    /// COPY cannot read or write files; the data directory is never allowed.
    #[arg(long = "copy-root", value_name = "DIR")]
    pub copy_roots: Vec<PathBuf>,
    /// Most HTTP connections open at once; more are answered 429 and closed.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Time a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open (`30s`, `500ms`, `2m`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub header_timeout: std::time::Duration,
    /// Time a client has to send a request's body, and longest a response
    /// may wait for the client to read it.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub body_timeout: std::time::Duration,
    /// Node-to-node transport address (CrateDB's transport.port, 4300).
    /// Given with --seed-hosts or --initial-master-nodes, the node joins a
    /// cluster; without them it runs on its own.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_address)]
    pub transport: Option<SocketAddr>,
    /// Transport addresses of nodes to contact at start
    /// (discovery.seed_hosts), comma-separated.
    #[arg(long, value_name = "HOST:PORT,...", value_delimiter = ',', value_parser = parse_address)]
    pub seed_hosts: Vec<SocketAddr>,
    /// Names of the nodes that form a new cluster
    /// (cluster.initial_master_nodes), comma-separated; needed once, when
    /// the cluster first starts.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub initial_master_nodes: Vec<String>,
}

/// An address, by IP or host name (resolved once, at start).
fn parse_address(text: &str) -> std::result::Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    text.trim()
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{text}': {e}"))?
        .next()
        .ok_or_else(|| format!("'{text}' resolves to no address"))
}

impl ServerArgs {
    /// The cluster part of the node's configuration, if it is in one.
    fn cluster(&self) -> Option<crate::cluster::ClusterConfig> {
        if self.transport.is_none()
            && self.seed_hosts.is_empty()
            && self.initial_master_nodes.is_empty()
        {
            return None;
        }
        let transport = self
            .transport
            .unwrap_or_else(|| SocketAddr::new(self.http.ip(), 4300));
        Some(crate::cluster::ClusterConfig {
            transport,
            seed_hosts: self.seed_hosts.clone(),
            initial_master_nodes: self.initial_master_nodes.clone(),
        })
    }
}

fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("expected a duration such as 30s, 500ms or 2m, got '{text}'"))?;
    let d = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "" | "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        _ => return Err(format!("unknown unit in '{text}': use ms, s or m")),
    };
    if d.is_zero() {
        return Err("a timeout must be longer than zero".into());
    }
    Ok(d)
}

fn parse_size(text: &str) -> std::result::Result<u64, String> {
    crate::breaker::parse_byte_size(text)
        .filter(|b| *b >= 16 << 20)
        .ok_or_else(|| {
            format!("expected a byte size of at least 16mb such as 512mb or 4gb, got '{text}'")
        })
}

/// A quarter of the machine's memory (CrateDB recommends at most half of it
/// for the heap), or 1 GB where it cannot be read.
fn default_memory_limit() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    total.map_or(crate::node::DEFAULT_MEMORY_LIMIT, |t| t / 4)
}

/// Builds the HTTP router for a node.
pub fn router(
    node: Arc<Node>,
    max_content_length: usize,
    body_timeout: std::time::Duration,
) -> Router {
    let state = http::HttpState {
        node,
        max_content_length,
        body_timeout,
    };
    Router::new()
        .route("/", get(http::root).head(http::root))
        .route("/_sql", post(http::sql))
        .route("/_sql/{*rest}", post(http::sql))
        .fallback(any(http::not_found))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Runs the server until interrupted (SIGINT/SIGTERM), then flushes every shard.
pub fn run(args: ServerArgs) -> Result<()> {
    init_logging();
    let rt = real_tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Planning and evaluating deeply nested expressions recurses; give it room.
        .thread_stack_size(16 * 1024 * 1024)
        .build()
        .map_err(|e| Error::Io(format!("cannot start runtime: {e}")))?;
    rt.block_on(serve(args))
}

/// Logs to stderr at `warn` and above, or as `SHOAL_LOG` says (tracing's
/// filter syntax, e.g. `SHOAL_LOG=info` or `SHOAL_LOG=shoal_engine=debug`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A second initialisation (tests starting servers in one process) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person watching, not in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn serve(args: ServerArgs) -> Result<()> {
    let disk = Arc::new(FsDisk::open(&args.data).map_err(|e| {
        Error::Io(format!(
            "cannot open data directory {}: {e}",
            args.data.display()
        ))
    })?);
    let config = NodeConfig {
        node_name: args.node_name.clone(),
        cluster_name: args.cluster_name.clone(),
        durable: !args.async_translog,
        http_address: Some(format!("http://{}", args.http)),
        memory_limit: args.memory_limit.unwrap_or_else(default_memory_limit),
        copy_roots: args.copy_roots.clone(),
        wire_check: false,
        cluster: args.cluster(),
    };
    let node = Node::open(config, disk)?;
    node.start_cluster().await?;
    node.start();
    let listener = real_tokio::net::TcpListener::bind(args.http)
        .await
        .map_err(|e| Error::Io(format!("cannot listen on {}: {e}", args.http)))?;
    eprintln!(
        "shoal {} node '{}' of cluster '{}' listening on http://{} (data: {})",
        env!("CARGO_PKG_VERSION"),
        args.node_name,
        args.cluster_name,
        args.http,
        args.data.display()
    );
    let app = router(node.clone(), args.max_content_length, args.body_timeout);
    // Memory a large statement freed goes back to the system soon after.
    let breakers = node.breakers.clone();
    real_tokio::spawn(async move {
        loop {
            real_tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            crate::breaker::release_memory_if_due(&breakers);
        }
    });
    let (stop, stopped) = real_tokio::sync::watch::channel(false);
    let decommissioned = node.clone();
    real_tokio::spawn(async move {
        real_tokio::select! {
            _ = shutdown_signal() => {}
            _ = decommissioned.decommissioned() => {
                eprintln!("shoal: this node was decommissioned and holds no shards; stopping");
            }
        }
        let _ = stop.send(true);
    });
    let limits = listener::Limits {
        max_connections: args.max_connections.max(1),
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
    };
    listener::serve(listener, app, limits, stopped)
        .await
        .map_err(|e| Error::Io(format!("server error: {e}")))?;
    eprintln!("shoal: shutting down, flushing shards");
    node.flush_all().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = real_tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match real_tokio::signal::unix::signal(real_tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    real_tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
