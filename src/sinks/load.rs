//! Reading a dataset back: the inverse of `parquet` for the tables the
//! reports are derived from (`events/`, `changes.parquet`,
//! `objects.parquet`) plus `run.json`. `fedtrail report` re-renders the
//! human reports from what this returns.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use super::RunInfo;
use crate::classify::taxonomy::class_info;
use crate::model::{
    ConfigChange, FedEvent, ObjectReport, ObjectStatus, Outcome, Stage, Text, TextSet,
};

/// Why a dataset could not be read back (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "{0} is not a fedtrail dataset (no run.json); write one with `fedtrail scan --out {0}`"
    )]
    NotADataset(PathBuf),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a run.json fedtrail can read")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: cannot read Parquet")]
    Parquet {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
    #[error("{path}: column {column}: {why}")]
    Column {
        path: PathBuf,
        column: &'static str,
        why: String,
    },
}

/// A dataset as read back.
pub struct Loaded {
    pub run: RunInfo,
    /// The events, in time order.
    pub events: Vec<FedEvent>,
    pub changes: Vec<ConfigChange>,
    /// The rows of `objects.parquet`, in its order (key order).
    pub objects: Vec<ObjectReport>,
}

/// Reads `dir`'s run.json, events, changes and objects.
pub fn load(dir: &Path) -> Result<Loaded, LoadError> {
    let run_path = dir.join("run.json");
    if !run_path.is_file() {
        return Err(LoadError::NotADataset(dir.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoadError::Io { path, source }
    };
    let text = std::fs::read_to_string(&run_path).map_err(io(&run_path))?;
    let run: RunInfo = serde_json::from_str(&text).map_err(|source| LoadError::Json {
        path: run_path.clone(),
        source,
    })?;
    let mut events = Vec::new();
    for part in event_parts(&dir.join("events"))? {
        events.extend(read_events(&Frame::read(&part)?)?);
    }
    events.sort_by_key(|e| e.event_time);
    let changes = read_changes(&Frame::read(&dir.join("changes.parquet"))?)?;
    let objects = read_objects(&Frame::read(&dir.join("objects.parquet"))?)?;
    Ok(Loaded {
        events,
        changes,
        objects,
        run,
    })
}

/// `events/date=*/part-*.parquet`, in path order.
fn event_parts(events: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoadError::Io { path, source }
    };
    let mut parts = Vec::new();
    for day in std::fs::read_dir(events).map_err(io(events))? {
        let day = day.map_err(io(events))?.path();
        if !day.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&day).map_err(io(&day))? {
            let file = file.map_err(io(&day))?.path();
            if file.extension().is_some_and(|e| e == "parquet") {
                parts.push(file);
            }
        }
    }
    parts.sort();
    Ok(parts)
}

/// One Parquet file, read whole, with typed column access.
struct Frame {
    path: PathBuf,
    df: DataFrame,
}

impl Frame {
    fn read(path: &Path) -> Result<Frame, LoadError> {
        let file = File::open(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|source| LoadError::Parquet {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Frame {
            path: path.to_path_buf(),
            df,
        })
    }

    fn bad(&self, column: &'static str, why: impl ToString) -> LoadError {
        LoadError::Column {
            path: self.path.clone(),
            column,
            why: why.to_string(),
        }
    }

    fn text(&self, column: &'static str) -> Result<Vec<Option<String>>, LoadError> {
        let c = self.df.column(column).map_err(|e| self.bad(column, e))?;
        let s = c.str().map_err(|e| self.bad(column, e))?;
        Ok(s.iter().map(|v| v.map(str::to_owned)).collect())
    }

    fn int(&self, column: &'static str) -> Result<Vec<Option<i64>>, LoadError> {
        let c = self.df.column(column).map_err(|e| self.bad(column, e))?;
        let v = match c.dtype() {
            DataType::Datetime(TimeUnit::Microseconds, _) => c
                .datetime()
                .map_err(|e| self.bad(column, e))?
                .physical()
                .iter()
                .collect(),
            DataType::Int64 => c.i64().map_err(|e| self.bad(column, e))?.iter().collect(),
            other => return Err(self.bad(column, format!("unexpected type {other}"))),
        };
        Ok(v)
    }

    fn required<T>(&self, column: &'static str, v: Option<T>) -> Result<T, LoadError> {
        v.ok_or_else(|| self.bad(column, "null where a value is required"))
    }
}

fn stage(s: &str) -> Option<Stage> {
    Stage::ALL.into_iter().find(|st| st.as_str() == s)
}

fn outcome(s: &str) -> Option<Outcome> {
    [Outcome::Success, Outcome::Failure]
        .into_iter()
        .find(|o| o.as_str() == s)
}

/// A failure class as the taxonomy spells it (the `&'static str` the model holds).
fn class(
    f: &Frame,
    column: &'static str,
    v: Option<String>,
) -> Result<Option<&'static str>, LoadError> {
    v.map(|c| {
        class_info(&c).map(|i| i.id).ok_or_else(|| {
            f.bad(
                column,
                format!("unknown failure class {c:?} (written by another fedtrail version?)"),
            )
        })
    })
    .transpose()
}

