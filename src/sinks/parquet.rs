//! The Parquet tables of the dataset (DESIGN.md, "Output dataset"): row
//! structs in, polars frames out, written ZSTD-compressed. Timestamps are
//! `Datetime(us, UTC)`; counts are signed 64-bit so every SQL engine reads
//! them. Column names and order here are the users' contract.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;
use polars_parquet::parquet::error::ParquetResult;
use polars_parquet::write::{
    CompressedPage, CompressionOptions, Encoding, FallibleStreamingIterator, Page,
};
use rayon::prelude::*;

use super::SinkError;
use crate::aggregate::{FailureRow, TimelineRow};
use crate::analyze::{Finding, Incident, LinkedChange};
use crate::model::{ConfigChange, FedEvent, Micros, ObjectReport};

fn text<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    StringChunked::from_iter_options(name.into(), values).into_column()
}

fn int(name: &str, values: impl Iterator<Item = Option<i64>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), values).into_column()
}

fn count(name: &str, values: impl Iterator<Item = u64>) -> Column {
    int(
        name,
        values.map(|v| Some(i64::try_from(v).unwrap_or(i64::MAX))),
    )
}

fn timestamp(name: &str, values: impl Iterator<Item = Option<Micros>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), values)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column()
}

fn float(name: &str, values: impl Iterator<Item = f64>) -> Column {
    Float64Chunked::from_iter_values(name.into(), values).into_column()
}

fn list<'a>(name: &str, values: impl ExactSizeIterator<Item = &'a [String]>) -> Column {
    let mut b = ListStringChunkedBuilder::new(name.into(), values.len(), values.len() * 2);
    for v in values {
        b.append_values_iter(v.iter().map(String::as_str));
    }
    b.finish().into_column()
}

/// The columns of a linked change, `PREFIX_id`, `_name`, `_time`, `_target`, `_reason`.
fn change_columns<'a>(
    prefix: &str,
    rows: impl Iterator<Item = Option<&'a LinkedChange>> + Clone,
) -> Vec<Column> {
    let s = |f: fn(&LinkedChange) -> Option<&str>| rows.clone().map(move |c| c.and_then(f));
    vec![
        text(&format!("{prefix}_id"), s(|c| c.event_id.as_deref())),
        text(&format!("{prefix}_name"), s(|c| Some(&c.event_name))),
        timestamp(
            &format!("{prefix}_time"),
            rows.clone().map(|c| c.map(|c| c.event_time)),
        ),
        text(
            &format!("{prefix}_account_id"),
            s(|c| c.account_id.as_deref()),
        ),
        text(&format!("{prefix}_target"), s(|c| c.target.as_deref())),
        text(&format!("{prefix}_reason"), s(|c| Some(&c.reason))),
    ]
}

fn frame(height: usize, columns: Vec<Column>) -> DataFrame {
    DataFrame::new(height, columns).expect("columns are built with one height and unique names")
}

/// One column of a table for a slice of rows, built when called.
pub type Build<'a> = Box<dyn Fn() -> Built<'a> + Send + Sync + 'a>;

/// A column as [`Build`] makes it.
pub enum Built<'a> {
    Column(Column),
    /// Text, as the distinct values it holds and each row's place among
    /// them: the dictionary polars would make of it, without hashing every
    /// value's text. A table's text is mostly the same few strings, shared
    /// (interned) between rows, so a row's value is first looked up by its
    /// address. (Written with a copy of each value and two hashes of it, the
    /// events table's text took ~40% of its writer's time.)
    Text(Dictionary<'a>),
}

/// A text column as [`Built::Text`]: `keys` index `distinct`, `None` for a null.
pub struct Dictionary<'a> {
    name: &'static str,
    /// In order of first appearance, as polars orders a dictionary.
    distinct: Vec<&'a str>,
    keys: Vec<Option<u32>>,
}

impl Built<'_> {
    pub fn into_column(self) -> Column {
        match self {
            Built::Column(column) => column,
            Built::Text(d) => text(d.name, d.rows()),
        }
    }
}

impl<'a> Dictionary<'a> {
    /// Each row's value.
    fn rows(&self) -> impl Iterator<Item = Option<&'a str>> + '_ {
        (self.keys.iter()).map(|k| k.map(|k| self.distinct[k as usize]))
    }
}

/// A text column as a [`Dictionary`]; or, when its values are mostly
/// distinct so far (keys, ids), as a polars column, for polars to encode
/// as it does (it leaves such text plain).
fn dictionary<'a>(
    name: &'static str,
    values: impl Iterator<Item = Option<&'a str>> + Clone,
) -> Built<'a> {
    type Map<K> = std::collections::HashMap<K, u32, rustc_hash::FxBuildHasher>;
    // The same string at the same address is the same value; equal
    // strings at other addresses are found by their text.
    let mut by_address: Map<(usize, usize)> = Map::default();
    let mut by_text: Map<&'a str> = Map::default();
    let mut distinct = Vec::new();
    let mut last = None;
    let mut keys = Vec::new();
    for v in values.clone() {
        let Some(v) = v else {
            keys.push(None);
            continue;
        };
        let address = (v.as_ptr() as usize, v.len());
        let key = match last {
            Some((at, key)) if at == address => key,
            _ => *by_address.entry(address).or_insert_with(|| {
                *by_text.entry(v).or_insert_with(|| {
                    distinct.push(v);
                    (distinct.len() - 1) as u32
                })
            }),
        };
        last = Some((address, key));
        keys.push(Some(key));
        // Mostly distinct so far: not worth a dictionary.
        if distinct.len() >= 256 && distinct.len() * 4 > keys.len() * 3 {
            return Built::Column(text(name, values));
        }
    }
    Built::Text(Dictionary {
        name,
        distinct,
        keys,
    })
}

