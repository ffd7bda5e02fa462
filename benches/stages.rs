//! Micro-benchmarks of the pipeline's CPU stages on one thread, with
//! criterion: inflate (fedtrail's inflater beside flate2's reader), decode
//! (inflate + parse, or inflate + prescan), classify, aggregate (merge,
//! failures, timeline), and the writing of the events table (the last step
//! of a scan after its last object). Each checks its result against what
//! `fedtrail scan` reports for the same corpus before it is timed, and
//! reports throughput.
//!
//!     cargo bench --bench stages

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fedtrail::aggregate::{self, ObjectOutput, RecordCounts};
use fedtrail::classify::{classify, Classified, Origin};
use fedtrail::decode::{self, Scratch};
use fedtrail::model::{FedEvent, ObjectReport, ObjectStatus};
use fedtrail::sinks::{Dataset, EventsWriter};

const FEDTRAIL: &str = env!("CARGO_BIN_EXE_fedtrail");
const RECORDS: &str = "50000";

/// A generated corpus, its objects in memory, and what `scan` made of it.
struct Corpus {
    _dir: tempfile::TempDir,
    objects: Vec<(String, Vec<u8>)>,
    run: serde_json::Value,
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_below(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Writes `events` (in time order) as a scan writes its events table, into
/// a dataset begun at `out`, removed unpublished when it is dropped.
fn write_events(out: &Path, events: &[FedEvent]) -> Dataset {
    let dataset = Dataset::begin(out).unwrap();
    let mut table = EventsWriter::create(&dataset).unwrap();
    for e in events {
        table.push(e.clone()).unwrap();
    }
    table.finish().unwrap();
    dataset
}

/// The rows the events table of `dataset` holds, by its files' footers.
fn rows_written(dataset: &Dataset) -> i64 {
    let mut files = Vec::new();
    files_below(&dataset.file("events"), &mut files);
    files
        .iter()
        .map(|f| {
            use parquet::file::reader::FileReader;
            let file = std::fs::File::open(f).unwrap();
            let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
            reader.metadata().file_metadata().num_rows()
        })
        .sum()
}

fn corpus() -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    let (logs, out) = (dir.path().join("logs"), dir.path().join("out"));
    let run = |args: &[&str]| {
        let o = std::process::Command::new(FEDTRAIL)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&[
        "generate",
        "--out",
        logs.to_str().unwrap(),
        "--events",
        RECORDS,
        "--scenario",
        "none",
    ]);
    run(&[
        "scan",
        logs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--threads",
        "1",
    ]);
    let mut files = Vec::new();
    files_below(&logs, &mut files);
    files.sort();
    let objects = files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .collect();
    let run =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    Corpus {
        _dir: dir,
        objects,
        run,
    }
}

fn count(run: &serde_json::Value, key: &str) -> u64 {
    run["counts"][key].as_u64().unwrap()
}

/// Inflates every object with fedtrail's reused inflater; returns bytes.
fn inflate_all(objects: &[(String, Vec<u8>)], scratch: &mut Scratch) -> u64 {
    let mut bytes = 0;
    for (_, raw) in objects {
        scratch
            .inflater
            .inflate(raw, 1 << 30, &mut scratch.inflated)
            .unwrap();
        bytes += scratch.inflated.len() as u64;
    }
    bytes
}

/// Inflates every object with one flate2-only inflater (fedtrail's before it
/// inflated well-formed objects with libdeflate); returns bytes.
fn inflate_all_flate2_state(objects: &[(String, Vec<u8>)], out: &mut Vec<u8>) -> u64 {
    let mut inflater = decode::Inflater::flate2_only();
    let mut bytes = 0;
    for (_, raw) in objects {
        inflater.inflate(raw, 1 << 30, out).unwrap();
        bytes += out.len() as u64;
    }
    bytes
}

/// Inflates every object with a new flate2 `MultiGzDecoder` each (what
/// fedtrail did before it kept one inflater per worker); returns bytes.
fn inflate_all_flate2(objects: &[(String, Vec<u8>)], out: &mut Vec<u8>) -> u64 {
    use std::io::Read;
    let mut bytes = 0;
    for (_, raw) in objects {
        out.clear();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(out)
            .unwrap();
        bytes += out.len() as u64;
    }
    bytes
}

/// Prescans every object, already inflated; returns records seen.
fn prescan_only(docs: &[Vec<u8>], scratch: &mut Scratch) -> u64 {
    let mut records = 0;
    for doc in docs {
        assert!(scratch.prescan.split(doc));
        records += scratch.prescan.spans.len() as u64;
    }
    records
}

/// Inflates and parses every object; returns records seen.
fn decode_all(objects: &[(String, Vec<u8>)], scratch: &mut Scratch) -> u64 {
    let mut records = 0;
    for (_, raw) in objects {
        scratch
            .inflater
            .inflate(raw, 1 << 30, &mut scratch.inflated)
            .unwrap();
        let doc = decode::parse(&mut scratch.inflated, &mut scratch.parser).unwrap();
        records += decode::records(&doc).unwrap().len() as u64;
    }
    records
}

/// Inflates and prescans every object; returns records seen and how many
/// of them the prescan leaves to be parsed.
fn prescan_all(objects: &[(String, Vec<u8>)], scratch: &mut Scratch) -> (u64, u64) {
    let (mut records, mut candidates) = (0, 0);
    for (_, raw) in objects {
        scratch
            .inflater
            .inflate(raw, 1 << 30, &mut scratch.inflated)
            .unwrap();
        assert!(scratch.prescan.split(&scratch.inflated));
        records += scratch.prescan.spans.len() as u64;
        candidates += scratch.prescan.spans.iter().filter(|s| s.candidate).count() as u64;
    }
    (records, candidates)
}

/// Classifies every record of every object into per-object outputs, as the
/// pipeline does (without its selection filter: the corpus is all selected).
fn classify_all(objects: &[(String, Vec<u8>)], scratch: &mut Scratch) -> Vec<ObjectOutput> {
    objects
        .iter()
        .map(|(name, raw)| {
            scratch
                .inflater
                .inflate(raw, 1 << 30, &mut scratch.inflated)
                .unwrap();
            let inflated_bytes = scratch.inflated.len() as u64;
            let doc = decode::parse(&mut scratch.inflated, &mut scratch.parser).unwrap();
            let origin = Origin {
                object: Arc::from(name.as_str()),
                account: None,
            };
            let mut counts = RecordCounts::default();
            let (mut events, mut changes) = (Vec::new(), Vec::new());
            for record in decode::records(&doc).unwrap().iter() {
                counts.records += 1;
                match classify(&record, &origin).unwrap() {
                    Classified::Ignored => counts.not_federation += 1,
                    Classified::Event(e) => {
                        counts.federation_events += 1;
                        events.push(*e);
                    }
                    Classified::Change(c) => {
                        counts.config_changes += 1;
                        changes.push(*c);
                    }
                }
            }
            ObjectOutput {
                report: ObjectReport {
                    source: Arc::from("bench"),
                    key: name.as_str().into(),
                    bytes: raw.len() as u64,
                    records: counts.records,
                    federation_records: counts.federation_events,
                    change_records: counts.config_changes,
                    rejected_records: 0,
                    status: ObjectStatus::Ok,
                    reason: None,
                },
                events,
                changes,
                counts,
                inflated_bytes,
            }
        })
        .collect()
}

fn stages(c: &mut Criterion) {
    let corpus = corpus();
    let objects = &corpus.objects;
    let mut scratch = Scratch::default();
    let records = count(&corpus.run, "records");
    let inflated = count(&corpus.run, "bytes_inflated");

    // Check each stage against the scan before timing it.
    let mut flate2_out = Vec::new();
    assert_eq!(inflate_all(objects, &mut scratch), inflated);
    assert_eq!(inflate_all_flate2(objects, &mut flate2_out), inflated);
    assert_eq!(decode_all(objects, &mut scratch), records);
    let (split, candidates) = prescan_all(objects, &mut scratch);
    assert_eq!(split, records);
    let kept = count(&corpus.run, "federation_events") + count(&corpus.run, "config_changes");
    assert!(candidates >= kept && candidates < records);
    let outputs = classify_all(objects, &mut scratch);
    let events: u64 = outputs.iter().map(|o| o.counts.federation_events).sum();
    assert_eq!(events, count(&corpus.run, "federation_events"));
    let (merged, in_order) = aggregate::merge(outputs.clone());
    assert_eq!(
        merged.counts.events_written,
        count(&corpus.run, "events_written")
    );
    assert_eq!(
        aggregate::failures(&merged.observed.failures)
            .iter()
            .map(|r| r.failures)
            .sum::<u64>(),
        count(&corpus.run, "failures_observed")
    );

    let mut g = c.benchmark_group("stages");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(inflated));
    g.bench_function("inflate: one fedtrail Inflater (bytes of JSON)", |b| {
        b.iter(|| inflate_all(objects, &mut scratch))
    });
    g.bench_function("inflate: one flate2-only Inflater (bytes of JSON)", |b| {
        b.iter(|| inflate_all_flate2_state(objects, &mut flate2_out))
    });
    g.bench_function(
        "inflate: a flate2 MultiGzDecoder per object (bytes of JSON)",
        |b| b.iter(|| inflate_all_flate2(objects, &mut flate2_out)),
    );
    let docs: Vec<Vec<u8>> = objects
        .iter()
        .map(|(_, raw)| {
            let mut doc = Vec::new();
            decode::inflate(raw, 1 << 30, &mut doc).unwrap();
            doc
        })
        .collect();
    assert_eq!(prescan_only(&docs, &mut scratch), records);
    g.bench_function("prescan alone (bytes of JSON)", |b| {
        b.iter(|| prescan_only(&docs, &mut scratch))
    });
    // As in a scan, where each object is prescanned just after it is
    // inflated: one object, hot in cache, again and again.
    let hot = docs.iter().max_by_key(|d| d.len()).unwrap();
    assert!(scratch.prescan.split(hot));
    g.throughput(Throughput::Bytes(hot.len() as u64));
    g.bench_function(
        "prescan alone, one object hot in cache (bytes of JSON)",
        |b| b.iter(|| scratch.prescan.split(hot)),
    );
    g.throughput(Throughput::Bytes(inflated));
    g.bench_function("decode: inflate + parse (bytes of JSON)", |b| {
        b.iter(|| decode_all(objects, &mut scratch))
    });
    g.bench_function("decode: inflate + prescan (bytes of JSON)", |b| {
        b.iter(|| prescan_all(objects, &mut scratch))
    });
    g.throughput(Throughput::Elements(records));
    g.bench_function("decode + classify (records)", |b| {
        b.iter(|| classify_all(objects, &mut scratch))
    });
    g.throughput(Throughput::Elements(events));
    g.bench_function("aggregate: merge + failures + timeline (events)", |b| {
        b.iter_batched(
            || outputs.clone(),
            |outputs| {
                let (merged, events) = aggregate::merge(outputs);
                let f = aggregate::failures(&merged.observed.failures);
                let t = merged.observed.timeline();
                (merged, events, f, t)
            },
            BatchSize::LargeInput,
        )
    });
    let scratch_dir = tempfile::tempdir().unwrap();
    let out = scratch_dir.path().join("report");
    assert_eq!(rows_written(&write_events(&out, &in_order)), events as i64);
    // Each dataset is dropped (its staging folder removed) inside the timing:
    // the next one is begun at the same place.
    g.bench_function("write: events table, frames + Parquet (events)", |b| {
        b.iter(|| write_events(&out, &in_order))
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
