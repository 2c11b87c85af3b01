//! The run directory: `out/<spec name>/<UTC timestamp>/`, created exclusively, with the
//! files that make the run reproducible (`spec.toml` as run, `seed`, `command-line`) and
//! `out/<spec name>/latest` pointing at it when that link is faultline's own.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::spec::LoadedSpec;

/// `out/<name>/<UTC timestamp with ms>/`, and `out/<name>/latest` pointing at it.
pub fn make_run_dir(
    out: &Path,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<PathBuf> {
    let base = out.join(name);
    std::fs::create_dir_all(&base)
        .with_context(|| format!("cannot create the directory {}", base.display()))?;
    let stamp = now.format("%Y%m%dT%H%M%S%.3fZ").to_string();
    // Created exclusively: two runs started in the same millisecond get two directories.
    let mut taken = None;
    for attempt in 1..=MAX_SAME_STAMP {
        let name = match attempt {
            1 => stamp.clone(),
            n => format!("{stamp}-{n}"),
        };
        match std::fs::create_dir(base.join(&name)) {
            Ok(()) => {
                taken = Some(name);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot create the run directory {}",
                        base.join(&name).display()
                    )
                })
            }
        }
    }
    let Some(leaf) = taken else {
        anyhow::bail!(
            "cannot create a run directory in {}: {MAX_SAME_STAMP} runs already started at {stamp}",
            base.display()
        );
    };
    point_latest_at(&base, &leaf);
    Ok(base.join(leaf))
}

/// How many runs of one spec may start in one millisecond.
const MAX_SAME_STAMP: usize = 100;

/// Points `base/latest` at the run directory `leaf`, but only replaces a `latest` that is
/// faultline's own: a symlink to a name in the same directory. Anything else is the user's.
fn point_latest_at(base: &Path, leaf: &str) {
    let latest = base.join("latest");
    let ours = match std::fs::symlink_metadata(&latest) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(meta) => {
            meta.file_type().is_symlink()
                && std::fs::read_link(&latest).is_ok_and(|target| {
                    target.components().count() == 1
                        && matches!(
                            target.components().next(),
                            Some(std::path::Component::Normal(_))
                        )
                })
        }
    };
    if !ours {
        crate::errln!(
            "faultline: warning: {} is not faultline's link; left as it is",
            latest.display()
        );
        return;
    }
    let tmp = base.join(format!(".latest-{leaf}"));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(leaf, &tmp).is_ok() && std::fs::rename(&tmp, &latest).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Writes the spec as run (with its seed), the seed and the command line into `dir`.
pub fn write_run_files(
    dir: &Path,
    loaded: &LoadedSpec,
    seed: u64,
    command_line: &[String],
) -> anyhow::Result<()> {
    // The seed goes into the spec as run, so that running that file replays the test.
    let mut effective = loaded.spec.clone();
    effective.run.seed = Some(seed);
    let spec_text = match toml::to_string(&effective) {
        Ok(effective) => format!(
            "# The spec as run: {} with defaults and command-line overrides applied.\n{effective}",
            loaded.path.display()
        ),
        Err(_) => loaded.source.clone(),
    };
    for (file, text) in [
        ("spec.toml", spec_text),
        ("seed", format!("{seed}\n")),
        ("command-line", format!("{}\n", shell_words(command_line))),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The command line as a shell would take it back: words quoted only where they need it.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_started_in_the_same_millisecond_get_their_own_directories() {
        let out = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let dirs: Vec<PathBuf> = (0..3)
            .map(|_| make_run_dir(out.path(), "t", now).unwrap())
            .collect();
        assert_ne!(dirs[0], dirs[1]);
        assert_ne!(dirs[1], dirs[2]);
        assert!(dirs.iter().all(|d| d.is_dir()));
        let latest = std::fs::canonicalize(out.path().join("t/latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&dirs[2]).unwrap());
    }

    #[test]
    fn a_latest_that_is_not_faultlines_own_link_is_left_alone() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir(out.path().join("t")).unwrap();
        let latest = out.path().join("t/latest");
        std::fs::write(&latest, "the user's own file").unwrap();
        make_run_dir(out.path(), "t", chrono::Utc::now()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&latest).unwrap(),
            "the user's own file"
        );
        std::fs::remove_file(&latest).unwrap();
        std::os::unix::fs::symlink("/etc", &latest).unwrap();
        make_run_dir(out.path(), "t", chrono::Utc::now()).unwrap();
        assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("/etc"));
    }
}
