//! Prescan: finds each record of an inflated CloudTrail object, and which of
//! them could be one fedtrail keeps, without parsing the JSON. Most records
//! of a real trail are other services' API calls; parsing only the few that
//! name a kept event lets a scan run near the speed of decompression.
//!
//! The scan works on 64-byte blocks: bit masks of quotes, backslashes and
//! brackets (AVX2 or SSE2 on x86-64, a byte loop elsewhere) give which bytes lie
//! inside strings, as in simdjson's first stage, and the brackets outside
//! strings give each record's extent. The keys `"eventName"` and
//! `"eventSource"` are found with `memmem` and placed by depth.
//!
//! A record is left unparsed, and counted as not fedtrail's, only when it
//! has exactly one `eventName` and one `eventSource` key at its top level,
//! each a non-empty string with no escapes, and the name is not one that
//! [`classify`](crate::classify) can keep. Every other record is a
//! *candidate*: parsed with simd-json and classified as usual. A document
//! that is not a plain `{"Records":[{...},...]}` with valid UTF-8 (a byte
//! order mark and whitespace between tokens are allowed; a digest file, an
//! element that is not an object, another top-level key, a stray byte
//! between records, an unterminated string, unbalanced brackets are not) gets
//! no split at all: the caller parses it whole, so its errors are reported
//! exactly as before. In records left unparsed only this structure is
//! checked, not every rule of JSON; they cannot be federation events or
//! changes either way.

use std::ops::Range;

use memchr::memmem;

use crate::classify::kept_event_names;

/// One record of a document: its bytes, and whether it must be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub bytes: Range<usize>,
    pub candidate: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";
const NAME_KEY: &[u8] = b"\"eventName\"";
const SOURCE_KEY: &[u8] = b"\"eventSource\"";

/// Depth of a record's own keys: the document object, `Records`, the record.
const RECORD_DEPTH: u32 = 3;

/// Reused buffers of the prescan.
#[derive(Default)]
pub struct Prescan {
    /// Key positions: (position, is the name key, depth at that position).
    keys: Vec<(usize, bool, u32)>,
    /// The `eventSource` keys, before they are merged into `keys`.
    sources: Vec<(usize, bool, u32)>,
    pub spans: Vec<Span>,
}

impl Prescan {
    /// Splits `doc` into records in `self.spans`. `false` when the document
    /// is not in the plain shape this handles: parse it whole instead.
    pub fn split(&mut self, doc: &[u8]) -> bool {
        self.spans.clear();
        self.keys.clear();
        let Some(base) = records_start(doc) else {
            return false;
        };
        if simdutf8::basic::from_utf8(doc).is_err() {
            return false;
        }
        // Both keys in document order: two searches, merged.
        self.sources.clear();
        self.sources
            .extend(memmem::find_iter(doc, SOURCE_KEY).map(|p| (p, false, 0)));
        let mut sources = self.sources.iter().copied().peekable();
        for name in memmem::find_iter(doc, NAME_KEY) {
            while let Some(source) = sources.next_if(|s| s.0 < name) {
                self.keys.push(source);
            }
            self.keys.push((name, true, 0));
        }
        self.keys.extend(sources);
        if !self.structure(doc, base) {
            self.spans.clear();
            return false;
        }
        let mut k = 0;
        for span in &mut self.spans {
            while k < self.keys.len() && self.keys[k].0 < span.bytes.start {
                k += 1;
            }
            let first = k;
            while k < self.keys.len() && self.keys[k].0 < span.bytes.end {
                k += 1;
            }
            span.candidate = is_candidate(doc, &self.keys[first..k]);
        }
        true
    }