/// A table written a row group at a time ([`RowsWriter`]): its columns, in
/// order, for a slice of its rows.
pub type Table<T> = for<'a> fn(&'a [T]) -> Vec<Build<'a>>;

/// A frame of `columns`, built in parallel.
fn frame_of(height: usize, columns: Vec<Build<'_>>) -> DataFrame {
    frame(
        height,
        columns
            .par_iter()
            .map(|build| build().into_column())
            .collect(),
    )
}

/// The columns of the `events/` table for a slice of events.
pub fn events_columns(events: &[FedEvent]) -> Vec<Build<'_>> {
    let s = |name: &'static str, f: fn(&FedEvent) -> Option<&str>| -> Build<'_> {
        Box::new(move || dictionary(name, events.iter().map(f)))
    };
    vec![
        Box::new(|| {
            Built::Column(timestamp(
                "event_time",
                events.iter().map(|e| Some(e.event_time)),
            ))
        }),
        s("event_id", |e| e.event_id.as_deref()),
        s("account_id", |e| e.account_id.as_deref()),
        s("region", |e| e.region.as_deref()),
        s("stage", |e| Some(e.stage.as_str())),
        s("event_source", |e| Some(&e.event_source)),
        s("event_name", |e| Some(&e.event_name)),
        s("outcome", |e| Some(e.outcome.as_str())),
        s("failure_class", |e| e.failure_class),
        s("error_code", |e| e.error_code.as_deref()),
        s("error_message", |e| e.error_message.as_deref()),
        s("role_arn", |e| e.role_arn.as_deref()),
        s("role_name", |e| e.role_name.as_deref()),
        s("provider_arn", |e| e.provider_arn.as_deref()),
        s("provider_name", |e| e.provider_name.as_deref()),
        s("session_name", |e| e.session_name.as_deref()),
        s("user_name", |e| e.user_name.as_deref()),
        s("issuer", |e| e.issuer.as_deref()),
        s("audience", |e| e.audience.as_deref()),
        Box::new(|| {
            Built::Column(int(
                "duration_seconds",
                events.iter().map(|e| e.duration_seconds),
            ))
        }),
        s("connect_instance_id", |e| e.connect_instance_id.as_deref()),
        s("endpoint_type", |e| e.endpoint_type.as_deref()),
        s("source_ip", |e| e.source_ip.as_deref()),
        s("user_agent", |e| e.user_agent.as_deref()),
        s("source_object", |e| Some(&e.source_object)),
    ]
}

pub fn failures_frame(rows: &[FailureRow]) -> DataFrame {
    let s = |f: fn(&FailureRow) -> Option<&str>| rows.iter().map(f);
    frame(
        rows.len(),
        vec![
            text("account_id", s(|r| r.account_id.as_deref())),
            text("region", s(|r| r.region.as_deref())),
            text("stage", s(|r| Some(r.stage.as_str()))),
            text("failure_class", s(|r| Some(r.failure_class))),
            text("error_code", s(|r| r.error_code.as_deref())),
            text("role_arn", s(|r| r.role_arn.as_deref())),
            text("provider_arn", s(|r| r.provider_arn.as_deref())),
            count("failures", rows.iter().map(|r| r.failures)),
            count(
                "distinct_sessions",
                rows.iter().map(|r| r.distinct_sessions),
            ),
            count(
                "distinct_source_ips",
                rows.iter().map(|r| r.distinct_source_ips),
            ),
            timestamp("first_seen", rows.iter().map(|r| Some(r.first_seen))),
            timestamp("last_seen", rows.iter().map(|r| Some(r.last_seen))),
            text("sample_message", s(|r| r.sample_message.as_deref())),
        ],
    )
}

pub fn timeline_frame(rows: &[TimelineRow]) -> DataFrame {
    frame(
        rows.len(),
        vec![
            timestamp("bucket_start", rows.iter().map(|r| Some(r.bucket_start))),
            text("stage", rows.iter().map(|r| Some(r.stage.as_str()))),
            text("failure_class", rows.iter().map(|r| Some(r.failure_class))),
            count("attempts", rows.iter().map(|r| r.attempts)),
            count("failures", rows.iter().map(|r| r.failures)),
        ],
    )
}

