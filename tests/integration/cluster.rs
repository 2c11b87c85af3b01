//! Integration tests: the cluster layer against real namespaces, iptables rules and processes.
//!
//! Each node runs a small HTTP server (`python3 -m http.server`, present on every machine
//! faultline's CI uses). Connections between nodes are tried from inside a namespace with
//! bash's `/dev/tcp` under `timeout`; the controller talks to nodes from the host. Every test
//! that builds a cluster ends by checking that nothing of its run is left: no namespace, no
//! link, no process, no state directory.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline::cluster::{
    BackendKind, Cluster, ClusterConfig, Daemon, Error, Grudge, Node, Signal, Target, Topology,
};
use faultline::nemesis::{
    KillNemesis, Nemesis, NemesisSink, PartitionNemesis, PauseNemesis, Schedule, ScheduleConfig,
    ScriptStep,
};
use serde_json::{json, Value};

use crate::heavy;

const PORT: u16 = 8000;

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// An HTTP server on the node's address, serving the node's directory.
fn http_server(node: &dyn Node) -> Daemon {
    Daemon {
        argv: vec![
            python().to_string(),
            "-m".into(),
            "http.server".into(),
            "--bind".into(),
            node.address().to_string(),
            "--directory".into(),
            node.dir().display().to_string(),
            PORT.to_string(),
        ],
        ..Daemon::default()
    }
}

/// One GET from the controller; the status line, or why there was none.
fn get(address: IpAddr, timeout: Duration) -> Result<String, String> {
    let addr = SocketAddr::new(address, PORT);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .map_err(|e| e.to_string())?;
    Ok(body.lines().next().unwrap_or_default().to_string())
}

fn answers(address: IpAddr) -> bool {
    get(address, Duration::from_millis(500)).is_ok_and(|line| line.contains(" 200 "))
}

/// Waits (at most 15 s) until the node's server answers.
fn wait_until_answering(node: &dyn Node) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if answers(node.address()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "node {} never answered on {}:{PORT}",
        node.name(),
        node.address()
    );
}

pub(crate) fn start_servers(cluster: &Cluster) {
    for node in cluster.nodes() {
        node.spawn_daemon(&http_server(node.as_ref())).unwrap();
    }
    for node in cluster.nodes() {
        wait_until_answering(node.as_ref());
    }
}

/// Whether `from` can open a TCP connection to `to`'s server within a second.
fn connects(from: &dyn Node, to: &dyn Node) -> bool {
    let argv: Vec<String> = [
        "timeout",
        "1",
        "bash",
        "-c",
        "exec 3<>/dev/tcp/$0/$1",
        &to.address().to_string(),
        &PORT.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = from.exec(&argv, Duration::from_secs(5)).unwrap();
    match out.code {
        Some(0) => true,
        Some(124) => false,
        other => panic!(
            "connecting from {} to {} failed oddly ({other:?}): {}",
            from.name(),
            to.name(),
            out.stderr
        ),
    }
}

fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn state_dir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("faultline-{run_id}"))
}

/// Pids whose command line mentions the run's state directory: every daemon these tests
/// start serves a directory inside it.
fn processes_of_run(run_id: &str) -> Vec<String> {
    let needle = state_dir(run_id).display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // A store's daemonised children keep the mark of their node in their environment.
        let marked = std::fs::read(entry.path().join("environ")).is_ok_and(|env| {
            String::from_utf8_lossy(&env)
                .split('\0')
                .any(|var| var.starts_with(&format!("FAULTLINE_NODE_DIR={needle}/")))
        });
        let zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        if (cmdline.contains(&needle) || marked) && !zombie {
            found.push(format!("{name}: {cmdline}"));
        }
    }
    found
}