    /// Walks the brackets outside strings from `base` (just inside the
    /// `Records` array), recording each record's extent and the depth of
    /// every key. `false` on anything but the plain shape.
    fn structure(&mut self, doc: &[u8], base: usize) -> bool {
        let body = &doc[base..];
        let mut depth = 2u32;
        let mut key = 0usize;
        // Where the bytes between records, which must be separators, begin.
        let mut gap_from = base;
        let mut first = true;
        let mut state = BlockState::default();
        for (b, chunk) in body.chunks(64).enumerate() {
            let masks = state.next(chunk);
            let mut bits = masks.structural;
            while bits != 0 {
                let at = base + b * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                while key < self.keys.len() && self.keys[key].0 < at {
                    self.keys[key].2 = depth;
                    key += 1;
                }
                let byte = doc[at];
                let opens = byte == b'{' || byte == b'[';
                match (depth, opens) {
                    (2, true) => {
                        let sep = if first { &[][..] } else { &b","[..] };
                        if byte != b'{' || !is_gap(&doc[gap_from..at], sep) {
                            return false;
                        }
                        first = false;
                        self.spans.push(Span {
                            bytes: at..at,
                            candidate: true,
                        });
                        depth = 3;
                    }
                    (2, false) => {
                        if byte != b']' || !is_gap(&doc[gap_from..at], b"") {
                            return false;
                        }
                        depth = 1;
                        gap_from = at + 1;
                    }
                    (1, _) => {
                        // Only the document's closing brace may follow.
                        if byte != b'}' || !is_gap(&doc[gap_from..at], b"") {
                            return false;
                        }
                        depth = 0;
                        gap_from = at + 1;
                    }
                    (0, _) => return false,
                    (_, true) => depth += 1,
                    (_, false) => {
                        depth -= 1;
                        if depth == 2 {
                            let span = self.spans.last_mut().expect("opened above");
                            if byte != b'}' {
                                return false;
                            }
                            span.bytes.end = at + 1;
                            gap_from = at + 1;
                        }
                    }
                }
            }
        }
        for k in &mut self.keys[key..] {
            k.2 = depth;
        }
        depth == 0 && !state.in_string() && is_gap(&doc[gap_from..], b"")
    }
}

/// Where the `Records` array's elements begin, when `doc` opens with
/// `{"Records":[` (after an optional byte order mark, with any whitespace
/// between the tokens).
fn records_start(doc: &[u8]) -> Option<usize> {
    let mut at = if doc.starts_with(BOM) { BOM.len() } else { 0 };
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        while doc.get(at).is_some_and(|b| is_ws(*b)) {
            at += 1;
        }
        if !doc[at..].starts_with(token) {
            return None;
        }
        at += token.len();
    }
    Some(at)
}