fn read_events(f: &Frame) -> Result<Vec<FedEvent>, LoadError> {
    let time = f.int("event_time")?;
    let t = |c| f.text(c).map(Vec::into_iter);
    let (mut id, mut account, mut region, mut stages, mut source, mut name) = (
        t("event_id")?,
        t("account_id")?,
        t("region")?,
        t("stage")?,
        t("event_source")?,
        t("event_name")?,
    );
    let (mut outcomes, mut classes, mut code, mut message) = (
        t("outcome")?,
        t("failure_class")?,
        t("error_code")?,
        t("error_message")?,
    );
    let (mut role_arn, mut role_name, mut provider_arn, mut provider_name) = (
        t("role_arn")?,
        t("role_name")?,
        t("provider_arn")?,
        t("provider_name")?,
    );
    let (mut session, mut user, mut issuer, mut audience) = (
        t("session_name")?,
        t("user_name")?,
        t("issuer")?,
        t("audience")?,
    );
    let duration = f.int("duration_seconds")?;
    let (mut instance, mut endpoint, mut ip, mut agent, mut object) = (
        t("connect_instance_id")?,
        t("endpoint_type")?,
        t("source_ip")?,
        t("user_agent")?,
        t("source_object")?,
    );
    let next = |it: &mut std::vec::IntoIter<Option<String>>| it.next().flatten();
    // Events share their repeated strings, as `classify` makes them.
    let mut set = TextSet::default();
    let mut objects: TextSet<Arc<str>> = TextSet::default();
    let mut text =
        |it: &mut std::vec::IntoIter<Option<String>>| it.next().flatten().map(|s| set.get(&s));
    let mut out = Vec::with_capacity(time.len());
    for (i, event_time) in time.into_iter().enumerate() {
        let st = next(&mut stages);
        let oc = next(&mut outcomes);
        out.push(FedEvent {
            event_time: f.required("event_time", event_time)?,
            event_id: next(&mut id).map(Text::from),
            account_id: text(&mut account),
            region: text(&mut region),
            stage: f.required("stage", st.as_deref().and_then(stage))?,
            event_source: text(&mut source).unwrap_or_default(),
            event_name: text(&mut name).unwrap_or_default(),
            outcome: f.required("outcome", oc.as_deref().and_then(outcome))?,
            failure_class: class(f, "failure_class", next(&mut classes))?,
            error_code: text(&mut code),
            error_message: text(&mut message),
            role_arn: text(&mut role_arn),
            role_name: text(&mut role_name),
            provider_arn: text(&mut provider_arn),
            provider_name: text(&mut provider_name),
            session_name: text(&mut session),
            user_name: text(&mut user),
            issuer: text(&mut issuer),
            audience: text(&mut audience),
            duration_seconds: duration[i],
            connect_instance_id: text(&mut instance),
            endpoint_type: text(&mut endpoint),
            source_ip: text(&mut ip),
            user_agent: text(&mut agent),
            source_object: objects.get(&next(&mut object).unwrap_or_default()),
        });
    }
    Ok(out)
}

const TARGET_TYPES: &[&str] = &["provider", "role", "policy", "user", "identity_source"];

fn read_changes(f: &Frame) -> Result<Vec<ConfigChange>, LoadError> {
    let time = f.int("event_time")?;
    let t = |c| f.text(c).map(Vec::into_iter);
    let (mut id, mut account, mut region, mut source, mut name, mut target) = (
        t("event_id")?,
        t("account_id")?,
        t("region")?,
        t("event_source")?,
        t("event_name")?,
        t("target")?,
    );
    let (mut kind, mut detail, mut actor, mut outcomes, mut classes) = (
        t("target_type")?,
        t("detail")?,
        t("actor")?,
        t("outcome")?,
        t("failure_class")?,
    );
    let (mut code, mut message, mut object) =
        (t("error_code")?, t("error_message")?, t("source_object")?);
    let next = |it: &mut std::vec::IntoIter<Option<String>>| it.next().flatten();
    let mut out = Vec::with_capacity(time.len());
    for event_time in time {
        let k = next(&mut kind);
        let oc = next(&mut outcomes);
        out.push(ConfigChange {
            event_time: f.required("event_time", event_time)?,
            event_id: next(&mut id),
            account_id: next(&mut account),
            region: next(&mut region),
            event_source: next(&mut source).unwrap_or_default(),
            event_name: next(&mut name).unwrap_or_default(),
            target: next(&mut target),
            target_type: f.required(
                "target_type",
                k.and_then(|k| TARGET_TYPES.iter().copied().find(|t| *t == k)),
            )?,
            detail: next(&mut detail),
            actor: next(&mut actor),
            outcome: f.required("outcome", oc.as_deref().and_then(outcome))?,
            failure_class: class(f, "failure_class", next(&mut classes))?,
            error_code: next(&mut code),
            error_message: next(&mut message),
            source_object: Arc::from(next(&mut object).unwrap_or_default()),
        });
    }
    Ok(out)
}

fn read_objects(f: &Frame) -> Result<Vec<ObjectReport>, LoadError> {
    let (source, key, status, reason) = (
        f.text("source")?,
        f.text("key")?,
        f.text("status")?,
        f.text("reason")?,
    );
    let n = |c| -> Result<Vec<u64>, LoadError> {
        Ok(f.int(c)?
            .into_iter()
            .map(|v| v.unwrap_or(0).max(0) as u64)
            .collect())
    };
    let (bytes, records, fed, changes, rejected) = (
        n("bytes")?,
        n("records")?,
        n("federation_records")?,
        n("change_records")?,
        n("rejected_records")?,
    );
    let mut out = Vec::with_capacity(key.len());
    for i in 0..key.len() {
        let st = [
            ObjectStatus::Ok,
            ObjectStatus::Skipped,
            ObjectStatus::Unreadable,
        ]
        .into_iter()
        .find(|s| status[i].as_deref() == Some(s.as_str()));
        out.push(ObjectReport {
            source: Arc::from(source[i].as_deref().unwrap_or_default()),
            key: key[i].clone().unwrap_or_default().into(),
            bytes: bytes[i],
            records: records[i],
            federation_records: fed[i],
            change_records: changes[i],
            rejected_records: rejected[i],
            status: f.required("status", st)?,
            reason: reason[i].clone(),
        });
    }
    Ok(out)
}
