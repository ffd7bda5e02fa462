//! `--redact`: session names, user names and source IPs become keyed
//! pseudonyms (HMAC-SHA-256), so a report can be shared without personal
//! data. The same name under the same key always gets the same pseudonym,
//! run after run. Redaction happens as each record is classified, so every
//! table, finding and summary sees only pseudonyms.
//!
//! Pseudonyms keep what the analyses look at, and nothing more:
//! - names that differ only in case get pseudonyms that differ only in case
//!   (the base comes from the lower-cased name, the case of its letters
//!   from the exact name), so `session_name_case_drift` and the Connect
//!   username matching still work;
//! - an e-mail address keeps its domain (`n-k3ftq...@example.com`), so
//!   `session_name_format_mismatch` still works;
//! - leading and trailing whitespace is kept, for `session_name_whitespace`.
//!
//! Error messages that quote a redacted name have it replaced too. What is
//! not redacted: account ids, role and provider ARNs, user agents, and the
//! IdP's issuer and audience.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::model::{shared, ConfigChange, FedEvent};

/// The value CloudTrail writes for an unknown user: kept as it is.
const HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// Letters of a pseudonym (RFC 4648 base32, lower case).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Letters in a pseudonym: 80 bits.
const TOKEN_LEN: usize = 16;

#[derive(Clone)]
pub struct Redactor {
    key: Hmac<Sha256>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor(key id {})", self.key_id())
    }
}

impl Redactor {
    /// `None` when the key is shorter than [`MIN_KEY_BYTES`].
    pub fn new(key: &[u8]) -> Option<Redactor> {
        if key.len() < MIN_KEY_BYTES {
            return None;
        }
        let key = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        Some(Redactor { key })
    }

