//! The objects table, written while the scan runs: each object's row is
//! handed over in key order as soon as it and every object before it are
//! finished, and written 4,096 rows at a time. A trail lists hundreds of
//! thousands of objects; none of their rows is held until the end, only
//! what the reports say about them: the objects that were not read cleanly
//! (the first [`NAMED`] of them, and how many) and the reasons by kind.

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::path::Path;

use super::parquet::{self, OnThread, RowsWriter};
use super::{ReasonCount, SinkError, ROWS_PER_GROUP};
use crate::model::{ObjectReport, ObjectStatus};

/// How many problem objects the reports name; the rest are counted.
pub const NAMED: usize = 100;

/// Objects that were unreadable or had rejected records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems {
    /// The first [`NAMED`] of them, in key order.
    pub named: Vec<ObjectReport>,
    /// All of them.
    pub total: u64,
}

impl Problems {
    /// The problems among `rows` (a dataset's objects, read back).
    pub fn of(rows: &[ObjectReport]) -> Problems {
        let mut problems = Problems::default();
        for row in rows {
            problems.add(row);
        }
        problems
    }

    fn add(&mut self, row: &ObjectReport) {
        if row.status == ObjectStatus::Unreadable || row.rejected_records > 0 {
            self.total += 1;
            if self.named.len() < NAMED {
                self.named.push(row.clone());
            }
        }
    }
}

/// What the objects table held, for `run.json` and the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectsWritten {
    pub problems: Problems,
    pub unreadable_by_reason: Vec<ReasonCount>,
    pub skipped_by_reason: Vec<ReasonCount>,
    /// Rows kept from the previous report (an incremental run).
    pub carried: u64,
}

/// The objects table being written.
pub struct ObjectsTable {
    /// Written on a thread of its own: `push` is called under the scan's
    /// collector lock.
    rows: OnThread<ObjectReport>,
    /// The previous report's rows not yet passed (an incremental run), in
    /// key order.
    previous: Peekable<std::vec::IntoIter<ObjectReport>>,
    carried: u64,
    problems: Problems,
    unreadable: BTreeMap<String, u64>,
    skipped: BTreeMap<String, u64>,
}

fn id(o: &ObjectReport) -> (&str, &str) {
    (&o.source, &o.key)
}

impl ObjectsTable {
    /// Starts the table at `path`. `previous` are the rows of the report an
    /// incremental run merges into: each is kept unless this run reads its
    /// object again.
    pub fn create(path: &Path, mut previous: Vec<ObjectReport>) -> ObjectsTable {
        previous.sort_by(|a, b| id(a).cmp(&id(b)));
        ObjectsTable {
            rows: OnThread::new(
                path,
                RowsWriter::new(path, ROWS_PER_GROUP, parquet::objects_columns),
                ROWS_PER_GROUP,
                1,
            ),
            previous: previous.into_iter().peekable(),
            carried: 0,
            problems: Problems::default(),
            unreadable: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Adds this run's row of an object; rows come in `(source, key)` order.
    pub fn push(&mut self, row: ObjectReport) -> Result<(), SinkError> {
        while let Some(earlier) = self.previous.next_if(|p| id(p) < id(&row)) {
            self.carry(earlier)?;
        }
        if let Some(earlier) = self.previous.next_if(|p| id(p) == id(&row)) {
            // Skipped now, read before: the earlier row stands.
            if row.status == ObjectStatus::Skipped {
                return self.carry(earlier);
            }
        }
        self.write(row)
    }

    fn carry(&mut self, row: ObjectReport) -> Result<(), SinkError> {
        self.carried += 1;
        self.write(row)
    }

    fn write(&mut self, row: ObjectReport) -> Result<(), SinkError> {
        self.problems.add(&row);
        let reasons = match row.status {
            ObjectStatus::Unreadable => Some(&mut self.unreadable),
            ObjectStatus::Skipped => Some(&mut self.skipped),
            ObjectStatus::Ok => None,
        };
        if let Some(reasons) = reasons {
            let reason = row.reason.as_deref().unwrap_or("no reason recorded");
            *reasons.entry(reason_kind(reason)).or_default() += 1;
        }
        self.rows.push(row)
    }

    /// Carries the previous report's remaining rows and hands the last
    /// rows to the writer, which finishes the file while the caller goes on
    /// (a scan merges its events meanwhile). No row may be pushed after it.
    pub fn close(&mut self) -> Result<(), SinkError> {
        while let Some(earlier) = self.previous.next() {
            self.carry(earlier)?;
        }
        self.rows.close();
        Ok(())
    }

    /// [`ObjectsTable::close`], then waits for the file to be written.
    pub fn finish(mut self) -> Result<ObjectsWritten, SinkError> {
        self.close()?;
        self.rows.finish()?;
        Ok(ObjectsWritten {
            problems: self.problems,
            unreadable_by_reason: by_count(self.unreadable),
            skipped_by_reason: by_count(self.skipped),
            carried: self.carried,
        })
    }
}

/// Reason kinds, the most frequent first.
fn by_count(counts: BTreeMap<String, u64>) -> Vec<ReasonCount> {
    let mut v: Vec<ReasonCount> = counts
        .into_iter()
        .map(|(reason, objects)| ReasonCount { reason, objects })
        .collect();
    v.sort_by_key(|r| std::cmp::Reverse(r.objects));
    v
}

/// The kind of a reason, for grouping: its text before any detail (after
/// `(` or `:`), with numbers as `N` ("invalid JSON in record N").
fn reason_kind(reason: &str) -> String {
    let head = reason.split(['(', ':']).next().unwrap_or(reason).trim();
    let mut kind = String::with_capacity(head.len());
    let mut in_number = false;
    for c in head.chars() {
        if !c.is_ascii_digit() {
            kind.push(c);
        } else if !in_number {
            kind.push('N');
        }
        in_number = c.is_ascii_digit();
    }
    kind
}

/// Items finished out of order (one for each place in key order, from 0),
/// each held until every item before it is in.
pub struct InOrder<T> {
    next: usize,
    waiting: BTreeMap<usize, T>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }
}

impl<T> InOrder<T> {
    /// Takes the item at `index`, and hands every item now in order to
    /// `emit`.
    pub fn put<E>(
        &mut self,
        index: usize,
        item: T,
        mut emit: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        self.waiting.insert(index, item);
        while let Some(item) = self.waiting.remove(&self.next) {
            self.next += 1;
            emit(item)?;
        }
        Ok(())
    }

