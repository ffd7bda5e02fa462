//! Forgiving reads from a parsed CloudTrail record. Real records drift across
//! `eventVersion`s: fields go missing, turn `null`, or change type (a number
//! becomes a string). Every accessor here answers `None` rather than failing,
//! and treats an empty string as absent.

use simd_json::prelude::*;
use simd_json::BorrowedValue as Value;

/// The value at a path of object keys, if every step exists.
pub fn at<'v, 'de>(value: &'v Value<'de>, path: &[&str]) -> Option<&'v Value<'de>> {
    path.iter()
        .try_fold(value, |v, key| v.as_object()?.get(*key))
}

/// A non-empty string at `path`.
pub fn str_at<'v>(value: &'v Value<'_>, path: &[&str]) -> Option<&'v str> {
    at(value, path)?.as_str().filter(|s| !s.is_empty())
}

/// An owned copy of [`str_at`].
pub fn string_at(value: &Value<'_>, path: &[&str]) -> Option<String> {
    str_at(value, path).map(str::to_owned)
}

/// An integer at `path`, whether stored as a number or as a numeric string.
pub fn int_at(value: &Value<'_>, path: &[&str]) -> Option<i64> {
    let v = at(value, path)?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if let Some(f) = v.as_f64() {
        return (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64);
    }
    v.as_str()?.trim().parse().ok()
}

/// The `ARN` of the first entry of `resources[]` whose `type` is `kind`.
pub fn resource_arn<'v>(record: &'v Value<'_>, kind: &str) -> Option<&'v str> {
    at(record, &["resources"])?
        .as_array()?
        .iter()
        .find(|r| str_at(r, &["type"]) == Some(kind))
        .and_then(|r| str_at(r, &["ARN"]).or_else(|| str_at(r, &["arn"])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value<'static> {
        let mut bytes = text.as_bytes().to_vec();
        simd_json::to_borrowed_value(&mut bytes)
            .map(|v| v.into_static())
            .expect("test JSON parses")
    }

    #[test]
    fn accessors_tolerate_drift() {
        let v = parse(
            r#"{"a":{"b":"x","e":""},"n":3600,"s":"1800","f":1.5,"nul":null,
                "resources":[{"type":"AWS::IAM::Role","ARN":"arn:r"},{"type":"AWS::IAM::SAMLProvider","ARN":"arn:p"}]}"#,
        );
        assert_eq!(str_at(&v, &["a", "b"]), Some("x"));
        assert_eq!(str_at(&v, &["a", "e"]), None, "empty string is absent");
        assert_eq!(str_at(&v, &["a", "b", "c"]), None, "path through a string");
        assert_eq!(str_at(&v, &["nul", "x"]), None, "path through null");
        assert_eq!(int_at(&v, &["n"]), Some(3600));
        assert_eq!(int_at(&v, &["s"]), Some(1800), "number as string");
        assert_eq!(int_at(&v, &["f"]), None, "fractions are not durations");
        assert_eq!(resource_arn(&v, "AWS::IAM::SAMLProvider"), Some("arn:p"));
        assert_eq!(resource_arn(&v, "AWS::S3::Bucket"), None);
    }
}
