//! `report.html`: the run as one self-contained page (inline CSS and SVG, no
//! scripts, fonts or network). A timeline of failures per bucket stacked by
//! class, with incidents shaded and configuration changes marked, then the
//! incidents, findings, top failures, changes and input problems.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Report;
use crate::aggregate::BUCKET;
use crate::analyze::{human_duration, short_name};
use crate::classify::taxonomy::class_info;
use crate::explain::guide::guide;
use crate::model::{Micros, Outcome};
use crate::time::format_micros;

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Colours for the classes drawn in the chart, most frequent first; the rest
/// are grouped as "other".
const PALETTE: &[&str] = &[
    "#d1495b", "#edae49", "#00798c", "#30638e", "#8e6c8a", "#66a182", "#e07a5f", "#3d405b",
];
const OTHER: &str = "#b8b8b8";
/// Most columns the chart draws; longer runs use wider buckets.
const MAX_COLUMNS: i64 = 600;

const CSS: &str = r#"
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f7f8fa; --card:#fff; --bad:#c0392b; --ok:#2e7d32; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1f2933; color:#fff; padding:20px 32px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header p { margin:0; color:#cbd2d9; font-size:13px; }
main { max-width:1200px; margin:0 auto; padding:20px 32px 48px; }
h2 { font-size:17px; margin:28px 0 10px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin-top:16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; min-width:150px; }
.card .n { font-size:24px; font-weight:600; }
.card .l { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card.bad .n { color:var(--bad); }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px; overflow-x:auto; }
.legend { display:flex; flex-wrap:wrap; gap:14px; margin-top:8px; font-size:12px; color:var(--muted); }
.legend i { display:inline-block; width:11px; height:11px; border-radius:2px; margin-right:5px; vertical-align:-1px; }
.incident { background:var(--card); border:1px solid var(--line); border-left:5px solid var(--bad); border-radius:8px; padding:14px 18px; margin-bottom:12px; }
.incident h3 { margin:0 0 8px; font-size:15px; }
.incident dl { display:grid; grid-template-columns:130px 1fr; gap:4px 12px; margin:0; }
.incident dt { color:var(--muted); }
.incident dd { margin:0; }
table { border-collapse:collapse; width:100%; background:var(--card); font-size:13px; }
th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f2f5; font-weight:600; white-space:nowrap; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
td.wrap { min-width:260px; overflow-wrap:anywhere; }
.sev { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.sev.high { background:#fde2e1; color:#a61b1b; } .sev.medium { background:#fff1cc; color:#8a5a00; } .sev.info { background:#e3ecf7; color:#1d4f91; }
.muted { color:var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12px; background:#f0f2f5; padding:1px 4px; border-radius:3px; }
svg text { font: 11px -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; fill:#616e7c; }
"#;

/// The whole page.
pub fn render(report: &Report<'_>) -> String {
    let mut out = String::new();
    let run = report.run;
    let c = &run.counts;
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>fedtrail report</title>\n<style>{CSS}</style>\n</head>\n<body>"
    );
    let _ = writeln!(
        out,
        "<header><h1>SAML federation failures</h1><p>{} &middot; window {} .. {} &middot; fedtrail {} &middot; run {}</p></header>\n<main>",
        esc(&run.inputs.join(", ")),
        esc(run.selection.start.as_deref().unwrap_or("(open)")),
        esc(run.selection.end.as_deref().unwrap_or("(open)")),
        esc(&run.version),
        esc(&run.started_at),
    );
    let unreadable = c.objects_unreadable + u64::from(c.records.rejected > 0);
    let card = |n: String, label: &str, bad: bool| {
        format!(
            "<div class=\"card{}\"><div class=\"n\">{n}</div><div class=\"l\">{label}</div></div>",
            if bad { " bad" } else { "" }
        )
    };
    let _ = writeln!(
        out,
        "<section class=\"cards\" id=\"counts\">{}{}{}{}{}</section>",
        card(c.events_written.to_string(), "federation events", false),
        card(
            c.failures_observed.to_string(),
            "observed failures",
            c.failures_observed > 0
        ),
        card(
            report.incidents.len().to_string(),
            "incidents",
            !report.incidents.is_empty()
        ),
        card(report.findings.len().to_string(), "findings", false),
        card(
            format!("{} / {}", c.objects_unreadable, c.objects_listed),
            "objects unreadable",
            unreadable > 0
        ),
    );
    timeline_section(&mut out, report);
    incidents_section(&mut out, report);
    findings_section(&mut out, report);
    failures_section(&mut out, report);
    changes_section(&mut out, report);
    problems_section(&mut out, report);
    let _ = writeln!(
        out,
        "<p class=\"muted\">CloudTrail does not record every denied sign-in: these are the failures observed in the logs read. Tables: <code>events/</code>, <code>incidents.parquet</code>, <code>findings.parquet</code>, <code>failures.parquet</code>, <code>changes.parquet</code>, <code>objects.parquet</code>.</p>\n</main>\n</body>\n</html>"
    );
    out
}

fn timeline_section(out: &mut String, report: &Report<'_>) {
    let _ = write!(
        out,
        "<h2 id=\"timeline\">Failures over time</h2>\n<div class=\"panel\">"
    );
    let rows: Vec<_> = report.timeline.iter().filter(|r| r.failures > 0).collect();
    let all: Vec<Micros> = report.timeline.iter().map(|r| r.bucket_start).collect();
    let (Some(&t0), Some(&t_last)) = (all.iter().min(), all.iter().max()) else {
        let _ = writeln!(
            out,
            "<p class=\"muted\">No federation events were read.</p></div>"
        );
        return;
    };
    // Column width: the 5-minute bucket, widened so at most MAX_COLUMNS are drawn.
    let buckets = (t_last - t0) / BUCKET + 1;
    let width_buckets = (buckets + MAX_COLUMNS - 1) / MAX_COLUMNS;
    let col = BUCKET * width_buckets;
    let columns = (t_last - t0) / col + 1;
    let t1 = t0 + columns * col;

    // Classes by failures, the top ones coloured.
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        *totals.entry(r.failure_class).or_default() += r.failures;
    }
    let mut classes: Vec<(&str, u64)> = totals.into_iter().collect();
    classes.sort_by_key(|(c, n)| (std::cmp::Reverse(*n), *c));
    let colour = |class: &str| {
        classes
            .iter()
            .position(|(c, _)| *c == class)
            .and_then(|i| PALETTE.get(i).copied())
            .unwrap_or(OTHER)
    };
    // column -> colour -> failures (stacked in palette order).
    let mut stacks: BTreeMap<i64, BTreeMap<usize, (u64, &str)>> = BTreeMap::new();
    for r in &rows {
        let k = (r.bucket_start - t0) / col;
        let idx = classes
            .iter()
            .position(|(c, _)| *c == r.failure_class)
            .map_or(PALETTE.len(), |i| i.min(PALETTE.len()));
        let label = if idx < PALETTE.len() {
            r.failure_class
        } else {
            "other"
        };
        let cell = stacks
            .entry(k)
            .or_default()
            .entry(idx)
            .or_insert((0, label));
        cell.0 += r.failures;
    }
    let peak = stacks
        .values()
        .map(|s| s.values().map(|(n, _)| n).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);

    let (w, h, left, top, bottom) = (1100.0_f64, 300.0_f64, 46.0, 26.0, 40.0);
    let plot_w = w - left - 10.0;
    let plot_h = h - top - bottom;
    let x = |t: Micros| left + (t - t0) as f64 / (t1 - t0) as f64 * plot_w;
    let y = |n: f64| top + plot_h - n / peak as f64 * plot_h;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"Failures per {} by class, incidents shaded, changes marked\">",
        human_duration(col)
    );
    // Grid and y axis.
    for frac in [0.0, 0.5, 1.0] {
        let n = (peak as f64 * frac).round();
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e7eb\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{n}</text>",
            left + plot_w,
            left - 6.0,
            y(n) + 4.0,
            y = y(n)
        );
    }
    // Day (or 6-hour) ticks.
    let tick = if t1 - t0 > 2 * 86_400_000_000 {
        86_400_000_000
    } else {
        6 * 3_600_000_000
    };
    let mut t = t0 + (tick - t0.rem_euclid(tick)) % tick;
    while t < t1 {
        let label = format_micros(t);
        let label = if tick == 86_400_000_000 {
            label.get(..10).unwrap_or("").to_string()
        } else {
            format!(
                "{} {}Z",
                label.get(5..10).unwrap_or(""),
                label.get(11..16).unwrap_or("")
            )
        };
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#e4e7eb\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            top + plot_h,
            top + plot_h + 16.0,
            esc(&label),
            x = x(t)
        );
        t += tick;
    }
    // Incidents, shaded behind the bars.
    for (n, i) in report.incidents.iter().enumerate() {
        let (a, b) = (x(i.start), x(i.end + col).max(x(i.start) + 3.0));
        let _ = write!(
            out,
            "<g class=\"incident\"><rect x=\"{a:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"#c0392b\" fill-opacity=\"0.10\" stroke=\"#c0392b\" stroke-opacity=\"0.35\"><title>Incident {}: {} {} - {}</title></rect><text x=\"{:.1}\" y=\"{}\" fill=\"#c0392b\" style=\"fill:#c0392b;font-weight:600\">{}</text></g>",
            b - a,
            n + 1,
            esc(i.dominant_class),
            esc(&format_micros(i.start)),
            esc(&format_micros(i.end)),
            a + 3.0,
            top - 8.0,
            n + 1
        );
    }
    // Bars.
    let bar_w = (plot_w / columns as f64 - 0.4).max(0.6);
    for (k, stack) in &stacks {
        let mut base = 0.0;
        let x0 = x(t0 + k * col);
        let when = format_micros(t0 + k * col);
        for (idx, (n, label)) in stack {
            let fill = PALETTE.get(*idx).copied().unwrap_or(OTHER);
            let (y1, y0) = (y(base + *n as f64), y(base));
            let _ = write!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{y1:.1}\" width=\"{bar_w:.2}\" height=\"{:.1}\" fill=\"{fill}\"><title>{} {}: {n}</title></rect>",
                (y0 - y1).max(0.5),
                esc(&when),
                esc(label)
            );
            base += *n as f64;
        }
    }
    // Changes, marked under the axis.
    for ch in &report.merged.changes {
        if ch.event_time < t0 || ch.event_time > t1 {
            continue;
        }
        let cx = x(ch.event_time);
        let stroke = if ch.outcome == Outcome::Success {
            "#3d405b"
        } else {
            "#c0392b"
        };
        let target = ch.target.as_deref().map(short_name).unwrap_or("");
        let _ = write!(
            out,
            "<g class=\"change\"><line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"{stroke}\" stroke-dasharray=\"3 3\" stroke-opacity=\"0.55\"/><path d=\"M{:.1} {} l5 8 h-10 z\" fill=\"{stroke}\"><title>{} {} {} ({})</title></path></g>",
            top + plot_h,
            cx,
            top + plot_h + 20.0,
            esc(&format_micros(ch.event_time)),
            esc(&ch.event_name),
            esc(target),
            ch.outcome.as_str()
        );
    }
    let _ = write!(out, "</svg>");
    let _ = write!(out, "<div class=\"legend\">");
    for (class, n) in classes.iter().take(PALETTE.len()) {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{} ({n})</span>",
            colour(class),
            esc(class)
        );
    }
    if classes.len() > PALETTE.len() {
        let rest: u64 = classes[PALETTE.len()..].iter().map(|(_, n)| n).sum();
        let _ = write!(
            out,
            "<span><i style=\"background:{OTHER}\"></i>other classes ({rest})</span>"
        );
    }
    let _ = writeln!(
        out,
        "<span><i style=\"background:#c0392b;opacity:.25\"></i>incident</span><span>&#9650; configuration change (red: failed)</span><span>one bar = {}</span></div></div>",
        human_duration(col)
    );
}

