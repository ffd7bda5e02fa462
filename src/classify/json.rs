//! Forgiving reads from a parsed CloudTrail record. Real records drift across
//! `eventVersion`s: fields go missing, turn `null`, or change type (a number
//! becomes a string). Every accessor here answers `None` rather than failing,
//! and treats an empty string as absent.
//!
//! Records are read straight off simd-json's tape (`decode::parse`): a key
//! is found by a short scan of its object, and nothing is allocated. Where
//! a JSON object repeats a key, the first one counts.

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
    at(value, path)?.into_string().filter(|s| !s.is_empty())
}

/// An owned copy of [`str_at`].
pub fn string_at(value: &Value<'_, '_>, path: &[&str]) -> Option<String> {
    str_at(value, path).map(str::to_owned)
}

/// An integer at `path`, whether stored as a number or as a numeric string.
pub fn int_at(value: &Value<'_, '_>, path: &[&str]) -> Option<i64> {
    let v = at(value, path)?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if let Some(f) = v.as_f64() {
        return (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64);
    }
    v.into_string()?.trim().parse().ok()
}

/// The `ARN` of the first entry of `resources[]` whose `type` is `kind`.
pub fn resource_arn<'i>(record: &Value<'_, 'i>, kind: &str) -> Option<&'i str> {
    at(record, &["resources"])?
        .as_array()?
        .iter()
        .find(|r| str_at(r, &["type"]) == Some(kind))
        .and_then(|r| str_at(&r, &["ARN"]).or_else(|| str_at(&r, &["arn"])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_tolerate_drift() {
        let mut bytes =
            r#"{"a":{"b":"x","e":""},"n":3600,"s":"1800","f":1.5,"nul":null,
                "resources":[{"type":"AWS::IAM::Role","ARN":"arn:r"},{"type":"AWS::IAM::SAMLProvider","ARN":"arn:p"}],
                "dup":"first","dup":"second"}"#
            .as_bytes()
            .to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("test JSON parses");
        let v = tape.as_value();
        assert_eq!(str_at(&v, &["a", "b"]), Some("x"));
        assert_eq!(str_at(&v, &["a", "e"]), None, "empty string is absent");
        assert_eq!(str_at(&v, &["a", "b", "c"]), None, "path through a string");
        assert_eq!(str_at(&v, &["nul", "x"]), None, "path through null");
        assert_eq!(int_at(&v, &["n"]), Some(3600));
        assert_eq!(int_at(&v, &["s"]), Some(1800), "number as string");
        assert_eq!(int_at(&v, &["f"]), None, "fractions are not durations");
        assert_eq!(resource_arn(&v, "AWS::IAM::SAMLProvider"), Some("arn:p"));
        assert_eq!(resource_arn(&v, "AWS::S3::Bucket"), None);
        assert_eq!(
            str_at(&v, &["dup"]),
            Some("first"),
            "a repeated key: the first counts"
        );
    }
}
