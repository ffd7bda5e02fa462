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
/// The gzip header flag for a header checksum (RFC 1952).
const FHCRC: u8 = 2;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Puts the document's JSON text into `out`: inflated if `raw` is gzip, copied
/// if it is already JSON. Either way at most `limit` bytes. A one-off
/// [`Inflater::inflate`]; a worker keeps its inflater in [`Scratch`].
pub fn inflate(raw: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    Inflater::default().inflate(raw, limit, out)
}

/// A gzip reader kept from object to object, so an object costs no
/// decompressor set-up.
///
/// Two decompressors, one for speed and one for answers. libdeflate
/// inflates each gzip member whole, in one call, checking its CRC-32 and
/// length: faster than a streaming inflater (`cargo bench --bench stages --
/// inflate:`). A member it cannot read (damaged, cut short, a header
/// checksum, more than `limit`) is read again by flate2's raw-deflate
/// state, reset for each member, with the gzip framing (RFC 1952 header,
/// trailer, concatenated members) read here; it finds exactly what is
/// wrong and how far the data went, so every object gets the reason it
/// would get from flate2 alone.
pub struct Inflater {
    state: Decompress,
    /// `None` for [`Inflater::flate2_only`].
    whole: Option<Whole>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            whole: Some(Whole::new()),
            ..Inflater::flate2_only()
        }
    }
}

/// A libdeflate decompressor: a few KiB of tables, no other state.
struct Whole(std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>);

// SAFETY: the decompressor is plain memory that only the call using it
// touches; `&mut self` on each use keeps calls from overlapping.
unsafe impl Send for Whole {}

impl Whole {
    fn new() -> Whole {
        // SAFETY: no preconditions; a null return means out of memory.
        let made = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        Whole(std::ptr::NonNull::new(made).expect("memory for a libdeflate decompressor"))
    }
}

impl Drop for Whole {
    fn drop(&mut self) {
        // SAFETY: allocated by `Whole::new` and freed only here.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// Output room offered to the decompressor at a time, at least.
const INFLATE_STEP: usize = 64 * 1024;

impl Inflater {
    /// An inflater that reads every object with flate2 (zlib-rs) alone:
    /// the comparison harness's second floor, the one issue 6 names.
    pub fn flate2_only() -> Inflater {
        // Raw deflate with the default 32 KiB window: the one mode whose
        // reset keeps the state's memory.
        Inflater {
            state: Decompress::new(false),
            whole: None,
        }
    }

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
                at += match self.whole_member(&raw[at..], limit, out) {
                    Some(took) => took,
                    None => self.member(&raw[at..], limit, out)?,
                };
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

    /// The fast path: inflates the gzip member at the start of `raw` onto
    /// `out` with libdeflate, in one call, unless its header has a checksum
    /// (which libdeflate skips unread). Returns how many bytes of `raw` it
    /// took, or `None`, leaving `out` as it was, when it did not succeed:
    /// [`Inflater::member`] then reads the member and says why.
    fn whole_member(&mut self, raw: &[u8], limit: u64, out: &mut Vec<u8>) -> Option<usize> {
        let whole = self.whole.as_ref()?;
        if raw.get(3)? & FHCRC != 0 {
            return None;
        }
        // Room for the member: the length the last member's trailer gives,
        // which is this member's when it is the only one; and for one of
        // several, 16 times `raw`, more than CloudTrail's JSON inflates to
        // (a member that inflates further goes to `member`). Never past
        // `limit`: a member that needs more is left to `member` to refuse.
        let last = u32::from_le_bytes(*raw.last_chunk::<4>()?) as usize;
        let left = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(out.len());
        let room = last.max(raw.len().saturating_mul(16)).min(left);
        out.reserve(room);
        let (mut took, mut made) = (0, 0);
        // SAFETY: libdeflate reads `raw` and writes at most `room` bytes
        // after `out`'s contents, into the spare capacity `reserve` made.
        let result = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                whole.0.as_ptr(),
                raw.as_ptr().cast(),
                raw.len(),
                out.as_mut_ptr().add(out.len()).cast(),
                room,
                &mut took,
                &mut made,
            )
        };
        if result != libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS {
            return None;
        }
        // SAFETY: on success libdeflate wrote `made` bytes (at most `room`).
        unsafe { out.set_len(out.len() + made) };
        Some(took)
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
        // A bomb whose trailer claims it is small.
        let mut lying = gzip(&vec![b' '; 10_000]);
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&10u32.to_le_bytes());
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
            ("lying bomb", lying, "decompresses to more than 1000 bytes"),
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
    fn libdeflate_and_flate2_alone_agree_on_damaged_objects() {
        let text: Vec<u8> = (0..40_000u32)
            .flat_map(|i| format!("{{\"eventID\":\"{}\"}},", i * 7919 % 1000).into_bytes())
            .collect();
        let good = gzip(&text);
        let mut two = good.clone();
        two.extend(gzip(b"more"));
        let (mut fast, mut alone) = (Inflater::default(), Inflater::flate2_only());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut tried = 0;
        for raw in [&good, &two] {
            let n = raw.len();
            // Every byte of the header and trailer, and a spread of the
            // deflate data, flipped; then cuts.
            let spots = (0..24).chain((24..n - 8).step_by(97)).chain(n - 8..n);
            let mut cases: Vec<Vec<u8>> = spots
                .map(|at| {
                    let mut bad = raw.clone();
                    bad[at] ^= 0x5a;
                    bad
                })
                .collect();
            cases.extend([0, 9, 10, n / 2, n - 8, n - 1].map(|cut| raw[..cut].to_vec()));
            cases.push(raw.clone());
            for case in cases {
                let x = fast
                    .inflate(&case, 1 << 22, &mut a)
                    .map_err(|e| e.to_string());
                let y = alone
                    .inflate(&case, 1 << 22, &mut b)
                    .map_err(|e| e.to_string());
                assert_eq!(x, y, "{} bytes", case.len());
                if x.is_ok() {
                    assert_eq!(a, b);
                }
                tried += 1;
            }
        }
        assert!(tried > 100);
        // Whole objects decode the same with either, one after another.
        fast.inflate(&two, 1 << 22, &mut a).unwrap();
        assert_eq!(a, reference(&two).unwrap());
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
