//! Query: SQL over a dataset written by `scan`, with polars' SQL engine.
//! Every table of the dataset is registered under its name and scanned
//! lazily (`events` as a Hive-partitioned folder, so a filter on `date`
//! prunes partitions). Parameters (`:name` or `$name`) are replaced in the
//! parsed statement by typed literals built from the parsed value, never by
//! splicing text into SQL. `saved` holds the queries of `queries/`;
//! `output` writes results.

pub mod output;
pub mod saved;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;
use sqlparser::ast::{visit_expressions_mut, visit_relations, Expr, Statement, Value};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserOptions};

use crate::time::{parse_span, parse_timestamp};
use saved::{ParamKind, ParamSpec};

/// The tables of a dataset, as SQL names and the files behind them.
pub const TABLES: &[(&str, &str)] = &[
    ("events", "events"),
    ("failures", "failures.parquet"),
    ("timeline", "timeline.parquet"),
    ("incidents", "incidents.parquet"),
    ("findings", "findings.parquet"),
    ("changes", "changes.parquet"),
    ("objects", "objects.parquet"),
];

/// Why a query could not run (exit code 2). Each names where the SQL came
/// from (`queries/x.sql`, `--execute`).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0} holds no fedtrail dataset (no run.json); write one with `fedtrail scan --out {0}` or point --data at one")]
    NoDataset(PathBuf),
    #[error(
        "no saved query is called {name:?} and no such .sql file exists; saved queries: {known}"
    )]
    UnknownQuery { name: String, known: String },
    #[error("{origin}: {message}")]
    Header { origin: String, message: String },
    #[error("{origin}: SQL syntax error: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: one statement per query, found {found}")]
    NotOneStatement { origin: String, found: usize },
    #[error("{origin}: no table {table:?}; the dataset has:\n{tables}")]
    UnknownTable {
        origin: String,
        table: String,
        tables: String,
    },
    #[error("{origin}: parameter :{name} has no value; add --param {name}=VALUE ({what})")]
    MissingParam {
        origin: String,
        name: String,
        what: String,
    },
    #[error("--param {name}: the query has no parameter :{name} (it has: {known})")]
    UnusedParam { name: String, known: String },
    #[error("--param {name}={value:?}: {why}")]
    BadParam {
        name: String,
        value: String,
        why: String,
    },
    #[error("{origin}")]
    Polars {
        origin: String,
        #[source]
        source: PolarsError,
    },
    #[error(
        "{origin}: the SQL engine failed on this query (an internal error in polars): {message}"
    )]
    EnginePanic { origin: String, message: String },
}

/// The SQL to run and where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    /// How errors name it: `queries/top_failing_roles.sql`, `my.sql`, `--execute`.
    pub origin: String,
    pub query: saved::Query,
}

impl Source {
    /// A saved query's name, or a path to a `.sql` file.
    pub fn resolve(name_or_file: &str) -> Result<Source, QueryError> {
        let path = Path::new(name_or_file);
        let (origin, text) = if let Some(sql) = saved::find(name_or_file) {
            (format!("queries/{name_or_file}.sql"), sql.to_string())
        } else if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| QueryError::Header {
                origin: name_or_file.to_string(),
                message: format!("cannot read it: {e}"),
            })?;
            (name_or_file.to_string(), text)
        } else {
            let known: Vec<&str> = saved::SAVED.iter().map(|(n, _)| *n).collect();
            return Err(QueryError::UnknownQuery {
                name: name_or_file.to_string(),
                known: known.join(", "),
            });
        };
        Source::text(origin, &text)
    }

    /// SQL given inline (`--execute`) or read elsewhere.
    pub fn text(origin: String, sql: &str) -> Result<Source, QueryError> {
        let query = saved::parse(sql).map_err(|message| QueryError::Header {
            origin: origin.clone(),
            message,
        })?;
        Ok(Source { origin, query })
    }
}

/// A parameter value after parsing, ready to become a literal.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Timestamp(i64),
    Integer(i64),
    Float(f64),
    /// Seconds.
    Span(i64),
    Text(String),
}

impl Param {
    /// Parses `value` as the declared kind, or (undeclared) as the most
    /// specific kind it reads as.
    fn parse(name: &str, value: &str, kind: Option<ParamKind>) -> Result<Param, QueryError> {
        let bad = |why: &str| QueryError::BadParam {
            name: name.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        };
        match kind {
            Some(ParamKind::Timestamp) => parse_timestamp(value)
                .map(Param::Timestamp)
                .ok_or_else(|| bad("not a time; use RFC 3339 such as 2026-05-26T08:00:00Z")),
            Some(ParamKind::Integer) => value
                .trim()
                .parse()
                .map(Param::Integer)
                .map_err(|_| bad("not a whole number")),
            Some(ParamKind::Span) => parse_span(value)
                .map(|us| Param::Span(us / 1_000_000))
                .ok_or_else(|| bad("not a span; use 90m, 6h, 7d or 2w")),
            Some(ParamKind::Text) => Ok(Param::Text(value.to_string())),
            None => Ok(if let Ok(n) = value.trim().parse::<i64>() {
                Param::Integer(n)
            } else if let Some(f) = value.trim().parse::<f64>().ok().filter(|f| f.is_finite()) {
                Param::Float(f)
            } else if let Some(t) = parse_timestamp(value).filter(|_| value.contains('-')) {
                Param::Timestamp(t)
            } else {
                Param::Text(value.to_string())
            }),
        }
    }

