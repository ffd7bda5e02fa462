//! Helpers shared by the end-to-end tests: run the real binary, read the
//! Parquet it wrote with an independent reader (the `parquet` crate, not
//! polars).

#![allow(dead_code)]

pub mod s3_server;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `fedtrail` binary, run from the repository root.
pub fn fedtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedtrail"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("fedtrail runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `fedtrail generate` into `dir` and panics with its stderr on failure.
pub fn generate(dir: &Path, extra: &[&str]) {
    let mut args = vec!["generate", "--out", dir.to_str().unwrap()];
    args.extend(extra);
    let out = fedtrail(&args);
    assert!(
        out.status.success(),
        "generate failed: {}",
        text(&out.stderr)
    );
}

/// A corpus of one day and 300 events without a scenario at `dir/corpus`,
/// and the report folder `dir/out` to scan it into (not made yet).
pub fn one_day(dir: &Path) -> (PathBuf, PathBuf) {
    let corpus = dir.join("corpus");
    generate(
        &corpus,
        &["--events", "300", "--scenario", "none", "--days", "1"],
    );
    (corpus, dir.join("out"))
}

/// Runs `fedtrail scan` and returns the output; `out` is the report folder.
pub fn scan(sources: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["scan"];
    args.extend(sources.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    args.extend(extra);
    fedtrail(&args)
}

/// A report's run.json.
pub fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap()
}

/// `data` as one gzip member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One Parquet row, by column name.
pub type Row = BTreeMap<String, Field>;

pub fn rows(path: &Path) -> Vec<Row> {
    let reader = SerializedFileReader::new(
        File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{} is not Parquet: {e}", path.display()));
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            row.get_column_iter()
                .map(|(name, field)| (name.clone(), field.clone()))
                .collect()
        })
        .collect()
}

/// `(name, "physical logical")` for each column of a Parquet file.
pub fn schema(path: &Path) -> Vec<(String, String)> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let descr = reader.metadata().file_metadata().schema_descr_ptr();
    descr
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                format!("{:?} {:?}", c.physical_type(), c.logical_type_ref()),
            )
        })
        .collect()
}

pub fn str_field<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    match row.get(column) {
        Some(Field::Str(s)) => Some(s),
        Some(Field::Null) | None => None,
        Some(other) => panic!("{column} is not a string: {other:?}"),
    }
}

pub fn long_field(row: &Row, column: &str) -> Option<i64> {
    match row.get(column) {
        Some(Field::Long(v)) => Some(*v),
        Some(Field::UInt(v)) => Some(i64::from(*v)),
        Some(Field::TimestampMicros(v)) => Some(*v),
        Some(Field::Null) | None => None,
        Some(other) => panic!("{column} is not an integer: {other:?}"),
    }
}

/// Every events partition file, in date order.
pub fn event_files(out: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("events"))
        .unwrap()
        .map(|e| e.unwrap().path().join("part-0.parquet"))
        .collect();
    files.sort();
    files
}

pub fn all_events(out: &Path) -> Vec<Row> {
    event_files(out).iter().flat_map(|f| rows(f)).collect()
}

/// Every file below `dir`, relative, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A list-of-strings column as a vector.
pub fn list_field(row: &Row, column: &str) -> Vec<String> {
    match row.get(column) {
        Some(Field::ListInternal(list)) => list
            .elements()
            .iter()
            .map(|f| match f {
                Field::Str(s) => s.clone(),
                other => panic!("{column} holds {other:?}"),
            })
            .collect(),
        other => panic!("{column} is not a list: {other:?}"),
    }
}
