//! Decode: an object's stored bytes in, its `Records` out. Inflates every gzip
//! member (never just the first), refuses to inflate past a configured cap,
//! tolerates a UTF-8 byte-order mark, and parses the `{"Records":[...]}`
//! document with simd-json in place. Synchronous and allocation-aware: the
//! caller owns and reuses the buffers in [`Scratch`].

use std::io::Read;

use flate2::read::MultiGzDecoder;
use simd_json::tape::{Array as TapeArray, Tape};

/// Why an object could not be decoded. Each message reads well after
/// `path: `.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("empty object (0 bytes)")]
    Empty,
    #[error("neither gzip nor JSON (starts with {0})")]
    UnknownFormat(String),
    #[error("truncated gzip stream (cut short after {0} decompressed bytes)")]
    Truncated(usize),
    #[error("corrupt gzip: {0}")]
    Gzip(#[source] std::io::Error),
    #[error("decompresses to more than {limit} bytes (raise --max-object-size to read it)")]
    TooLarge { limit: u64 },
    #[error("gzip stream holds no data")]
    EmptyAfterInflate,
    #[error("invalid JSON: {0}")]
    Json(#[source] simd_json::Error),
    #[error("not a CloudTrail log: top level is not an object")]
    NotAnObject,
    #[error("looks like a CloudTrail digest file (digestStartTime, logFiles), not a log file")]
    Digest,
    #[error("not a CloudTrail log: no \"Records\" array at the top level")]
    NoRecords,
    #[error("\"Records\" is not an array")]
    RecordsNotArray,
}

/// Buffers reused from object to object on one worker.
#[derive(Default)]
pub struct Scratch {
    pub inflated: Vec<u8>,
    pub parser: simd_json::Buffers,
    pub prescan: crate::prescan::Prescan,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Puts the document's JSON text into `out`: inflated if `raw` is gzip, copied
/// if it is already JSON. Either way at most `limit` bytes.
pub fn inflate(raw: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    if raw.is_empty() {
        return Err(DecodeError::Empty);
    }
    if raw.starts_with(&GZIP_MAGIC) {
        let mut decoder = MultiGzDecoder::new(raw).take(limit.saturating_add(1));
        if let Err(e) = decoder.read_to_end(out) {
            return Err(match e.kind() {
                std::io::ErrorKind::UnexpectedEof => DecodeError::Truncated(out.len()),
                _ => DecodeError::Gzip(e),
            });
        }
        if out.len() as u64 > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        if out.is_empty() {
            return Err(DecodeError::EmptyAfterInflate);
        }
        return Ok(());
    }
    let text = raw.strip_prefix(BOM).unwrap_or(raw);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => {}
        _ => return Err(DecodeError::UnknownFormat(describe_start(raw))),
    }
    if raw.len() as u64 > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    out.extend_from_slice(raw);
    Ok(())
}

/// The first bytes of an unrecognised object, shown safely.
fn describe_start(raw: &[u8]) -> String {
    let head = &raw[..raw.len().min(8)];
    let printable = head.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    if printable {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        head.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Parses a log document in place into simd-json's tape: a flat list of
/// nodes, with no allocation per object or array. The tape borrows `text`.
pub fn parse<'t>(
    text: &'t mut [u8],
    parser: &mut simd_json::Buffers,
) -> Result<Tape<'t>, DecodeError> {
    let text = if text.starts_with(BOM) {
        &mut text[BOM.len()..]
    } else {
        text
    };
    simd_json::to_tape_with_buffers(text, parser).map_err(DecodeError::Json)
}

/// The `Records` array of a parsed log document.
pub fn records<'v, 't>(document: &'v Tape<'t>) -> Result<TapeArray<'v, 't>, DecodeError> {
    let top = document
        .as_value()
        .as_object()
        .ok_or(DecodeError::NotAnObject)?;
    match top.get("Records") {
        Some(records) => records.as_array().ok_or(DecodeError::RecordsNotArray),
        None if top.get("digestStartTime").is_some() || top.get("logFiles").is_some() => {
            Err(DecodeError::Digest)
        }
        None => Err(DecodeError::NoRecords),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    pub fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn decode(raw: &[u8], limit: u64) -> Result<usize, DecodeError> {
        let mut scratch = Scratch::default();
        inflate(raw, limit, &mut scratch.inflated)?;
        let doc = parse(&mut scratch.inflated, &mut scratch.parser)?;
        records(&doc).map(|r| r.len())
    }

    #[test]
    fn reads_every_gzip_member() {
        let mut two = gzip(br#"{"Records":[{"a":1},"#);
        two.extend(gzip(br#"{"b":2}]}"#));
        assert_eq!(decode(&two, 1 << 20).unwrap(), 2);
    }

    #[test]
    fn plain_json_and_bom_are_accepted() {
        assert_eq!(decode(br#"  {"Records":[]}"#, 1 << 20).unwrap(), 0);
        assert_eq!(
            decode(b"\xEF\xBB\xBF{\"Records\":[{}]}", 1 << 20).unwrap(),
            1
        );
        assert_eq!(
            decode(&gzip(b"\xEF\xBB\xBF{\"Records\":[{}]}"), 1 << 20).unwrap(),
            1
        );
    }

    #[test]
    fn bad_input_gets_a_reason() {
        let good = gzip(br#"{"Records":[{"eventName":"X"}]}"#);
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", vec![], "empty object"),
            (
                "text",
                b"hello world".to_vec(),
                "neither gzip nor JSON (starts with \"hello wo\")",
            ),
            (
                "binary",
                vec![0, 1, 2, 3],
                "neither gzip nor JSON (starts with 00 01 02 03)",
            ),
            (
                "truncated",
                good[..good.len() / 2].to_vec(),
                "truncated gzip stream",
            ),
            ("bad crc", bad_crc, "corrupt gzip"),
            ("empty gzip", gzip(b""), "gzip stream holds no data"),
            (
                "bomb",
                gzip(&vec![b' '; 10_000]),
                "decompresses to more than 1000 bytes",
            ),
            ("not json", gzip(b"{not json"), "invalid JSON"),
            ("array", gzip(b"[1,2]"), "top level is not an object"),
            ("no records", gzip(br#"{"foo":1}"#), "no \"Records\" array"),
            (
                "records not array",
                gzip(br#"{"Records":{}}"#),
                "\"Records\" is not an array",
            ),
            (
                "digest",
                gzip(br#"{"digestStartTime":"x","logFiles":[]}"#),
                "digest",
            ),
            (
                "invalid utf8",
                gzip(b"{\"Records\":[\"\xff\xfe\"]}"),
                "invalid JSON",
            ),
        ];
        for (name, raw, want) in cases {
            let err = decode(&raw, 1000).expect_err(name).to_string();
            assert!(
                err.contains(want),
                "{name}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let mut text = b"{\"Records\":[".to_vec();
        text.extend(std::iter::repeat_n(b'[', 5000));
        text.extend(std::iter::repeat_n(b']', 5000));
        text.extend(b"]}");
        let err = decode(&text, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("invalid JSON"), "{err}");
    }
}