/// Whether `gap` is whitespace around exactly the separator `sep` (or only
/// whitespace when `sep` is empty).
fn is_gap(gap: &[u8], sep: &[u8]) -> bool {
    let mut rest = gap.iter().filter(|b| !is_ws(**b));
    match sep.first() {
        None => rest.next().is_none(),
        Some(s) => rest.next() == Some(s) && rest.next().is_none(),
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether a record, given the `eventName`/`eventSource` keys inside it,
/// must be parsed.
fn is_candidate(doc: &[u8], keys: &[(usize, bool, u32)]) -> bool {
    let mut name = None;
    let mut source = 0;
    for &(at, is_name, depth) in keys {
        // A key nested deeper, or one whose quote may be escaped, is not
        // plainly the record's own.
        if depth != RECORD_DEPTH || doc[at - 1] == b'\\' {
            return true;
        }
        let len = if is_name {
            NAME_KEY.len()
        } else {
            SOURCE_KEY.len()
        };
        let Some(value) = string_value(doc, at + len) else {
            return true;
        };
        if is_name {
            if name.replace(value).is_some() {
                return true;
            }
        } else {
            source += 1;
        }
    }
    match name {
        Some(name) if source == 1 => is_kept(name),
        _ => true,
    }
}

/// The text of a plain string value after a key ending at `from`: `: "..."`,
/// non-empty and without escapes. `None` for anything else.
fn string_value(doc: &[u8], from: usize) -> Option<&[u8]> {
    let mut i = from;
    let skip = |mut i: usize| {
        while i < doc.len() && is_ws(doc[i]) {
            i += 1;
        }
        i
    };
    i = skip(i);
    if doc.get(i) != Some(&b':') {
        return None;
    }
    i = skip(i + 1);
    if doc.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = memchr::memchr2(b'"', b'\\', &doc[start..])?;
    let value = &doc[start..start + len];
    (doc[start + len] == b'"' && !value.is_empty()).then_some(value)
}

fn is_kept(name: &[u8]) -> bool {
    use std::sync::OnceLock;
    /// The kept names by length: most names are ruled out by their length
    /// or by one comparison.
    static KEPT: OnceLock<Vec<Vec<&'static [u8]>>> = OnceLock::new();
    let by_len = KEPT.get_or_init(|| {
        let mut by_len = Vec::new();
        for name in kept_event_names() {
            if by_len.len() <= name.len() {
                by_len.resize(name.len() + 1, Vec::new());
            }
            by_len[name.len()].push(name.as_bytes());
        }
        by_len
    });
    by_len
        .get(name.len())
        .is_some_and(|names| names.contains(&name))
}

/// The bit masks of one 64-byte block (bit i is byte i).
struct Masks {
    /// Brackets and braces outside strings.
    structural: u64,
}

/// What carries from one block to the next.
#[derive(Default)]
struct BlockState {
    /// The next block's first byte is escaped by a trailing backslash.
    escaped: u64,
    /// All ones when the previous block ended inside a string.
    in_string: u64,
}

impl BlockState {
    fn in_string(&self) -> bool {
        self.in_string != 0
    }

    fn next(&mut self, chunk: &[u8]) -> Masks {
        let raw = if chunk.len() == 64 {
            raw_masks(chunk.try_into().expect("64 bytes"))
        } else {
            let mut block = [b' '; 64];
            block[..chunk.len()].copy_from_slice(chunk);
            raw_masks(&block)
        };
        let escaped = self.escaped_bits(raw.backslash);
        let quotes = raw.quote & !escaped;
        let inside = prefix_xor(quotes) ^ self.in_string;
        self.in_string = ((inside as i64) >> 63) as u64;
        Masks {
            structural: (raw.open | raw.close) & !inside,
        }
    }

    /// The bytes escaped by a backslash (simdjson's odd-run rule).
    fn escaped_bits(&mut self, backslash: u64) -> u64 {
        const EVEN: u64 = 0x5555_5555_5555_5555;
        let backslash = backslash & !self.escaped;
        let follows_escape = (backslash << 1) | self.escaped;
        let odd_starts = backslash & !EVEN & !follows_escape;
        let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
        self.escaped = u64::from(overflow);
        let invert = even_starts << 1;
        (EVEN ^ invert) & follows_escape
    }
}

/// Bit i set when an odd number of bits at or below i are set in `x`.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

struct RawMasks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

#[cfg(target_arch = "x86_64")]
fn raw_masks(block: &[u8; 64]) -> RawMasks {
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { raw_masks_avx2(block) }
    } else {
        raw_masks_sse2(block)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn raw_masks_avx2(block: &[u8; 64]) -> RawMasks {
    use std::arch::x86_64::*;
    let mut m = RawMasks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    // SAFETY: the caller checked for AVX2; each load is 32 bytes inside the
    // 64-byte array.
    unsafe {
        // `[` and `{` differ only in bit 0x20, as do `]` and `}`.
        let lower = _mm256_set1_epi8(0x20);
        let quote = _mm256_set1_epi8(b'"' as i8);
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        let open = _mm256_set1_epi8(b'{' as i8);
        let close = _mm256_set1_epi8(b'}' as i8);
        for i in 0..2 {
            let v = _mm256_loadu_si256(block.as_ptr().add(i * 32) as *const __m256i);
            let folded = _mm256_or_si256(v, lower);
            let at = i * 32;
            m.quote |= u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, quote)) as u32) << at;
            m.backslash |=
                u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, backslash)) as u32) << at;
            m.open |= u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(folded, open)) as u32) << at;
            m.close |=
                u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(folded, close)) as u32) << at;
        }
    }
    m
}