fn incidents_section(out: &mut String, report: &Report<'_>) {
    let _ = writeln!(out, "<h2 id=\"incidents\">Incidents</h2>");
    if report.incidents.is_empty() {
        let _ = writeln!(out, "<p class=\"muted\">No outage window was found: no failure class rose far above its baseline.</p>");
        return;
    }
    let lookback_h = report.run.incident_detection.cause_lookback_minutes / 60;
    for (n, i) in report.incidents.iter().enumerate() {
        let list = |v: &[String]| esc(&super::summary::names(v, 6));
        let cause = match &i.suspected_change {
            Some(c) => format!("<b>{}</b> at {} &middot; {}", esc(&c.event_name), esc(&format_micros(c.event_time)), esc(&c.reason)),
            None => format!("No AWS change that can cause {} was read in the {lookback_h} h before: the cause is likely outside AWS (the IdP).", esc(i.dominant_class)),
        };
        let ended = match &i.recovered_by_change {
            Some(c) => format!(
                "<b>{}</b> at {} &middot; {}",
                esc(&c.event_name),
                esc(&format_micros(c.event_time)),
                esc(&c.reason)
            ),
            None => format!(
                "No AWS change near the end; last failure at {}.",
                esc(&format_micros(i.end))
            ),
        };
        let _ = writeln!(
            out,
            "<article class=\"incident\" id=\"incident-{}\"><h3>{}. {} <span class=\"muted\">({}) &middot; {} to {} &middot; {}</span></h3><dl>\
<dt>What failed</dt><dd>{} failures of {} ({:.0}% of the stage's failures in the window) &middot; {}</dd>\
<dt>Who</dt><dd>{} people &middot; roles {} &middot; providers {} &middot; regions {} &middot; accounts {}</dd>\
<dt>Suspected cause</dt><dd>{cause}</dd><dt>Ended by</dt><dd>{ended}</dd><dt>Fix</dt><dd>{} <span class=\"muted\">(<code>fedtrail explain {}</code>)</span></dd></dl></article>",
            esc(&i.incident_id),
            n + 1,
            esc(i.dominant_class),
            i.stage.as_str(),
            esc(&format_micros(i.start)),
            esc(&format_micros(i.end)),
            human_duration(i.end - i.start),
            i.failures,
            esc(i.dominant_class),
            i.dominant_share * 100.0,
            esc(class_info(i.dominant_class).map_or("", |c| c.hint)),
            i.affected_sessions,
            list(&i.roles),
            list(&i.providers),
            list(&i.regions),
            list(&i.accounts),
            esc(guide(i.dominant_class).map_or("", |g| g.fix)),
            esc(i.dominant_class),
        );
    }
}

