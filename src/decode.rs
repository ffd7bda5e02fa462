//! Decode: an object's stored bytes in, its `Records` out. Inflates every gzip
//! member (never just the first), refuses to inflate past a configured cap,
//! tolerates a UTF-8 byte-order mark, and parses the `{"Records":[...]}`
//! document with simd-json in place. Synchronous and allocation-aware: the
//! caller owns and reuses the buffers in [`Scratch`].

use flate2::{Crc, Decompress, FlushDecompress, Status};
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
    Corrupt(String),
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
    pub inflater: Inflater,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Puts the document's JSON text into `out`: inflated if `raw` is gzip, copied
/// if it is already JSON. Either way at most `limit` bytes. A one-off
/// [`Inflater::inflate`]; a worker keeps its inflater in [`Scratch`].
pub fn inflate(raw: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    Inflater::default().inflate(raw, limit, out)
}

/// A gzip reader kept from object to object: one raw-deflate state, reset
/// for each gzip member, so an object costs no decompressor set-up. The
/// gzip framing (RFC 1952 header, CRC-32 and length trailer, concatenated
/// members) is read here.
pub struct Inflater {
    state: Decompress,
}

impl Default for Inflater {
    fn default() -> Self {
        // Raw deflate with the default 32 KiB window: the one mode whose
        // reset keeps the state's memory.
        Inflater {
            state: Decompress::new(false),
        }
    }
}

/// Output room offered to the decompressor at a time, at least.
const INFLATE_STEP: usize = 64 * 1024;

