//! Incremental runs: which objects a report already holds, so that the next
//! run reads only objects that are new or changed and merges them in.
//!
//! The state is a small JSON file, `state.json`, written inside the report
//! with it (so the two cannot disagree after a crash). `--state FILE` reads
//! it from FILE instead, and writes FILE too. It lists every object read
//! whole into the report, by the name messages use for it (its path or
//! `s3://` URL), with its stored size and its version: the S3 ETag (or the
//! modification time where a store lists no ETag), or a file's modification
//! time. An object whose size and version are both unchanged is not read
//! again; its rows stay. Objects read but found unreadable are not listed,
//! so the next run tries them again. The state keeps only the objects of
//! the last run's listing: an object a run does not list (outside its
//! window, say) is forgotten, and if a later run lists it again it is read
//! again and its rows replaced, never doubled.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::ObjectRef;

/// The state file's name inside a report.
pub const FILE_NAME: &str = "state.json";

/// The version of the file's layout.
const FORMAT: u32 = 1;

/// What a report holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    /// The `--redact` key id the report's rows were written with, if any:
    /// rows under another key (or none) are never merged with them.
    #[serde(default)]
    pub redaction: Option<String>,
    /// Every object read whole, by display name.
    pub objects: BTreeMap<String, Seen>,
}

/// An object as it was when it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub bytes: u64,
    pub version: String,
}

/// How a listed object compares with the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not in the report yet.
    New,
    /// In the report, but its size or version differ (or its version is unknown).
    Changed,
    /// In the report as it is now: not read again.
    Unchanged,
}

/// Why the state could not be read (the run stops with exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: cannot read the state file")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a fedtrail state file ({source}); remove it, or run with --full to rebuild the report")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: state format {found} is newer than this fedtrail reads ({FORMAT}); run with --full to rebuild the report")]
    Format { path: PathBuf, found: u32 },
}

impl State {
    /// Reads the state at `path`; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let state: State = serde_json::from_str(&text).map_err(|source| StateError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        if state.format > FORMAT {
            return Err(StateError::Format {
                path: path.to_path_buf(),
                found: state.format,
            });
        }
        Ok(Some(state))
    }

    pub fn verdict(&self, obj: &ObjectRef) -> Verdict {
        match self.objects.get(&obj.display()) {
            None => Verdict::New,
            Some(seen) if Some(&seen.version) == obj.version.as_ref() && seen.bytes == obj.size => {
                Verdict::Unchanged
            }
            Some(_) => Verdict::Changed,
        }
    }
}

/// A state file (in the current format) being written, one object at a
/// time as the scan finishes them in key order, so that the state of a
/// large trail is never held whole. One line per object keeps the file easy
/// to read and to diff. An object listed under two inputs is written twice,
/// the same both times; the last one read counts.
pub struct StateWriter {
    out: BufWriter<File>,
    objects: u64,
}

impl StateWriter {
    pub fn create(path: &Path, redaction: Option<&str>) -> std::io::Result<StateWriter> {
        // A line an object, written under the lock the workers share: in
        // 64 KB writes, an eighth as many system calls as the default.
        let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
        write!(out, "{{\"format\":{FORMAT},\"redaction\":")?;
        serde_json::to_writer(&mut out, &redaction)?;
        out.write_all(b",\"objects\":{")?;
        Ok(StateWriter { out, objects: 0 })
    }

    /// Adds an object by its display name, stored size and version.
    pub fn push(&mut self, name: &str, bytes: u64, version: &str) -> std::io::Result<()> {
        let out = &mut self.out;
        out.write_all(if self.objects == 0 { b"\n" } else { b",\n" })?;
        json_string(out, name)?;
        write!(out, ":{{\"bytes\":{bytes},\"version\":")?;
        json_string(out, version)?;
        out.write_all(b"}")?;
        self.objects += 1;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.write_all(b"\n}}\n")?;
        self.out.flush()
    }
}

