//! The human answer: `summary.md`, and the shorter text `scan` prints. Both
//! come from one [`Digest`] of the run, rendered as Markdown tables or as
//! aligned plain text by the same [`Table`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::Report;
use crate::analyze::{human_duration, short_name, Finding, Incident};
use crate::classify::taxonomy::class_info;
use crate::explain::guide::guide;
use crate::model::{FedEvent, Micros, ObjectStatus, Stage};
use crate::time::format_micros;

/// How many rows a "top" list shows.
const TOP: usize = 5;
/// How many bad objects are named one by one before the rest are counted.
const NAMED_OBJECTS: usize = super::objects::NAMED;

/// A small table that renders as Markdown or as aligned text.
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn markdown(&self, out: &mut String) {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let _ = writeln!(out, "| {} |", self.header.join(" | "));
        let _ = writeln!(
            out,
            "|{}|",
            self.header
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| esc(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }

    fn text(&self, out: &mut String, indent: &str) {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("{indent}{}", padded.join("  ").trim_end())
        };
        let _ = writeln!(out, "{}", line(self.header.clone()));
        for row in &self.rows {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
    }
}

/// One class's share of the observed failures.
struct ClassLine {
    stage: Stage,
    class: &'static str,
    failures: u64,
    sessions: usize,
    first: Micros,
    last: Micros,
}

/// What both summaries say, computed once.
struct Digest {
    classes: Vec<ClassLine>,
    top_roles: Vec<(String, u64)>,
    top_providers: Vec<(String, u64)>,
    top_regions: Vec<(String, u64)>,
}

fn digest(events: &[FedEvent]) -> Digest {
    /// Failures, distinct sessions, first and last seen of one class.
    type Tally<'a> = (u64, BTreeSet<&'a str>, Micros, Micros);
    let mut classes: BTreeMap<(Stage, &'static str), Tally> = BTreeMap::new();
    let mut roles: BTreeMap<&str, u64> = BTreeMap::new();
    let mut providers: BTreeMap<&str, u64> = BTreeMap::new();
    let mut regions: BTreeMap<&str, u64> = BTreeMap::new();
    for e in events.iter().filter(|e| e.is_failure()) {
        let class = e.failure_class.unwrap_or("unclassified");
        let c = classes.entry((e.stage, class)).or_insert((
            0,
            BTreeSet::new(),
            e.event_time,
            e.event_time,
        ));
        c.0 += 1;
        c.1.extend(e.session_name.as_deref());
        c.2 = c.2.min(e.event_time);
        c.3 = c.3.max(e.event_time);
        *roles
            .entry(e.role_name.as_deref().unwrap_or("(unknown)"))
            .or_default() += 1;
        *providers
            .entry(e.provider_name.as_deref().unwrap_or("(unknown)"))
            .or_default() += 1;
        *regions
            .entry(e.region.as_deref().unwrap_or("(unknown)"))
            .or_default() += 1;
    }
    let mut classes: Vec<ClassLine> = classes
        .into_iter()
        .map(
            |((stage, class), (failures, sessions, first, last))| ClassLine {
                stage,
                class,
                failures,
                sessions: sessions.len(),
                first,
                last,
            },
        )
        .collect();
    classes.sort_by_key(|c| std::cmp::Reverse(c.failures));
    Digest {
        classes,
        top_roles: top(roles),
        top_providers: top(providers),
        top_regions: top(regions),
    }
}

fn top(counts: BTreeMap<&str, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v.truncate(TOP);
    v
}

fn class_table(d: &Digest, with_hint: bool) -> Table {
    let mut header = vec![
        "stage",
        "class",
        "failures",
        "sessions",
        "first seen",
        "last seen",
    ];
    if with_hint {
        header.push("what it usually means");
    }
    let mut t = Table::new(&header);
    for c in &d.classes {
        let mut row = vec![
            c.stage.as_str().to_string(),
            c.class.to_string(),
            c.failures.to_string(),
            c.sessions.to_string(),
            format_micros(c.first),
            format_micros(c.last),
        ];
        if with_hint {
            row.push(class_info(c.class).map_or("", |i| i.hint).to_string());
        }
        t.row(row);
    }
    t
}

fn tops_table(d: &Digest) -> Table {
    let mut t = Table::new(&["top failing roles", "n", "providers", "n", "regions", "n"]);
    for i in 0..TOP {
        let cell = |v: &[(String, u64)]| {
            v.get(i).map_or((String::new(), String::new()), |(k, n)| {
                (k.clone(), n.to_string())
            })
        };
        let (r, rn) = cell(&d.top_roles);
        let (p, pn) = cell(&d.top_providers);
        let (g, gn) = cell(&d.top_regions);
        if r.is_empty() && p.is_empty() && g.is_empty() {
            break;
        }
        t.row(vec![r, rn, p, pn, g, gn]);
    }
    t
}

fn counts_lines(report: &Report<'_>) -> Vec<String> {
    let c = &report.run.counts;
    let r = &c.records;
    let objects = match &report.run.incremental {
        Some(i) if i.merged_into_previous => format!(
            "objects: {} listed, {} read ({} new, {} changed), {} unchanged since the last run (not read), \
             {} skipped, {} unreadable; kept from earlier runs: {} objects, {} events, {} changes \
             (--full rebuilds)",
            c.objects_listed,
            c.objects_read,
            i.objects_new,
            i.objects_changed,
            i.objects_unchanged,
            c.objects_skipped,
            c.objects_unreadable,
            i.carried_objects,
            i.carried_events,
            i.carried_changes
        ),
        _ => format!(
            "objects: {} listed, {} read, {} skipped, {} unreadable",
            c.objects_listed, c.objects_read, c.objects_skipped, c.objects_unreadable
        ),
    };
    vec![
        objects,
        format!(
            "records: {} read, {} rejected, {} not federation, {} outside the selection",
            r.records, r.rejected, r.not_federation, r.outside_selection
        ),
        format!(
            "federation events: {} ({} observed failures), {} duplicates dropped; config changes: {}",
            c.events_written, c.failures_observed, c.duplicate_events, c.changes_written
        ),
    ]
}

/// Objects that were unreadable, or had rejected records, each with its
/// reason (the first `objects::NAMED` of them; `report.problems.total` counts all).
fn bad_objects(report: &Report<'_>) -> Vec<String> {
    report
        .problems
        .named
        .iter()
        .map(|o| {
            let name = object_name(&o.source, &o.key);
            let reason = o.reason.as_deref().unwrap_or("no reason recorded");
            match o.status {
                ObjectStatus::Unreadable => format!("{name}: {reason}"),
                _ => format!(
                    "{name}: {} record(s) rejected; {reason}",
                    o.rejected_records
                ),
            }
        })
        .collect()
}

/// How an object is named to a person: the path under its source.
pub fn object_name(source: &str, key: &str) -> String {
    if source.ends_with(key) {
        source.to_string()
    } else {
        format!("{}/{key}", source.trim_end_matches('/'))
    }
}

fn selection_line(report: &Report<'_>) -> String {
    let s = &report.run.selection;
    let mut parts = vec![format!(
        "window {} .. {}",
        s.start.as_deref().unwrap_or("(open)"),
        s.end.as_deref().unwrap_or("(open)")
    )];
    for (name, values) in [
        ("accounts", &s.accounts),
        ("regions", &s.regions),
        ("org ids", &s.org_ids),
    ] {
        if !values.is_empty() {
            parts.push(format!("{name} {}", values.join(", ")));
        }
    }
    parts.join("; ")
}

/// Names for people: the short names of ARNs, at most `n`, then "+k more".
pub(super) fn names(values: &[String], n: usize) -> String {
    if values.is_empty() {
        return "(not recorded)".into();
    }
    let mut short: Vec<&str> = Vec::new();
    for v in values.iter().map(|v| short_name(v)) {
        if !short.contains(&v) {
            short.push(v);
        }
    }
    let more = short.len().saturating_sub(n);
    let mut out: Vec<&str> = short.into_iter().take(n).collect();
    let more = (more > 0).then(|| format!("+{more} more"));
    out.extend(more.as_deref());
    out.join(", ")
}

/// `2026-05-26 08:02Z to 11:05Z (3 h 02 min)`.
fn span(start: Micros, end: Micros) -> String {
    let (a, b) = (format_micros(start), format_micros(end));
    let day = |t: &str| t.get(..10).unwrap_or("").to_string();
    let clock = |t: &str| t.get(11..16).unwrap_or("").to_string();
    let until = if day(&a) == day(&b) {
        format!("{}Z", clock(&b))
    } else {
        format!("{} {}Z", day(&b), clock(&b))
    };
    format!(
        "{} {}Z to {until} ({})",
        day(&a),
        clock(&a),
        human_duration(end - start)
    )
}

fn incident_title(i: &Incident) -> String {
    format!(
        "{} ({}): {}",
        i.dominant_class,
        i.stage.as_str(),
        span(i.start, i.end)
    )
}

fn cause_line(i: &Incident, lookback_hours: i64) -> String {
    match &i.suspected_change {
        Some(c) => format!(
            "{} (at {}, account {})",
            c.reason,
            format_micros(c.event_time),
            c.account_id.as_deref().unwrap_or("unknown"),
        ),
        None => format!(
            "no AWS change that can cause {} was read in the {lookback_hours} h before; the cause is likely outside AWS (the IdP, its certificate, clock or attribute mapping)",
            i.dominant_class
        ),
    }
}

fn recovery_line(i: &Incident) -> String {
    match &i.recovered_by_change {
        Some(c) => format!("{} (at {})", c.reason, format_micros(c.event_time)),
        None => format!(
            "no AWS change was found near the end; the last failure was at {}",
            format_micros(i.end)
        ),
    }
}

fn fix_line(class: &str) -> String {
    let fix = guide(class).map_or("", |g| g.fix);
    format!("{fix} (more: `fedtrail explain {class}`)")
}

fn incidents_markdown(out: &mut String, report: &Report<'_>) {
    let lookback = report.run.incident_detection.cause_lookback_minutes / 60;
    let _ = writeln!(out, "\n## Incidents\n");
    if report.incidents.is_empty() {
        let _ = writeln!(
            out,
            "No outage window was found: no failure class rose far above its baseline (thresholds in run.json)."
        );
        return;
    }
    for (n, i) in report.incidents.iter().enumerate() {
        let _ = writeln!(out, "### {}. {}\n", n + 1, incident_title(i));
        let _ = writeln!(
            out,
            "- **What failed:** {} {} failures ({:.0}% of the stage's failures in the window, {} attempts in all); {}",
            i.failures,
            i.dominant_class,
            i.dominant_share * 100.0,
            i.attempts,
            class_info(i.dominant_class).map_or("", |c| c.hint)
        );
        let _ = writeln!(
            out,
            "- **Who:** {} people; roles {}; providers {}; regions {}; accounts {}",
            i.affected_sessions,
            names(&i.roles, 4),
            names(&i.providers, 3),
            names(&i.regions, 4),
            names(&i.accounts, 4)
        );
        let _ = writeln!(out, "- **Suspected cause:** {}", cause_line(i, lookback));
        let _ = writeln!(out, "- **Ended by:** {}", recovery_line(i));
        let _ = writeln!(out, "- **Fix:** {}\n", fix_line(i.dominant_class));
    }
}

/// The columns findings are shown with, in summary.md and report.html.
pub(super) const FINDING_COLUMNS: &[&str] = &[
    "severity",
    "finding",
    "subject",
    "evidence",
    "first seen",
    "last seen",
    "detail",
];

fn findings_table(findings: &[Finding]) -> Table {
    let mut t = Table::new(FINDING_COLUMNS);
    for f in findings {
        t.row(vec![
            f.severity.to_string(),
            f.finding.to_string(),
            f.subject.clone(),
            f.evidence_count.to_string(),
            format_micros(f.first_seen),
            format_micros(f.last_seen),
            f.detail.clone(),
        ]);
    }
    t
}

/// `summary.md`.
pub fn markdown(report: &Report<'_>) -> String {
    let d = digest(&report.merged.observed.failures);
    let mut out = String::new();
    let _ = writeln!(out, "# fedtrail summary\n");
    let _ = writeln!(out, "Inputs: {}  ", report.run.inputs.join(", "));
    let _ = writeln!(out, "Selection: {}  ", selection_line(report));
    let _ = writeln!(
        out,
        "Run: {} (fedtrail {})\n",
        report.run.started_at, report.run.version
    );
    for line in counts_lines(report) {
        let _ = writeln!(out, "- {line}");
    }
    incidents_markdown(&mut out, report);
    let _ = writeln!(out, "\n## Findings\n");
    if report.findings.is_empty() {
        let _ = writeln!(out, "No cross-event finding (case drift, name format, whitespace, regional concentration, certificate rotation, endpoint vs audience).");
    } else {
        findings_table(report.findings).markdown(&mut out);
    }
    let _ = writeln!(out, "\n## Observed failures by stage and class\n");
    if d.classes.is_empty() {
        let _ = writeln!(out, "No federation failures were observed.");
    } else {
        let _ = writeln!(
            out,
            "CloudTrail does not record every denied sign-in, so these are the failures observed in the logs read.\n"
        );
        class_table(&d, true).markdown(&mut out);
        let _ = writeln!(out, "\n## Where they failed\n");
        tops_table(&d).markdown(&mut out);
    }
    let _ = writeln!(out, "\n## Configuration changes\n");
    if report.merged.changes.is_empty() {
        let _ = writeln!(out, "No changes to SAML providers, federation roles, SCPs, Connect users or identity sources were read.");
    } else {
        let mut t = Table::new(&["time", "account", "event", "target", "outcome", "actor"]);
        for c in &report.merged.changes {
            let outcome = match c.failure_class {
                Some(class) => format!("failure ({class})"),
                None => c.outcome.as_str().to_string(),
            };
            t.row(vec![
                format_micros(c.event_time),
                c.account_id.clone().unwrap_or_default(),
                c.event_name.clone(),
                c.target.clone().unwrap_or_default(),
                outcome,
                c.actor.clone().unwrap_or_default(),
            ]);
        }
        t.markdown(&mut out);
    }
    let _ = writeln!(out, "\n## Input problems\n");
    let bad = bad_objects(report);
    let total = report.problems.total;
    if bad.is_empty() && report.run.skipped_by_reason.is_empty() {
        let _ = writeln!(out, "Every object was read.");
    }
    if !bad.is_empty() {
        let _ = writeln!(
            out,
            "Unreadable objects and rejected records (also in `objects.parquet`):\n"
        );
        for line in bad.iter().take(NAMED_OBJECTS) {
            let _ = writeln!(out, "- {}", line.replace('|', "\\|"));
        }
        if total > NAMED_OBJECTS as u64 {
            let _ = writeln!(
                out,
                "- ... and {} more (see `objects.parquet`)",
                total - NAMED_OBJECTS as u64
            );
        }
        if !report.run.unreadable_by_reason.is_empty() {
            let _ = writeln!(out, "\nUnreadable objects by reason:\n");
            let mut t = Table::new(&["reason", "objects"]);
            for r in &report.run.unreadable_by_reason {
                t.row(vec![r.reason.clone(), r.objects.to_string()]);
            }
            t.markdown(&mut out);
        }
    }
    if !report.run.skipped_by_reason.is_empty() {
        let _ = writeln!(out, "\nSkipped objects by reason:\n");
        let mut t = Table::new(&["reason", "objects"]);
        for r in &report.run.skipped_by_reason {
            t.row(vec![r.reason.clone(), r.objects.to_string()]);
        }
        t.markdown(&mut out);
    }
    out
}

/// The text `scan` prints to stdout.
pub fn terminal(report: &Report<'_>, out_dir: &str) -> String {
    let d = digest(&report.merged.observed.failures);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fedtrail scan of {} ({})",
        report.run.inputs.join(", "),
        selection_line(report)
    );
    for line in counts_lines(report) {
        let _ = writeln!(out, "  {line}");
    }
    if !report.incidents.is_empty() {
        let lookback = report.run.incident_detection.cause_lookback_minutes / 60;
        let _ = writeln!(out, "\nIncidents ({}):", report.incidents.len());
        for (n, i) in report.incidents.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", n + 1, incident_title(i));
            let _ = writeln!(
                out,
                "     {} failures, {} people; providers {}; regions {}",
                i.failures,
                i.affected_sessions,
                names(&i.providers, 3),
                names(&i.regions, 3)
            );
            let _ = writeln!(out, "     cause: {}", cause_line(i, lookback));
            let _ = writeln!(out, "     ended: {}", recovery_line(i));
            let _ = writeln!(out, "     fix:   {}", fix_line(i.dominant_class));
        }
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\nFindings ({}):", report.findings.len());
        for f in report.findings {
            let _ = writeln!(
                out,
                "  [{}] {} ({}): {}",
                f.severity, f.finding, f.subject, f.detail
            );
        }
    }
    if d.classes.is_empty() {
        let _ = writeln!(out, "\nNo federation failures observed.");
    } else {
        let _ = writeln!(out, "\nObserved failures by stage and class:");
        class_table(&d, false).text(&mut out, "  ");
        let _ = writeln!(out);
        tops_table(&d).text(&mut out, "  ");
    }
    let bad = bad_objects(report);
    let total = report.problems.total;
    if !bad.is_empty() {
        let _ = writeln!(out, "\nInput problems ({total}):");
        for line in bad.iter().take(20) {
            let _ = writeln!(out, "  {line}");
        }
        if total > 20 {
            let _ = writeln!(
                out,
                "  ... and {} more (see summary.md and objects.parquet)",
                total - 20
            );
        }
    }
    let skipped: u64 = report.run.skipped_by_reason.iter().map(|r| r.objects).sum();
    if skipped > 0 {
        let _ = writeln!(out, "\nSkipped {skipped} object(s):");
        for r in &report.run.skipped_by_reason {
            let _ = writeln!(out, "  {:>6}  {}", r.objects, r.reason);
        }
    }
    let _ = writeln!(
        out,
        "\nReports written to {out_dir}/ (summary.md, report.html, events/, *.parquet, run.json)"
    );
    out
}