pub fn incidents_frame(rows: &[Incident]) -> DataFrame {
    let s = |f: fn(&Incident) -> Option<&str>| rows.iter().map(f);
    let mut columns = vec![
        text("incident_id", s(|i| Some(&i.incident_id))),
        timestamp("start", rows.iter().map(|i| Some(i.start))),
        timestamp("end", rows.iter().map(|i| Some(i.end))),
        int(
            "minutes",
            rows.iter().map(|i| Some((i.end - i.start) / 60_000_000)),
        ),
        text("stage", s(|i| Some(i.stage.as_str()))),
        text("dominant_class", s(|i| Some(i.dominant_class))),
        float("dominant_share", rows.iter().map(|i| i.dominant_share)),
        count("failures", rows.iter().map(|i| i.failures)),
        count("attempts", rows.iter().map(|i| i.attempts)),
        count(
            "affected_sessions",
            rows.iter().map(|i| i.affected_sessions),
        ),
        count(
            "peak_bucket_failures",
            rows.iter().map(|i| i.peak_bucket_failures),
        ),
        float(
            "baseline_bucket_failures",
            rows.iter().map(|i| i.baseline_bucket_failures),
        ),
        list("accounts", rows.iter().map(|i| i.accounts.as_slice())),
        list("roles", rows.iter().map(|i| i.roles.as_slice())),
        list("providers", rows.iter().map(|i| i.providers.as_slice())),
        list("regions", rows.iter().map(|i| i.regions.as_slice())),
    ];
    columns.extend(change_columns(
        "suspected_change",
        rows.iter().map(|i| i.suspected_change.as_ref()),
    ));
    columns.extend(change_columns(
        "recovered_by_change",
        rows.iter().map(|i| i.recovered_by_change.as_ref()),
    ));
    frame(rows.len(), columns)
}

pub fn findings_frame(rows: &[Finding]) -> DataFrame {
    let s = |f: fn(&Finding) -> Option<&str>| rows.iter().map(f);
    let mut columns = vec![
        text("finding", s(|f| Some(f.finding))),
        text("severity", s(|f| Some(f.severity))),
        text("subject", s(|f| Some(&f.subject))),
        text("account_id", s(|f| f.account_id.as_deref())),
        text("failure_class", s(|f| f.failure_class)),
        count("evidence_count", rows.iter().map(|f| f.evidence_count)),
        timestamp("first_seen", rows.iter().map(|f| Some(f.first_seen))),
        timestamp("last_seen", rows.iter().map(|f| Some(f.last_seen))),
        text("detail", s(|f| Some(&f.detail))),
        int(
            "time_to_recovery_minutes",
            rows.iter()
                .map(|f| f.time_to_recovery.map(|t| t / 60_000_000)),
        ),
    ];
    columns.extend(change_columns(
        "related_change",
        rows.iter().map(|f| f.related_change.as_ref()),
    ));
    columns.push(list(
        "evidence_event_ids",
        rows.iter().map(|f| f.evidence_event_ids.as_slice()),
    ));
    frame(rows.len(), columns)
}

pub fn changes_frame(rows: &[ConfigChange]) -> DataFrame {
    let s = |f: fn(&ConfigChange) -> Option<&str>| rows.iter().map(f);
    frame(
        rows.len(),
        vec![
            timestamp("event_time", rows.iter().map(|c| Some(c.event_time))),
            text("event_id", s(|c| c.event_id.as_deref())),
            text("account_id", s(|c| c.account_id.as_deref())),
            text("region", s(|c| c.region.as_deref())),
            text("event_source", s(|c| Some(&c.event_source))),
            text("event_name", s(|c| Some(&c.event_name))),
            text("target", s(|c| c.target.as_deref())),
            text("target_type", s(|c| Some(c.target_type))),
            text("detail", s(|c| c.detail.as_deref())),
            text("actor", s(|c| c.actor.as_deref())),
            text("outcome", s(|c| Some(c.outcome.as_str()))),
            text("failure_class", s(|c| c.failure_class)),
            text("error_code", s(|c| c.error_code.as_deref())),
            text("error_message", s(|c| c.error_message.as_deref())),
            text("source_object", s(|c| Some(&c.source_object))),
        ],
    )
}

/// The columns of `objects.parquet` for a slice of its rows.
pub fn objects_columns(rows: &[ObjectReport]) -> Vec<Build<'_>> {
    let s = |name: &'static str, f: fn(&ObjectReport) -> Option<&str>| -> Build<'_> {
        Box::new(move || dictionary(name, rows.iter().map(f)))
    };
    let n = |name: &'static str, f: fn(&ObjectReport) -> u64| -> Build<'_> {
        Box::new(move || Built::Column(count(name, rows.iter().map(f))))
    };
    vec![
        s("source", |o| Some(&o.source)),
        s("key", |o| Some(&o.key)),
        n("bytes", |o| o.bytes),
        n("records", |o| o.records),
        n("federation_records", |o| o.federation_records),
        n("change_records", |o| o.change_records),
        n("rejected_records", |o| o.rejected_records),
        s("status", |o| Some(o.status.as_str())),
        s("reason", |o| o.reason.as_deref()),
    ]
}

