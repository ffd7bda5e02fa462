//! Putting a finished dataset folder in place of the previous one, so that a
//! run killed at any moment (even with SIGKILL) leaves either the previous
//! complete report or the new complete report at `--out`, never a mix.
//!
//! A new dataset is written into a hidden staging folder beside `--out`
//! (`.NAME.tmp-PID`). When it is complete, Linux swaps the two folders in
//! one `renameat2(RENAME_EXCHANGE)` call; the old report, now under the
//! staging name, is then removed. Where that call is not available (other
//! systems, some network file systems) the old report is first renamed to
//! `.NAME.old-PID`, which leaves a short moment with no `--out` at all; the
//! next run puts it back if a run died in that moment. Staging folders left
//! by dead runs are removed by the next run.

use std::path::{Path, PathBuf};

use super::SinkError;

/// The hidden folders of one run writing to `out`. Dropped before it is
/// published (a run that stopped on an error), the staging folder is removed.
pub struct Staging {
    /// Where the new dataset is written.
    pub dir: PathBuf,
    /// Where the previous dataset is parked when the folders cannot be swapped.
    old: PathBuf,
    published: bool,
}

impl Staging {
    /// Chooses and creates this run's staging folder, after clearing what dead
    /// runs left beside `out` (and restoring a report one of them parked).
    pub fn create(out: &Path) -> Result<Staging, SinkError> {
        let (parent, name) = parent_and_name(out);
        std::fs::create_dir_all(&parent).map_err(|e| SinkError::io(&parent, e))?;
        recover(&parent, &name, out)?;
        let pid = std::process::id();
        let staging = Staging {
            dir: parent.join(format!(".{name}.tmp-{pid}")),
            old: parent.join(format!(".{name}.old-{pid}")),
            published: false,
        };
        if staging.dir.exists() {
            std::fs::remove_dir_all(&staging.dir).map_err(|e| SinkError::io(&staging.dir, e))?;
        }
        std::fs::create_dir(&staging.dir).map_err(|e| SinkError::io(&staging.dir, e))?;
        Ok(staging)
    }

    /// Puts the complete staging folder at `out`, replacing what was there.
    pub fn publish(mut self, out: &Path) -> Result<(), SinkError> {
        // Once the folders have moved, nothing of the staging name is ours.
        self.published = true;
        if !out.exists() {
            return std::fs::rename(&self.dir, out).map_err(|e| SinkError::io(out, e));
        }
        if exchange(&self.dir, out).map_err(|e| SinkError::io(out, e))? {
            // The staging name now holds the previous report.
            return std::fs::remove_dir_all(&self.dir).map_err(|e| SinkError::io(&self.dir, e));
        }
        std::fs::rename(out, &self.old).map_err(|e| SinkError::io(out, e))?;
        std::fs::rename(&self.dir, out).map_err(|e| SinkError::io(out, e))?;
        std::fs::remove_dir_all(&self.old).map_err(|e| SinkError::io(&self.old, e))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn parent_and_name(out: &Path) -> (PathBuf, String) {
    let name = out
        .file_name()
        .map_or_else(|| "reports".into(), |n| n.to_string_lossy().into_owned());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    (parent, name)
}

/// Clears the leftovers of dead runs that wrote `out`: their staging
/// folders, and a previous report one of them parked and did not put back.
fn recover(parent: &Path, name: &str, out: &Path) -> Result<(), SinkError> {
    let entries = std::fs::read_dir(parent).map_err(|e| SinkError::io(parent, e))?;
    let mut parked = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&format!(".{name}.")) else {
            continue;
        };
        let (kind, pid) = match rest.split_once('-') {
            Some((kind @ ("tmp" | "old"), pid)) => match pid.parse::<u32>() {
                Ok(pid) => (kind, pid),
                Err(_) => continue,
            },
            _ => continue,
        };
        if is_running(pid) {
            continue;
        }
        if kind == "old" {
            parked.push(entry.path());
        } else {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(|e| SinkError::io(&path, e))?;
        }
    }
    for path in parked {
        if out.exists() {
            std::fs::remove_dir_all(&path).map_err(|e| SinkError::io(&path, e))?;
        } else {
            std::fs::rename(&path, out).map_err(|e| SinkError::io(out, e))?;
        }
    }
    Ok(())
}

/// Whether a process with this id is running (another fedtrail writing the
/// same `--out`). Where that cannot be known, only this process counts as not
/// running, so nothing of another run is ever removed.
fn is_running(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Swaps two folders in one step. `Ok(false)` when the system or file system
/// cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::ENOTSUP) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("run.json"), text).unwrap();
    }

    fn read(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("run.json")).unwrap()
    }

    fn hidden(parent: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// A process id that is not running: a child that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_new_report_replaces_the_old_one_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("reports");
        write(&out, "old");
        let staging = Staging::create(&out).unwrap();
        write(&staging.dir, "new");
        assert_eq!(read(&out), "old", "not replaced before publish");
        staging.publish(&out).unwrap();
        assert_eq!(read(&out), "new");
        assert!(hidden(tmp.path()).is_empty(), "{:?}", hidden(tmp.path()));
    }

    #[test]
    fn leftovers_of_dead_runs_are_cleared_and_a_parked_report_restored() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("reports");
        let dead = dead_pid();
        // A run died writing, another died between its two renames.
        write(&tmp.path().join(format!(".reports.tmp-{dead}")), "half");
        write(&tmp.path().join(format!(".reports.old-{dead}")), "previous");
        // A live run's staging folder (our parent's pid) is left alone, and
        // so is anything not named after this --out.
        let live = format!(".reports.tmp-{}", std::os::unix::process::parent_id());
        write(&tmp.path().join(&live), "busy");
        write(&tmp.path().join(format!(".other.tmp-{dead}")), "x");
        let staging = Staging::create(&out).unwrap();
        assert_eq!(read(&out), "previous", "the parked report is back");
        let mine = format!(".reports.tmp-{}", std::process::id());
        let mut want = vec![live.clone(), format!(".other.tmp-{dead}"), mine];
        want.sort();
        assert_eq!(hidden(tmp.path()), want);
        // Dropped unpublished (a run that stopped on an error): its
        // staging folder goes, and the report stays.
        drop(staging);
        assert_eq!(read(&out), "previous");
        let mut left = vec![live, format!(".other.tmp-{dead}")];
        left.sort();
        assert_eq!(hidden(tmp.path()), left);
    }
}
