//! Incremental nightly runs (issue 7): the state in the report says which
//! objects it holds; the next run reads only new or changed objects, merges
//! them in, and a rerun over the same input adds nothing. `--full` rebuilds.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;

fn event_ids(out: &Path) -> BTreeSet<String> {
    let rows = all_events(out);
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| str_field(r, "event_id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), rows.len(), "no event twice");
    ids
}

/// failures.parquet as comparable text rows.
fn failures(out: &Path) -> Vec<String> {
    rows(&out.join("failures.parquet"))
        .iter()
        .map(|r| format!("{r:?}"))
        .collect()
}

fn incremental(out: &Path, key: &str) -> u64 {
    run_json(out)["incremental"][key].as_u64().unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    for f in files_below(from) {
        let dest = to.join(&f);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&f), dest).unwrap();
    }
}

/// The objects of the last day of a generated corpus, relative.
fn last_day(corpus: &Path) -> Vec<PathBuf> {
    files_below(corpus)
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("/2026/05/27/"))
        .collect()
}

#[test]
fn a_nightly_run_reads_only_new_objects_and_merges_them() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    generate(&corpus, &["--events", "4000"]);
    let reference = dir.path().join("reference");
    assert_eq!(scan(&[&corpus], &reference, &[]).status.code(), Some(0));

    // Night 1: the first two days have been delivered.
    let trail = dir.path().join("trail");
    copy_tree(&corpus, &trail);
    let later = last_day(&corpus);
    assert!(!later.is_empty());
    for f in &later {
        std::fs::remove_file(trail.join(f)).unwrap();
    }
    let out = dir.path().join("out");
    assert_eq!(scan(&[&trail], &out, &[]).status.code(), Some(0));
    assert!(!run_json(&out)["incremental"]["merged_into_previous"]
        .as_bool()
        .unwrap());
    let night1 = incremental(&out, "objects_new");

    // Night 2: the last day arrives; only it is read.
    for f in &later {
        std::fs::copy(corpus.join(f), trail.join(f)).unwrap();
    }
    let result = scan(&[&trail], &out, &[]);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    let run = run_json(&out);
    assert!(run["incremental"]["merged_into_previous"]
        .as_bool()
        .unwrap());
    assert_eq!(incremental(&out, "objects_new"), later.len() as u64);
    assert_eq!(incremental(&out, "objects_unchanged"), night1);
    assert_eq!(incremental(&out, "objects_changed"), 0);
    assert_eq!(run["counts"]["objects_read"], later.len() as u64);
    // The merged report is the report of everything.
    assert_eq!(event_ids(&out), event_ids(&reference));
    assert_eq!(failures(&out), failures(&reference));
    assert_eq!(
        rows(&out.join("objects.parquet")).len(),
        rows(&reference.join("objects.parquet")).len()
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains(&format!("{night1} unchanged since the last run (not read)")),
        "{summary}"
    );

    // A rerun over the same input reads nothing and writes the same rows.
    let before: Vec<Vec<u8>> = event_files(&out)
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(scan(&[&trail], &out, &[]).status.code(), Some(0));
    assert_eq!(run_json(&out)["counts"]["objects_read"], 0);
    let after: Vec<Vec<u8>> = event_files(&out)
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(before == after, "a rerun changed the events");

    // A run over a narrower window keeps the report's rows, but its state
    // forgets objects it did not list as read; a later full-window run reads
    // those again and replaces their rows: nothing is doubled.
    let state_lines = || {
        std::fs::read_to_string(out.join("state.json"))
            .unwrap()
            .lines()
            .count()
    };
    let all_objects = state_lines();
    assert_eq!(
        scan(&[&trail], &out, &["--start", "2026-05-27"])
            .status
            .code(),
        Some(0)
    );
    assert!(
        state_lines() < all_objects,
        "the state shrank to the window"
    );
    assert_eq!(
        event_ids(&out),
        event_ids(&reference),
        "the report kept every row"
    );
    assert_eq!(scan(&[&trail], &out, &[]).status.code(), Some(0));
    assert!(run_json(&out)["counts"]["objects_read"].as_u64().unwrap() > 0);
    assert_eq!(state_lines(), all_objects);
    assert_eq!(event_ids(&out), event_ids(&reference));
    assert_eq!(failures(&out), failures(&reference));

    // A changed object is read again and its earlier rows replaced: here it
    // is emptied, so its events go.
    let changed = later
        .iter()
        .find(|f| {
            let report = all_events(&reference);
            report.iter().any(|r| {
                str_field(r, "source_object").is_some_and(|o| o.ends_with(&*f.to_string_lossy()))
            })
        })
        .expect("a last-day object with events");
    let gone: BTreeSet<String> = all_events(&out)
        .iter()
        .filter(|r| {
            str_field(r, "source_object")
                .unwrap()
                .ends_with(&*changed.to_string_lossy())
        })
        .map(|r| str_field(r, "event_id").unwrap().to_string())
        .collect();
    std::fs::write(trail.join(changed), gzip(br#"{"Records":[]}"#)).unwrap();
    assert_eq!(scan(&[&trail], &out, &[]).status.code(), Some(0));
    assert_eq!(incremental(&out, "objects_changed"), 1);
    assert_eq!(run_json(&out)["counts"]["objects_read"], 1);
    let want: BTreeSet<String> = event_ids(&reference).difference(&gone).cloned().collect();
    assert_eq!(event_ids(&out), want);

    // --full rebuilds from scratch: the same as a first run over the files.
    let fresh = dir.path().join("fresh");
    assert_eq!(scan(&[&trail], &fresh, &[]).status.code(), Some(0));
    assert_eq!(scan(&[&trail], &out, &["--full"]).status.code(), Some(0));
    assert!(!run_json(&out)["incremental"]["merged_into_previous"]
        .as_bool()
        .unwrap());
    assert_eq!(
        run_json(&out)["counts"]["objects_read"],
        run_json(&fresh)["counts"]["objects_read"]
    );
    assert_eq!(event_ids(&out), event_ids(&fresh));
    assert_eq!(failures(&out), failures(&fresh));
}

#[test]
fn unreadable_objects_are_tried_again_and_state_can_live_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    generate(
        &trail,
        &["--events", "600", "--scenario", "none", "--days", "1"],
    );
    let good = files_below(&trail)
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with(".json.gz"))
        .unwrap();
    let bytes = std::fs::read(trail.join(&good)).unwrap();
    std::fs::write(trail.join(&good), &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("out");
    let state = dir.path().join("elsewhere").join("state.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let state_arg = ["--state", state.to_str().unwrap()];
    assert_eq!(scan(&[&trail], &out, &state_arg).status.code(), Some(1));
    let kept = std::fs::read_to_string(&state).unwrap();
    assert_eq!(
        kept,
        std::fs::read_to_string(out.join("state.json")).unwrap()
    );
    assert!(
        !kept.contains(&*good.file_name().unwrap().to_string_lossy()),
        "an unreadable object is not in the state"
    );

    // Redelivered whole: read on the next run, and nothing else is.
    std::fs::write(trail.join(&good), &bytes).unwrap();
    let result = scan(&[&trail], &out, &state_arg);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    assert_eq!(run_json(&out)["counts"]["objects_read"], 1);
    assert_eq!(run_json(&out)["counts"]["objects_unreadable"], 0);
    let fresh = dir.path().join("fresh");
    assert_eq!(scan(&[&trail], &fresh, &[]).status.code(), Some(0));
    assert_eq!(event_ids(&out), event_ids(&fresh));

    // A state file that is not one stops the run with a reason.
    std::fs::write(&state, "{oops").unwrap();
    let result = scan(&[&trail], &out, &state_arg);
    assert_eq!(result.status.code(), Some(2));
    assert!(
        text(&result.stderr).contains("not a fedtrail state file"),
        "{}",
        text(&result.stderr)
    );
}
