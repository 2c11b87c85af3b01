//! Disk faults on the demo store (workloads/demo-disk.toml), as a user runs them: a power
//! loss on every node (`lose-unfsynced-writes`) finds the acknowledged writes of a store that
//! acknowledges before fsync and none of one that fsyncs first; `corrupt-file` records what
//! it changed; etcd 3.4 loses its never-fsynced `member/` directory (workloads/etcd-v3-disk.toml);
//! and no lazy filesystem outlives its run, even a SIGKILLed controller's once `faultline
//! clean` ran.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::run::{assert_nothing_left, events, latest, run, stdout_of};

/// workloads/demo-disk.toml with the demo binary and `durability` filled in.
fn disk_spec(dir: &Path, durability: &str) -> PathBuf {
    let path = crate::workloads::spec(dir, "disk", "linearizable");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"--durability\", \"async\""));
    let text = text.replacen(
        "\"--durability\", \"async\"",
        &format!("\"--durability\", \"{durability}\""),
        1,
    );
    let path = dir.join(format!("demo-disk-{durability}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The lazy filesystems mounted under `/tmp/faultline-<run>/`, from the kernel's table.
fn lazy_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains("faultline-lazyfs"))
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .collect()
}

fn mounts_of(run_id: &str) -> Vec<String> {
    let prefix = std::env::temp_dir().join(format!("faultline-{run_id}/"));
    lazy_mounts()
        .into_iter()
        .filter(|m| m.starts_with(prefix.to_str().unwrap()))
        .collect()
}

fn run_id_of(run_dir: &Path) -> String {
    let log = std::fs::read_to_string(run_dir.join("controller.log")).unwrap();
    log.lines()
        .find_map(|l| l.split("] cluster ").nth(1))
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_string()
}

#[test]
fn a_power_loss_on_every_node_loses_writes_acknowledged_before_fsync_and_none_after() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--time-limit", "8", "--seed", "1"];
    let out = run(&disk_spec(dir.path(), "async"), dir.path(), &args);
    let stdout = stdout_of(&out, 1);
    assert!(
        stdout.contains("set-full: invalid") && !stdout.contains(" 0 lost"),
        "{stdout}"
    );
    let run_dir = latest(dir.path(), "demo-disk");
    let history = events(&run_dir);
    let loss = history
        .iter()
        .find(|e| e.f == "lose-unfsynced-writes")
        .expect("the fault is in the history");
    for node in ["n1", "n2", "n3"] {
        assert!(
            loss.value[node]["bytes"].as_u64().unwrap() > 0,
            "{node}: {:?}",
            loss.value
        );
    }
    assert!(history.iter().any(|e| e.f == "disk-restart"));
    assert!(mounts_of(&run_id_of(&run_dir)).is_empty());
    assert_nothing_left(&run_dir);

    let out = run(&disk_spec(dir.path(), "fsync"), dir.path(), &args);
    let stdout = stdout_of(&out, 0);
    assert!(stdout.contains("set-full: valid"), "{stdout}");
    let run_dir = latest(dir.path(), "demo-disk");
    let loss = events(&run_dir)
        .into_iter()
        .find(|e| e.f == "lose-unfsynced-writes")
        .unwrap();
    assert_eq!(loss.value["n1"]["bytes"], 0, "{:?}", loss.value);
    assert!(mounts_of(&run_id_of(&run_dir)).is_empty());
    assert_nothing_left(&run_dir);
}

