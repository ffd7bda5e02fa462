//! `fedtrail explain CLASS | "error text"`: what a failure means and what to
//! do. Free text is classified by the scanner's own rule table
//! (`classify::taxonomy`), once per stage, so the answer is exactly the class
//! `scan` would give that error; the advice comes from [`guide`].

pub mod guide;

use std::fmt::Write;

use serde::Serialize;

use crate::classify::taxonomy::{
    class_info, fallback_class, matching_rule, Evidence, FailureFacts,
};
use crate::model::Stage;
use guide::Guide;

/// How a query was understood.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub query: String,
    pub class: &'static str,
    pub stage: &'static str,
    /// How the query matched: `class id`, or the rule that classified it.
    pub matched: String,
    pub hint: &'static str,
    pub means: &'static str,
    pub causes: Vec<CauseOut>,
    pub fix: &'static str,
    /// The same text as an error of another stage, where it means something else.
    pub other_stages: Vec<OtherStage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CauseOut {
    pub cause: &'static str,
    pub confirm: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OtherStage {
    pub stage: &'static str,
    pub class: &'static str,
}

/// The event each stage's failures come from, as the rules see it.
fn event_for(stage: Stage, text: &str) -> &str {
    match stage {
        Stage::Sts => "AssumeRoleWithSAML",
        Stage::Signin => "ConsoleLogin",
        Stage::Connect => "GetFederationToken",
        // Identity Center classes follow the event name, so the text may be one.
        Stage::IdentityCenter => text,
        Stage::Config => "UpdateSAMLProvider",
    }
}

/// Classifies `text` as each stage would; returns `(stage, class, rule)` for
/// every stage where a rule (not the fallback) matched.
fn classify_text(text: &str) -> Vec<(Stage, &'static str, String)> {
    let text = text.trim();
    // A single word may be an error code; anything may be a message.
    let code = (!text.contains(char::is_whitespace)).then_some(text);
    Stage::ALL
        .iter()
        .filter_map(|&stage| {
            let rule = matching_rule(FailureFacts {
                stage,
                event_name: event_for(stage, text),
                error_code: code,
                error_message: Some(text),
            })?;
            let how = match rule.evidence {
                Evidence::Message(f) => format!("error message containing {}", quoted(f)),
                Evidence::Code(c) => format!("error code {}", quoted(c)),
                Evidence::EventName(n) => format!("failed event {}", quoted(n)),
            };
            Some((stage, rule.class, format!("{} rule: {how}", stage.as_str())))
        })
        .collect()
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Explains a class id or an error text; `None` when nothing matches.
pub fn explain(query: &str) -> Option<Explanation> {
    let trimmed = query.trim();
    let (class, matched, others) = if let Some(info) = class_info(trimmed) {
        (info.id, "class id".to_string(), Vec::new())
    } else {
        let mut found = classify_text(trimmed).into_iter();
        let (_, class, how) = found.next()?;
        let others: Vec<OtherStage> = found
            .filter(|(_, c, _)| *c != class)
            .map(|(stage, class, _)| OtherStage {
                stage: stage.as_str(),
                class,
            })
            .collect();
        (class, how, others)
    };
    let info = class_info(class)?;
    let g: &Guide = guide::guide(class)?;
    Some(Explanation {
        query: query.to_string(),
        class,
        stage: info.stage.as_str(),
        matched,
        hint: info.hint,
        means: g.means,
        causes: g
            .causes
            .iter()
            .map(|c| CauseOut {
                cause: c.cause,
                confirm: c.confirm.to_vec(),
            })
            .collect(),
        fix: g.fix,
        other_stages: others,
    })
}

/// What `explain` says when nothing matched.
pub fn not_recognised(query: &str) -> String {
    let fallbacks: Vec<String> = [Stage::Sts, Stage::Connect, Stage::IdentityCenter]
        .iter()
        .map(|s| format!("{} ({})", fallback_class(*s), s.as_str()))
        .collect();
    format!(
        "fedtrail does not recognise {query:?}: it is not a class id and no rule of the taxonomy matches it.\n\
         In a scan such a failure is kept with its raw code and message under its stage's catch-all class: {}.\n\
         Try the exact error code (e.g. UserNotFoundException) or a distinctive part of the message; \
         `fedtrail explain --list` shows every class.\n",
        fallbacks.join(", ")
    )
}

/// The explanation as text for people.
pub fn render_text(e: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (stage {})", e.class, e.stage);
    if e.matched != "class id" {
        let _ = writeln!(out, "  matched by the {}", e.matched);
    }
    let _ = writeln!(out, "\nWhat it means\n  {}", e.means);
    let _ = writeln!(out, "\nLikely causes, most likely first");
    for (i, c) in e.causes.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", i + 1, c.cause);
        for cmd in &c.confirm {
            let _ = writeln!(out, "     confirm: {cmd}");
        }
    }
    let _ = writeln!(out, "\nFix\n  {}", e.fix);
    for o in &e.other_stages {
        let _ = writeln!(
            out,
            "\nAs a {} error the same text means {} (fedtrail explain {}).",
            o.stage, o.class, o.class
        );
    }
    out
}

/// Every class with its one-line hint, for `explain --list`.
pub fn list() -> String {
    let mut out = String::new();
    for c in crate::classify::taxonomy::CLASSES {
        let _ = writeln!(out, "{:<28} {:<16} {}", c.id, c.stage.as_str(), c.hint);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::taxonomy::CLASSES;

    #[test]
    fn every_class_has_a_guide_with_causes_and_commands() {
        for c in CLASSES {
            let g = guide::guide(c.id).unwrap_or_else(|| panic!("no guide for {}", c.id));
            assert!(!g.causes.is_empty() && !g.fix.is_empty(), "{}", c.id);
            assert!(
                g.causes.iter().all(|k| !k.confirm.is_empty()),
                "{}: every cause says how to confirm it",
                c.id
            );
        }
        assert_eq!(
            guide::GUIDES.len(),
            CLASSES.len(),
            "no guide for an unknown class"
        );
    }

    #[test]
    fn codes_that_mean_different_things_per_stage_say_so() {
        let e = explain("AccessDenied").unwrap();
        assert_eq!(e.class, "trust_policy_denied");
        assert_eq!(
            e.other_stages,
            [OtherStage {
                stage: "connect",
                class: "connect_access_denied"
            }]
        );
        assert!(render_text(&e)
            .contains("As a connect error the same text means connect_access_denied"));
    }

    #[test]
    fn unknown_text_is_not_guessed() {
        assert!(explain("the printer is on fire").is_none());
        assert!(not_recognised("x").contains("does not recognise"));
    }
}
