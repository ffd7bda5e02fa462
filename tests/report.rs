//! The human reports: summary.md puts incidents first, report.html is one
//! self-contained page whose chart and tables match the dataset, and
//! `fedtrail report` re-renders both from the dataset alone.

mod common;

use common::*;

fn scan_sample(out: &std::path::Path) -> String {
    let result = fedtrail(&["scan", "--out", out.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1), "{}", text(&result.stderr));
    text(&result.stdout)
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn summary_answers_what_broke_then_findings_then_failures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let stdout = scan_sample(&out);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let at = |s: &str| {
        md.find(s)
            .unwrap_or_else(|| panic!("no {s:?} in summary.md"))
    };
    assert!(at("## Incidents") < at("## Findings"));
    assert!(at("## Findings") < at("## Observed failures by stage and class"));
    assert_eq!(count(&md, "\n### "), 3, "one section per incident");
    let first = &md[at("### 1.")..at("### 2.")];
    for line in [
        "**What failed:**",
        "**Who:**",
        "**Suspected cause:**",
        "**Ended by:**",
        "**Fix:**",
    ] {
        assert!(first.contains(line), "{line} missing:\n{first}");
    }
    assert!(first.contains("signature_invalid"), "{first}");
    assert!(first.contains("aws iam update-saml-provider"), "{first}");
    // The end of `scan` prints the head: the incidents, with cause and fix.
    assert!(stdout.contains("Incidents (3):"), "{stdout}");
    assert!(
        stdout.contains("cause: AttachPolicy of policy p-4xregionlock"),
        "{stdout}"
    );
    assert!(stdout.find("Incidents (3):") < stdout.find("Observed failures by stage and class"));
}

#[test]
fn report_html_is_self_contained_and_matches_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    scan_sample(&out);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    for external in [
        "<script",
        " src=",
        "href=\"http",
        "@import",
        "url(",
        "<link",
    ] {
        assert!(
            !html.contains(external),
            "report.html must not load anything: {external}"
        );
    }
    assert_eq!(count(&html, "<svg"), 1, "one timeline chart");
    let incidents = rows(&out.join("incidents.parquet"));
    let findings = rows(&out.join("findings.parquet"));
    let changes = rows(&out.join("changes.parquet"));
    assert_eq!(count(&html, "<g class=\"incident\">"), incidents.len());
    assert_eq!(count(&html, "<article class=\"incident\""), incidents.len());
    assert_eq!(
        count(&html, "<g class=\"change\">"),
        changes.len(),
        "every change of the window is marked"
    );
    for i in &incidents {
        let id = str_field(i, "incident_id").unwrap();
        assert!(html.contains(&format!("id=\"incident-{id}\"")), "{id}");
    }
    let table = |id: &str| {
        let start = html
            .find(&format!("<table id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no table {id}"));
        let end = start + html[start..].find("</table>").unwrap();
        count(&html[start..end], "<tr>") - 1
    };
    assert_eq!(table("findings"), findings.len());
    assert_eq!(table("changes"), changes.len());
    assert_eq!(
        table("problems"),
        4,
        "three unreadable objects and one with rejected records"
    );
    assert_eq!(
        table("failures"),
        rows(&out.join("failures.parquet")).len().min(25)
    );
    // Bars carry their counts; together they are every observed failure.
    let bars: u64 = html
        .split("</title></rect>")
        .filter_map(|chunk| chunk.rsplit_once("<title>"))
        .filter(|(before, _)| before.ends_with("\">") && !before.contains("Incident"))
        .filter_map(|(_, title)| {
            title
                .rsplit_once(": ")
                .and_then(|(_, n)| n.parse::<u64>().ok())
        })
        .sum();
    let failures: i64 = rows(&out.join("failures.parquet"))
        .iter()
        .filter_map(|r| long_field(r, "failures"))
        .sum();
    assert_eq!(bars, failures as u64);
}

#[test]
fn report_rerenders_the_same_files_from_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    scan_sample(&out);
    let md = std::fs::read(out.join("summary.md")).unwrap();
    let html = std::fs::read(out.join("report.html")).unwrap();
    std::fs::remove_file(out.join("summary.md")).unwrap();
    std::fs::remove_file(out.join("report.html")).unwrap();
    let result = fedtrail(&["report", out.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result.stderr));
    assert!(
        text(&result.stdout).contains("3 incidents, 4 findings"),
        "{}",
        text(&result.stdout)
    );
    assert!(
        std::fs::read(out.join("summary.md")).unwrap() == md,
        "summary.md differs"
    );
    assert!(
        std::fs::read(out.join("report.html")).unwrap() == html,
        "report.html differs"
    );
    let leftovers: Vec<_> = files_below(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn report_on_a_folder_that_is_not_a_dataset_says_which_scan_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let result = fedtrail(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(2));
    let err = text(&result.stderr);
    assert!(
        err.contains("is not a fedtrail dataset") && err.contains("fedtrail scan --out"),
        "{err}"
    );
}
