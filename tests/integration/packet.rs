//! Integration tests: packet faults on real namespaces — a delay a connection can feel, on
//! the links asked and no others, recorded with its parameters, and nothing left afterwards
//! (queue rules, qdiscs, shim threads), even when the cluster goes mid-fault.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline::cluster::packet::{Delay, Distribution, Loss, PacketPlan, Shape};
use faultline::cluster::{BackendKind, Cluster, ClusterConfig, Node};
use faultline::nemesis::Schedule;
use faultline::spec::NemesisSpec;

use crate::cluster::{assert_no_trace, local_cluster, start_servers, Events};
use crate::heavy;

/// The fastest of three TCP connects to `to`'s server from inside `from`'s namespace, in ms
/// (a connect is one round trip).
fn connect_ms(cluster: &Cluster, from: &str, to: &str) -> f64 {
    let ns = format!("/run/netns/fl{}-{from}", cluster.run_id());
    let addr = SocketAddr::new(cluster.node(to).unwrap().address(), 8000);
    std::thread::spawn(move || {
        let f = File::open(&ns).unwrap();
        // SAFETY: setns on a valid descriptor moves only this thread.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        (0..3)
            .map(|_| {
                let began = Instant::now();
                TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
                began.elapsed().as_secs_f64() * 1000.0
            })
            .fold(f64::INFINITY, f64::min)
    })
    .join()
    .unwrap()
}

/// The controller's threads that run a packet shim.
fn shim_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "packet-shim")
        })
        .count()
}

/// The node's packet chains and qdiscs, as `iptables -S` and `tc qdisc` print them.
fn packet_state(node: &dyn Node) -> String {
    let mut text = String::new();
    for argv in [
        &["iptables", "-S", "FAULTLINE-PKT-OUT"][..],
        &["iptables", "-S", "FAULTLINE-PKT-IN"],
        &["iptables", "-t", "mangle", "-S", "FAULTLINE-PKT-DUP"],
        &["tc", "qdisc", "show", "dev", "eth0"],
    ] {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        text.push_str(&node.exec(&argv, Duration::from_secs(5)).unwrap().stdout);
    }
    text
}

#[test]
fn a_scripted_delay_slows_only_the_link_asked_is_recorded_and_ends_clean() {
    let _heavy = heavy();
    let cluster = Arc::new(local_cluster(3));
    let run_id = cluster.run_id().to_string();
    start_servers(&cluster);
    let before = connect_ms(&cluster, "n1", "n2");
    let spec: NemesisSpec = toml::from_str(
        "[packet]\ndelay_ms = 150\njitter_ms = 0\n\
         [[schedule]]\nat_s = 0\nfault = \"delay\"\nduration_s = 2\ntopology = \"n1|n2\"\n",
    )
    .unwrap();
    let schedule = Schedule::from_spec(&spec, 5).unwrap();
    schedule.check(&cluster).unwrap();
    let events = Arc::new(Events::default());
    let running = schedule.spawn(cluster.clone(), events.clone());
    std::thread::sleep(Duration::from_millis(300));
    let slow = connect_ms(&cluster, "n1", "n2");
    let other = connect_ms(&cluster, "n1", "n3");
    assert!(
        shim_threads() > 0,
        "a shim runs while the delay is in force"
    );
    let errors = running.finish();
    assert!(errors.is_empty(), "{errors:?}");
    // Both ways of n1–n2 carry 150 ms: a connect's round trip takes 300 ms.
    assert!((290.0..400.0).contains(&slow), "n1 → n2 took {slow:.1} ms");
    assert!(
        other < 50.0,
        "n1 → n3 is not on the link asked: {other:.1} ms"
    );
    assert!(before < 50.0, "before the fault: {before:.1} ms");

    let recorded = events.take();
    let fs: Vec<&str> = recorded.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fs, ["start-delay", "stop-packet"]);
    let start = &recorded[0].1;
    assert_eq!(start["delay"]["mean_ms"], 150.0);
    assert_eq!(
        start["links"],
        serde_json::json!({"n1": ["n2"], "n2": ["n1"]})
    );
    let stats = &recorded[1].1["stats"];
    assert!(stats["n1"]["packets"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["n1"]["overflow"], 0);

    assert_eq!(shim_threads(), 0, "the stop ended every shim");
    for node in cluster.nodes() {
        let state = packet_state(node.as_ref());
        assert!(
            !state.contains("NFQUEUE") && !state.contains("htb"),
            "{state}"
        );
    }
    assert!(
        connect_ms(&cluster, "n1", "n2") < 50.0,
        "the link is fast again"
    );
    drop(cluster);
    assert_no_trace(&run_id);
}

#[test]
fn a_cluster_torn_down_mid_fault_leaves_no_rule_qdisc_or_shim_behind() {
    let _heavy = heavy();
    let cluster = local_cluster(3);
    let run_id = cluster.run_id().to_string();
    let names = cluster.node_names();
    let links = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                names.iter().filter(|m| *m != n).cloned().collect(),
            )
        })
        .collect();
    let plan = PacketPlan {
        shape: Shape {
            delay: Some(Delay {
                mean_ms: 500.0,
                jitter_ms: 50.0,
                distribution: Distribution::Normal,
            }),
            loss: Some(Loss {
                probability: 0.2,
                correlation: 0.3,
            }),
            duplicate: Some(0.1),
            reorder: None,
            rate_kbit: Some(500),
        },
        links,
        clients: true,
        max_held: 64,
        seed: 1,
    };
    cluster.shape(&plan).unwrap();
    let state = packet_state(cluster.nodes()[0].as_ref());
    for what in ["NFQUEUE", "--queue-bypass", "TEE", "htb", "-s 10."] {
        assert!(state.contains(what), "no {what} in:\n{state}");
    }
    assert_eq!(shim_threads(), 3);
    // As on Ctrl-C: teardown with the fault in force.
    cluster.teardown().unwrap();
    assert_eq!(shim_threads(), 0);
    assert_no_trace(&run_id);
}

