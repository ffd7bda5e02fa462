//! Forgiving reads from a parsed CloudTrail record. Real records drift across
//! `eventVersion`s: fields go missing, turn `null`, or change type (a number
//! becomes a string). Every accessor here answers `None` rather than failing,
//! and treats an empty string as absent.
//!
//! Records are read straight off simd-json's tape (`decode::parse`): a
//! record's top-level fields are found in one pass over its keys
//! ([`Record`]), a nested key by a short scan of its object, and nothing is
//! allocated. Where a JSON object repeats a key, the first one counts.

use simd_json::prelude::*;

/// A value on the tape: `Copy`, borrowing the tape (`'t`) and the parsed
/// text (`'i`).
pub type Value<'t, 'i> = simd_json::tape::Value<'t, 'i>;

/// The value at a path of object keys, if every step exists.
pub fn at<'t, 'i>(value: &Value<'t, 'i>, path: &[&str]) -> Option<Value<'t, 'i>> {
    path.iter()
        .try_fold(*value, |v, key| v.as_object()?.get(*key))
}

/// A non-empty string at `path`.
pub fn str_at<'i>(value: &Value<'_, 'i>, path: &[&str]) -> Option<&'i str> {
    at(value, path).and_then(non_empty)
}

/// `v` if it is a non-empty string.
fn non_empty<'i>(v: Value<'_, 'i>) -> Option<&'i str> {
    v.into_string().filter(|s| !s.is_empty())
}

/// `v` as an integer, whether a number or a numeric string.
fn int(v: Value<'_, '_>) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if let Some(f) = v.as_f64() {
        return (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64);
    }
    v.into_string()?.trim().parse().ok()
}

/// A record, with the top-level fields [`classify`](super) reads found in
/// one pass over its keys. A kept record is read along some 40 paths, most
/// of them through these few fields: a scan of the record's ~20 keys for
/// each path was ~2% of a scan's CPU.
#[derive(Clone, Copy)]
pub struct Record<'t, 'i> {
    value: Value<'t, 'i>,
    fields: [Option<Value<'t, 'i>>; FIELDS.len()],
}

/// The top-level keys a [`Record`] finds in its one pass.
const FIELDS: [&str; 17] = [
    "eventSource",
    "eventName",
    "eventType",
    "eventTime",
    "eventID",
    "errorCode",
    "errorMessage",
    "recipientAccountId",
    "awsRegion",
    "userIdentity",
    "requestParameters",
    "responseElements",
    "serviceEventDetails",
    "additionalEventData",
    "resources",
    "sourceIPAddress",
    "userAgent",
];

/// Where a top-level key is kept in [`Record`]'s fields, if it is.
fn field(key: &str) -> Option<usize> {
    FIELDS.iter().position(|f| *f == key)
}

impl<'t, 'i> Record<'t, 'i> {
    /// `value`'s fields, if it is an object.
    pub fn of(value: Value<'t, 'i>) -> Option<Record<'t, 'i>> {
        let mut fields = [None; FIELDS.len()];
        for (key, v) in value.as_object()?.iter() {
            if let Some(i) = field(key) {
                // A repeated key: the first counts, as in `at`.
                fields[i].get_or_insert(v);
            }
        }
        Some(Record { value, fields })
    }

    /// The value at a path of object keys, as [`at`].
    pub fn at(&self, path: &[&str]) -> Option<Value<'t, 'i>> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self.value);
        };
        let top = match field(first) {
            Some(i) => self.fields[i]?,
            None => self.value.as_object()?.get(*first)?,
        };
        at(&top, rest)
    }

    /// A non-empty string at `path`, as [`str_at`].
    pub fn str(&self, path: &[&str]) -> Option<&'i str> {
        self.at(path).and_then(non_empty)
    }

    /// An owned copy of [`Record::str`].
    pub fn string(&self, path: &[&str]) -> Option<String> {
        self.str(path).map(str::to_owned)
    }

    /// An integer at `path`, whether stored as a number or as a numeric
    /// string.
    pub fn int(&self, path: &[&str]) -> Option<i64> {
        self.at(path).and_then(int)
    }

    /// The `ARN` of the first entry of `resources[]` whose `type` is `kind`.
    pub fn resource_arn(&self, kind: &str) -> Option<&'i str> {
        self.at(&["resources"])?
            .as_array()?
            .iter()
            .find(|r| str_at(r, &["type"]) == Some(kind))
            .and_then(|r| str_at(&r, &["ARN"]).or_else(|| str_at(&r, &["arn"])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_tolerate_drift() {
        let mut bytes = r#"{"requestParameters":{"b":"x","e":""},"n":3600,"s":"1800",
                "f":1.5,"nul":null,"eventName":"first","eventName":"second",
                "resources":[{"type":"AWS::IAM::Role","ARN":"arn:r"},
                    {"type":"AWS::IAM::SAMLProvider","ARN":"arn:p"}],
                "dup":"first","dup":"second","awsRegion":{"nested":"r"}}"#
            .as_bytes()
            .to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("test JSON parses");
        let v = tape.as_value();
        let r = Record::of(v).expect("an object");
        let p = "requestParameters";
        assert_eq!(r.str(&[p, "b"]), Some("x"));
        assert_eq!(r.str(&[p, "e"]), None, "empty string is absent");
        assert_eq!(r.str(&[p, "b", "c"]), None, "path through a string");
        assert_eq!(r.str(&["nul", "x"]), None, "path through null");
        assert_eq!(r.int(&["n"]), Some(3600));
        assert_eq!(r.int(&["s"]), Some(1800), "number as string");
        assert_eq!(r.int(&["f"]), None, "fractions are not durations");
        assert_eq!(r.resource_arn("AWS::IAM::SAMLProvider"), Some("arn:p"));
        assert_eq!(r.resource_arn("AWS::S3::Bucket"), None);
        for key in ["dup", "eventName"] {
            assert_eq!(
                r.str(&[key]),
                Some("first"),
                "repeated {key}: the first counts"
            );
        }
        // The fields found in one pass answer as a scan of the keys does,
        // for keys kept as fields and others, present or not.
        let paths: &[&[&str]] = &[
            &[p, "b"],
            &[p, "e"],
            &[p],
            &["n"],
            &["s"],
            &["dup"],
            &["eventName"],
            &["eventSource"],
            &["awsRegion"],
            &["awsRegion", "nested"],
            &["resources"],
            &["userIdentity", "arn"],
            &[],
        ];
        for path in paths {
            assert_eq!(r.at(path), at(&v, path), "{path:?}");
            assert_eq!(r.str(path), str_at(&v, path), "{path:?}");
            assert_eq!(r.int(path), at(&v, path).and_then(int), "{path:?}");
        }
        assert!(Record::of(r.at(&["n"]).unwrap()).is_none(), "not an object");
    }
}