fn table_start(out: &mut String, id: &str, header: &[&str]) {
    let _ = write!(out, "<div class=\"panel\"><table id=\"{id}\"><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    let _ = write!(out, "</tr></thead><tbody>");
}

fn table_end(out: &mut String) {
    let _ = writeln!(out, "</tbody></table></div>");
}

fn findings_section(out: &mut String, report: &Report<'_>) {
    let _ = writeln!(out, "<h2>Findings</h2>");
    if report.findings.is_empty() {
        let _ = writeln!(out, "<p class=\"muted\">No cross-event finding.</p>");
        return;
    }
    table_start(out, "findings", super::summary::FINDING_COLUMNS);
    for f in report.findings {
        let _ = write!(
            out,
            "<tr><td><span class=\"sev {}\">{}</span></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"wrap\">{}</td></tr>",
            esc(f.severity),
            esc(f.severity),
            esc(f.finding),
            esc(&f.subject),
            f.evidence_count,
            esc(&format_micros(f.first_seen)),
            esc(&format_micros(f.last_seen)),
            esc(&f.detail)
        );
    }
    table_end(out);
}

fn failures_section(out: &mut String, report: &Report<'_>) {
    let _ = writeln!(out, "<h2>Top failures</h2>");
    if report.failures.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"muted\">No federation failures were observed.</p>"
        );
        return;
    }
    table_start(
        out,
        "failures",
        &[
            "class",
            "stage",
            "account",
            "region",
            "role",
            "provider",
            "failures",
            "sessions",
            "first seen",
            "last seen",
            "sample message",
        ],
    );
    for r in report.failures.iter().take(25) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"wrap\">{}</td></tr>",
            esc(r.failure_class),
            r.stage.as_str(),
            esc(r.account_id.as_deref().unwrap_or("")),
            esc(r.region.as_deref().unwrap_or("")),
            esc(r.role_arn.as_deref().map(short_name).unwrap_or("")),
            esc(r.provider_arn.as_deref().map(short_name).unwrap_or("")),
            r.failures,
            r.distinct_sessions,
            esc(&format_micros(r.first_seen)),
            esc(&format_micros(r.last_seen)),
            esc(r.sample_message.as_deref().unwrap_or("")),
        );
    }
    table_end(out);
    if report.failures.len() > 25 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} more groups in failures.parquet.</p>",
            report.failures.len() - 25
        );
    }
}