    /// Items still waiting for one before them.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::RowAccessor;

    use std::sync::Arc;

    use super::*;

    /// A row of an object named by `key` in `source`.
    fn row(source: &str, key: &str, status: ObjectStatus, reason: Option<&str>) -> ObjectReport {
        ObjectReport {
            source: Arc::from(source),
            key: Arc::from(key),
            bytes: 10,
            records: 1,
            federation_records: 0,
            change_records: 0,
            rejected_records: 0,
            status,
            reason: reason.map(str::to_string),
        }
    }

    /// `(key, status)` of every row of the objects table at `path`.
    fn read_back(path: &Path) -> Vec<(String, String)> {
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (
                    r.get_string(1).unwrap().clone(),
                    r.get_string(7).unwrap().clone(),
                )
            })
            .collect()
    }

    #[test]
    fn rows_are_merged_onto_the_previous_report_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objects.parquet");
        use ObjectStatus::*;
        let previous = vec![
            row("s", "d", Ok, None),
            row("s", "a", Ok, None),
            row("s", "c", Unreadable, Some("cannot read: gone")),
            row("s", "f", Ok, None),
        ];
        let mut table = ObjectsTable::create(&path, previous);
        for r in [
            row("s", "b", Ok, None),
            // Read again: this run's row replaces the earlier one.
            row("s", "c", Ok, None),
            // Skipped now, read before: the earlier row stands.
            row("s", "d", Skipped, Some("outside --start/--end")),
            row("s", "e", Skipped, Some("outside --start/--end")),
        ] {
            table.push(r).unwrap();
        }
        let written = table.finish().unwrap();
        let got = read_back(&path);
        let want = [
            ("a", "ok"),
            ("b", "ok"),
            ("c", "ok"),
            ("d", "ok"),
            ("e", "skipped"),
            ("f", "ok"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, s)| (k.to_string(), s.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(written.carried, 3, "a, d and f");
        assert_eq!(written.problems.total, 0, "c was read this time");
        assert_eq!(
            written.skipped_by_reason,
            [ReasonCount {
                reason: "outside --start/--end".into(),
                objects: 1
            }]
        );
    }

    #[test]
    fn many_rows_take_several_groups_and_problems_are_named_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objects.parquet");
        let mut table = ObjectsTable::create(&path, Vec::new());
        let n = ROWS_PER_GROUP + 300;
        for i in 0..n {
            let key = format!("{i:06}");
            let r = if i % 2 == 0 {
                row("s", &key, ObjectStatus::Ok, None)
            } else {
                let reason = format!("invalid JSON in record {i}: expected value");
                row("s", &key, ObjectStatus::Unreadable, Some(&reason))
            };
            table.push(r).unwrap();
        }
        let written = table.finish().unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        assert_eq!(reader.metadata().file_metadata().num_rows(), n as i64);
        let got = read_back(&path);
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "in key order");
        assert_eq!(written.problems.total, (n / 2) as u64);
        assert_eq!(written.problems.named.len(), NAMED);
        assert_eq!(&*written.problems.named[0].key, "000001");
        assert_eq!(
            written.unreadable_by_reason,
            [ReasonCount {
                reason: "invalid JSON in record N".into(),
                objects: (n / 2) as u64
            }]
        );
    }

    #[test]
    fn an_empty_table_still_has_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objects.parquet");
        let written = ObjectsTable::create(&path, Vec::new()).finish().unwrap();
        assert_eq!(written, ObjectsWritten::default());
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(
            reader
                .metadata()
                .file_metadata()
                .schema_descr()
                .num_columns(),
            9
        );
    }

    #[test]
    fn in_order_holds_early_arrivals_until_those_before_them_come() {
        let mut order = InOrder::default();
        let mut out = Vec::new();
        for i in [3, 1, 0, 2, 5, 4] {
            order
                .put(i, i, |x| {
                    out.push(x);
                    Ok::<(), ()>(())
                })
                .unwrap();
            if i == 1 {
                assert!(out.is_empty(), "0 has not come yet");
            }
            if i == 0 {
                assert_eq!((out.len(), order.waiting()), (2, 1), "0 and 1; 3 waits");
            }
        }
        assert_eq!(out, [0, 1, 2, 3, 4, 5]);
        assert_eq!(order.waiting(), 0);
    }
}