/// Nothing of the run is left: namespaces, links, processes, state directory.
pub(crate) fn assert_no_trace(run_id: &str) {
    let prefix = format!("fl{run_id}-");
    let namespaces = run(&["ip", "netns", "list"]);
    assert!(
        !namespaces.contains(&prefix),
        "namespaces of run {run_id} left behind:\n{namespaces}"
    );
    let links = run(&["ip", "-o", "link", "show"]);
    assert!(
        !links.contains(&prefix),
        "links of run {run_id} left behind:\n{links}"
    );
    let processes = processes_of_run(run_id);
    assert!(
        processes.is_empty(),
        "processes of run {run_id} left behind: {processes:?}"
    );
    assert!(
        !state_dir(run_id).exists(),
        "state directory of run {run_id} left behind"
    );
    let forward = run(&["iptables", "-S", "FORWARD"]);
    assert!(
        !forward.contains(&format!("faultline-{run_id}")),
        "host FORWARD rule of run {run_id} left behind:\n{forward}"
    );
    let routes = run(&[
        "ip",
        "-4",
        "route",
        "show",
        "type",
        "blackhole",
        "proto",
        "250",
    ]);
    let metric = format!(
        "metric {}",
        0x0100_0000 + u32::from_str_radix(run_id, 16).unwrap()
    );
    assert!(
        !routes.contains(&metric),
        "blackhole route of run {run_id} left behind:\n{routes}"
    );
}

pub(crate) fn local_cluster(count: usize) -> Cluster {
    Cluster::start(&ClusterConfig::new(BackendKind::Local, count)).unwrap()
}