fn changes_section(out: &mut String, report: &Report<'_>) {
    let _ = writeln!(out, "<h2>Configuration changes</h2>");
    let changes = &report.merged.changes;
    if changes.is_empty() {
        let _ = writeln!(out, "<p class=\"muted\">No changes to SAML providers, federation roles, SCPs, Connect users or identity sources were read.</p>");
        return;
    }
    table_start(
        out,
        "changes",
        &[
            "time", "account", "event", "target", "detail", "outcome", "actor",
        ],
    );
    for c in changes.iter().take(200) {
        let outcome = match c.failure_class {
            Some(class) => format!("failure ({class})"),
            None => c.outcome.as_str().to_string(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&format_micros(c.event_time)),
            esc(c.account_id.as_deref().unwrap_or("")),
            esc(&c.event_name),
            esc(c.target.as_deref().unwrap_or("")),
            esc(c.detail.as_deref().unwrap_or("")),
            esc(&outcome),
            esc(c.actor.as_deref().unwrap_or("")),
        );
    }
    table_end(out);
    if changes.len() > 200 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} more in changes.parquet.</p>",
            changes.len() - 200
        );
    }
}

fn problems_section(out: &mut String, report: &Report<'_>) {
    let _ = writeln!(out, "<h2>Input problems</h2>");
    let bad = &report.problems.named;
    if bad.is_empty() {
        let _ = writeln!(out, "<p class=\"muted\">Every object listed was read (skipped objects, if any, are in objects.parquet).</p>");
        return;
    }
    table_start(
        out,
        "problems",
        &["object", "status", "rejected records", "reason"],
    );
    for o in bad {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&super::summary::object_name(&o.source, &o.key)),
            o.status.as_str(),
            o.rejected_records,
            esc(o.reason.as_deref().unwrap_or("")),
        );
    }
    table_end(out);
    let more = report.problems.total - bad.len() as u64;
    if more > 0 {
        let _ = writeln!(
            out,
            "<p class=\"muted\">{more} more in objects.parquet.</p>"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