#[test]
fn loopback_clusters_refuse_packet_faults_saying_what_they_need() {
    let _heavy = heavy();
    let cluster = Arc::new(Cluster::start(&ClusterConfig::new(BackendKind::Loopback, 3)).unwrap());
    let spec: NemesisSpec = toml::from_str("faults = [\"loss\"]").unwrap();
    let err = Schedule::from_spec(&spec, 1)
        .unwrap()
        .check(&cluster)
        .unwrap_err()
        .to_string();
    assert!(err.contains("loss") || err.contains("packet"), "{err}");
    assert!(err.contains("local backend"), "{err}");
}

#[test]
fn the_demo_under_delay_alone_is_caught_and_records_its_delay_windows() {
    let _heavy = heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["demo", "--backend", "local", "--nemesis", "delay"])
        .args(["--time-limit", "8", "--seed", "3", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "stale reads are caught:\n{text}"
    );
    let report = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("report: ")
                .map(std::path::PathBuf::from)
        })
        .unwrap_or_else(|| panic!("no report line:\n{text}"));
    let run_dir = report.parent().unwrap();
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let nemesis: Vec<serde_json::Value> = history
        .lines()
        .filter(|l| l.contains("\"nemesis\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let starts: Vec<&serde_json::Value> =
        nemesis.iter().filter(|e| e["f"] == "start-delay").collect();
    assert!(!starts.is_empty(), "no delay started:\n{history}");
    assert_eq!(starts[0]["value"]["delay"]["mean_ms"], 200.0);
    assert!(starts[0]["value"]["links"]["n1"].is_array());
    let stops = nemesis.iter().filter(|e| e["f"] == "stop-packet").count();
    assert_eq!(stops, starts.len(), "every delay ends");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("packet delay 200"), "the window is labelled");
    // This run's own namespaces, links and processes (others may run beside it).
    crate::run::assert_nothing_left(run_dir);
}

/// Not a test: the controller that `a_controller_killed_mid_delay_leaves_no_black_hole`
/// starts in a child process and kills. Without its environment variable it does nothing.
#[test]
#[ignore = "helper process for a_controller_killed_mid_delay_leaves_no_black_hole"]
fn helper_controller_killed_mid_delay() {
    let Some(report) = std::env::var_os("FAULTLINE_TEST_CONTROLLER_REPORT") else {
        return;
    };
    let cluster = local_cluster(2);
    start_servers(&cluster);
    let plan = PacketPlan {
        shape: Shape {
            delay: Some(Delay {
                mean_ms: 400.0,
                jitter_ms: 0.0,
                distribution: Distribution::Uniform,
            }),
            ..Shape::default()
        },
        links: [("n1".to_string(), ["n2".to_string()].into())].into(),
        clients: false,
        max_held: 64,
        seed: 1,
    };
    cluster.shape(&plan).unwrap();
    std::fs::write(&report, cluster.run_id()).unwrap();
    // Bounded: the parent kills us long before this ends.
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_controller_killed_mid_delay_leaves_no_black_hole_and_clean_removes_the_rest() {
    let _heavy = heavy();
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut controller = Command::new(std::env::current_exe().unwrap())
        .args([
            "packet::helper_controller_killed_mid_delay",
            "--exact",
            "--ignored",
        ])
        .env("FAULTLINE_TEST_CONTROLLER_REPORT", report.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let run_id = loop {
        let id = std::fs::read_to_string(report.path()).unwrap_or_default();
        if id.len() == 6 || Instant::now() > deadline {
            break id;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    controller.kill().unwrap();
    controller.wait().unwrap();
    assert_eq!(run_id.len(), 6, "the controller never shaped its cluster");
    let n2 = format!("/run/netns/fl{run_id}-n2");
    let rules = Command::new("ip")
        .args(["netns", "exec", &format!("fl{run_id}-n1")])
        .args(["iptables", "-S", "FAULTLINE-PKT-OUT"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&rules.stdout).contains("--queue-bypass"));
    // The queue's rule outlives its reader, and lets packets through untouched.
    let addr: SocketAddr = {
        let out = Command::new("ip")
            .args([
                "-n",
                &format!("fl{run_id}-n2"),
                "-4",
                "-o",
                "addr",
                "show",
                "dev",
                "eth0",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let cidr = text.split_whitespace().nth(3).unwrap().to_string();
        SocketAddr::new(cidr.split('/').next().unwrap().parse().unwrap(), 8000)
    };
    let n1 = format!("/run/netns/fl{run_id}-n1");
    let took_ms = std::thread::spawn(move || {
        let f = File::open(&n1).unwrap();
        // SAFETY: setns on a valid descriptor moves only this thread.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let began = Instant::now();
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
        began.elapsed().as_secs_f64() * 1000.0
    })
    .join()
    .unwrap();
    assert!(
        took_ms < 100.0,
        "n1 reaches n2 at once, not through a dead queue: {took_ms:.1} ms"
    );
    assert!(Path::new(&n2).exists());
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--run", &run_id])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_trace(&run_id);
}
