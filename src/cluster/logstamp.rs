//! Store log lines on the history's clock.
//!
//! A run sets the origin of its history's `time` here ([`stamp_logs_from`]); from then on
//! every line a store writes gets a prefix `[    5.104525s] `: the seconds since that origin,
//! the same clock as the history's `time`, so a failing op can be put beside what each node
//! was saying at that moment.
//!
//! Local and loopback daemons are piped through the controller, which stamps each line as it
//! reads it. An ssh host's daemon writes its log on the host, so a small shell loop there
//! stamps each line with the host's wall clock (`[@1764650000.123456] `); when the log is
//! fetched, [`restamp`] turns that into the history's clock, using the host's clock offset
//! measured at setup ([`HostClock`]). A host whose clock faultline steps (a clock fault)
//! stamps the lines it writes meanwhile with the stepped clock: those lines are off by the
//! fault's offset.

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The origin, and the same moment on the controller's wall clock (kept after the run ends,
/// for logs fetched at teardown).
struct Origin {
    now: Option<Instant>,
    wall_s: Option<f64>,
}

static ORIGIN: Mutex<Origin> = Mutex::new(Origin {
    now: None,
    wall_s: None,
});

/// Stamps every line the daemons started from now on write, with the seconds since `origin`
/// (`None`: lines started from now on are written as they come).
pub fn stamp_logs_from(origin: Option<Instant>) {
    let mut o = ORIGIN.lock().unwrap_or_else(|p| p.into_inner());
    o.now = origin;
    if let Some(origin) = origin {
        o.wall_s = Some(wall_now_s() - origin.elapsed().as_secs_f64());
    }
}

/// The origin local daemons' lines are stamped from, if a run set one.
pub(crate) fn origin() -> Option<Instant> {
    ORIGIN.lock().unwrap_or_else(|p| p.into_inner()).now
}

/// The latest origin on the wall clock (seconds since the epoch), if a run ever set one.
fn origin_wall_s() -> Option<f64> {
    ORIGIN.lock().unwrap_or_else(|p| p.into_inner()).wall_s
}

fn wall_now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The prefix of a line read `since_origin_s` after the origin.
pub(crate) fn prefix(since_origin_s: f64) -> String {
    format!("[{since_origin_s:>12.6}s] ")
}

/// How far a host's wall clock is ahead of the controller's, measured by asking the host
/// for its time between two readings of ours (the error is at most half the round trip).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HostClock {
    pub ahead_s: f64,
}

impl HostClock {
    /// Asks `host_now` (which returns the host's wall clock in seconds) once; `None` when
    /// the host's answer cannot be read.
    pub fn measure(host_now: impl FnOnce() -> Option<f64>) -> Option<HostClock> {
        let before = wall_now_s();
        let host = host_now()?;
        let after = wall_now_s();
        Some(HostClock {
            ahead_s: host - (before + after) / 2.0,
        })
    }
}

/// Rewrites the host-stamped lines of `log` (`[@EPOCH.FRACTION] text`) onto the history's
/// clock; other lines (faultline's own banners) are kept as they are. Without a run's origin
/// or a measured host clock, `log` is returned unchanged.
pub(crate) fn restamp(log: &str, host: Option<HostClock>) -> String {
    match (origin_wall_s(), host) {
        (Some(origin), Some(host)) => restamp_from(log, origin + host.ahead_s),
        _ => log.to_string(),
    }
}

/// [`restamp`] with the origin on the host's wall clock.
fn restamp_from(log: &str, origin_on_host_s: f64) -> String {
    let mut out = String::with_capacity(log.len() + log.len() / 8);
    for line in log.split_inclusive('\n') {
        let stamped = line
            .strip_prefix("[@")
            .and_then(|rest| rest.split_once("] "))
            .and_then(|(t, text)| Some((t.parse::<f64>().ok()?, text)));
        match stamped {
            Some((t, text)) => {
                out.push_str(&prefix(t - origin_on_host_s));
                out.push_str(text);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The shell loop an ssh host pipes its daemon's output through: each line gets the host's
/// wall clock, `[@EPOCH.FRACTION] `. bash's `$EPOCHREALTIME` costs no process a line; a
/// host without bash forks `date` for each.
pub(crate) const HOST_STAMPER: &str = r#"if command -v bash >/dev/null 2>&1 && [ -n "$(bash -c 'echo $EPOCHREALTIME')" ]; then exec env LC_ALL=C bash -c 'while IFS= read -r l || [ -n "$l" ]; do printf "[@%s] %s\n" "$EPOCHREALTIME" "$l"; done'; else while IFS= read -r l || [ -n "$l" ]; do printf '[@%s] %s\n' "$(date +%s.%N)" "$l"; done; fi"#;

/// A script that prints the host's wall clock in seconds, as [`HOST_STAMPER`] reads it.
pub(crate) const HOST_NOW: &str = r#"if command -v bash >/dev/null 2>&1 && [ -n "$(bash -c 'echo $EPOCHREALTIME')" ]; then LC_ALL=C bash -c 'echo $EPOCHREALTIME'; else date +%s.%N; fi"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_stamps_become_seconds_since_the_origin_and_banners_stay() {
        let log = "--- faultline: starting [\"etcd\"] ---\n\
                   [@1000.250000] raft: became leader\n\
                   [@1001.5] slow request\n\
                   no newline at the end";
        let out = restamp_from(log, 999.0);
        assert_eq!(
            out,
            "--- faultline: starting [\"etcd\"] ---\n\
             [    1.250000s] raft: became leader\n\
             [    2.500000s] slow request\n\
             no newline at the end"
        );
    }

    #[test]
    fn a_line_that_only_looks_stamped_is_kept_whole() {
        let log = "[@not-a-time] text\n[@12.5]no space\n";
        assert_eq!(restamp_from(log, 0.0), log);
    }

    #[test]
    fn the_host_stamper_stamps_every_line_with_the_wall_clock_under_sh() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("sh")
            .args(["-c", HOST_STAMPER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let before = wall_now_s();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"first  line\n\\ kept\nlast, no newline")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        for (line, want) in lines
            .iter()
            .zip(["first  line", "\\ kept", "last, no newline"])
        {
            let (t, rest) = line[2..].split_once("] ").unwrap();
            assert_eq!(rest, want);
            let t: f64 = t.parse().unwrap();
            assert!(t >= before - 1.0 && t <= wall_now_s() + 1.0, "{line}");
        }
    }

    #[test]
    fn a_host_clock_ahead_of_ours_is_measured_as_ahead() {
        let clock = HostClock::measure(|| Some(wall_now_s() + 30.0)).unwrap();
        assert!((clock.ahead_s - 30.0).abs() < 1.0, "{clock:?}");
        assert_eq!(HostClock::measure(|| None), None);
    }
}