#[cfg(target_arch = "x86_64")]
fn raw_masks_sse2(block: &[u8; 64]) -> RawMasks {
    use std::arch::x86_64::*;
    let mut m = RawMasks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    // SAFETY: SSE2 is part of the x86-64 baseline; each load is 16 bytes
    // inside the 64-byte array.
    unsafe {
        let lower = _mm_set1_epi8(0x20);
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let open = _mm_set1_epi8(b'{' as i8);
        let close = _mm_set1_epi8(b'}' as i8);
        for i in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(i * 16) as *const __m128i);
            let folded = _mm_or_si128(v, lower);
            let at = i * 16;
            m.quote |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u16) << at;
            m.backslash |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash)) as u16) << at;
            m.open |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, open)) as u16) << at;
            m.close |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(folded, close)) as u16) << at;
        }
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
fn raw_masks(block: &[u8; 64]) -> RawMasks {
    scalar_masks(block)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn scalar_masks(block: &[u8; 64]) -> RawMasks {
    let mut m = RawMasks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
    };
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{classify, Classified, Origin};

    fn split(doc: &str) -> Option<Vec<Span>> {
        let mut p = Prescan::default();
        p.split(doc.as_bytes()).then(|| p.spans.clone())
    }

    fn record(name: &str, extra: &str) -> String {
        format!(r#"{{"eventSource":"x.amazonaws.com","eventName":"{name}"{extra}}}"#)
    }

    #[test]
    fn finds_each_record_and_parses_only_kept_names() {
        let a = record(
            "DescribeInstances",
            r#","requestParameters":{"a":[1,{"b":"}]{["}]}"#,
        );
        let b = record("AssumeRoleWithSAML", "");
        let doc = format!("{{\"Records\":[{a}, \n{b}]}}\n");
        let spans = split(&doc).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(&doc[spans[0].bytes.clone()], a);
        assert_eq!(&doc[spans[1].bytes.clone()], b);
        assert!(!spans[0].candidate);
        assert!(spans[1].candidate);
        assert_eq!(split(r#"{"Records":[]}"#), Some(vec![]));
    }

    #[test]
    fn doubtful_records_are_parsed() {
        let doubtful = [
            // no source, no name, an empty name, a name with an escape
            r#"{"eventName":"GetObject"}"#.to_string(),
            r#"{"eventSource":"s3.amazonaws.com"}"#.to_string(),
            record("", ""),
            record(r"Get\u004fbject", ""),
            // the name key twice, nested, or not followed by a string
            record("GetObject", r#","eventName":"AssumeRoleWithSAML""#),
            r#"{"eventSource":"s","requestParameters":{"eventName":"GetObject"}}"#.to_string(),
            r#"{"eventSource":"s","eventName":7}"#.to_string(),
            // a key that ends in an escaped quote is not plainly `eventName`
            r#"{"eventSource":"s","x\"eventName":"GetObject"}"#.to_string(),
        ];
        for r in doubtful {
            let spans = split(&format!(r#"{{"Records":[{r}]}}"#)).unwrap();
            assert!(spans[0].candidate, "{r}");
        }
        let plain = record("GetObject", r#","note":"eventName\"x""#);
        assert!(!split(&format!(r#"{{"Records":[{plain}]}}"#)).unwrap()[0].candidate);
    }

    #[test]
    fn a_byte_order_mark_and_whitespace_between_tokens_still_split() {
        let r = record("AssumeRoleWithSAML", "");
        for doc in [
            format!("\u{feff}{{\"Records\":[{r}]}}"),
            format!("{{ \"Records\" :\n[ {r} ,\n\t{r}\r\n] }}\n"),
            "\u{feff} {\"Records\":[]}".to_string(),
        ] {
            let spans = split(&doc).unwrap_or_else(|| panic!("no split: {doc}"));
            assert!(
                spans
                    .iter()
                    .all(|s| doc[s.bytes.clone()] == r && s.candidate),
                "{doc}"
            );
        }
        for doc in [
            r#"{"Records" [{}]}"#,
            r#"{"Records":{}}"#,
            r#"{"records":[]}"#,
            "{",
        ] {
            assert_eq!(split(doc), None, "{doc}");
        }
    }

    #[test]
    fn anything_but_the_plain_shape_is_parsed_whole() {
        let r = record("GetObject", "");
        for doc in [
            format!(r#"{{"Records":[{r},7]}}"#),
            format!(r#"{{"Records":[{r} {r}]}}"#),
            format!(r#"{{"Records":[{r},,{r}]}}"#),
            format!(r#"{{"Records":[{r},]}}"#),
            format!(r#"{{"Records":[{r}]}} x"#),
            format!(r#"{{"Records":[{r}]}}{{}}"#),
            format!(r#"{{"Records":[{r}], "more":1}}"#),
            format!(r#"{{"Records":[{r}]"#),
            r#"{"Records":[{"a":"unterminated}]}"#.to_string(),
            r#"{"Records":[{"a":[1}]}"#.to_string(),
            r#"{"digestStartTime":"x","logFiles":[]}"#.to_string(),
        ] {
            assert_eq!(split(&doc), None, "{doc}");
        }
        let mut bad_utf8 = format!(r#"{{"Records":[{r}]}}"#).into_bytes();
        bad_utf8[20] = 0xff;
        assert!(!Prescan::default().split(&bad_utf8));
    }

    /// Strings full of quotes, backslashes and brackets, placed at every
    /// offset across block boundaries, never move a record's edges.
    #[test]
    fn strings_and_escapes_across_blocks() {
        let nasty = ["\\", "\\\\", "\"", "\\\"", "{[", "]}", "\\\\\\", "a\"}b"];
        for pad in 0..140 {
            let value = "x".repeat(pad);
            let records: Vec<String> = nasty
                .iter()
                .map(|s| {
                    let body = serde_json::json!({
                        "eventSource": "s3.amazonaws.com",
                        "eventName": "GetObject",
                        "p": format!("{value}{s}"),
                        "q": [s.repeat(3), value.clone()],
                    });
                    body.to_string()
                })
                .collect();
            let doc = format!("{{\"Records\":[{}]}}", records.join(","));
            let spans = split(&doc).unwrap_or_else(|| panic!("no split at pad {pad}"));
            let found: Vec<&str> = spans.iter().map(|s| &doc[s.bytes.clone()]).collect();
            assert_eq!(found, records, "pad {pad}");
            assert!(spans.iter().all(|s| !s.candidate), "pad {pad}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_masks_match_the_byte_loop() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = b"\"\\{}[]ab: ,"[(state % 11) as usize];
            }
            let f = scalar_masks(&block);
            let want = (f.quote, f.backslash, f.open, f.close);
            let s = raw_masks_sse2(&block);
            assert_eq!((s.quote, s.backslash, s.open, s.close), want);
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                let a = unsafe { raw_masks_avx2(&block) };
                assert_eq!((a.quote, a.backslash, a.open, a.close), want);
            }
        }
    }

    /// On the bundled sample logs, every record the prescan leaves unparsed
    /// is one `classify` ignores.
    #[test]
    fn unparsed_records_are_ones_classify_ignores() {
        let origin = Origin {
            object: "test".into(),
            account: None,
        };
        let mut files = Vec::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        let (mut split_docs, mut skipped, mut parsed) = (0, 0, 0);
        let mut p = Prescan::default();
        let mut text = Vec::new();
        for f in files {
            let raw = std::fs::read(&f).unwrap();
            if crate::decode::inflate(&raw, 1 << 30, &mut text).is_err() || !p.split(&text) {
                continue;
            }
            split_docs += 1;
            for span in &p.spans {
                let mut record = text[span.bytes.clone()].to_vec();
                let tape = simd_json::to_tape(&mut record).unwrap();
                let verdict = classify(&tape.as_value(), &origin);
                if span.candidate {
                    parsed += 1;
                } else {
                    skipped += 1;
                    assert_eq!(verdict, Ok(Classified::Ignored), "{}", f.display());
                }
            }
        }
        assert!(split_docs > 1000 && skipped > 3000 && parsed > 3000);
    }
}