fn chain_rules(node: &dyn Node) -> String {
    let argv: Vec<String> = ["iptables", "-S", "FAULTLINE"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    node.exec(&argv, Duration::from_secs(5)).unwrap().stdout
}

#[test]
fn a_partition_cuts_connections_across_it_and_heal_restores_them() {
    let _heavy = heavy();
    let began = Instant::now();
    let cluster = local_cluster(5);
    let up = began.elapsed();
    let run_id = cluster.run_id().to_string();
    start_servers(&cluster);
    let n: Vec<&dyn Node> = cluster.nodes().iter().map(|n| n.as_ref()).collect();
    assert!(connects(n[0], n[2]), "before the partition n1 reaches n3");
    let v6: Vec<String> = ["ip", "-6", "-o", "addr", "show", "dev", "eth0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let v6 = n[0].exec(&v6, Duration::from_secs(5)).unwrap().stdout;
    assert!(
        v6.trim().is_empty(),
        "no IPv6 path around the IPv4 rules: {v6}"
    );

    // A rule of somebody else's inside a namespace must outlive partition and heal.
    let foreign: Vec<String> = [
        "iptables", "-A", "OUTPUT", "-p", "udp", "--dport", "9", "-j", "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert!(n[0]
        .exec(&foreign, Duration::from_secs(5))
        .unwrap()
        .success());

    let grudge = "n1,n2|n3,n4,n5"
        .parse::<Topology>()
        .unwrap()
        .grudge(&cluster.node_names(), &mut rand::thread_rng())
        .unwrap();
    let asked = Instant::now();
    cluster.partition(&grudge).unwrap();
    let in_force = asked.elapsed();
    eprintln!(
        "5-node local cluster up in {} ms; partition in force on every node {} ms after being asked",
        up.as_millis(),
        in_force.as_millis()
    );

    assert!(connects(n[0], n[1]), "n1 and n2 share a side");
    assert!(connects(n[3], n[4]), "n4 and n5 share a side");
    assert!(
        !connects(n[0], n[2]),
        "n1 must not reach n3 across the partition"
    );
    assert!(
        !connects(n[4], n[1]),
        "n5 must not reach n2 across the partition"
    );
    assert!(
        answers(n[2].address()),
        "the controller still reaches every node"
    );
    assert!(chain_rules(n[0]).contains("-s 10."), "n1 holds DROP rules");

    cluster.heal().unwrap();
    assert!(connects(n[0], n[2]), "after heal n1 reaches n3 again");
    assert!(connects(n[4], n[1]), "after heal n5 reaches n2 again");
    assert!(
        !chain_rules(n[0]).contains("DROP"),
        "heal empties the chain"
    );
    let output_rules = n[0]
        .exec(
            &[
                "iptables".to_string(),
                "-S".to_string(),
                "OUTPUT".to_string(),
            ],
            Duration::from_secs(5),
        )
        .unwrap()
        .stdout;
    assert!(
        output_rules.contains("--dport 9 -j DROP"),
        "heal removed a rule faultline does not own:\n{output_rules}"
    );

    cluster.teardown().unwrap();
    assert_no_trace(&run_id);
}

#[test]
fn kill_ends_the_daemon_and_restart_brings_it_back_answering() {
    let _heavy = heavy();
    let cluster = local_cluster(2);
    let run_id = cluster.run_id().to_string();
    start_servers(&cluster);
    let n2 = cluster.node("n2").unwrap();

    n2.kill().unwrap();
    assert!(!n2.is_alive());
    assert!(!answers(n2.address()), "a killed node does not answer");
    assert!(
        answers(cluster.node("n1").unwrap().address()),
        "n1 is untouched"
    );

    n2.restart().unwrap();
    assert!(n2.is_alive());
    wait_until_answering(n2.as_ref());
    let log = std::fs::read_to_string(n2.log_path()).unwrap();
    assert_eq!(
        log.matches("--- faultline: starting").count(),
        2,
        "the log holds both runs of the daemon:\n{log}"
    );

    drop(cluster);
    assert_no_trace(&run_id);
}

#[test]
fn pause_makes_requests_hang_and_resume_lets_them_finish() {
    let _heavy = heavy();
    let cluster = local_cluster(1);
    let run_id = cluster.run_id().to_string();
    start_servers(&cluster);
    let n1 = cluster.node("n1").unwrap().clone();

    n1.signal(Signal::SIGSTOP).unwrap();
    assert!(n1.is_alive(), "a paused daemon is alive");
    let address = n1.address();
    let request = std::thread::spawn(move || get(address, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        !request.is_finished(),
        "a request to a paused node must hang"
    );
    n1.signal(Signal::SIGCONT).unwrap();
    let answer = request.join().unwrap();
    assert!(
        answer.as_deref().is_ok_and(|l| l.contains(" 200 ")),
        "after resume the hanging request finishes: {answer:?}"
    );

    drop(cluster);
    assert_no_trace(&run_id);
}

#[test]
fn a_panic_mid_partition_still_removes_everything_of_the_run() {
    let _heavy = heavy();
    let run_id = Arc::new(Mutex::new(String::new()));
    let seen = run_id.clone();
    let outcome = std::panic::catch_unwind(move || {
        let cluster = local_cluster(3);
        *seen.lock().unwrap() = cluster.run_id().to_string();
        start_servers(&cluster);
        let grudge = Topology::IsolateOne
            .grudge(&cluster.node_names(), &mut rand::thread_rng())
            .unwrap();
        cluster.partition(&grudge).unwrap();
        cluster.node("n2").unwrap().signal(Signal::SIGSTOP).unwrap();
        panic!("a deliberate panic in the middle of a partition");
    });
    assert!(outcome.is_err());
    let run_id = run_id.lock().unwrap().clone();
    assert_eq!(run_id.len(), 6, "the cluster had started");
    assert_no_trace(&run_id);
}

/// Records nemesis events in memory.
#[derive(Default)]
pub(crate) struct Events(Mutex<Vec<(String, Value)>>);

impl NemesisSink for Events {
    fn record(&self, f: &str, value: Value) {
        self.0.lock().unwrap().push((f.to_string(), value));
    }
}

impl Events {
    pub(crate) fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

#[test]
fn a_scripted_schedule_records_each_fault_with_its_nodes_and_ends_healed() {
    let _heavy = heavy();
    let cluster = Arc::new(local_cluster(3));
    let run_id = cluster.run_id().to_string();
    start_servers(&cluster);
    let at = |ms| Duration::from_millis(ms);
    let step = |from, until: Option<u64>, nemesis: Box<dyn Nemesis>| ScriptStep {
        at: at(from),
        until: until.map(at),
        nemesis,
    };
    let steps = vec![
        step(
            0,
            Some(200),
            Box::new(PartitionNemesis::new(vec!["n1|n2,n3".parse().unwrap()])),
        ),
        step(
            250,
            Some(450),
            Box::new(KillNemesis::new(Target::Nodes(vec!["n2".into()]))),
        ),
        step(
            500,
            None,
            Box::new(PauseNemesis::new("n3".parse().unwrap())),
        ),
        step(
            550,
            None,
            Box::new(PartitionNemesis::new(vec![Topology::Halves])),
        ),
    ];
    let events = Arc::new(Events::default());
    let running = Schedule::Scripted { steps, seed: 1 }.spawn(cluster.clone(), events.clone());
    std::thread::sleep(Duration::from_millis(900));
    let n3 = cluster.node("n3").unwrap();
    assert!(!answers(n3.address()), "n3 is paused until the final heal");
    let errors = running.finish();
    assert!(errors.is_empty(), "{errors:?}");

    let n1_alone = json!({"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]});
    let halves = json!({"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]});
    assert_eq!(
        events.take(),
        vec![
            ("start-partition".to_string(), n1_alone.clone()),
            ("stop-partition".to_string(), n1_alone),
            ("kill".to_string(), json!(["n2"])),
            ("restart".to_string(), json!(["n2"])),
            ("pause".to_string(), json!(["n3"])),
            ("start-partition".to_string(), halves.clone()),
            // The final heal, in the order of fault kinds.
            ("stop-partition".to_string(), halves),
            ("resume".to_string(), json!(["n3"])),
        ]
    );
    for node in cluster.nodes() {
        wait_until_answering(node.as_ref());
        assert!(!chain_rules(node.as_ref()).contains("DROP"));
    }
    let n1 = cluster.node("n1").unwrap();
    assert!(connects(n1.as_ref(), n3.as_ref()), "the final heal healed");

    drop(cluster);
    assert_no_trace(&run_id);
}

#[test]
fn a_random_schedule_pairs_every_fault_with_its_end_and_repeats_with_its_seed() {
    let _heavy = heavy();
    // Loopback keeps this cheap: the schedule itself is what is under test.
    let sequence = |seed: u64| {
        let cluster =
            Arc::new(Cluster::start(&ClusterConfig::new(BackendKind::Loopback, 3)).unwrap());
        let run_id = cluster.run_id().to_string();
        start_servers(&cluster);
        let config = ScheduleConfig {
            interval: Duration::from_millis(60),
            duration: Duration::from_millis(60),
            jitter: 0.5,
            seed,
            ..ScheduleConfig::default()
        };
        let events = Arc::new(Events::default());
        let schedule = Schedule::Random {
            config,
            nemeses: vec![
                Box::new(KillNemesis::new(Target::One)),
                Box::new(PauseNemesis::new(Target::Minority)),
            ],
        };
        let running = schedule.spawn(cluster.clone(), events.clone());
        std::thread::sleep(Duration::from_millis(1500));
        let errors = running.finish();
        assert!(errors.is_empty(), "{errors:?}");
        for node in cluster.nodes() {
            wait_until_answering(node.as_ref());
        }
        drop(cluster);
        assert_no_trace(&run_id);
        events.take()
    };
    let first = sequence(42);
    assert!(first.len() >= 6, "faults happened: {first:?}");
    let mut open: Option<&(String, Value)> = None;
    for event in &first {
        let pair = match event.0.as_str() {
            "kill" | "pause" => None,
            "restart" => Some("kill"),
            "resume" => Some("pause"),
            other => panic!("the schedule has no {other} fault, yet did it"),
        };
        match (pair, open) {
            (None, None) => open = Some(event),
            (Some(start), Some(o)) if o.0 == start && o.1 == event.1 => open = None,
            _ => panic!("unpaired nemesis event {event:?} in {first:?}"),
        }
    }
    assert!(
        open.is_none(),
        "the final heal ended the last fault: {first:?}"
    );
    let again = sequence(42);
    let common = first.len().min(again.len()) - 1;
    assert_eq!(
        first[..common],
        again[..common],
        "the same seed, the same faults"
    );
}

#[test]
fn loopback_nodes_share_a_port_on_their_own_addresses_and_refuse_partitions() {
    let _heavy = heavy();
    let cluster = Cluster::start(&ClusterConfig::new(BackendKind::Loopback, 3)).unwrap();
    let run_id = cluster.run_id().to_string();
    start_servers(&cluster);
    let addresses: Vec<IpAddr> = cluster.nodes().iter().map(|n| n.address()).collect();
    assert!(addresses.iter().all(|a| a.is_loopback()));
    assert_eq!(
        addresses.len(),
        addresses
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "every node has its own address"
    );
    assert!(!cluster.supports_partitions());
    let err = cluster
        .partition(&Grudge::from_components(&[
            vec!["n1".into()],
            vec!["n2".into()],
        ]))
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    let asks_for_partitions = Schedule::Random {
        config: ScheduleConfig::default(),
        nemeses: vec![Box::new(PartitionNemesis::new(vec![Topology::Halves]))],
    };
    let err = asks_for_partitions.check(&cluster).unwrap_err().to_string();
    assert!(err.contains("partitions need the local backend"), "{err}");

    let n1 = cluster.node("n1").unwrap();
    n1.kill().unwrap();
    assert!(!answers(n1.address()));
    assert!(answers(addresses[1]), "killing n1 leaves n2 alone");
    n1.restart().unwrap();
    wait_until_answering(n1.as_ref());

    cluster.teardown().unwrap();
    assert_no_trace(&run_id);
}

#[test]
fn the_subnet_of_a_run_stays_on_the_machine_after_its_bridge_is_gone() {
    let _heavy = heavy();
    let cluster = local_cluster(2);
    let run_id = cluster.run_id().to_string();
    let n1 = cluster.node("n1").unwrap().address().to_string();
    let bridge = format!("fl{run_id}-br");
    let via_bridge = run(&["ip", "route", "get", &n1]);
    assert!(via_bridge.contains(&bridge), "{via_bridge}");
    // The moment of a teardown after the bridge went and before the process exited.
    let out = Command::new("ip")
        .args(["link", "del", &bridge])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let after = Command::new("ip")
        .args(["route", "get", &n1])
        .output()
        .unwrap();
    let teardown = cluster.teardown();
    assert!(
        !after.status.success(),
        "a packet to {n1} would leave the machine: {}",
        String::from_utf8_lossy(&after.stdout)
    );
    teardown.unwrap();
    assert_no_trace(&run_id);
}

#[test]
fn a_store_that_daemonises_on_a_loopback_node_leaves_nothing_behind() {
    let _heavy = heavy();
    let cluster = Cluster::start(&ClusterConfig::new(BackendKind::Loopback, 1)).unwrap();
    let run_id = cluster.run_id().to_string();
    let n1 = cluster.node("n1").unwrap();
    n1.spawn_daemon(&Daemon {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "setsid sleep 777 & setsid sh -c 'sleep 778 &' ; exec sleep 779".into(),
        ],
        ..Daemon::default()
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_of_run(&run_id).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the store did not start: {:?}",
            processes_of_run(&run_id)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.teardown().unwrap();
    assert_no_trace(&run_id);
}

/// Not a test: the controller that `faultline_clean_removes_what_a_killed_controller_left`
/// starts in a child process and kills. Without its environment variable it does nothing.
#[test]
#[ignore = "helper process for faultline_clean_removes_what_a_killed_controller_left"]
fn helper_controller_killed_mid_run() {
    let Some(report) = std::env::var_os("FAULTLINE_TEST_CONTROLLER_REPORT") else {
        return;
    };
    let backend: BackendKind = std::env::var("FAULTLINE_TEST_BACKEND")
        .unwrap()
        .parse()
        .unwrap();
    let cluster = Cluster::start(&ClusterConfig::new(backend, 2)).unwrap();
    start_servers(&cluster);
    if cluster.supports_partitions() {
        let grudge = Topology::Halves
            .grudge(&cluster.node_names(), &mut rand::thread_rng())
            .unwrap();
        cluster.partition(&grudge).unwrap();
    }
    std::fs::write(&report, cluster.run_id()).unwrap();
    // Bounded: the parent kills us long before this ends.
    std::thread::sleep(Duration::from_secs(60));
}

/// Starts `helper_controller_killed_mid_run` in a child process and waits until its
/// 2-node cluster runs its daemons (partitioned, on `local`); returns the child and the run id.
// The child is returned to the caller, which kills and waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_controller(backend: &str) -> (std::process::Child, String) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut controller = Command::new(std::env::current_exe().unwrap())
        .args([
            "cluster::helper_controller_killed_mid_run",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("FAULTLINE_TEST_CONTROLLER_REPORT", report.path())
        .env("FAULTLINE_TEST_BACKEND", backend)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let id = std::fs::read_to_string(report.path()).unwrap_or_default();
        if id.len() == 6 {
            return (controller, id);
        }
        if Instant::now() > deadline {
            let _ = controller.kill();
            let _ = controller.wait();
            panic!("the controller never built its cluster");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_to_the_controller_tears_its_cluster_down() {
    let _heavy = heavy();
    let (controller, run_id) = spawn_controller("local");
    assert_eq!(processes_of_run(&run_id).len(), 2, "the daemons run");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(controller.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = controller.wait_with_output().unwrap().status;
    assert_eq!(
        status.code(),
        Some(3),
        "an interrupted run could not be carried out"
    );
    assert_no_trace(&run_id);
}

#[test]
fn faultline_clean_removes_what_a_killed_controller_left() {
    let _heavy = heavy();
    let (mut controller, run_id) = spawn_controller("local");
    controller.kill().unwrap();
    controller.wait().unwrap();
    assert!(
        run(&["ip", "netns", "list"]).contains(&format!("fl{run_id}-n1")),
        "a killed controller leaves its namespaces behind"
    );
    assert_eq!(processes_of_run(&run_id).len(), 2, "and its daemons");

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--run", &run_id])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        format!("removed namespace fl{run_id}-n1"),
        format!("removed namespace fl{run_id}-n2"),
        format!("removed link fl{run_id}-br"),
        "(daemon of node n1".to_string(),
        format!("removed directory {}", state_dir(&run_id).display()),
    ] {
        assert!(
            stdout.contains(&expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert_no_trace(&run_id);
}

#[test]
fn faultline_clean_leaves_a_live_run_alone() {
    let _heavy = heavy();
    let cluster = local_cluster(1);
    let run_id = cluster.run_id().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--run", &run_id])
        .output()
        .unwrap();
    // This process is the run's controller, and it is alive.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("still running"), "{stderr}");
    assert!(run(&["ip", "netns", "list"]).contains(&format!("fl{run_id}-n1")));
    drop(cluster);
    assert_no_trace(&run_id);
}

#[test]
fn faultline_clean_kills_the_daemons_a_killed_loopback_controller_left() {
    let _heavy = heavy();
    let (mut controller, run_id) = spawn_controller("loopback");
    controller.kill().unwrap();
    controller.wait().unwrap();
    assert_eq!(
        processes_of_run(&run_id).len(),
        2,
        "the daemons outlive their controller"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--run", &run_id])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.matches("removed process group").count(),
        2,
        "one line per daemon:\n{stdout}"
    );
    assert_no_trace(&run_id);
}

/// Not a test: prints the local backend's preflight verdict for
/// `preflight_names_what_is_missing_and_how_to_install_it`, which runs it in a crippled
/// environment. Without its environment variable it does nothing.
#[test]
#[ignore = "helper process for preflight_names_what_is_missing_and_how_to_install_it"]
fn helper_preflight() {
    if std::env::var_os("FAULTLINE_TEST_PREFLIGHT").is_none() {
        return;
    }
    match faultline::cluster::preflight::check(BackendKind::Local) {
        Ok(()) => println!("PREFLIGHT OK"),
        Err(e) => println!("{e}"),
    }
}

fn preflight_in(prefix: &[&str], path: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let (program, args) = match prefix.split_first() {
        Some((p, rest)) => (p.to_string(), rest.iter().map(|s| s.to_string()).collect()),
        None => (exe.display().to_string(), Vec::new()),
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    if !prefix.is_empty() {
        cmd.arg(&exe);
    }
    let out = cmd
        .args([
            "cluster::helper_preflight",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("FAULTLINE_TEST_PREFLIGHT", "1")
        .env("PATH", path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn preflight_names_what_is_missing_and_how_to_install_it() {
    // The preflight creates a scratch namespace, as does every cluster start.
    let _heavy = heavy();
    let everything = preflight_in(&[], &std::env::var("PATH").unwrap_or_default());
    assert!(everything.contains("PREFLIGHT OK"), "{everything}");
    let namespaces = run(&["ip", "netns", "list"]);
    assert!(
        !namespaces.contains("-pf"),
        "the preflight's scratch namespace is gone: {namespaces}"
    );

    let empty = tempfile::tempdir().unwrap();
    let no_tools = preflight_in(&[], &empty.path().display().to_string());
    assert!(
        no_tools.contains("the local cluster backend cannot run on this machine:"),
        "{no_tools}"
    );
    assert!(
        no_tools.contains("`ip` is not installed; install it with `apt-get install -y iproute2`"),
        "{no_tools}"
    );
    assert!(
        no_tools.contains("install them with `apt-get install -y iptables`"),
        "{no_tools}"
    );

    // As an unprivileged user, when that user may run this test binary at all.
    let exe = std::env::current_exe().unwrap();
    let as_nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let reachable = Command::new(as_nobody[0])
        .args(&as_nobody[1..])
        .args(["test", "-x"])
        .arg(&exe)
        .status()
        .is_ok_and(|s| s.success());
    if !reachable {
        eprintln!(
            "skipping the unprivileged half: user 65534 cannot run {}",
            exe.display()
        );
        return;
    }
    let unprivileged = preflight_in(&as_nobody, &std::env::var("PATH").unwrap_or_default());
    assert!(
        unprivileged.contains("not running as root") && unprivileged.contains("sudo faultline"),
        "{unprivileged}"
    );
}