/// Writes `text` as a JSON string, as `serde_json` does. Keys and versions
/// rarely hold a byte to escape; those that do not are written as they
/// are, checked in one pass the compiler vectorises (`serde_json` looks
/// each byte up in a table: most of the ~2,200 instructions a line took).
fn json_string(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    let plain = !text.bytes().fold(false, |odd, b| {
        odd | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.write_all(b"\"")?;
        out.write_all(text.as_bytes())?;
        out.write_all(b"\"")
    } else {
        serde_json::to_writer(out, text).map_err(std::io::Error::from)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::filter::Filter;
    use crate::source::Location;

    fn object(path: &str, size: u64, version: Option<&str>) -> ObjectRef {
        ObjectRef::found(
            &Arc::from("logs"),
            path.to_string(),
            Location::File { below_input: true },
            size,
            version.map(str::to_string),
            &Filter::default(),
        )
    }

    fn seen(bytes: u64, version: &str) -> Seen {
        Seen {
            bytes,
            version: version.to_string(),
        }
    }

    #[test]
    fn objects_are_new_changed_or_unchanged() {
        let mut state = State::default();
        let a = object("a.json.gz", 10, Some("mtime 1.0"));
        assert_eq!(state.verdict(&a), Verdict::New);
        state.objects.insert(a.display(), seen(10, "mtime 1.0"));
        assert_eq!(state.verdict(&a), Verdict::Unchanged);
        assert_eq!(
            state.verdict(&object("a.json.gz", 11, Some("mtime 1.0"))),
            Verdict::Changed
        );
        assert_eq!(
            state.verdict(&object("a.json.gz", 10, Some("mtime 2.0"))),
            Verdict::Changed
        );
        // An unknown version is never taken as unchanged.
        assert_eq!(
            state.verdict(&object("a.json.gz", 10, None)),
            Verdict::Changed
        );
    }

    #[test]
    fn the_file_round_trips_and_bad_files_get_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert_eq!(State::load(&path).unwrap(), None);
        let objects = [
            ("logs/b.json.gz", 10, "etag \"x\""),
            ("logs/a \\ \"quoted\".json.gz", 7, "mtime 1.5"),
            // Listed under two inputs: written twice, read once.
            ("logs/b.json.gz", 10, "etag \"x\""),
        ];
        let mut out = StateWriter::create(&path, Some("k1")).unwrap();
        for &(name, bytes, version) in &objects {
            out.push(name, bytes, version).unwrap();
        }
        out.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5, "one line per object:\n{text}");
        let back = State::load(&path).unwrap().unwrap();
        assert_eq!(back.format, FORMAT);
        assert_eq!(back.redaction.as_deref(), Some("k1"));
        let want: BTreeMap<String, Seen> = objects
            .iter()
            .map(|&(n, b, v)| (n.to_string(), seen(b, v)))
            .collect();
        assert_eq!(back.objects, want);
        // No objects at all is a state too.
        StateWriter::create(&path, None).unwrap().finish().unwrap();
        let back = State::load(&path).unwrap().unwrap();
        assert_eq!((back.redaction, back.objects.len()), (None, 0));

        std::fs::write(&path, "{not json").unwrap();
        let err = State::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("not a fedtrail state file") && err.contains("--full"),
            "{err}"
        );
        std::fs::write(&path, r#"{"format":99,"objects":{}}"#).unwrap();
        let err = State::load(&path).unwrap_err().to_string();
        assert!(err.contains("format 99"), "{err}");
    }

    #[test]
    fn names_are_written_as_serde_json_writes_them() {
        for text in [
            "",
            "logs/AWSLogs/111122223333/CloudTrail/eu-west-1/2026/05/25/f.json.gz",
            "mtime 1764633600.123456789",
            "a \"quoted\" name",
            "back\\slash",
            "tab\tnew\nline\u{1}\u{1f}",
            "del \u{7f}, é, 日本, emoji \u{1F600}",
            "/",
        ] {
            let mut ours = Vec::new();
            json_string(&mut ours, text).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }
}
