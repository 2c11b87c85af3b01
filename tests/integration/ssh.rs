//! Integration tests of the ssh backend against real OpenSSH servers.
//!
//! A [`Lab`] is a set of test hosts on this machine: one network namespace per host on a
//! bridge of its own, each running `sshd -D` with a config, host key and authorized_keys made
//! for the test in a temporary directory, listening only on the namespace's address. The
//! client key and the known_hosts file are made for the test too, so host-key checking stays
//! strict. The hosts share this machine's clock, PID space and filesystem: no test sets the
//! real clock (the clock path runs against a stand-in `date`), and every check is per host.
//! The lab removes its namespaces, bridge, sshd servers and everything they started when
//! dropped, also when a test fails.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline::cluster::ssh::{SshHost, SshOptions};
use faultline::cluster::{Cluster, ClusterConfig, Daemon, Node, Target};
use faultline::nemesis::clock::{self, ClockFault};
use faultline::nemesis::{ClockNemesis, KillNemesis, Nemesis, PartitionNemesis, PauseNemesis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::heavy;

const PORT: u16 = 8000;

/// How one test host differs from a healthy one.
#[derive(Clone, Copy, Default)]
struct HostSetup {
    /// authorized_keys holds another key than the client's.
    refuse_key: bool,
    /// Sessions get a PATH without /usr/sbin, so `iptables` is not found.
    no_iptables: bool,
    /// Sessions find a stand-in `systemctl` first, whose `chrony` unit is active; it logs
    /// every call to `systemctl.log` in the lab directory.
    stub_systemctl: bool,
}

struct LabHost {
    namespace: String,
    veth: String,
    address: Ipv4Addr,
    sshd: Option<Child>,
}

/// Test hosts: namespaces running sshd. Everything is removed on drop.
struct Lab {
    tmp: tempfile::TempDir,
    bridge: String,
    hosts: Vec<LabHost>,
    made_privsep_dir: bool,
    /// Remote paths a test asks the lab to remove (a host that vanished keeps its files).
    remove_later: Vec<PathBuf>,
}

fn sh(argv: &[&str]) -> std::process::Output {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {argv:?}: {e}"))
}

fn sh_ok(argv: &[&str]) -> String {
    let out = sh(argv);
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keygen(path: &Path) {
    sh_ok(&[
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "faultline-test",
        "-f",
        path.to_str().unwrap(),
    ]);
}

impl Lab {
    fn new(setups: &[HostSetup]) -> Lab {
        let tag = format!("{:04x}", rand::random::<u16>());
        // /run/sshd is sshd's privilege-separation directory; the package makes it at boot.
        let made_privsep_dir = fs::create_dir("/run/sshd").is_ok();
        let mut lab = Lab {
            tmp: tempfile::tempdir().unwrap(),
            bridge: format!("slb{tag}"),
            hosts: Vec::new(),
            made_privsep_dir,
            remove_later: Vec::new(),
        };
        let subnet = free_subnet();
        let gateway = format!("10.250.{subnet}.254/24");
        sh_ok(&["ip", "link", "add", &lab.bridge, "type", "bridge"]);
        sh_ok(&["ip", "addr", "add", &gateway, "dev", &lab.bridge]);
        sh_ok(&["ip", "link", "set", &lab.bridge, "up"]);
        let dir = lab.tmp.path().to_path_buf();
        keygen(&dir.join("client"));
        keygen(&dir.join("stranger"));
        let mut known_hosts = String::new();
        for (i, setup) in setups.iter().enumerate() {
            let address = Ipv4Addr::new(10, 250, subnet, i as u8 + 1);
            let host = LabHost {
                namespace: format!("sshlab{tag}h{}", i + 1),
                veth: format!("slv{tag}h{}", i + 1),
                address,
                sshd: None,
            };
            let (ns, veth) = (host.namespace.clone(), host.veth.clone());
            lab.hosts.push(host);
            sh_ok(&["ip", "netns", "add", &ns]);
            sh_ok(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            sh_ok(&["ip", "link", "set", &veth, "master", &lab.bridge, "up"]);
            sh_ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            sh_ok(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ]);
            sh_ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            let hdir = dir.join(format!("h{}", i + 1));
            fs::create_dir(&hdir).unwrap();
            keygen(&hdir.join("host_key"));
            let key = if setup.refuse_key {
                "stranger.pub"
            } else {
                "client.pub"
            };
            fs::copy(dir.join(key), hdir.join("authorized_keys")).unwrap();
            let mut config = format!(
                "ListenAddress {address}\nPort 22\nHostKey {h}/host_key\n\
                 AuthorizedKeysFile {h}/authorized_keys\nPidFile none\nUsePAM no\n\
                 StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nMaxSessions 50\nMaxStartups 50\n",
                h = hdir.display()
            );
            if setup.no_iptables {
                config.push_str("SetEnv PATH=/usr/bin:/bin\n");
            }
            if setup.stub_systemctl {
                let bin = dir.join("stub-bin");
                fs::create_dir_all(&bin).unwrap();
                fs::write(
                    bin.join("systemctl"),
                    format!(
                        "#!/bin/sh\necho \"$*\" >> {}/systemctl.log\n\
                         case \"$1\" in is-active) [ \"$3\" = chrony ];; *) exit 0;; esac\n",
                        dir.display()
                    ),
                )
                .unwrap();
                sh_ok(&["chmod", "755", bin.join("systemctl").to_str().unwrap()]);
                config.push_str(&format!(
                    "SetEnv PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
                    bin.display()
                ));
            }
            fs::write(hdir.join("sshd_config"), config).unwrap();
            let pubkey = fs::read_to_string(hdir.join("host_key.pub")).unwrap();
            known_hosts.push_str(&format!("{address} {pubkey}"));
            let log = fs::File::create(hdir.join("sshd.log")).unwrap();
            let child = Command::new("ip")
                .args(["netns", "exec", &ns, "/usr/sbin/sshd", "-D", "-e", "-f"])
                .arg(hdir.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            lab.hosts[i].sshd = Some(child);
        }
        fs::write(dir.join("known_hosts"), known_hosts).unwrap();
        for host in &lab.hosts {
            let addr = SocketAddr::new(IpAddr::V4(host.address), 22);
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(Instant::now() < deadline, "sshd on {addr} never listened");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        lab
    }

    /// Options reaching every lab host as root with the test's key, host keys checked.
    fn options(&self) -> SshOptions {
        let hosts = self
            .hosts
            .iter()
            .map(|h| SshHost {
                host: h.address.to_string(),
                user: None,
                port: None,
            })
            .collect();
        let mut o = SshOptions::new(hosts);
        o.identity_file = Some(self.tmp.path().join("client"));
        o.known_hosts_file = Some(self.tmp.path().join("known_hosts"));
        o.connect_timeout = Duration::from_secs(2);
        o
    }

    /// Host `i` drops off the network: its link goes down.
    fn disappear(&self, i: usize) {
        sh_ok(&[
            "ip",
            "-n",
            &self.hosts[i].namespace,
            "link",
            "set",
            "eth0",
            "down",
        ]);
    }

    /// `iptables -S` inside host `i`.
    fn rules(&self, i: usize) -> String {
        sh_ok(&[
            "ip",
            "netns",
            "exec",
            &self.hosts[i].namespace,
            "iptables",
            "-S",
        ])
    }

    /// Commands of the processes in host `i` other than its sshd servers.
    fn foreign_processes(&self, i: usize) -> Vec<String> {
        sh_ok(&["ip", "netns", "pids", &self.hosts[i].namespace])
            .lines()
            .filter_map(|pid| fs::read_to_string(format!("/proc/{}/comm", pid.trim())).ok())
            .map(|c| c.trim().to_string())
            .filter(|c| c != "sshd")
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            if let Some(mut child) = host.sshd.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            // Whatever the hosts still run (sessions, daemons a failed test left) goes too.
            for pid in sh(&["ip", "netns", "pids", &host.namespace])
                .stdout
                .split(|b| *b == b'\n')
                .filter_map(|l| std::str::from_utf8(l).ok()?.trim().parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            sh(&["ip", "link", "del", &host.veth]);
            sh(&["ip", "netns", "del", &host.namespace]);
        }
        sh(&["ip", "link", "del", &self.bridge]);
        for path in &self.remove_later {
            let _ = fs::remove_dir_all(path);
        }
        if self.made_privsep_dir {
            let _ = fs::remove_dir("/run/sshd");
        }
    }
}

/// A /24 in 10.250.0.0/16 that no address or route of the machine uses.
fn free_subnet() -> u8 {
    let used = sh_ok(&["ip", "-4", "route", "show", "table", "all"])
        + &sh_ok(&["ip", "-4", "-o", "addr", "show"]);
    let start = rand::random::<u8>();
    (0..=255u8)
        .map(|k| start.wrapping_add(k))
        .find(|b| !used.contains(&format!("10.250.{b}.")))
        .expect("a free subnet in 10.250.0.0/16")
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn http_server(node: &dyn Node) -> Daemon {
    Daemon {
        argv: argv(&[
            "python3",
            "-m",
            "http.server",
            "--bind",
            &node.address().to_string(),
            "--directory",
            &node.dir().display().to_string(),
            &PORT.to_string(),
        ]),
        ..Daemon::default()
    }
}

/// The status line of one GET from the controller, if one came within `timeout`.
fn get(address: IpAddr, timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::new(address, PORT), timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines().next().map(str::to_string)
}

fn wait_answering(node: &dyn Node) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(node.address(), Duration::from_millis(300)).is_none() {
        assert!(
            Instant::now() < deadline,
            "node {} never answered",
            node.name()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether `from` opens a TCP connection to `to`'s server within a second.
fn connects(from: &dyn Node, to: &dyn Node) -> bool {
    let out = from
        .exec(
            &argv(&[
                "timeout",
                "1",
                "bash",
                "-c",
                "exec 3<>/dev/tcp/$0/$1",
                &to.address().to_string(),
                &PORT.to_string(),
            ]),
            Duration::from_secs(5),
        )
        .unwrap();
    match out.code {
        Some(0) => true,
        Some(124) => false,
        other => panic!(
            "connecting {} → {}: {other:?} {}",
            from.name(),
            to.name(),
            out.stderr
        ),
    }
}

fn run_state_dir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("faultline-{run_id}"))
}

#[test]
fn ssh_nodes_run_commands_daemons_and_faults_and_leave_nothing_behind() {
    let _g = heavy();
    let lab = Lab::new(&[HostSetup::default(); 3]);
    let cluster = Cluster::start(&ClusterConfig::ssh(lab.options())).unwrap();
    let run_id = cluster.run_id().to_string();
    let n: Vec<&dyn Node> = cluster.nodes().iter().map(|n| n.as_ref()).collect();

    // Each node's commands run on its own host.
    for (i, node) in n.iter().enumerate() {
        let out = node
            .exec(
                &argv(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"]),
                Duration::from_secs(5),
            )
            .unwrap();
        assert!(
            out.stdout.contains(&format!("{}/24", lab.hosts[i].address)),
            "{out:?}"
        );
    }
    let began = Instant::now();
    let e = n[0]
        .exec(&argv(&["sleep", "10"]), Duration::from_millis(500))
        .unwrap_err()
        .to_string();
    assert!(e.contains("node n1") && e.contains("no answer"), "{e}");
    assert!(began.elapsed() < Duration::from_secs(5));

    // Upload, with spaces and quotes in the content and the mode kept.
    let local = lab.tmp.path().join("it's a file");
    fs::write(&local, "line 'one'\n$HOME\n").unwrap();
    let dest = n[1].dir().join("conf dir/app.conf");
    n[1].copy_in(&local, &dest).unwrap();
    let out = n[1]
        .exec(
            &argv(&["cat", &dest.display().to_string()]),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(out.stdout, "line 'one'\n$HOME\n");

    for node in &n {
        node.spawn_daemon(&http_server(*node)).unwrap();
    }
    for node in &n {
        wait_answering(*node);
    }
    assert!(
        n[0].spawn_daemon(&http_server(n[0])).is_err(),
        "one daemon per node"
    );
    assert!(connects(n[0], n[1]) && connects(n[1], n[2]));

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut partition = PartitionNemesis::new(vec!["n1|n2,n3".parse().unwrap()]);
    let event = partition.start(&cluster, &mut rng).unwrap();
    assert_eq!(event.f, "start-partition");
    assert_eq!(event.value["n1"], serde_json::json!(["n2", "n3"]));
    assert!(
        !connects(n[0], n[1]),
        "n1 must not reach n2 across the partition"
    );
    assert!(
        !connects(n[1], n[0]),
        "n2 must not reach n1 across the partition"
    );
    assert!(connects(n[1], n[2]), "n2 and n3 are on the same side");
    assert!(
        get(n[0].address(), Duration::from_secs(1)).is_some(),
        "the controller still reaches n1"
    );
    assert!(lab
        .rules(0)
        .contains(&format!("-A INPUT -j FAULTLINE-{run_id}")));
    assert_eq!(
        partition.stop(&cluster).unwrap().unwrap().f,
        "stop-partition"
    );
    assert!(connects(n[0], n[1]) && connects(n[1], n[0]));

    let mut kill = KillNemesis::new(Target::Nodes(vec!["n2".into()]));
    assert_eq!(kill.start(&cluster, &mut rng).unwrap().f, "kill");
    assert!(!n[1].is_alive());
    assert!(get(n[1].address(), Duration::from_millis(500)).is_none());
    assert_eq!(kill.stop(&cluster).unwrap().unwrap().f, "restart");
    assert!(n[1].is_alive());
    wait_answering(n[1]);

    let mut pause = PauseNemesis::new(Target::Nodes(vec!["n3".into()]));
    assert_eq!(pause.start(&cluster, &mut rng).unwrap().f, "pause");
    assert!(n[2].is_alive(), "a paused daemon is alive");
    assert!(
        get(n[2].address(), Duration::from_millis(500)).is_none(),
        "a paused daemon answers nothing"
    );
    assert_eq!(pause.stop(&cluster).unwrap().unwrap().f, "resume");
    wait_answering(n[2]);

    let logs = lab.tmp.path().join("logs");
    let files = cluster.collect_logs(&logs).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    let n2_log = fs::read_to_string(logs.join("n2/daemon.log")).unwrap();
    assert_eq!(
        n2_log.matches("--- faultline: starting").count(),
        2,
        "started, then restarted:\n{n2_log}"
    );
    assert!(n2_log.contains("\"GET / HTTP/1.0\" 200"), "{n2_log}");

    let dirs: Vec<PathBuf> = n.iter().map(|n| n.dir().to_path_buf()).collect();
    cluster.teardown().unwrap();
    for (i, dir) in dirs.iter().enumerate() {
        assert!(
            !lab.rules(i).contains("FAULTLINE"),
            "rules left on host {i}:\n{}",
            lab.rules(i)
        );
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert_eq!(
            lab.foreign_processes(i),
            Vec::<String>::new(),
            "processes left on host {i}"
        );
    }
    assert!(!run_state_dir(&run_id).exists());
    // pgrep exits 1 when nothing matches, which is what we want.
    let masters =
        String::from_utf8_lossy(&sh(&["pgrep", "-af", &format!("faultline-{run_id}/ssh")]).stdout)
            .into_owned();
    assert!(masters.trim().is_empty(), "ssh masters left: {masters}");
}

#[test]
fn the_preflight_names_the_host_that_refuses_the_key_and_the_one_without_iptables() {
    let _g = heavy();
    let lab = Lab::new(&[
        HostSetup::default(),
        HostSetup {
            refuse_key: true,
            ..HostSetup::default()
        },
        HostSetup {
            no_iptables: true,
            ..HostSetup::default()
        },
    ]);
    let mut config = ClusterConfig::ssh(lab.options());
    let run_id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    config.run_id = Some(run_id.clone());
    let e = Cluster::start(&config)
        .err()
        .expect("the preflight must fail")
        .to_string();
    assert!(e.starts_with("the ssh cluster backend cannot run"), "{e}");
    let line = |node: &str| {
        e.lines()
            .filter(|l| l.contains(&format!("node {node} (")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(line("n2").contains("refused the key"), "{e}");
    assert!(line("n3").contains("`iptables` is not installed"), "{e}");
    assert!(line("n1").is_empty(), "n1 is fine, yet: {e}");
    assert!(
        !run_state_dir(&run_id).exists(),
        "a failed start leaves nothing"
    );
    for i in 0..3 {
        assert!(!lab.rules(i).contains("FAULTLINE"));
    }
}

#[test]
fn a_host_that_disappears_mid_run_is_named_and_its_leftovers_reported() {
    let _g = heavy();
    let mut lab = Lab::new(&[HostSetup::default(); 2]);
    let cluster = Cluster::start(&ClusterConfig::ssh(lab.options())).unwrap();
    let sleeper = Daemon {
        argv: argv(&["sh", "-c", "while :; do sleep 1; done"]),
        ..Daemon::default()
    };
    for node in cluster.nodes() {
        node.spawn_daemon(&sleeper).unwrap();
    }
    let dirs: Vec<PathBuf> = cluster
        .nodes()
        .iter()
        .map(|n| n.dir().to_path_buf())
        .collect();
    lab.remove_later.push(dirs[1].clone());
    lab.disappear(1);
    let e = cluster
        .partition(
            &"n1|n2"
                .parse::<faultline::cluster::Topology>()
                .unwrap()
                .grudge(&cluster.node_names(), &mut ChaCha8Rng::seed_from_u64(0))
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("node n2 (root@10.250."), "{e}");
    let began = Instant::now();
    let e = cluster.teardown().unwrap_err().to_string();
    assert!(
        began.elapsed() < Duration::from_secs(40),
        "teardown retries are bounded"
    );
    assert!(
        e.contains("node n2")
            && e.contains("unreachable after 3 attempts")
            && e.contains("process group"),
        "{e}"
    );
    assert!(!e.contains("node n1"), "n1 was torn down: {e}");
    assert!(!dirs[0].exists());
    assert!(!lab.rules(0).contains("FAULTLINE"));
    assert_eq!(lab.foreign_processes(0), Vec::<String>::new());
}

/// A stand-in for `date` that keeps a per-host offset (hosts tell themselves apart by the
/// server address in `SSH_CONNECTION`) in a file, so clock steps are real to the code under test and harmless here.
fn fake_date(lab: &Lab) -> PathBuf {
    let path = lab.tmp.path().join("fake-date");
    let dir = lab.tmp.path().display();
    let script = format!(
        "#!/bin/sh\n\
         c=$SSH_CONNECTION; c=${{c#* * }}; me=${{c%% *}}\n\
         f={dir}/clock-$me\n\
         off=$(cat \"$f\" 2>/dev/null || echo 0)\n\
         if [ \"$1\" = -s ]; then\n\
           echo \"$2\" >> {dir}/clock-$me.sets\n\
           echo $(( $(date -d \"$2\" +%s%N) - $(date +%s%N) )) > \"$f\"\n\
         else\n\
           echo $(( $(date +%s%N) + off ))\n\
         fi\n"
    );
    fs::write(&path, script).unwrap();
    sh_ok(&["chmod", "755", path.to_str().unwrap()]);
    path
}

fn offset_ms(event: &faultline::nemesis::FaultEvent, node: &str) -> i64 {
    event.value[node]["offset_ms"]
        .as_i64()
        .unwrap_or_else(|| panic!("{}", event.value))
}

#[test]
fn clock_faults_step_each_hosts_clock_and_teardown_puts_it_back() {
    let _g = heavy();
    let lab = Lab::new(&[
        HostSetup::default(),
        HostSetup {
            stub_systemctl: true,
            ..HostSetup::default()
        },
    ]);
    let systemctl = || fs::read_to_string(lab.tmp.path().join("systemctl.log")).unwrap_or_default();
    let mut options = lab.options();
    options.clock_command = fake_date(&lab).display().to_string();
    let cluster = Cluster::start(&ClusterConfig::ssh(options)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // The stand-in is a shell script: each step loses the time it takes to run (tens of ms on
    // a loaded machine), which real `date` does not.
    // A reading is right within its uncertainty (half the round trip, large on a busy
    // machine).
    let near = |(got, uncertainty): (i64, i64), want: i64| (got - want).abs() < 250 + uncertainty;
    let reading = |e: &faultline::nemesis::FaultEvent, node: &str| {
        (
            offset_ms(e, node),
            e.value[node]["uncertainty_ms"].as_i64().unwrap(),
        )
    };

    let mut bump = ClockNemesis::new(
        Target::Nodes(vec!["n2".into()]),
        ClockFault::Bump { delta_ms: 1500 },
    );
    let event = bump.start(&cluster, &mut rng).unwrap();
    assert_eq!(event.f, "clock-bump");
    assert!(
        systemctl().contains("stop chrony\n"),
        "NTP stopped first: {}",
        systemctl()
    );
    let delta = event.value["n2"]["delta_ms"].as_i64().unwrap();
    assert_eq!(delta.abs(), 1500);
    assert!(near(reading(&event, "n2"), delta), "{}", event.value);
    assert!(
        near(
            {
                let m = clock::measure(&cluster, "n1").unwrap();
                (m.offset_ms, m.uncertainty_ms)
            },
            0
        ),
        "n1's clock is untouched"
    );
    let event = bump.stop(&cluster).unwrap().unwrap();
    assert_eq!(event.f, "clock-reset");
    assert!(near(reading(&event, "n2"), 0), "{}", event.value);

    let mut strobe = ClockNemesis::new(
        Target::Nodes(vec!["n1".into()]),
        ClockFault::Strobe {
            delta_ms: 300,
            period: Duration::from_millis(50),
            duration: Duration::from_millis(400),
        },
    );
    let event = strobe.start(&cluster, &mut rng).unwrap();
    assert_eq!(event.f, "clock-strobe");
    assert_eq!(event.value["n1"]["steps"], 8);
    assert!(
        near(reading(&event, "n1"), 0),
        "a strobe ends where it began: {}",
        event.value
    );
    let sets = fs::read_to_string(
        lab.tmp
            .path()
            .join(format!("clock-{}.sets", lab.hosts[0].address)),
    )
    .unwrap();
    assert_eq!(sets.lines().count(), 8, "{sets}");

    // A shift still in force at teardown is undone by it.
    let event = bump.start(&cluster, &mut rng).unwrap();
    assert!(near(
        reading(&event, "n2"),
        event.value["n2"]["delta_ms"].as_i64().unwrap()
    ));
    assert!(
        !systemctl().contains("start chrony"),
        "NTP stays off during the test"
    );
    cluster.teardown().unwrap();
    assert!(
        systemctl().ends_with("start chrony\n"),
        "teardown restarts NTP: {}",
        systemctl()
    );
    let left_ns: i64 = fs::read_to_string(
        lab.tmp
            .path()
            .join(format!("clock-{}", lab.hosts[1].address)),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    assert!(
        left_ns.abs() < 100_000_000,
        "teardown left the clock {left_ns} ns off"
    );
}

/// The last time a ticker daemon printed (ms since the epoch) and the controller's clock.
fn last_tick(node: &dyn Node) -> (i64, i64) {
    let log = fs::read_to_string(node.log_path()).unwrap();
    let tick = log
        .lines()
        .rev()
        .find_map(|l| l.trim().parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no tick in the log of {}:\n{log}", node.name()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (tick, now)
}

#[test]
fn a_faked_clock_skews_what_a_local_daemon_reads_and_go_stores_are_refused() {
    let _g = heavy();
    let cluster = Cluster::start(&ClusterConfig::new(
        faultline::cluster::BackendKind::Loopback,
        2,
    ))
    .unwrap();
    let ticker = Daemon {
        argv: argv(&["sh", "-c", "while :; do date +%s%3N; sleep 0.05; done"]),
        ..Daemon::default()
    };
    let (n1, n2) = (cluster.nodes()[0].as_ref(), cluster.nodes()[1].as_ref());
    let mut faked = ticker.clone();
    clock::prepare_daemon(n1, &mut faked).unwrap();
    n1.spawn_daemon(&faked).unwrap();
    n2.spawn_daemon(&ticker).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (tick, now) = last_tick(n1);
    assert!((tick - now).abs() < 500, "no skew yet: {tick} vs {now}");

    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut bump = ClockNemesis::new(
        Target::Nodes(vec!["n1".into()]),
        ClockFault::Bump { delta_ms: 4000 },
    );
    let event = bump.start(&cluster, &mut rng).unwrap();
    let delta = event.value["n1"]["delta_ms"].as_i64().unwrap();
    assert!(
        (offset_ms(&event, "n1") - delta).abs()
            < 250 + event.value["n1"]["uncertainty_ms"].as_i64().unwrap(),
        "{}",
        event.value
    );
    // The running daemon sees the new time without a restart.
    std::thread::sleep(Duration::from_millis(300));
    let (tick, now) = last_tick(n1);
    assert!(
        (tick - now - delta).abs() < 500,
        "daemon reads {tick}, controller {now}, delta {delta}"
    );
    let (tick, now) = last_tick(n2);
    assert!((tick - now).abs() < 500, "n2 was not skewed");
    let event = bump.stop(&cluster).unwrap().unwrap();
    assert_eq!(event.f, "clock-reset");
    assert!(
        offset_ms(&event, "n1").abs() < 250 + event.value["n1"]["uncertainty_ms"].as_i64().unwrap(),
        "{}",
        event.value
    );
    std::thread::sleep(Duration::from_millis(300));
    let (tick, now) = last_tick(n1);
    assert!((tick - now).abs() < 500, "reset: {tick} vs {now}");

    // A daemon started without libfaketime cannot be skewed, and says so.
    let mut plain = ClockNemesis::new(
        Target::Nodes(vec!["n2".into()]),
        ClockFault::Bump { delta_ms: 4000 },
    );
    let e = plain.start(&cluster, &mut rng).unwrap_err().to_string();
    assert!(
        e.contains("node n2") && e.contains("not started under libfaketime"),
        "{e}"
    );
    // etcd reads the clock without libc: refused up front.
    let mut etcd = Daemon {
        argv: argv(&["etcd", "--name", "n1"]),
        ..Daemon::default()
    };
    let e = clock::prepare_daemon(n1, &mut etcd)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Go program"), "{e}");
    cluster.teardown().unwrap();
}

/// `faultline run` of a shipped etcd spec on the lab's hosts, with n1 cut off from n2 and n3
/// for 6 s; returns the exit code, stdout and the run directory.
fn run_etcd_over_ssh(lab: &Lab, spec_file: &str) -> (Option<i32>, String, PathBuf) {
    run_etcd_over_ssh_with(
        lab,
        spec_file,
        "schedule = [{ at_s = 3, fault = \"partition\", topology = \"n1|n2,n3\", duration_s = 6 }]\n",
    )
}

/// As [`run_etcd_over_ssh`], with `nemesis` as the body of the `[nemesis]` table.
fn run_etcd_over_ssh_with(
    lab: &Lab,
    spec_file: &str,
    nemesis: &str,
) -> (Option<i32>, String, PathBuf) {
    let out_dir = lab.tmp.path().join(format!("out-{spec_file}"));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let source = fs::read_to_string(repo.join("workloads").join(spec_file)).unwrap();
    let head = &source[..source.find("[nemesis]").expect("a [nemesis] table")];
    let o = lab.options();
    let spec = format!(
        "{head}[nemesis]\n{nemesis}\
         [ssh]\nidentity_file = {:?}\nknown_hosts_file = {:?}\nconnect_timeout_s = 2\n",
        o.identity_file.unwrap(),
        o.known_hosts_file.unwrap()
    );
    let spec_path = lab.tmp.path().join(spec_file);
    fs::write(&spec_path, spec).unwrap();
    let hosts: Vec<String> = lab.hosts.iter().map(|h| h.address.to_string()).collect();
    let hosts_file = lab.tmp.path().join("hosts.txt");
    fs::write(&hosts_file, hosts.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(&spec_path)
        .arg("--out")
        .arg(&out_dir)
        .args(["--backend", "ssh", "--nodes-file"])
        .arg(&hosts_file)
        .args(["--time-limit", "14", "--seed", "1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let name = spec_file.trim_end_matches(".toml");
    let run_dir = fs::canonicalize(out_dir.join(name).join("latest")).unwrap_or_else(|e| {
        panic!(
            "no run directory ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let stdout =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), stdout, run_dir)
}

/// Nothing of the run is left on any lab host: no chain, no process, no node directory.
fn assert_hosts_clean(lab: &Lab) {
    for i in 0..lab.hosts.len() {
        assert!(
            !lab.rules(i).contains("FAULTLINE"),
            "rules left on host {i}"
        );
        // The log stamper beside each daemon exits when the daemon's output pipe closes, a
        // moment after the kill: give the host up to 5 s to be empty.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left = lab.foreign_processes(i);
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            left = lab.foreign_processes(i);
        }
        assert_eq!(left, Vec::<String>::new(), "processes left on host {i}");
    }
}

#[test]
fn etcd_over_ssh_gives_the_same_verdicts_as_locally() {
    let _g = heavy();
    let lab = Lab::new(&[HostSetup::default(); 3]);

    let (code, out, run_dir) = run_etcd_over_ssh(&lab, "etcd-v3.toml");
    assert_eq!(code, Some(0), "linearizable reads pass:\n{out}");
    assert!(out.contains("etcd-v3: valid"), "{out}");
    let log = fs::read_to_string(run_dir.join("nodes/n2/daemon.log")).unwrap();
    assert!(
        log.contains("--- faultline: starting") && log.contains("etcd"),
        "{log}"
    );
    // The host stamped every line the store wrote; fetched, they are on the history's clock.
    let stamps: Vec<f64> = log
        .lines()
        .filter(|l| !l.starts_with("--- faultline"))
        .map(|l| {
            let (t, _) = l[1..]
                .split_once("s] ")
                .unwrap_or_else(|| panic!("unstamped: {l}"));
            t.trim().parse().unwrap()
        })
        .collect();
    assert!(!stamps.is_empty(), "{log}");
    assert!(
        stamps.iter().all(|t| (-15.0..40.0).contains(t)),
        "times outside the run: {stamps:?}"
    );
    let history = fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"start-partition\"") && history.contains("\"stop-partition\""));
    assert_hosts_clean(&lab);

    let (code, out, _) = run_etcd_over_ssh(&lab, "etcd-v3-fast-reads.toml");
    assert_eq!(code, Some(1), "serializable reads are caught stale:\n{out}");
    assert_hosts_clean(&lab);

    // Packet faults use the hosts' netem; these hosts share this machine's kernel.
    let netem = Command::new("sh")
        .arg("-c")
        .arg("zcat /proc/config.gz | grep -Eq '^CONFIG_NET_SCH_NETEM=(y|m)'")
        .status()
        .unwrap()
        .success();
    let (code, out, run_dir) = run_etcd_over_ssh_with(
        &lab,
        "etcd-v3-fast-reads.toml",
        "schedule = [{ at_s = 2, fault = \"delay\", target = \"n1\", duration_s = 6 }]\n\
         [nemesis.packet]\ndelay_ms = 40\n",
    );
    if netem {
        assert_ne!(code, Some(3), "{out}");
        let history = fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
        assert!(history.contains("\"start-delay\"") && history.contains("\"stop-packet\""));
    } else {
        // Refused before the store starts, naming every host and what still works.
        assert_eq!(code, Some(3), "{out}");
        for node in ["n1", "n2", "n3"] {
            assert!(out.contains(&format!("node {node} (")), "{out}");
        }
        assert!(
            out.contains("CONFIG_NET_SCH_NETEM") && out.contains("partitions, kills"),
            "{out}"
        );
    }
    assert_hosts_clean(&lab);
    let leftovers: Vec<_> = fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("faultline-") && n.ends_with("-n1"))
        .collect();
    assert!(leftovers.is_empty(), "node directories left: {leftovers:?}");
}

#[test]
fn the_demo_store_runs_under_a_faked_clock_and_the_history_carries_the_offsets() {
    let _g = heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "demo",
            "--mode",
            "linearizable",
            "--time-limit",
            "8",
            "--seed",
            "3",
        ])
        .args(["--nemesis", "clock", "--backend", "loopback", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let history = fs::read_to_string(dir.path().join("demo-linearizable/latest/history.jsonl"))
        .unwrap_or_else(|e| panic!("{e}\n{said}"));
    let events: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["process"] == "nemesis")
        .collect();
    let bump = events
        .iter()
        .find(|e| e["f"] == "clock-bump")
        .unwrap_or_else(|| panic!("no clock-bump in {events:?}"));
    for (node, v) in bump["value"].as_object().unwrap() {
        let (delta, offset) = (
            v["delta_ms"].as_i64().unwrap(),
            v["offset_ms"].as_i64().unwrap(),
        );
        assert_eq!(delta.abs(), 2000, "{node}: {v}");
        assert!(
            (offset - delta).abs() < 250,
            "{node} measured {offset} ms after a {delta} ms bump"
        );
    }
    let reset = events
        .iter()
        .find(|e| e["f"] == "clock-reset")
        .expect("the final heal resets clocks");
    for (node, v) in reset["value"].as_object().unwrap() {
        let uncertainty = v["uncertainty_ms"].as_i64().unwrap();
        assert!(
            v["offset_ms"].as_i64().unwrap().abs() < 250 + uncertainty,
            "{node}: {v}"
        );
    }
}

#[test]
fn faultline_clean_reaches_the_hosts_of_a_run_whose_controller_vanished() {
    let _g = heavy();
    let lab = Lab::new(&[HostSetup::default(); 2]);
    let cluster = Cluster::start(&ClusterConfig::ssh(lab.options())).unwrap();
    let sleeper = Daemon {
        argv: argv(&["sh", "-c", "while :; do sleep 1; done"]),
        ..Daemon::default()
    };
    let run_id = cluster.run_id().to_string();
    let dirs: Vec<PathBuf> = cluster
        .nodes()
        .iter()
        .map(|n| n.dir().to_path_buf())
        .collect();
    for node in cluster.nodes() {
        node.spawn_daemon(&sleeper).unwrap();
    }
    // A controller killed with SIGKILL runs no teardown: leak the cluster instead.
    std::mem::forget(cluster);
    assert!(lab.rules(0).contains("FAULTLINE") && !lab.foreign_processes(1).is_empty());
    let report = faultline::cluster::clean::clean(&faultline::cluster::clean::CleanOptions {
        force: true,
        run_id: Some(run_id.clone()),
    });
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(
        report.removed.iter().any(|r| r.contains("node n2 (root@")),
        "{:?}",
        report.removed
    );
    assert_hosts_clean(&lab);
    assert!(dirs.iter().all(|d| !d.exists()));
    assert!(!run_state_dir(&run_id).exists());
}

#[test]
fn clock_faults_on_local_etcd_exit_3_saying_go_is_out_of_libfaketimes_reach() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workloads/etcd-v3.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(&spec)
        .args([
            "--backend",
            "loopback",
            "--nemesis",
            "clock",
            "--time-limit",
            "2",
        ])
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("node n1: /usr/bin/etcd is a Go program") && stderr.contains("ssh backend"),
        "{stderr}"
    );
}