/// ZSTD at level 1: writing is all a scan has left to do once the objects
/// are read, on one thread. On a 1M-record scan level 1 took 0.75% of all
/// CPU samples against 1.26% for the default level 3, for files of about
/// the same size (events 4% smaller, the small tables up to 4% larger).
fn compression() -> ParquetCompression {
    ParquetCompression::Zstd(Some(
        polars::polars_utils::compression::ZstdLevel::try_new(1).expect("1 is a ZSTD level"),
    ))
}

/// One Parquet file written a row group at a time; the file is created
/// with the table's schema when its first group is written.
struct GroupsWriter {
    path: PathBuf,
    writer: Option<BatchedWriter<BufWriter<File>>>,
}

impl GroupsWriter {
    fn new(path: &Path) -> GroupsWriter {
        GroupsWriter {
            path: path.to_path_buf(),
            writer: None,
        }
    }

    fn wrap(&self) -> impl FnOnce(PolarsError) -> SinkError + '_ {
        |source| SinkError::Parquet {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes `rows` (at least one) as a row group.
    fn write<T>(&mut self, rows: &[T], table: Table<T>) -> Result<(), SinkError> {
        if self.writer.is_none() {
            // A column's type does not depend on its values: one row's
            // frame has the table's schema.
            let schema = frame_of(1, table(&rows[..1])).schema().clone();
            let file = buffered(&self.path)?;
            let writer = ParquetWriter::new(file)
                .with_compression(compression())
                .batched(&schema);
            self.writer = Some(writer.map_err(self.wrap())?);
        }
        let writer = self.writer.as_ref().expect("created above");
        let result = write_by_column(writer, rows.len(), table(rows));
        result.map_err(self.wrap())
    }

    /// Writes the footer (which flushes the file). Nothing is written if no
    /// group was.
    fn finish(self) -> Result<(), SinkError> {
        match &self.writer {
            Some(writer) => writer.finish().map(drop).map_err(self.wrap()),
            None => Ok(()),
        }
    }
}

/// Writes one row group of `height` rows, its columns built, encoded and
/// compressed in parallel (rayon), each freed once compressed: a group
/// holds its rows, the columns being encoded (one a thread) and the
/// compressed pages. (polars' own `BatchedWriter::write_batch` takes the
/// group's whole frame: about 1 KB a row of the events table, which made
/// large groups the biggest thing a scan held.) The pages are the same
/// bytes `write_batch` writes, in the same order.
fn write_by_column(
    writer: &BatchedWriter<BufWriter<File>>,
    height: usize,
    columns: Vec<Build<'_>>,
) -> PolarsResult<()> {
    use polars_parquet::write::{DynIter, DynStreamingIterator};
    let mut file = writer
        .get_writer()
        .lock()
        .expect("a file is written by one thread");
    let options = file.options();
    let fields = file.parquet_schema().fields().to_vec();
    let encodings = polars::io::parquet::write::get_encodings(file.schema());
    let encoded: Vec<PolarsResult<Vec<Vec<CompressedPage>>>> = columns
        .into_par_iter()
        .zip(fields)
        .zip(encodings.par_iter())
        .map(|((build, field), encoding)| encode_column(build(), field, options, encoding))
        .collect();
    let group = encoded.into_iter().flat_map(|column| match column {
        Ok(leaves) => leaves
            .into_iter()
            .map(|pages| Ok(DynStreamingIterator::new(Ready::from(pages))))
            .collect(),
        Err(e) => vec![Err(e)],
    });
    file.write(height as u64, DynIter::new(group))
}

/// One column of a row group as its leaves' compressed pages, as polars
/// makes and compresses them in `write_batch`.
fn encode_column(
    built: Built<'_>,
    field: polars_parquet::parquet::schema::types::ParquetType,
    options: polars_parquet::write::WriteOptions,
    encoding: &[Encoding],
) -> PolarsResult<Vec<Vec<CompressedPage>>> {
    let (array, encoding) = match built {
        Built::Text(d) if *encoding == [Encoding::RleDictionary] && !d.keys.is_empty() => {
            d.into_array()
        }
        built => {
            let array = built
                .into_column()
                .as_materialized_series()
                .rechunk()
                .to_arrow(0, CompatLevel::newest());
            (array, encoding.to_vec())
        }
    };
    let leaves = polars_parquet::write::array_to_columns(array, field, options, &encoding)?;
    let leaves = leaves.into_iter().map(|pages| {
        pages
            .map(|page| compress_page(page?, options.compression))
            .collect::<ParquetResult<Vec<_>>>()
    });
    Ok(leaves.collect::<ParquetResult<Vec<_>>>()?)
}

impl Dictionary<'_> {
    /// The array polars would encode for this column, and how: what
    /// polars-parquet's `encode_as_dictionary_optional` makes of the plain
    /// text. It keeps the text plain when its estimate of the distinct
    /// values ([`Dictionary::estimate`]) is over 3/4 of more than 128 rows.
    fn into_array(self) -> (ArrayRef, Vec<Encoding>) {
        use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray, Utf8ViewArray};
        use polars_arrow::datatypes::{ArrowDataType, IntegerType};
        let rows = self.keys.len();
        let nulls = self.keys.iter().any(Option::is_none);
        if rows > 128 && !self.surely_few(nulls) && self.estimate(nulls) as f64 / rows as f64 > 0.75
        {
            let plain = Utf8ViewArray::from_slice(self.rows().collect::<Vec<_>>());
            return (Box::new(plain), vec![Encoding::Plain]);
        }
        let values = Utf8ViewArray::from_slice_values(&self.distinct);
        let dtype =
            ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(values.dtype().clone()), false);
        let keys = PrimitiveArray::<u32>::from(self.keys);
        let array = DictionaryArray::try_new(dtype, keys, Box::new(values))
            .expect("every key is a place in the values");
        (Box::new(array), vec![Encoding::RleDictionary])
    }

    /// Whether polars' estimate of the distinct values cannot be over 3/4
    /// of the rows: true when at most a quarter of them are distinct, and
    /// no more than 1,024. With its 2^14 registers, `d` values leave at
    /// least 2^14 - `d` of them empty, and the estimate is then close to
    /// linear counting's, 2^14 ln(2^14 / (2^14 - d)), about 1.03 `d` for
    /// `d` up to 1,024: far below the 3 `d` it would take. (The estimate
    /// fills and reads all 16 KB of registers, for columns of a few distinct
    /// values: ~7% of the table writers' CPU samples in the last ~50 ms of a
    /// 1M-record scan.)
    fn surely_few(&self, nulls: bool) -> bool {
        let distinct = self.distinct.len() + usize::from(nulls);
        distinct <= 1_024 && distinct * 4 <= self.keys.len()
    }

    /// polars' HyperLogLog estimate of the distinct values, a null counted
    /// as "": it depends only on the set of values, so it is made from the
    /// distinct ones alone.
    fn estimate(&self, nulls: bool) -> usize {
        use polars_arrow::array::Utf8ViewArray;
        let probe: Vec<Option<&str>> = (self.distinct.iter().copied().map(Some))
            .chain(nulls.then_some(None))
            .collect();
        polars_compute::cardinality::estimate_cardinality(&Utf8ViewArray::from_slice(probe))
    }
}

