//! The saved queries of `queries/`, built into the binary so `fedtrail query
//! NAME` works from any folder. Each file is one statement opening with a
//! comment header:
//!
//! ```sql
//! -- title: Users affected inside a window
//! -- question: Who failed to sign in between two times, and how?
//! -- param start: timestamp, start of the window (inclusive)
//! -- param end: timestamp, end of the window (exclusive)
//! SELECT ... WHERE event_time >= :start AND event_time < :end
//! ```
//!
//! Parameter types are `timestamp` (RFC 3339), `integer`, `span` (90m, 6h,
//! 7d) and `text`.

/// A parameter a query declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Timestamp,
    Integer,
    Span,
    Text,
}

impl ParamKind {
    fn parse(s: &str) -> Option<ParamKind> {
        Some(match s {
            "timestamp" => ParamKind::Timestamp,
            "integer" => ParamKind::Integer,
            "span" => ParamKind::Span,
            "text" => ParamKind::Text,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Timestamp => "timestamp",
            ParamKind::Integer => "integer",
            ParamKind::Span => "span",
            ParamKind::Text => "text",
        }
    }
}

/// A query's header and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub title: Option<String>,
    pub question: Option<String>,
    pub params: Vec<ParamSpec>,
    pub sql: String,
}

/// Reads the comment header of a query; a malformed `-- param` line is an
/// error naming the line.
pub fn parse(sql: &str) -> Result<Query, String> {
    let mut q = Query {
        title: None,
        question: None,
        params: Vec::new(),
        sql: sql.to_string(),
    };
    for (n, line) in sql.lines().enumerate() {
        let line = line.trim();
        let Some(comment) = line.strip_prefix("--") else {
            if line.is_empty() {
                continue;
            }
            break;
        };
        let comment = comment.trim();
        if let Some(t) = comment.strip_prefix("title:") {
            q.title = Some(t.trim().to_string());
        } else if let Some(t) = comment.strip_prefix("question:") {
            q.question = Some(t.trim().to_string());
        } else if let Some(p) = comment.strip_prefix("param ") {
            let bad = || {
                format!(
                    "line {}: a parameter is declared as `-- param NAME: TYPE, description` with TYPE timestamp, integer, span or text",
                    n + 1
                )
            };
            let (name, rest) = p.split_once(':').ok_or_else(bad)?;
            let (kind, description) = rest.split_once(',').unwrap_or((rest, ""));
            let kind = ParamKind::parse(kind.trim()).ok_or_else(bad)?;
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad());
            }
            q.params.push(ParamSpec {
                name: name.to_string(),
                kind,
                description: description.trim().to_string(),
            });
        }
    }
    Ok(q)
}

macro_rules! saved {
    ($($name:literal),* $(,)?) => {
        /// Every saved query: `(name, text)`, in listing order.
        pub const SAVED: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../queries/", $name, ".sql")))),*
        ];
    };
}

saved!(
    "top_failing_roles",
    "top_failing_providers",
    "failures_by_class_per_hour",
    "class_first_last_seen",
    "users_failing_connect_only",
    "session_names_differing_in_case",
    "failures_in_one_region_only",
    "signature_failures_since_provider_update",
    "sessions_over_max_duration",
    "incident_users",
    "changes_before",
    "endpoint_usage",
    "unmatched_error_messages",
    "incidents_with_causes",
);

/// A saved query by name.
pub fn find(name: &str) -> Option<&'static str> {
    SAVED.iter().find(|(n, _)| *n == name).map(|(_, sql)| *sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_and_bad_params_named() {
        let q =
            parse("-- title: T\n-- question: Q?\n-- param start: timestamp, from here\nSELECT 1")
                .unwrap();
        assert_eq!(q.title.as_deref(), Some("T"));
        assert_eq!(q.question.as_deref(), Some("Q?"));
        assert_eq!(
            q.params,
            [ParamSpec {
                name: "start".into(),
                kind: ParamKind::Timestamp,
                description: "from here".into()
            }]
        );
        let err = parse("-- title: T\n-- param x: date, nope\nSELECT 1").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn every_saved_query_has_a_title_a_question_and_valid_params() {
        assert!(SAVED.len() >= 12);
        for (name, sql) in SAVED {
            let q = parse(sql).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(q.title.is_some() && q.question.is_some(), "{name}");
        }
    }
}
