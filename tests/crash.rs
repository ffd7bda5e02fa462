//! Crash safety (issue 7): a `scan` killed with SIGKILL at any moment leaves
//! the previous complete report at `--out`, or the new complete one, never a
//! mix or a half-written file; the next run completes and clears what the
//! dead runs left.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{files_below, generate, rows, scan, text};

/// Every Parquet file of a report, by relative path, with its bytes.
fn parquet_files(out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_below(out)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .map(|f| {
            let bytes = std::fs::read(out.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// The hidden folders beside `out` that runs writing it leave while working.
fn leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out."))
        .collect()
}

/// A reference report: its name, the corpus it read, its Parquet files.
type Reference<'a> = (&'a str, &'a Path, BTreeMap<PathBuf, Vec<u8>>);

/// Which complete report `out` holds: "a" or "b". Panics unless it is whole:
/// run.json parses, the files are exactly one reference's, every Parquet
/// file reads and is byte-identical to that reference's.
fn which_report(out: &Path, refs: &[Reference<'_>]) -> &'static str {
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap())
            .expect("run.json is whole");
    let input = run["inputs"][0].as_str().unwrap().to_string();
    let files = parquet_files(out);
    for (name, corpus, parquet) in refs {
        if input == corpus.to_str().unwrap() {
            assert_eq!(
                files.keys().collect::<Vec<_>>(),
                parquet.keys().collect::<Vec<_>>(),
                "report {name}: the same files"
            );
            for (path, bytes) in &files {
                assert!(
                    bytes == &parquet[path],
                    "{}: not the complete file",
                    path.display()
                );
                rows(&out.join(path)); // and it reads
            }
            assert!(out.join("summary.md").is_file() && out.join("report.html").is_file());
            return if *name == "a" { "a" } else { "b" };
        }
    }
    panic!("run.json names an unknown input {input}")
}

#[test]
fn a_run_killed_at_any_moment_leaves_a_whole_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    generate(&a, &["--events", "3000", "--days", "3"]);
    // Many days, so the write phase (one events partition a day) is long
    // enough to be hit.
    generate(
        &b,
        &["--events", "100000", "--days", "40", "--scenario", "none"],
    );
    let refs_dir = tmp.path().join("refs");
    std::fs::create_dir(&refs_dir).unwrap();
    let (ref_a, ref_b) = (refs_dir.join("a"), refs_dir.join("b"));
    assert!(scan(&[&a], &ref_a, &[]).status.code() == Some(0));
    let clock = Instant::now();
    assert!(scan(&[&b], &ref_b, &[]).status.code() == Some(0));
    let full = clock.elapsed();
    let refs = [
        ("a", a.as_path(), parquet_files(&ref_a)),
        ("b", b.as_path(), parquet_files(&ref_b)),
    ];

    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = work.join("out");
    // --full: each killed run would replace report a with report b whole
    // (an incremental run would merge b into a).
    let kill_at = |delay: Duration| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fedtrail"))
            .args([
                "scan",
                b.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
                "--full",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    };

    // Kills spread over the whole run, then bisection towards the write
    // phase until a kill has landed in it (a staging folder was left).
    let (mut early, mut late) = (Duration::ZERO, full + full / 2);
    let mut seen = BTreeMap::<&str, u32>::new();
    let mut delays: Vec<Duration> = (1..=10).map(|i| full * i / 10).collect();
    let mut tries = 0;
    while let Some(delay) = delays
        .pop()
        .or_else(|| (!seen.contains_key("mid-write") && tries < 30).then(|| (early + late) / 2))
    {
        tries += 1;
        // Each attempt starts from the previous complete report a.
        let _ = std::fs::remove_dir_all(&out);
        assert!(scan(&[&a], &out, &[]).status.success());
        kill_at(delay);
        let left = leftovers(&work);
        let held = which_report(&out, &refs);
        let moment = match (held, left.is_empty()) {
            ("a", true) => "before writing",
            ("a", false) => "mid-write",
            ("b", _) => "after publishing",
            _ => unreachable!(),
        };
        if moment == "before writing" && delay > early {
            early = delay;
        }
        if moment == "after publishing" && delay < late {
            late = delay;
        }
        *seen.entry(moment).or_default() += 1;
    }
    assert!(
        seen.contains_key("mid-write"),
        "no kill landed while the report was being written ({seen:?}, full run {full:?})"
    );

    // The next run completes and clears what the killed runs left.
    let _ = std::fs::remove_dir_all(&out);
    assert!(scan(&[&a], &out, &[]).status.success());
    kill_at(full / 2);
    let last = scan(&[&b], &out, &["--full"]);
    assert_eq!(last.status.code(), Some(0), "{}", text(&last.stderr));
    assert_eq!(which_report(&out, &refs), "b");
    assert!(leftovers(&work).is_empty(), "{:?}", leftovers(&work));
}