/// A column's pages, compressed already (by [`encode_column`]), as the
/// file's writer takes them.
struct Ready {
    pages: std::vec::IntoIter<CompressedPage>,
    current: Option<CompressedPage>,
}

impl From<Vec<CompressedPage>> for Ready {
    fn from(pages: Vec<CompressedPage>) -> Ready {
        Ready {
            pages: pages.into_iter(),
            current: None,
        }
    }
}

impl FallibleStreamingIterator for Ready {
    type Item = CompressedPage;
    type Error = PolarsError;

    fn advance(&mut self) -> Result<(), Self::Error> {
        self.current = self.pages.next();
        Ok(())
    }

    fn get(&self) -> Option<&Self::Item> {
        self.current.as_ref()
    }
}

/// One page, compressed as polars' `compress` does it, but a ZSTD page
/// with a context kept by the thread, not a new one a page as polars'
/// `Compressor` makes (making a context, its workspace and that memory's
/// first touch were ~10% of the events writer's time). ZSTD's output
/// depends on the level and the input, not on the context: the bytes are
/// polars'.
fn compress_page(page: Page, compression: CompressionOptions) -> ParquetResult<CompressedPage> {
    use polars_parquet::parquet::compression::Compression;
    use polars_parquet::parquet::page::{CompressedDictPage, DataPageHeader};
    use polars_parquet::parquet::CowBuffer;
    use polars_parquet::write::CompressedDataPage;
    let CompressionOptions::Zstd(level) = compression else {
        return polars_parquet::write::compress(page, Vec::new(), compression);
    };
    let level = level.map(|l| l.compression_level()).unwrap_or_default();
    match page {
        Page::Data(page) => {
            let bytes = page.buffer();
            // A version 2 page keeps its levels uncompressed, before the values.
            let levels = match page.header() {
                DataPageHeader::V1(_) => 0,
                DataPageHeader::V2(h) => {
                    (h.repetition_levels_byte_length + h.definition_levels_byte_length) as usize
                }
            };
            let mut out = bytes[..levels].to_vec();
            zstd_onto(&bytes[levels..], &mut out, level)?;
            Ok(CompressedPage::Data(CompressedDataPage::new(
                page.header().clone(),
                CowBuffer::Owned(out),
                Compression::Zstd,
                bytes.len(),
                page.descriptor.clone(),
                page.num_rows.expect("a page being written knows its rows"),
            )))
        }
        Page::Dict(page) => {
            let mut out = Vec::new();
            zstd_onto(&page.buffer, &mut out, level)?;
            Ok(CompressedPage::Dict(CompressedDictPage::new(
                CowBuffer::Owned(out),
                Compression::Zstd,
                page.buffer.len(),
                page.num_values,
                page.is_sorted,
            )))
        }
    }
}