impl Inflater {
    /// See [`inflate`].
    pub fn inflate(
        &mut self,
        raw: &[u8],
        limit: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        out.clear();
        if raw.is_empty() {
            return Err(DecodeError::Empty);
        }
        if raw.starts_with(&GZIP_MAGIC) {
            let mut at = 0;
            while at < raw.len() {
                at += self.member(&raw[at..], limit, out)?;
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

    /// Inflates the gzip member at the start of `raw` onto `out`; returns
    /// how many bytes of `raw` it took.
    fn member(&mut self, raw: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<usize, DecodeError> {
        let truncated = |out: &Vec<u8>| DecodeError::Truncated(out.len());
        let mut at = gzip_header(raw).map_err(|e| e.unwrap_or_else(|| truncated(out)))?;
        let first = out.len();
        self.state.reset(false);
        loop {
            if out.len() as u64 > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            if out.capacity() == out.len() {
                let room = INFLATE_STEP.max(out.len() / 2);
                out.reserve(
                    room.min(limit.saturating_add(1).saturating_sub(out.len() as u64) as usize)
                        .max(1),
                );
            }
            let (taken, made) = (self.state.total_in(), self.state.total_out());
            let status = self
                .state
                .decompress_vec(&raw[at..], out, FlushDecompress::None)
                .map_err(|e| DecodeError::Corrupt(format!("bad deflate data ({e})")))?;
            at += (self.state.total_in() - taken) as usize;
            match status {
                Status::StreamEnd => break,
                // No progress with room to write: the input ran out.
                _ if self.state.total_in() == taken && self.state.total_out() == made => {
                    return Err(truncated(out));
                }
                _ => {}
            }
        }
        if out.len() as u64 > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        let Some(trailer) = raw.get(at..at + 8) else {
            return Err(truncated(out));
        };
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let mut crc = Crc::new();
        crc.update(&out[first..]);
        if crc.sum() != word(&trailer[..4]) {
            return Err(DecodeError::Corrupt(
                "CRC-32 mismatch: the data is damaged".into(),
            ));
        }
        if word(&trailer[4..]) != (out.len() - first) as u32 {
            return Err(DecodeError::Corrupt(
                "length in the trailer does not match the data".into(),
            ));
        }
        Ok(at + 8)
    }
}

/// The length of the gzip member header at the start of `raw`. `Err(None)`
/// when `raw` ends inside it, `Err(Some(..))` when it is not a gzip header.
fn gzip_header(raw: &[u8]) -> Result<usize, Option<DecodeError>> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let corrupt = |why: &str| Some(DecodeError::Corrupt(why.into()));
    if !raw.starts_with(&GZIP_MAGIC[..raw.len().min(2)]) {
        return Err(corrupt("unexpected bytes after a gzip member"));
    }
    let fixed = raw.get(..10).ok_or(None)?;
    if fixed[2] != 8 {
        return Err(corrupt("unknown compression method in the gzip header"));
    }
    let flags = fixed[3];
    if flags & 0xe0 != 0 {
        return Err(corrupt("reserved flags set in the gzip header"));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = raw.get(at..at + 2).ok_or(None)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end = raw
                .get(at..)
                .ok_or(None)?
                .iter()
                .position(|&b| b == 0)
                .ok_or(None)?;
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        let stored = raw.get(at..at + 2).ok_or(None)?;
        let mut crc = Crc::new();
        crc.update(&raw[..at]);
        if crc.sum() as u16 != u16::from_le_bytes([stored[0], stored[1]]) {
            return Err(corrupt("gzip header checksum mismatch"));
        }
        at += 2;
    }
    if at > raw.len() {
        return Err(None);
    }
    Ok(at)
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

    /// What flate2's own multi-member reader makes of `raw`.
    fn reference(raw: &[u8]) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn one_inflater_reads_object_after_object_like_flate2() {
        let mut inflater = Inflater::default();
        let mut out = Vec::new();
        let mut seed = 7u64;
        for n in 0..60usize {
            // Text of varied length and compressibility, split into 1-3 members.
            let text: Vec<u8> = (0..n * 997)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if i % 7 == 0 {
                        (seed >> 33) as u8
                    } else {
                        b"{\"Records\":[]}"[i % 14]
                    }
                })
                .collect();
            let cuts = [0, text.len() / 3, text.len() * 2 / 3, text.len()];
            let members = 1 + n % 3;
            let mut raw = Vec::new();
            for m in 0..members {
                let (a, b) = (cuts[m * 3 / members], cuts[(m + 1) * 3 / members]);
                raw.extend(gzip(&text[a..b]));
            }
            if text.is_empty() {
                continue;
            }
            inflater.inflate(&raw, 1 << 30, &mut out).unwrap();
            assert_eq!(out, reference(&raw).unwrap(), "object {n}");
            // Cut anywhere, the object is refused, as flate2 refuses it; and
            // the next object still reads.
            for cut in [1, 5, 10, raw.len() / 2, raw.len() - 8, raw.len() - 1] {
                let err = inflater.inflate(&raw[..cut], 1 << 30, &mut out);
                assert!(
                    err.is_err() && reference(&raw[..cut]).is_err(),
                    "object {n} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn gzip_framing_is_checked() {
        let text = br#"{"Records":[]}"#;
        let mut named = Vec::new();
        let mut enc = flate2::GzBuilder::new()
            .filename("log.json")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(&mut named, flate2::Compression::fast());
        enc.write_all(text).unwrap();
        enc.finish().unwrap();
        let mut out = Vec::new();
        inflate(&named, 1 << 20, &mut out).unwrap();
        assert_eq!(out, text);

        // A header checksum (FHCRC): right, then wrong.
        let plain = gzip(text);
        let mut with_hcrc = plain[..10].to_vec();
        with_hcrc[3] |= 2;
        let mut crc = Crc::new();
        crc.update(&with_hcrc);
        with_hcrc.extend((crc.sum() as u16).to_le_bytes());
        with_hcrc.extend(&plain[10..]);
        inflate(&with_hcrc, 1 << 20, &mut out).unwrap();
        assert_eq!(out, text);
        let mut bad_hcrc = with_hcrc.clone();
        bad_hcrc[10] ^= 1;

        let mut bad_len = plain.clone();
        let n = bad_len.len();
        bad_len[n - 1] ^= 1;
        let mut garbage_after = plain.clone();
        garbage_after.extend(b"\n\0");
        let mut bad_method = plain.clone();
        bad_method[2] = 7;
        let mut bad_data = plain.clone();
        bad_data[10] = 0xff; // a reserved deflate block type
        let cases = [
            ("header crc", bad_hcrc, "gzip header checksum mismatch"),
            ("length", bad_len, "length in the trailer"),
            (
                "after",
                garbage_after,
                "unexpected bytes after a gzip member",
            ),
            ("method", bad_method, "unknown compression method"),
            ("deflate", bad_data, "bad deflate data"),
            ("header cut", plain[..6].to_vec(), "truncated gzip stream"),
            (
                "trailer cut",
                plain[..n - 3].to_vec(),
                "truncated gzip stream",
            ),
        ];
        for (name, raw, want) in cases {
            let err = inflate(&raw, 1 << 20, &mut out)
                .expect_err(name)
                .to_string();
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