    fn mac(&self, domain: &str, text: &str) -> [u8; 32] {
        let mut mac = self.key.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(text.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Names the key without revealing it: recorded in the state, so that a
    /// report is never merged with one redacted under another key.
    pub fn key_id(&self) -> String {
        self.mac("key id", "")[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The pseudonym of a person's name (a session name, a user name).
    pub fn name(&self, name: &str) -> String {
        if name == HIDDEN {
            return name.to_string();
        }
        let core = name.trim();
        let (lead, trail) = name.split_at(name.len() - name.trim_start().len());
        let trail = &trail[core.len()..];
        let (local, domain) = match core.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && domain.contains('.') => {
                (local, Some(domain))
            }
            _ => (core, None),
        };
        let base = self.mac("name", &local.to_lowercase());
        let case = self.mac("case", local);
        let token: String = (0..TOKEN_LEN)
            .map(|i| {
                let c = ALPHABET[usize::from(base[i] & 31)] as char;
                if case[i / 8] >> (i % 8) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        match domain {
            Some(domain) => format!("{lead}n-{token}@{domain}{trail}"),
            None => format!("{lead}n-{token}{trail}"),
        }
    }

    /// The pseudonym of a source IP address (or host name).
    pub fn ip(&self, ip: &str) -> String {
        let mac = self.mac("ip", ip);
        let token: String = mac[..TOKEN_LEN]
            .iter()
            .map(|b| ALPHABET[usize::from(b & 31)] as char)
            .collect();
        format!("ip-{token}")
    }

    /// An ARN or principal id with the person in it replaced: the user of a
    /// `user/` ARN, the session of an `assumed-role/` or `federated-user/`
    /// one, the session after `:` of a principal id. A service name or an
    /// identity type is kept.
    pub fn actor(&self, actor: &str) -> String {
        if actor.starts_with("arn:") {
            let personal = [":user/", ":assumed-role/", ":federated-user/"]
                .iter()
                .any(|kind| actor.contains(kind));
            return match actor.rsplit_once('/') {
                Some((head, who)) if personal => format!("{head}/{}", self.name(who)),
                _ => actor.to_string(),
            };
        }
        match actor.split_once(':') {
            // A principal id, ROLEID:session.
            Some((id, who)) if id.chars().all(|c| c.is_ascii_alphanumeric()) => {
                format!("{id}:{}", self.name(who))
            }
            _ => actor.to_string(),
        }
    }

    /// Redacts an event's personal fields, and those names where its error
    /// message quotes them.
    pub fn event(&self, e: &mut FedEvent) {
        let mut quoted = Vec::new();
        for field in [&mut e.session_name, &mut e.user_name] {
            if let Some(name) = field.as_mut() {
                let pseudonym = self.name(name);
                quoted.push((name.to_string(), pseudonym.clone()));
                *name = shared(&pseudonym);
            }
        }
        if let Some(ip) = e.source_ip.as_mut() {
            *ip = shared(&self.ip(ip));
        }
        if let Some(text) = e
            .error_message
            .as_deref()
            .and_then(|m| replace_quoted(m, &quoted))
        {
            e.error_message = Some(text.into());
        }
    }

    /// Redacts a change's actor, and its target when that is a user.
    pub fn change(&self, c: &mut ConfigChange) {
        if let Some(actor) = c.actor.as_mut() {
            *actor = self.actor(actor);
        }
        if c.target_type == "user" {
            if let Some(target) = c.target.as_mut() {
                let pseudonym = self.name(target);
                let quoted = [(std::mem::replace(target, pseudonym.clone()), pseudonym)];
                if let Some(text) = c
                    .error_message
                    .as_deref()
                    .and_then(|m| replace_quoted(m, &quoted))
                {
                    c.error_message = Some(text);
                }
            }
        }
    }
}

/// `message` with each name (three characters or more, so that short names
/// do not eat words) it quotes replaced; `None` if it quotes none.
fn replace_quoted(message: &str, names: &[(String, String)]) -> Option<String> {
    let mut text: Option<String> = None;
    for (name, pseudonym) in names {
        let name = name.trim();
        let now = text.as_deref().unwrap_or(message);
        if name.chars().count() >= 3 && now.contains(name) {
            text = Some(now.replace(name, pseudonym.trim()));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(b"a test key of enough length").unwrap()
    }

    #[test]
    fn same_name_same_pseudonym_and_other_keys_differ() {
        let r = redactor();
        assert_eq!(r.name("jdoe"), r.name("jdoe"));
        assert_ne!(r.name("jdoe"), r.name("jdoe2"));
        assert!(r.name("jdoe").starts_with("n-") && !r.name("jdoe").contains("jdoe"));
        let other = Redactor::new(b"another key, also long enough").unwrap();
        assert_ne!(r.name("jdoe"), other.name("jdoe"));
        assert_ne!(r.key_id(), other.key_id());
        assert!(Redactor::new(b"short").is_none());
        assert_ne!(r.ip("10.0.0.1"), r.ip("10.0.0.2"));
        assert!(!r.ip("10.0.0.1").contains("10.0"));
    }

    #[test]
    fn pseudonyms_keep_case_pairs_e_mail_domains_and_padding() {
        let r = redactor();
        let (upper, lower) = (r.name("DDoe"), r.name("ddoe"));
        assert_ne!(upper, lower, "different spellings stay different");
        assert_eq!(
            upper.to_lowercase(),
            lower.to_lowercase(),
            "but equal ignoring case"
        );
        assert_ne!(r.name("ddoe").to_lowercase(), r.name("jdoe").to_lowercase());
        let mail = r.name("Jane.Doe@example.com");
        assert!(
            mail.ends_with("@example.com") && !mail.contains("Jane"),
            "{mail}"
        );
        let padded = r.name(" jdoe ");
        assert_eq!(padded, format!(" {} ", r.name("jdoe")));
        assert_eq!(r.name(HIDDEN), HIDDEN);
    }

    #[test]
    fn actors_lose_the_person_not_the_role() {
        let r = redactor();
        let jane = r.name("jane@example.com");
        assert_eq!(
            r.actor("arn:aws:sts::111122223333:assumed-role/Admin/jane@example.com"),
            format!("arn:aws:sts::111122223333:assumed-role/Admin/{jane}")
        );
        assert_eq!(
            r.actor("arn:aws:iam::111122223333:user/ops/jane@example.com"),
            format!("arn:aws:iam::111122223333:user/ops/{jane}")
        );
        assert_eq!(
            r.actor("AROAEXAMPLE:jane@example.com"),
            format!("AROAEXAMPLE:{jane}")
        );
        for kept in [
            "arn:aws:iam::111122223333:root",
            "cloudformation.amazonaws.com",
            "AWSService",
        ] {
            assert_eq!(r.actor(kept), kept);
        }
    }
}
