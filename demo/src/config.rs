//! Command-line configuration of one replica.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A replica of the faultline demo store: a small replicated HTTP key-value store with one
/// correct mode and two deliberately broken ones. See demo/README.md for the HTTP API.
#[derive(Parser, Debug, Clone)]
#[command(name = "faultline-demo", version, about)]
pub struct Config {
    /// This replica's name; it must be one of the names in --peers.
    #[arg(long)]
    pub id: String,
    /// Address to serve HTTP on.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: SocketAddr,
    /// Every replica of the cluster, this one included, as NAME=IP:PORT separated by commas.
    /// The first one is the primary.
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        value_name = "NAME=IP:PORT,..."
    )]
    pub peers: Vec<Peer>,
    /// Directory for the write-ahead log; this replica writes under DIR/<id>/.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Which consistency this cluster offers (every replica must be given the same).
    #[arg(long, value_enum, default_value_t = Mode::Linearizable)]
    pub mode: Mode,
    /// stale-reads: how long the primary holds entries back before shipping them.
    #[arg(long, default_value_t = 400, value_name = "MS")]
    pub replication_lag_ms: u64,
    /// lost-updates: the pause between the read and the write of a compare-and-set.
    #[arg(long, default_value_t = 30, value_name = "MS")]
    pub cas_window_ms: u64,
    /// linearizable and lost-updates: how long the primary waits for a majority before it
    /// answers 503.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub commit_timeout_ms: u64,
    /// When a write is acknowledged: `fsync` (the default: after the log is fsynced) or
    /// `async` (as soon as the log is written; the log is fsynced at most once a second, like
    /// Redis's `appendfsync everysec`), which a power loss shows.
    #[arg(long, value_enum, default_value_t = Durability::Fsync)]
    pub durability: Durability,
    /// crashes: the client requests a replica (not the primary) serves before it aborts.
    #[arg(long, default_value_t = 150, value_name = "N")]
    pub crash_after: u64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Every operation goes through the primary, which replicates it to a majority first.
    Linearizable,
    /// Replicas answer reads from their own copy; replication is asynchronous and lags.
    StaleReads,
    /// Like linearizable, but compare-and-set and transactions read, pause, then write.
    LostUpdates,
    /// Like linearizable, but a replica other than the primary aborts (exit code 70) after
    /// `--crash-after` client requests: a crash under load.
    Crashes,
}

/// When the write-ahead log is made durable, relative to the acknowledgement.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Durability {
    /// fsync before acknowledging.
    Fsync,
    /// Acknowledge once written; fsync at most once a second.
    Async,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    pub addr: SocketAddr,
}

impl FromStr for Peer {
    type Err = String;

    fn from_str(s: &str) -> Result<Peer, String> {
        let (id, addr) = s
            .split_once('=')
            .ok_or_else(|| format!("peer `{s}`: expected NAME=IP:PORT"))?;
        let addr = addr
            .parse()
            .map_err(|e| format!("peer `{s}`: bad address `{addr}`: {e}"))?;
        if id.is_empty() {
            return Err(format!("peer `{s}`: empty name"));
        }
        Ok(Peer {
            id: id.to_string(),
            addr,
        })
    }
}

impl Config {
    /// Checks what clap cannot: the peer list names this replica once and no name twice.
    pub fn validate(&self) -> Result<(), String> {
        for (i, p) in self.peers.iter().enumerate() {
            if self.peers[..i].iter().any(|q| q.id == p.id) {
                return Err(format!("--peers names `{}` twice", p.id));
            }
        }
        if !self.peers.iter().any(|p| p.id == self.id) {
            return Err(format!("--id `{}` is not one of --peers", self.id));
        }
        Ok(())
    }

    pub fn primary(&self) -> &Peer {
        &self.peers[0]
    }

    pub fn is_primary(&self) -> bool {
        self.primary().id == self.id
    }

    /// The other replicas, in --peers order.
    pub fn followers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter().filter(move |p| p.id != self.primary().id)
    }

    /// How many replicas, the primary included, make a majority.
    pub fn majority(&self) -> usize {
        self.peers.len() / 2 + 1
    }

    pub fn commit_timeout(&self) -> Duration {
        Duration::from_millis(self.commit_timeout_ms)
    }

    /// A forwarded request waits for the primary's own answer, which comes at the latest after
    /// the commit timeout, plus time for a slow disk.
    pub fn forward_timeout(&self) -> Duration {
        Duration::from_millis(self.commit_timeout_ms + 1500)
    }
}
