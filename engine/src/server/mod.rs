//! The networked server: a node behind CrateDB's HTTP `/_sql` endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `shoal server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Data directory (created if missing).
    #[arg(long, default_value = "shoal-data")]
    pub data: PathBuf,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:4200")]
    pub http: SocketAddr,
    /// This node's name.
    #[arg(long, default_value = "shoal")]
    pub node_name: String,
    /// The cluster's name.
    #[arg(long, default_value = "shoal")]
    pub cluster_name: String,
}

/// Runs the server until interrupted.
pub fn run(_args: ServerArgs) -> Result<(), crate::error::Error> {
    Err(crate::error::Error::Internal("not yet".into()))
}