/// Appends `input`, ZSTD-compressed at `level`, to `out`.
fn zstd_onto(input: &[u8], out: &mut Vec<u8>, level: i32) -> std::io::Result<()> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(None) };
    }
    let start = out.len();
    out.resize(start + zstd::zstd_safe::compress_bound(input.len()), 0);
    let written = CONTEXT.with_borrow_mut(|context| {
        let compressor = match context {
            Some((l, compressor)) if *l == level => compressor,
            _ => {
                &mut context
                    .insert((level, zstd::bulk::Compressor::new(level)?))
                    .1
            }
        };
        compressor.compress_to_buffer(input, &mut out[start..])
    })?;
    out.truncate(start + written);
    Ok(())
}

/// A table written as its rows arrive, `per_group` rows to a row group:
/// only one group's rows, and one column of it, are held at a time.
pub struct RowsWriter<T> {
    file: GroupsWriter,
    per_group: usize,
    table: Table<T>,
    pending: Vec<T>,
}

impl<T> RowsWriter<T> {
    pub fn new(path: &Path, per_group: usize, table: Table<T>) -> RowsWriter<T> {
        RowsWriter {
            file: GroupsWriter::new(path),
            per_group,
            table,
            pending: Vec::with_capacity(per_group),
        }
    }

    pub fn push(&mut self, row: T) -> Result<(), SinkError> {
        self.pending.push(row);
        if self.pending.len() < self.per_group {
            return Ok(());
        }
        let written = self.file.write(&self.pending, self.table);
        self.pending.clear();
        written
    }

    /// Writes the last group and the footer. A table without rows still
    /// gets its file, with its columns.
    pub fn finish(mut self) -> Result<(), SinkError> {
        if self.file.writer.is_none() && self.pending.is_empty() {
            return write(&self.file.path, frame_of(0, (self.table)(&[])));
        }
        if !self.pending.is_empty() {
            self.file.write(&self.pending, self.table)?;
        }
        self.file.finish()
    }
}

/// A table written a row at a time, then finished: what [`OnThread`] runs.
pub trait Rows<T>: Send + 'static {
    fn push(&mut self, row: T) -> Result<(), SinkError>;
    fn finish(self) -> Result<(), SinkError>;
}

impl<T: Send + 'static> Rows<T> for RowsWriter<T> {
    fn push(&mut self, row: T) -> Result<(), SinkError> {
        RowsWriter::push(self, row)
    }

    fn finish(self) -> Result<(), SinkError> {
        RowsWriter::finish(self)
    }
}

/// A table's writer on a thread of its own: rows are handed over in
/// batches, and built, encoded and written there, so whoever pushes (a
/// worker holding the scan's collector lock, the merge) never waits while a
/// row group is written, only when `in_flight` batches are queued. If the
/// writer fails, the first push whose batch it no longer takes, or the
/// finish, returns its error.
pub struct OnThread<T: Send + 'static> {
    /// The table, to name in an error after the writer's own.
    path: PathBuf,
    per_batch: usize,
    pending: Vec<T>,
    send: Option<std::sync::mpsc::SyncSender<Vec<T>>>,
    thread: Option<std::thread::JoinHandle<Result<(), SinkError>>>,
}

impl<T: Send + 'static> OnThread<T> {
    pub fn new(
        path: &Path,
        mut writer: impl Rows<T>,
        per_batch: usize,
        in_flight: usize,
    ) -> OnThread<T> {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<T>>(in_flight);
        // Named after its table, for profilers and `top -H`.
        let name = path
            .file_stem()
            .map_or("table".into(), |s| s.to_string_lossy());
        let thread = std::thread::Builder::new()
            .name(format!("write {name}"))
            .spawn(move || {
                for batch in receive {
                    for row in batch {
                        writer.push(row)?;
                    }
                }
                writer.finish()
            })
            .expect("the system starts a thread");
        OnThread {
            path: path.to_path_buf(),
            per_batch,
            pending: Vec::with_capacity(per_batch),
            send: Some(send),
            thread: Some(thread),
        }
    }

    pub fn push(&mut self, row: T) -> Result<(), SinkError> {
        self.pending.push(row);
        if self.pending.len() < self.per_batch {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(self.per_batch));
        match &self.send {
            Some(send) if send.send(batch).is_ok() => Ok(()),
            // The writer stopped on an error: that error is the one to report.
            _ => self.join(),
        }
    }

    /// Hands over the last rows: the writer finishes the table while the
    /// caller goes on, and [`OnThread::finish`] then waits for it. Rows
    /// pushed after it are not written.
    pub fn close(&mut self) {
        let rest = std::mem::take(&mut self.pending);
        if let Some(send) = self.send.take() {
            // A failed send leaves the writer's own error to `finish`.
            let _ = send.send(rest);
        }
    }

    /// Hands over the last rows and waits for the writer to finish the
    /// table.
    pub fn finish(mut self) -> Result<(), SinkError> {
        self.close();
        self.join()
    }

    /// Waits for the writer to end (the sender is dropped first) and returns
    /// how it ended; once it has, every later call is an error.
    fn join(&mut self) -> Result<(), SinkError> {
        self.send = None;
        match self.thread.take() {
            Some(thread) => thread.join().expect("a table's writer does not panic"),
            None => Err(SinkError::io(
                &self.path,
                std::io::Error::other("its writer already stopped"),
            )),
        }
    }
}

