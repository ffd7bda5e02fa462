//! Writing a query's result: an aligned table for people, CSV, JSON lines,
//! or Parquet. Timestamps are RFC 3339 in UTC, dates `YYYY-MM-DD`,
//! durations whole seconds, lists JSON arrays (in CSV and tables too).

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use polars::prelude::*;
use serde_json::Value as Json;

/// The output formats of `fedtrail query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal (long cells are cut at 80 characters).
    Table,
    Csv,
    /// One JSON object per line.
    Json,
    /// A Parquet file (needs --out).
    Parquet,
}

/// Longest cell a table shows.
const TABLE_CELL: usize = 80;

fn micros(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => v.div_euclid(1000),
        TimeUnit::Microseconds => v,
        TimeUnit::Milliseconds => v.saturating_mul(1000),
    }
}

fn timestamp(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us).map_or_else(
        || us.to_string(),
        |d| {
            let precision = if us % 1_000_000 == 0 {
                SecondsFormat::Secs
            } else {
                SecondsFormat::Micros
            };
            d.to_rfc3339_opts(precision, true)
        },
    )
}

/// One cell as JSON: numbers stay numbers, times become strings.
fn json(v: &AnyValue<'_>) -> Json {
    match v {
        AnyValue::Null => Json::Null,
        AnyValue::Boolean(b) => Json::Bool(*b),
        AnyValue::String(s) => Json::String((*s).to_string()),
        AnyValue::StringOwned(s) => Json::String(s.to_string()),
        AnyValue::UInt8(n) => (*n).into(),
        AnyValue::UInt16(n) => (*n).into(),
        AnyValue::UInt32(n) => (*n).into(),
        AnyValue::UInt64(n) => (*n).into(),
        AnyValue::Int8(n) => (*n).into(),
        AnyValue::Int16(n) => (*n).into(),
        AnyValue::Int32(n) => (*n).into(),
        AnyValue::Int64(n) => (*n).into(),
        AnyValue::Float32(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number)
        }
        AnyValue::Float64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        AnyValue::Date(days) => Json::String(
            chrono::NaiveDate::from_num_days_from_ce_opt(*days + 719_163)
                .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string()),
        ),
        AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => {
            Json::String(timestamp(micros(*v, *unit)))
        }
        AnyValue::Duration(v, unit) => (micros(*v, *unit) / 1_000_000).into(),
        AnyValue::List(s) => Json::Array(
            (0..s.len())
                .map(|i| s.get(i).map_or(Json::Null, |v| json(&v)))
                .collect(),
        ),
        other => Json::String(other.to_string()),
    }
}

/// One cell as text (CSV and tables): strings bare, null empty.
fn text(v: &AnyValue<'_>) -> String {
    match json(v) {
        Json::Null => String::new(),
        Json::String(s) => s,
        other => other.to_string(),
    }
}

fn cells(df: &DataFrame) -> PolarsResult<Vec<Vec<AnyValue<'_>>>> {
    let columns = df.columns();
    (0..df.height())
        .map(|i| columns.iter().map(|c| c.get(i)).collect())
        .collect()
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `df` in `format` (not Parquet, which [`write_parquet`] writes).
pub fn write(df: &DataFrame, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    let rows = cells(df)?;
    match format {
        Format::Csv => {
            let header: Vec<String> = names(df).iter().map(|n| csv_field(n)).collect();
            writeln!(out, "{}", header.join(","))?;
            for row in &rows {
                let line: Vec<String> = row.iter().map(|v| csv_field(&text(v))).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        Format::Json => {
            // Written by hand to keep the columns' order.
            let keys: Vec<String> = names(df)
                .iter()
                .map(|n| Json::from(n.as_str()).to_string())
                .collect();
            for row in &rows {
                let fields: Vec<String> = keys
                    .iter()
                    .zip(row)
                    .map(|(k, v)| format!("{k}:{}", json(v)))
                    .collect();
                writeln!(out, "{{{}}}", fields.join(","))?;
            }
        }
        Format::Table => {
            let header = names(df);
            let numeric: Vec<bool> = df
                .dtypes()
                .iter()
                .map(DataType::is_primitive_numeric)
                .collect();
            let shown: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|v| {
                            let t = text(v).replace(['\n', '\r'], " ");
                            if t.chars().count() > TABLE_CELL {
                                let cut: String = t.chars().take(TABLE_CELL - 1).collect();
                                format!("{cut}…")
                            } else {
                                t
                            }
                        })
                        .collect()
                })
                .collect();
            let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
            for row in &shown {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: &[String]| {
                let padded: Vec<String> = cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let pad = widths[i].saturating_sub(c.chars().count());
                        if numeric[i] {
                            format!("{}{c}", " ".repeat(pad))
                        } else {
                            format!("{c}{}", " ".repeat(pad))
                        }
                    })
                    .collect();
                padded.join("  ").trim_end().to_string()
            };
            writeln!(out, "{}", line(&header))?;
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            writeln!(out, "{}", rule.join("  "))?;
            for row in &shown {
                writeln!(out, "{}", line(row))?;
            }
            writeln!(
                out,
                "({} row{})",
                df.height(),
                if df.height() == 1 { "" } else { "s" }
            )?;
        }
        Format::Parquet => anyhow::bail!("Parquet output needs --out FILE"),
    }
    Ok(())
}

/// Writes `df` as a ZSTD-compressed Parquet file.
pub fn write_parquet(df: &mut DataFrame, path: &std::path::Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_render_for_machines_and_people() {
        let df = DataFrame::new(
            2,
            vec![
                Column::new("name".into(), ["a,b", "plain"]),
                Column::new("n".into(), [1i64, 22]),
                Int64Chunked::from_slice("t".into(), &[0, 1_500_000])
                    .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                    .into_column(),
            ],
        )
        .unwrap();
        let render = |f| {
            let mut out = Vec::new();
            write(&df, f, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            render(Format::Csv),
            "name,n,t\n\"a,b\",1,1970-01-01T00:00:00Z\nplain,22,1970-01-01T00:00:01.500000Z\n"
        );
        assert_eq!(
            render(Format::Json).lines().next().unwrap(),
            r#"{"name":"a,b","n":1,"t":"1970-01-01T00:00:00Z"}"#
        );
        assert_eq!(
            render(Format::Table),
            "name    n  t\n-----  --  ---------------------------\na,b     1  1970-01-01T00:00:00Z\nplain  22  1970-01-01T00:00:01.500000Z\n(2 rows)\n"
        );
    }
}