#[test]
fn corrupt_file_records_the_bits_it_flipped_and_a_store_that_then_refuses_to_start() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = disk_spec(dir.path(), "fsync");
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "fault = \"lose-unfsynced-writes\"\ntarget = \"all\"",
        "fault = \"corrupt-file\"\ntarget = \"n2\"",
    ) + "\n[nemesis.disk]\ncorrupt_glob = \"**/wal.jsonl\"\nflips = 16\n";
    std::fs::write(&spec, text).unwrap();
    let out = run(&spec, dir.path(), &["--time-limit", "8", "--seed", "2"]);
    let run_dir = latest(dir.path(), "demo-disk");
    let history = events(&run_dir);
    let corrupt = history
        .iter()
        .find(|e| e.f == "corrupt-file")
        .expect("the fault is in the history");
    let what = &corrupt.value["n2"];
    assert_eq!(what["file"], "n2/wal.jsonl", "{:?}", corrupt.value);
    let size = what["size"].as_u64().unwrap();
    let flipped = what["flipped"].as_array().unwrap();
    assert_eq!(flipped.len(), 16);
    assert!(flipped
        .iter()
        .all(|f| f[0].as_u64().unwrap() < size && f[1].as_u64().unwrap() < 8));
    // Sixteen flips in a log of entries checked line by line: n2 finds the damage and
    // refuses to start, which the run reports with its log lines.
    let crash = history
        .iter()
        .find(|e| e.f == "node-crash")
        .unwrap_or_else(|| panic!("no node-crash: {}", crate::run::text(&out.stdout)));
    assert_eq!(crash.value["node"], "n2", "{:?}", crash.value);
    assert!(
        crash.value.to_string().contains("damaged"),
        "the store's own words: {:?}",
        crash.value
    );
    assert_nothing_left(&run_dir);
}

#[test]
fn faultline_clean_unmounts_the_lazy_filesystems_of_a_sigkilled_controller() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = disk_spec(dir.path(), "fsync");
    let before = lazy_mounts();
    let mut controller = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(dir.path())
        .args(["--backend", "loopback", "--time-limit", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mounted = loop {
        let new: Vec<String> = lazy_mounts()
            .into_iter()
            .filter(|m| !before.contains(m))
            .collect();
        if new.len() == 3 || Instant::now() > deadline {
            break new;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    controller.kill().unwrap();
    controller.wait().unwrap();
    assert_eq!(mounted.len(), 3, "three nodes, three mounts: {mounted:?}");
    let run_dir = latest(dir.path(), "demo-disk");
    let run_id = run_id_of(&run_dir);
    assert_eq!(
        mounts_of(&run_id).len(),
        3,
        "the dead controller's mounts stay"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--run", &run_id])
        .output()
        .unwrap();
    let report = crate::run::text(&out.stdout) + &crate::run::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(mounts_of(&run_id).is_empty(), "{report}");
    let state = std::env::temp_dir().join(format!("faultline-{run_id}"));
    assert!(
        !state.exists(),
        "the backing directories go with the state directory"
    );
    assert_nothing_left(&run_dir);
}

#[test]
fn etcd_loses_its_unsynced_member_directory_and_acknowledged_writes_to_a_power_loss() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::run::repo().join("workloads/etcd-v3-disk.toml");
    let out = run(&spec, dir.path(), &["--time-limit", "12", "--seed", "1"]);
    let stdout = stdout_of(&out, 1);
    assert!(stdout.contains("linearizable: invalid"), "{stdout}");
    let run_dir = latest(dir.path(), "etcd-v3-disk");
    let history = events(&run_dir);
    let loss = history
        .iter()
        .find(|e| e.f == "lose-unfsynced-writes")
        .expect("the fault is in the history");
    for node in ["n1", "n2", "n3"] {
        let names = &loss.value[node]["names"];
        assert_eq!(
            names,
            &serde_json::json!(["member"]),
            "{node}: {:?}",
            loss.value
        );
    }
    let log = std::fs::read_to_string(run_dir.join("nodes/n1/daemon.log")).unwrap();
    // Once at the first start, once more when the member came back with nothing.
    let fresh = log.matches("became follower at term 0").count();
    assert_eq!(fresh, 2, "n1 restarted as a new member");
    assert!(mounts_of(&run_id_of(&run_dir)).is_empty());
    assert_nothing_left(&run_dir);
}