impl<T: Send + 'static> Drop for OnThread<T> {
    /// A table dropped unfinished (the scan failed) is still closed before
    /// its folder can be removed.
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// A new file behind a buffer: polars writes a Parquet footer's metadata a
/// few bytes at a time, which unbuffered was about 20,000 `write` calls
/// for one scan's tables. The caller flushes it, to see any error.
fn buffered(path: &Path) -> Result<BufWriter<File>, SinkError> {
    let file = File::create(path).map_err(|e| SinkError::io(path, e))?;
    Ok(BufWriter::with_capacity(1 << 16, file))
}

/// Writes one frame as a ZSTD-compressed Parquet file.
pub fn write(path: &Path, mut df: DataFrame) -> Result<(), SinkError> {
    let wrap = |e: PolarsError| SinkError::Parquet {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = buffered(path)?;
    ParquetWriter::new(&mut file)
        .with_compression(compression())
        .finish(&mut df)
        .map_err(wrap)?;
    file.flush().map_err(|e| SinkError::io(path, e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ::parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    #[test]
    fn an_empty_table_written_by_rows_still_has_its_file_and_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objects.parquet");
        let threaded = dir.path().join("objects-threaded.parquet");
        RowsWriter::new(&path, 16, objects_columns)
            .finish()
            .unwrap();
        let rows = RowsWriter::new(&threaded, 16, objects_columns);
        OnThread::new(&threaded, rows, 16, 1).finish().unwrap();
        for path in [path, threaded] {
            let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
            assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
            let columns = reader
                .metadata()
                .file_metadata()
                .schema_descr()
                .num_columns();
            assert_eq!(columns, objects_columns(&[]).len());
            assert!(columns > 5);
        }
    }

    fn events(n: i64) -> Vec<FedEvent> {
        (0..n)
            .map(|i| FedEvent {
                event_time: i,
                event_id: Some(format!("e{i}").into()),
                source_object: Arc::from("o"),
                ..FedEvent::default()
            })
            .collect()
    }

    /// The row groups of an events file, and its event ids in file order.
    fn groups_and_ids(path: &Path) -> (usize, Vec<String>) {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let ids = reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| {
                let row = row.unwrap();
                let (_, id) = row
                    .get_column_iter()
                    .find(|(name, _)| name.as_str() == "event_id")
                    .unwrap();
                id.to_string().trim_matches('"').to_string()
            })
            .collect();
        (reader.metadata().num_row_groups(), ids)
    }

    #[test]
    fn rows_written_a_group_at_a_time_make_one_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-0.parquet");
        let mut file = RowsWriter::new(&path, 3, events_columns);
        for e in events(7) {
            file.push(e).unwrap();
        }
        file.finish().unwrap();
        // The same rows through the writer on a thread of its own.
        let threaded = dir.path().join("part-1.parquet");
        let rows = RowsWriter::new(&threaded, 3, events_columns);
        let mut file = OnThread::new(&threaded, rows, 2, 1);
        for e in events(7) {
            file.push(e).unwrap();
        }
        file.finish().unwrap();
        let want: Vec<String> = (0..7).map(|i| format!("e{i}")).collect();
        assert_eq!(groups_and_ids(&path), (3, want.clone()));
        assert_eq!(groups_and_ids(&threaded), (3, want));
    }

    /// Writing a group a column at a time gives the very bytes polars'
    /// `write_batch` gives for the group's whole frame: dictionary and plain
    /// columns, nulls, every column type of the events table.
    #[test]
    fn a_group_written_by_column_is_what_polars_writes_for_its_frame() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<FedEvent> = (0..10_000i64)
            .map(|i| FedEvent {
                event_time: 1_780_000_000_000_000 + i * 1_000_003,
                event_id: Some(format!("id-{i:08}").into()),
                region: Some(["us-east-1", "eu-west-1"][i as usize % 2].into()),
                session_name: (i % 3 != 0).then(|| format!("user{}@example.com", i % 977).into()),
                duration_seconds: (i % 5 == 0).then_some(i),
                error_message: (i % 7 == 0).then(|| {
                    format!("Not authorized to perform sts:AssumeRoleWithSAML #{i}").into()
                }),
                source_object: Arc::from(format!("logs/{}.json.gz", i / 40)),
                ..FedEvent::default()
            })
            .collect();
        let by_column = dir.path().join("a.parquet");
        let (a, b) = by_column_and_by_frame(&rows, &by_column);
        assert_eq!(groups_and_ids(&by_column).0, 3);
        assert!(a == b, "{} bytes by column, {} by frame", a.len(), b.len());
    }

    /// The bytes of `rows` written at `by_column` by [`RowsWriter`], 4,096
    /// rows a group, and the bytes polars' `write_batch` writes for the
    /// same groups' frames (beside it, with `.frames` added).
    fn by_column_and_by_frame(rows: &[FedEvent], by_column: &Path) -> (Vec<u8>, Vec<u8>) {
        let mut file = RowsWriter::new(by_column, 4_096, events_columns);
        for e in rows.iter().cloned() {
            file.push(e).unwrap();
        }
        file.finish().unwrap();
        let by_frame = by_column.with_extension("frames");
        let frames: Vec<DataFrame> = rows
            .chunks(4_096)
            .map(|group| frame_of(group.len(), events_columns(group)))
            .collect();
        let mut writer = ParquetWriter::new(buffered(&by_frame).unwrap())
            .with_compression(compression())
            .batched(frames[0].schema())
            .unwrap();
        for df in &frames {
            writer.write_batch(df).unwrap();
        }
        writer.finish().unwrap();
        (
            std::fs::read(by_column).unwrap(),
            std::fs::read(&by_frame).unwrap(),
        )
    }

    /// Near the line where polars keeps text plain (its estimate of the
    /// distinct values over 3/4 of the rows), the dictionary made by
    /// address decides as polars does: same bytes on both sides of it.
    #[test]
    fn text_near_the_dictionary_line_is_written_as_polars_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for distinct in (2_980..=3_072).step_by(4) {
            // Each of 1,024 names twice, then `distinct - 1,024` more: never
            // mostly distinct so far, about 3/4 distinct in the end.
            let rows: Vec<FedEvent> = (0..4_096usize)
                .map(|i| FedEvent {
                    user_name: Some(if i < 2_048 {
                        format!("a{}", i / 2).into()
                    } else {
                        format!("b{}", (i - 2_048) % (distinct - 1_024)).into()
                    }),
                    ..FedEvent::default()
                })
                .collect();
            let by_column = dir.path().join(format!("{distinct}.parquet"));
            let (a, b) = by_column_and_by_frame(&rows, &by_column);
            assert!(a == b, "{distinct} distinct names");
            let reader = SerializedFileReader::new(File::open(&by_column).unwrap()).unwrap();
            let group = reader.metadata().row_group(0);
            let column = group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == "user_name")
                .unwrap();
            kinds.insert(column.dictionary_page_offset().is_some());
        }
        assert_eq!(
            kinds.len(),
            2,
            "both plain and dictionary columns were compared"
        );
    }

    /// The premise of `Dictionary::surely_few`: polars' estimate of up to
    /// 1,024 distinct values stays near their number, far below three times
    /// it.
    #[test]
    fn an_estimate_of_few_distinct_values_stays_near_their_number() {
        for d in (1..=1_024).step_by(31).chain([1_024]) {
            for kind in ["arn:aws:iam::123456789012:role/r", "u", "203.0.113."] {
                let values: Vec<String> = (0..d).map(|i| format!("{kind}{i}")).collect();
                let column = Dictionary {
                    name: "x",
                    distinct: values.iter().map(String::as_str).collect(),
                    keys: Vec::new(),
                };
                for nulls in [false, true] {
                    let n = d + usize::from(nulls);
                    let estimate = column.estimate(nulls);
                    assert!(estimate * 10 <= n * 11 + 10, "{d} {kind}: {estimate}");
                }
            }
        }
    }

    #[test]
    fn a_dictionary_keys_text_by_first_appearance_whatever_its_address() {
        let (a1, a2, b) = (String::from("a"), String::from("a"), String::from("b"));
        let values = [
            Some(b.as_str()),
            Some(&a1),
            None,
            Some(&a2),
            Some(&b),
            Some("b"),
        ];
        let Built::Text(d) = dictionary("x", values.iter().copied()) else {
            panic!("a few repeated values make a dictionary");
        };
        assert_eq!(d.distinct, ["b", "a"]);
        assert_eq!(d.keys, [Some(0), Some(1), None, Some(1), Some(0), Some(0)]);
        let ids: Vec<String> = (0..1_000).map(|i| format!("id-{i}")).collect();
        let Built::Column(plain) = dictionary("x", ids.iter().map(|s| Some(s.as_str()))) else {
            panic!("distinct values are left plain");
        };
        assert_eq!(plain.len(), 1_000);
        assert_eq!(plain.str().unwrap().get(999), Some("id-999"));
    }

    /// A writer thread that cannot write its file stops, and the next push
    /// or the finish returns its error, which names the file.
    #[test]
    fn a_writer_on_a_thread_that_fails_reports_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone").join("part-0.parquet");
        let mut file = OnThread::new(&path, RowsWriter::new(&path, 2, events_columns), 2, 1);
        let mut pushed = Ok(());
        for e in events(1000) {
            pushed = file.push(e);
            if pushed.is_err() {
                break;
            }
        }
        let err = match pushed {
            Err(e) => e,
            Ok(()) => file.finish().unwrap_err(),
        };
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        // With one group queued and one being written, the third push
        // waits for the writer and gets its error; nothing pushed after
        // that is taken for written, nor is the table finished.
        let mut file = OnThread::new(&path, RowsWriter::new(&path, 1, events_columns), 1, 1);
        let ok: Vec<bool> = events(6)
            .into_iter()
            .map(|e| file.push(e).is_ok())
            .collect();
        let first = ok.iter().position(|ok| !ok).expect("an error");
        assert!(first <= 2, "{ok:?}");
        assert!(ok[first..].iter().all(|ok| !ok), "{ok:?}");
        assert!(file.finish().is_err());
    }
}
