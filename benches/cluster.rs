//! How fast the `local` backend builds a cluster and cuts it: `cargo bench --bench cluster`
//! (as root). Prints, over several rounds, the time to bring up 5 nodes (namespaces, bridge,
//! addresses, the empty FAULTLINE chains; no store), the time until a partition is in force
//! on every node, the time to heal, and the time to tear everything down.
//! Targets: up < 2 s, partition < 100 ms.

use std::time::{Duration, Instant};

use faultline::cluster::{BackendKind, Cluster, ClusterConfig, Topology};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const ROUNDS: usize = 5;
const PARTITIONS_PER_ROUND: usize = 10;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the cluster bench needs root (network namespaces and iptables); skipped");
        return;
    }
    let topologies: Vec<Topology> = [
        "halves",
        "random-halves",
        "isolate-one",
        "majorities-ring",
        "bridge",
    ]
    .iter()
    .map(|t| t.parse().expect("a known topology"))
    .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (mut up, mut partition, mut heal, mut down) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let began = Instant::now();
        let cluster = Cluster::start(&ClusterConfig::new(BackendKind::Local, 5))
            .expect("starting a 5-node local cluster");
        up.push(began.elapsed());
        for i in 0..PARTITIONS_PER_ROUND {
            let grudge = topologies[i % topologies.len()]
                .grudge(&cluster.node_names(), &mut rng)
                .expect("a grudge for 5 nodes");
            let asked = Instant::now();
            cluster.partition(&grudge).expect("partitioning");
            partition.push(asked.elapsed());
            let asked = Instant::now();
            cluster.heal().expect("healing");
            heal.push(asked.elapsed());
        }
        let began = Instant::now();
        cluster.teardown().expect("tearing down");
        down.push(began.elapsed());
    }
    println!("local backend, 5 nodes, {ROUNDS} rounds ({PARTITIONS_PER_ROUND} partitions each)");
    println!("{:<38} {:>8} {:>8} {:>8}", "", "median", "p90", "max");
    report("cluster up (target < 2000 ms)", &mut up);
    report("partition in force (target < 100 ms)", &mut partition);
    report("heal", &mut heal);
    report("teardown", &mut down);
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    println!(
        "{what:<38} {:>8} {:>8} {:>8}",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0))
    );
}