    /// The literal that replaces the placeholder. Only text built here from
    /// parsed numbers reaches the parser; user text becomes a string node.
    fn to_expr(&self) -> Expr {
        let parse = |sql: &str| {
            Parser::new(&GenericDialect)
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_expr())
                .expect("literals built from parsed values are valid SQL")
        };
        match self {
            Param::Timestamp(us) => {
                let t = chrono::DateTime::from_timestamp_micros(*us)
                    .expect("parse_timestamp returns representable times");
                parse(&format!(
                    "STRPTIME('{}', '%Y-%m-%dT%H:%M:%S%.f%z')",
                    t.format("%Y-%m-%dT%H:%M:%S%.6f+0000")
                ))
            }
            Param::Integer(n) => parse(&n.to_string()),
            Param::Float(f) => parse(&format!("{f:?}")),
            Param::Span(secs) => parse(&format!("INTERVAL '{secs} seconds'")),
            Param::Text(s) => Expr::Value(Value::SingleQuotedString(s.clone()).into()),
        }
    }
}

/// Parses one statement and replaces its placeholders with `params`.
fn prepare(source: &Source, params: &[(String, String)]) -> Result<Statement, QueryError> {
    let origin = &source.origin;
    let mut statements = Parser::new(&GenericDialect)
        .with_options(ParserOptions::new().with_trailing_commas(true))
        .try_with_sql(&source.query.sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| QueryError::Syntax {
            origin: origin.clone(),
            message: e
                .to_string()
                .trim_start_matches("sql parser error: ")
                .to_string(),
        })?;
    if statements.len() != 1 {
        return Err(QueryError::NotOneStatement {
            origin: origin.clone(),
            found: statements.len(),
        });
    }
    let mut statement = statements.remove(0);

    let specs: BTreeMap<&str, &ParamSpec> = source
        .query
        .params
        .iter()
        .map(|p| (p.name.as_str(), p))
        .collect();
    let mut values: BTreeMap<&str, Param> = BTreeMap::new();
    for (name, value) in params {
        let kind = specs.get(name.as_str()).map(|s| s.kind);
        values.insert(name, Param::parse(name, value, kind)?);
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let missing = visit_expressions_mut(&mut statement, |expr| {
        if let Expr::Value(v) = expr {
            if let Value::Placeholder(p) = &v.value {
                let name = p.trim_start_matches([':', '$', '@']).to_string();
                match values.get(name.as_str()) {
                    Some(param) => {
                        *expr = param.to_expr();
                        used.insert(name);
                    }
                    None => return ControlFlow::Break(name),
                }
            }
        }
        ControlFlow::Continue(())
    });
    if let ControlFlow::Break(name) = missing {
        let what = specs.get(name.as_str()).map_or_else(
            || "not declared in the query's header".to_string(),
            |s| format!("{}: {}", s.kind.as_str(), s.description),
        );
        return Err(QueryError::MissingParam {
            origin: origin.clone(),
            name,
            what,
        });
    }
    if let Some((name, _)) = params.iter().find(|(n, _)| !used.contains(n)) {
        let known: Vec<String> = used.into_iter().collect();
        return Err(QueryError::UnusedParam {
            name: name.clone(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    }
    Ok(statement)
}

/// Tables named in a statement that are not CTEs of it.
fn relations(statement: &Statement) -> BTreeSet<String> {
    let mut ctes = BTreeSet::new();
    let mut tables = BTreeSet::new();
    let _ = sqlparser::ast::visit_statements(statement, |s| {
        if let Statement::Query(q) = s {
            for cte in q.with.iter().flat_map(|w| &w.cte_tables) {
                ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_relations(statement, |name| {
        tables.insert(name.to_string().to_lowercase());
        ControlFlow::<()>::Continue(())
    });
    tables.retain(|t| !ctes.contains(t));
    tables
}

/// The dataset's tables, registered lazily.
pub struct Dataset {
    ctx: SQLContext,
    /// `(name, columns)` of every table present.
    tables: Vec<(String, Vec<String>)>,
}

impl Dataset {
    pub fn open(dir: &Path) -> Result<Dataset, QueryError> {
        if !dir.join("run.json").is_file() {
            return Err(QueryError::NoDataset(dir.to_path_buf()));
        }
        let ctx = SQLContext::new();
        let mut tables = Vec::new();
        for (name, file) in TABLES {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let mut args = ScanArgsParquet::default();
            if *name == "events" {
                args.hive_options = HiveOptions::new_enabled();
            }
            let origin = path.display().to_string();
            let polars = |source| QueryError::Polars {
                origin: origin.clone(),
                source,
            };
            let mut lf =
                LazyFrame::scan_parquet(PlRefPath::new(origin.as_str()), args).map_err(polars)?;
            let columns = lf
                .collect_schema()
                .map_err(polars)?
                .iter_names()
                .map(|n| n.to_string())
                .collect();
            ctx.register(name, lf);
            tables.push((name.to_string(), columns));
        }
        Ok(Dataset { ctx, tables })
    }

    /// What the dataset holds, one table a line, for error messages and `--list`.
    pub fn describe(&self) -> String {
        self.tables
            .iter()
            .map(|(name, columns)| format!("  {name}: {}", columns.join(", ")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs a query with its parameters and collects the result.
    pub fn run(
        &mut self,
        source: &Source,
        params: &[(String, String)],
    ) -> Result<DataFrame, QueryError> {
        let statement = prepare(source, params)?;
        for table in relations(&statement) {
            if !self.tables.iter().any(|(name, _)| *name == table) {
                return Err(QueryError::UnknownTable {
                    origin: source.origin.clone(),
                    table,
                    tables: self.describe(),
                });
            }
        }
        let sql = statement.to_string();
        let polars = |source_err| QueryError::Polars {
            origin: source.origin.clone(),
            source: source_err,
        };
        // A polars bug must not take the process down with a panic message
        // instead of an error naming the query.
        // The default hook would print a backtrace first; the error below
        // says what happened.
        let ctx = &mut self.ctx;
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.execute(&sql).and_then(LazyFrame::collect)
        }));
        std::panic::set_hook(hook);
        match result {
            Ok(result) => result.map_err(polars),
            Err(panic) => Err(QueryError::EnginePanic {
                origin: source.origin.clone(),
                message: panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(sql: &str) -> Source {
        Source::text("test.sql".into(), sql).unwrap()
    }

    fn prepared(sql: &str, params: &[(&str, &str)]) -> Result<String, QueryError> {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        prepare(&src(sql), &params).map(|s| s.to_string())
    }

    #[test]
    fn parameters_become_typed_literals_not_sql() {
        let sql = "-- param start: timestamp, from\n-- param who: text, name\n-- param back: span, how far\n-- param n: integer, limit\n\
                   SELECT * FROM events WHERE event_time >= :start - :back AND session_name = :who LIMIT :n";
        let out = prepared(
            sql,
            &[
                ("start", "2026-05-26T08:00:00Z"),
                ("who", "x' OR '1'='1"),
                ("back", "6h"),
                ("n", "10"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "SELECT * FROM events WHERE event_time >= STRPTIME('2026-05-26T08:00:00.000000+0000', '%Y-%m-%dT%H:%M:%S%.f%z') - INTERVAL '21600 seconds' AND session_name = 'x'' OR ''1''=''1' LIMIT 10"
        );
    }

    #[test]
    fn parameter_mistakes_are_named() {
        let sql = "-- param start: timestamp, start of the window\nSELECT 1 FROM events WHERE event_time >= :start";
        let missing = prepared(sql, &[]).unwrap_err().to_string();
        assert!(missing.contains("parameter :start has no value; add --param start=VALUE (timestamp: start of the window)"), "{missing}");
        let bad = prepared(sql, &[("start", "yesterday")])
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("--param start=\"yesterday\": not a time"),
            "{bad}"
        );
        let unused = prepared(sql, &[("start", "2026-05-26"), ("end", "x")])
            .unwrap_err()
            .to_string();
        assert!(unused.contains("no parameter :end"), "{unused}");
    }

    #[test]
    fn syntax_errors_give_the_position_and_one_statement_is_allowed() {
        let e = prepared("SELECT count(* FROM events", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("test.sql: SQL syntax error:") && e.contains("Line: 1"),
            "{e}"
        );
        let two = prepared("SELECT 1; SELECT 2", &[]).unwrap_err().to_string();
        assert!(two.contains("one statement per query, found 2"), "{two}");
    }

    #[test]
    fn ctes_are_not_tables() {
        let s = prepare(
            &src("WITH a AS (SELECT * FROM events) SELECT * FROM a JOIN changes c ON true"),
            &[],
        )
        .unwrap();
        assert_eq!(
            relations(&s),
            BTreeSet::from(["events".to_string(), "changes".to_string()])
        );
    }
}
