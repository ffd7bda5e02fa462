//! Prescan: finds each record of an inflated CloudTrail object, and which of
//! them could be one fedtrail keeps, without parsing the JSON. Most records
//! of a real trail are other services' API calls; parsing only the few that
//! name a kept event lets a scan run near the speed of decompression.
//!
//! One pass over 64-byte blocks computes bit masks of quotes, backslashes,
//! brackets and the quotes that have the letters of `"eventName"` before
//! them (AVX-512 or AVX2 on x86-64, a byte loop elsewhere). As in
//! simdjson's first stage, the quotes and backslashes give which bytes lie
//! inside strings; the brackets outside strings give each record's extent,
//! and those closing quotes place the key by depth. Only a document with a
//! byte above 0x7f is then checked for UTF-8 in full.
//!
//! A record is left unparsed, and counted as not fedtrail's, only when it
//! has exactly one `eventName` key at its top level, a non-empty string with
//! no escapes, and [`classify`](crate::classify) cannot keep a record with
//! that name from any source, or with that text (a console sign-in that
//! names no SAML principal). Its `eventSource` is not read: a record whose
//! name is kept from another source (STS's own `GetFederationToken`; Amazon
//! Connect's is kept) is parsed, and `classify` drops it. Every other record
//! is a *candidate*: parsed with simd-json and classified as usual.
//!
//! A document that is not a plain `{"Records":[{...},...]}` with valid
//! UTF-8 (a byte order mark and whitespace between tokens are allowed; a
//! digest file, an element that is not an object, another top-level key, a
//! stray byte between records, an unterminated string, unbalanced brackets
//! are not) gets no split at all: the caller parses it whole, so its errors
//! are reported exactly as before. In records left unparsed only this
//! structure is checked, not every rule of JSON; they cannot be federation
//! events or changes either way.

use std::ops::Range;

use crate::classify::{kept_event_names, may_keep_named};

/// One record of a document: its bytes, and whether it must be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub bytes: Range<usize>,
    pub candidate: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";
const NAME_KEY: &[u8; 11] = b"\"eventName\"";

/// Depth of a record's own keys: the document object, `Records`, the record.
const RECORD_DEPTH: u32 = 3;

/// The prescan's reused buffer: the records of the last document split.
#[derive(Default)]
pub struct Prescan {
    pub spans: Vec<Span>,
}

impl Prescan {
    /// Splits `doc` into records in `self.spans`. `false` when the document
    /// is not in the plain shape this handles: parse it whole instead.
    pub fn split(&mut self, doc: &[u8]) -> bool {
        self.spans.clear();
        let split = records_start(doc).and_then(|base| {
            let ascii = walk(doc, base, &mut self.spans)?;
            // Only a document with a byte above 0x7f needs a full check.
            (ascii && doc[..base].is_ascii() || simdutf8::basic::from_utf8(doc).is_ok())
                .then_some(())
        });
        if split.is_none() {
            self.spans.clear();
        }
        split.is_some()
    }
}

/// Walks `doc` from `base` (just inside the `Records` array) with the
/// fastest mask kernel this CPU has. `None` on anything but the plain
/// shape; otherwise whether every byte walked was ASCII.
fn walk(doc: &[u8], base: usize, spans: &mut Vec<Span>) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
        {
            // SAFETY: the CPU has AVX-512BW and PCLMULQDQ, checked just above.
            return unsafe { walk_avx512(doc, base, spans) };
        }
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
        {
            // SAFETY: the CPU has AVX2 and PCLMULQDQ, checked just above.
            return unsafe { walk_avx2(doc, base, spans) };
        }
    }
    walk_with(doc, base, spans, scalar_masks)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,pclmulqdq")]
unsafe fn walk_avx512(doc: &[u8], base: usize, spans: &mut Vec<Span>) -> Option<bool> {
    // SAFETY: this function runs only where AVX-512BW and PCLMULQDQ are.
    walk_with(doc, base, spans, |block| unsafe { raw_masks_avx512(block) })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq")]
unsafe fn walk_avx2(doc: &[u8], base: usize, spans: &mut Vec<Span>) -> Option<bool> {
    // SAFETY: this function runs only where AVX2 and PCLMULQDQ are.
    walk_with(doc, base, spans, |block| unsafe { raw_masks_avx2(block) })
}

/// The walk itself, inlined into each kernel's function so that the masks
/// of a block are computed in registers.
#[inline(always)]
fn walk_with(
    doc: &[u8],
    base: usize,
    spans: &mut Vec<Span>,
    masks: impl Fn(&Block) -> RawMasks,
) -> Option<bool> {
    let mut walk = Walk {
        doc,
        spans,
        depth: 2,
        gap_from: base,
        first: true,
        record: Record::default(),
        state: BlockState::default(),
        high: 0,
    };
    let mut padded = [b' '; BEFORE + 64];
    let mut at = base;
    while at < doc.len() {
        // Every block with `BEFORE` bytes before it and 64 in it, read in
        // place.
        if let Some(last) = doc.len().checked_sub(64).filter(|_| at >= BEFORE) {
            while at <= last {
                let block = doc[at - BEFORE..at + 64]
                    .try_into()
                    .expect("BEFORE + 64 bytes");
                walk.block(at, masks(block))?;
                at += 64;
            }
            if at >= doc.len() {
                break;
            }
        }
        // The first and the last block, copied with spaces around them.
        padded.fill(b' ');
        let before = &doc[at.saturating_sub(BEFORE)..at];
        padded[BEFORE - before.len()..BEFORE].copy_from_slice(before);
        let rest = &doc[at..doc.len().min(at + 64)];
        padded[BEFORE..BEFORE + rest.len()].copy_from_slice(rest);
        walk.block(at, masks(&padded))?;
        at += 64;
    }
    let gap = &doc[walk.gap_from..];
    (walk.depth == 0 && walk.state.in_string == 0 && is_gap(gap, b"")).then_some(walk.high == 0)
}

/// A 64-byte block to compute the masks of, with the `BEFORE` bytes that
/// precede it (spaces before the document's start), which the letters of a
/// key may lie in.
type Block = [u8; BEFORE + 64];
const BEFORE: usize = 16;

/// The state of a walk over the brackets and keys outside strings.
struct Walk<'a, 'b> {
    doc: &'a [u8],
    spans: &'b mut Vec<Span>,
    depth: u32,
    /// Where the bytes between records, which must be separators, begin.
    gap_from: usize,
    first: bool,
    /// The record being walked.
    record: Record<'a>,
    state: BlockState,
    /// Not 0 when some byte walked is above 0x7f.
    high: u64,
}

/// What a record's own `eventName` key says about it.
#[derive(Default)]
struct Record<'a> {
    name: Option<&'a [u8]>,
    /// A key that is not plainly the record's own, or not a plain string.
    doubt: bool,
}

impl Record<'_> {
    /// Whether the record, whose text is `text`, must be parsed: unless it
    /// has exactly one plain `eventName` and no source's record with that
    /// name, or not with that text, can be kept ([`may_keep_named`]). Most
    /// names are ruled out by [`is_kept`] alone.
    fn candidate(&self, text: &[u8]) -> bool {
        self.doubt
            || self
                .name
                .is_none_or(|name| is_kept(name) && can_keep(name, text))
    }
}

impl<'a> Walk<'a, '_> {
    /// Walks one 64-byte block starting at `at`. `None` on anything but the
    /// plain shape.
    #[inline(always)]
    fn block(&mut self, at: usize, raw: RawMasks) -> Option<()> {
        self.high |= raw.high;
        let (structural, keys) = self.state.next(&raw);
        let mut bits = structural | keys;
        while bits != 0 {
            let i = bits.trailing_zeros();
            bits &= bits - 1;
            let pos = at + i as usize;
            if keys >> i & 1 != 0 {
                self.key(pos);
                continue;
            }
            // 1 for `{` or `[`, 0 for `}` or `]`: their bit 0x02, read from
            // the byte itself (it was just loaded) rather than from a mask
            // made for every block.
            let opens = u32::from(self.doc[pos] >> 1 & 1);
            if self.depth + opens > RECORD_DEPTH {
                // Inside a record: only the depth changes.
                self.depth = self.depth + 2 * opens - 1;
            } else {
                self.boundary(pos)?;
            }
        }
        Some(())
    }

    /// A bracket outside strings at `at` that opens or closes a record, or
    /// lies outside every record.
    fn boundary(&mut self, at: usize) -> Option<()> {
        let doc = self.doc;
        let byte = doc[at];
        let opens = byte == b'{' || byte == b'[';
        match (self.depth, opens) {
            (2, true) => {
                let sep = if self.first { &[][..] } else { &b","[..] };
                if byte != b'{' || !is_gap(&doc[self.gap_from..at], sep) {
                    return None;
                }
                self.first = false;
                self.spans.push(Span {
                    bytes: at..at,
                    candidate: true,
                });
                self.record = Record::default();
                self.depth = RECORD_DEPTH;
            }
            (2, false) => {
                if byte != b']' || !is_gap(&doc[self.gap_from..at], b"") {
                    return None;
                }
                self.depth = 1;
                self.gap_from = at + 1;
            }
            (1, _) => {
                // Only the document's closing brace may follow.
                if byte != b'}' || !is_gap(&doc[self.gap_from..at], b"") {
                    return None;
                }
                self.depth = 0;
                self.gap_from = at + 1;
            }
            (0, _) => return None,
            _ => {
                // A record's own closing bracket: `block` moves the depth
                // inside records itself.
                debug_assert_eq!((self.depth, opens), (RECORD_DEPTH, false));
                if byte != b'}' {
                    return None;
                }
                self.depth = 2;
                let span = self.spans.last_mut().expect("opened above");
                span.bytes.end = at + 1;
                span.candidate = self.record.candidate(&doc[span.bytes.clone()]);
                self.gap_from = at + 1;
            }
        }
        Some(())
    }

    /// A closing quote at `end` that may end an `eventName` key.
    #[cold]
    fn key(&mut self, end: usize) {
        let doc = self.doc;
        if self.depth < RECORD_DEPTH || !ends_with(doc, end, NAME_KEY) {
            return;
        }
        let start = end + 1 - NAME_KEY.len();
        let record = &mut self.record;
        // A key nested deeper, or one whose opening quote may be escaped, is
        // not plainly the record's own.
        if self.depth != RECORD_DEPTH || start > 0 && doc[start - 1] == b'\\' {
            record.doubt = true;
            return;
        }
        match string_value(doc, end + 1) {
            None => record.doubt = true,
            Some(value) => record.doubt |= record.name.replace(value).is_some(),
        }
    }
}

/// Whether `doc[..=end]` ends with `key`, compared as a fixed-size array
/// (inline, not a `memcmp` call).
#[inline(always)]
fn ends_with<const N: usize>(doc: &[u8], end: usize, key: &[u8; N]) -> bool {
    (end + 1)
        .checked_sub(N)
        .and_then(|start| <&[u8; N]>::try_from(&doc[start..=end]).ok())
        == Some(key)
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
    // Mostly so: CloudTrail writes no whitespace.
    if let ([g], [s]) = (gap, sep) {
        return g == s;
    }
    let mut rest = gap.iter().filter(|b| !is_ws(**b));
    match sep.first() {
        None => rest.next().is_none(),
        Some(s) => rest.next() == Some(s) && rest.next().is_none(),
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The text of a plain string value after a key ending at `from`: `: "..."`,
/// non-empty and without escapes. `None` for anything else.
fn string_value(doc: &[u8], from: usize) -> Option<&[u8]> {
    let skip = |mut i: usize| {
        while i < doc.len() && is_ws(doc[i]) {
            i += 1;
        }
        i
    };
    let start = if doc.get(from..from + 2) == Some(b":\"") {
        // Mostly so: CloudTrail writes no whitespace.
        from + 2
    } else {
        let i = skip(from);
        if doc.get(i) != Some(&b':') {
            return None;
        }
        let i = skip(i + 1);
        if doc.get(i) != Some(&b'"') {
            return None;
        }
        i + 1
    };
    let len = quote_or_backslash(&doc[start..])?;
    let value = &doc[start..start + len];
    (doc[start + len] == b'"' && !value.is_empty()).then_some(value)
}

/// The place of the first `"` or `\` in `bytes`. The values read are
/// short (an event's name and source): on x86-64 the first 64 bytes are
/// looked at 16 at a time (~34 instructions a value, against ~55 for a
/// call to `memchr2`, counted by callgrind); the rest, if any, by
/// `memchr2`.
#[inline]
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= bytes.len() && at < 64 {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64, and the 16 bytes from `at` lie
        // inside `bytes`.
        let hits = unsafe {
            let v = _mm_loadu_si128(bytes.as_ptr().add(at).cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(quote, backslash))
        };
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize);
        }
        at += 16;
    }
    memchr::memchr2(b'"', b'\\', &bytes[at..]).map(|i| at + i)
}

/// [`may_keep_named`] of a name that is UTF-8, and `true` when it is not
/// (such a record is parsed, and its error reported).
fn can_keep(name: &[u8], text: &[u8]) -> bool {
    match std::str::from_utf8(name) {
        Ok(name) => may_keep_named(name, text),
        Err(_) => true,
    }
}

/// Whether some source's record with this name can be kept: true for the
/// names of [`kept_event_names`] only.
fn is_kept(name: &[u8]) -> bool {
    use std::sync::OnceLock;
    /// The kept names by length, each with its first eight bytes as a
    /// number: most names are ruled out by their length or by one
    /// comparison of numbers.
    type ByLength = Vec<Vec<(u64, &'static [u8])>>;
    static KEPT: OnceLock<ByLength> = OnceLock::new();
    let by_len = KEPT.get_or_init(|| {
        let mut by_len = Vec::new();
        for name in kept_event_names() {
            if by_len.len() <= name.len() {
                by_len.resize(name.len() + 1, Vec::new());
            }
            by_len[name.len()].push((head(name.as_bytes()), name.as_bytes()));
        }
        by_len
    });
    by_len.get(name.len()).is_some_and(|names| {
        let first = head(name);
        names.iter().any(|&(h, kept)| h == first && kept == name)
    })
}

/// The first eight bytes of `name` (fewer, padded with zeros) as a number,
/// read as one word: copying a prefix of variable length into an array is
/// a call to `memcpy`, which cost more than the rest of [`is_kept`].
fn head(name: &[u8]) -> u64 {
    match name.first_chunk::<8>() {
        Some(first) => u64::from_le_bytes(*first),
        None => (name.iter().rev()).fold(0, |head, &b| head << 8 | u64::from(b)),
    }
}

/// The bit masks of one 64-byte block's bytes (bit i is byte i). As few
/// as the walk needs: turning a vector into a mask is the costly step of
/// the AVX2 kernel.
#[derive(Debug, PartialEq, Eq)]
struct RawMasks {
    quote: u64,
    /// [`prefix_xor`] of `quote`.
    quote_prefix: u64,
    backslash: u64,
    /// `{`, `[`, `}` or `]`.
    bracket: u64,
    /// Quotes that may close the key `"eventName"` (`N` 4 bytes and `v` 8
    /// bytes before them).
    key: u64,
    /// Not 0 when some byte is above 0x7f: or-ed into the walk's, not
    /// tested, in each block.
    high: u64,
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
    /// The brackets outside strings, and the closing quotes that may end an
    /// `eventName` key.
    #[inline(always)]
    fn next(&mut self, raw: &RawMasks) -> (u64, u64) {
        // Set from each opening quote up to, not including, its closing one.
        // Most blocks have no backslash: the kernel's own prefix of the
        // quotes then holds, and blocks need not wait on each other's carry.
        let (quotes, inside) = if raw.backslash | self.escaped == 0 {
            (raw.quote, raw.quote_prefix)
        } else {
            let quotes = raw.quote & !self.escaped_bits(raw.backslash);
            (quotes, prefix_xor(quotes))
        };
        let inside = inside ^ self.in_string;
        self.in_string = ((inside as i64) >> 63) as u64;
        let closing = quotes & !inside;
        (raw.bracket & !inside, closing & raw.key)
    }

    /// The bytes escaped by a backslash (simdjson's odd-run rule).
    #[inline(always)]
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
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,pclmulqdq")]
#[inline]
unsafe fn raw_masks_avx512(block: &Block) -> RawMasks {
    use std::arch::x86_64::*;
    // SAFETY: the caller checked for AVX-512BW and PCLMULQDQ; every load is
    // 64 bytes inside the block and the `BEFORE` bytes before it (at most
    // 8 bytes back).
    unsafe {
        let at = |back: usize| _mm512_loadu_si512(block.as_ptr().add(BEFORE - back).cast());
        let v = at(0);
        // `[` and `{` differ only in bit 0x20, as do `]` and `}`.
        let folded = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
        let eq = |x, c: u8| _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(c as i8));
        let quote = eq(v, b'"');
        // Zero where byte i - 4 is `N` and byte i - 8 is `v`: found with
        // vector logic and one compare into a mask, not two.
        let x = _mm512_xor_si512(at(4), _mm512_set1_epi8(b'N' as i8));
        // x | (at(8) ^ 'v'): 0xF6 is A | (B ^ C), A, B, C the operands.
        let name = _mm512_ternarylogic_epi32::<0xF6>(x, at(8), _mm512_set1_epi8(b'v' as i8));
        let named = _mm512_testn_epi8_mask(name, name);
        RawMasks {
            quote,
            quote_prefix: clmul_prefix_xor(quote),
            backslash: eq(v, b'\\'),
            bracket: eq(folded, b'{') | eq(folded, b'}'),
            key: quote & named,
            high: _mm512_movepi8_mask(v),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq")]
#[inline]
unsafe fn raw_masks_avx2(block: &Block) -> RawMasks {
    use std::arch::x86_64::*;
    // SAFETY: the caller checked for AVX2 and PCLMULQDQ; every load is 32
    // bytes inside the block and the `BEFORE` bytes before it (at most 8
    // bytes back).
    unsafe {
        // The 32 bytes `back` bytes before half `i` of the block.
        let at = |i: usize, back: usize| {
            _mm256_loadu_si256(block.as_ptr().add(BEFORE + i * 32 - back).cast())
        };
        let bits = |v| u64::from(_mm256_movemask_epi8(v) as u32);
        // Vectors are combined first, so that each mask costs two
        // `movemask`s.
        let half = |i: usize| {
            let v = at(i, 0);
            let is = |x, c: u8| _mm256_cmpeq_epi8(x, _mm256_set1_epi8(c as i8));
            // `[` and `{` differ only in bit 0x20, as do `]` and `}`.
            let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
            let quote = is(v, b'"');
            let name = _mm256_and_si256(is(at(i, 4), b'N'), is(at(i, 8), b'v'));
            (
                quote,
                is(v, b'\\'),
                _mm256_or_si256(is(folded, b'{'), is(folded, b'}')),
                _mm256_and_si256(quote, name),
                v,
            )
        };
        let (lo, hi) = (half(0), half(1));
        let join = |a, b| bits(a) | bits(b) << 32;
        let quote = join(lo.0, hi.0);
        RawMasks {
            quote,
            quote_prefix: clmul_prefix_xor(quote),
            backslash: join(lo.1, hi.1),
            bracket: join(lo.2, hi.2),
            key: join(lo.3, hi.3),
            high: bits(_mm256_or_si256(lo.4, hi.4)),
        }
    }
}

/// [`prefix_xor`] in one carry-less multiplication by all ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
unsafe fn clmul_prefix_xor(x: u64) -> u64 {
    use std::arch::x86_64::*;
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(product) as u64
}

fn scalar_masks(block: &Block) -> RawMasks {
    let mut m = RawMasks {
        quote: 0,
        quote_prefix: 0,
        backslash: 0,
        bracket: 0,
        key: 0,
        high: 0,
    };
    for i in 0..64 {
        let bit = 1u64 << i;
        let back = |k: usize| block[BEFORE + i - k];
        match block[BEFORE + i] {
            b'"' => {
                m.quote |= bit;
                if back(4) == b'N' && back(8) == b'v' {
                    m.key |= bit;
                }
            }
            b'\\' => m.backslash |= bit,
            b'{' | b'[' | b'}' | b']' => m.bracket |= bit,
            0x80.. => m.high |= bit,
            _ => {}
        }
    }
    m.quote_prefix = prefix_xor(m.quote);
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
        from("sts.amazonaws.com", name, extra)
    }

    fn from(source: &str, name: &str, extra: &str) -> String {
        format!(r#"{{"eventSource":"{source}","eventName":"{name}"{extra}}}"#)
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
    fn a_name_kept_from_some_source_is_parsed_whatever_the_records_source() {
        let cases = [
            (
                from("connect.amazonaws.com", "GetFederationToken", ""),
                true,
            ),
            // Kept from Amazon Connect, not STS: parsed, and dropped by
            // `classify`.
            (from("sts.amazonaws.com", "GetFederationToken", ""), true),
            (from("s3.amazonaws.com", "AssumeRoleWithSAML", ""), true),
            // A console sign-in is kept for a SAML principal only.
            (from("signin.amazonaws.com", "ConsoleLogin", ""), false),
            (
                from(
                    "signin.amazonaws.com",
                    "ConsoleLogin",
                    r#","userIdentity":{"type":"SAMLUser"}"#,
                ),
                true,
            ),
            (from("s3.amazonaws.com", "GetObject", ""), false),
            // No source, or several: the name alone decides.
            (r#"{"eventName":"GetObject"}"#.to_string(), false),
            (from("s", "GetObject", r#","eventSource":"t""#), false),
            (
                r#"{"eventName":"AssumeRoleWithSAML","p":{}}"#.to_string(),
                true,
            ),
        ];
        for (r, parsed) in cases {
            let spans = split(&format!(r#"{{"Records":[{r}]}}"#)).unwrap();
            assert_eq!(spans[0].candidate, parsed, "{r}");
        }
    }

    #[test]
    fn kept_names_and_only_they_are_kept() {
        let kept = kept_event_names();
        for name in &kept {
            assert!(is_kept(name.as_bytes()), "{name}");
            let name = name.as_bytes();
            for i in 0..name.len() {
                let mut other = name.to_vec();
                other[i] ^= 0x20;
                assert!(!is_kept(&other), "{}", String::from_utf8_lossy(&other));
            }
            assert!(!is_kept(&name[1..]) && !is_kept(&name[..name.len() - 1]));
            assert!(!is_kept(&[name, b"x"].concat()));
        }
        for name in ["GetObject", "AssumeRole", "", "A", "ConsoleLogins"] {
            assert!(!is_kept(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn doubtful_records_are_parsed() {
        let doubtful = [
            // no name, an empty name, a name with an escape
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
    fn whitespace_around_a_keys_colon_is_read_past() {
        for colon in [":", " : ", ":\n\t", "\r\n:"] {
            let record = |source: &str, name: &str| {
                format!(r#"{{"eventSource"{colon}"{source}","eventName"{colon}"{name}"}}"#)
            };
            let skipped = record("s3.amazonaws.com", "GetObject");
            let kept = record("sts.amazonaws.com", "AssumeRoleWithSAML");
            let doc = format!(r#"{{"Records":[{skipped},{kept}]}}"#);
            let spans = split(&doc).unwrap_or_else(|| panic!("no split: {doc}"));
            let candidates: Vec<bool> = spans.iter().map(|s| s.candidate).collect();
            assert_eq!(candidates, [false, true], "{doc}");
        }
        // No colon, or no string, after the key: parsed (and its error
        // reported by the parser).
        for after in [r#" "GetObject""#, r#": GetObject"#, r#":"#] {
            let doc = format!(
                r#"{{"Records":[{{"eventSource":"s3.amazonaws.com","eventName"{after}}}]}}"#
            );
            assert!(split(&doc).unwrap()[0].candidate, "{doc}");
        }
    }

    #[test]
    fn a_value_ends_where_memchr2_finds_its_quote_or_backslash() {
        for len in 0..100 {
            for at in 0..=len {
                for stop in [b'"', b'\\'] {
                    let mut bytes = vec![b'x'; len];
                    if at < len {
                        bytes[at] = stop;
                    }
                    let want = memchr::memchr2(b'"', b'\\', &bytes);
                    assert_eq!(quote_or_backslash(&bytes), want, "{len} {at}");
                }
            }
        }
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

    /// Documents of every length modulo a block, long and short, end their
    /// last record where it ends: the last block is padded, the others are
    /// read in place.
    #[test]
    fn documents_of_every_length_split() {
        for pad in 0..200 {
            let r = from(
                "s3.amazonaws.com",
                "GetObject",
                &format!(r#","p":"{}""#, "x".repeat(pad)),
            );
            for doc in [
                format!(r#"{{"Records":[{r}]}}"#),
                format!(r#"{{"Records":[{r},{r}]}} "#),
            ] {
                let spans = split(&doc).unwrap_or_else(|| panic!("no split: {doc}"));
                assert!(spans
                    .iter()
                    .all(|s| doc[s.bytes.clone()] == r && !s.candidate));
                let cut = &doc[..doc.len() - 2];
                assert_eq!(split(cut), None, "{cut}");
            }
        }
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

    /// A random JSON value whose strings and keys are made of what the masks
    /// look for; objects may hold `eventName` and `eventSource` keys too.
    fn random_value(next: &mut impl FnMut(u64) -> u64, depth: u32) -> serde_json::Value {
        const PIECES: [&str; 13] = [
            "\"",
            "\\",
            "{",
            "}",
            "[",
            "]",
            "N",
            "S",
            "v",
            "é",
            "x",
            "eventName",
            "eventSource",
        ];
        let text = |next: &mut dyn FnMut(u64) -> u64| -> String {
            (0..next(5)).map(|_| PIECES[next(13) as usize]).collect()
        };
        match if depth > 2 { next(3) } else { next(5) } {
            0 => text(next).into(),
            1 => ["GetObject", "AssumeRoleWithSAML", "ConsoleLogin", ""][next(4) as usize].into(),
            2 => next(100).into(),
            3 => (0..next(3))
                .map(|_| random_value(next, depth + 1))
                .collect(),
            _ => random_object(next, depth + 1).into(),
        }
    }

    fn random_object(
        next: &mut impl FnMut(u64) -> u64,
        depth: u32,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut object = serde_json::Map::new();
        for _ in 0..next(6) {
            let key = match next(4) {
                0 => "eventName".to_string(),
                1 => "eventSource".to_string(),
                _ => random_value(next, 9).to_string(),
            };
            object.insert(key, random_value(next, depth));
        }
        object
    }

    /// Random records, serialised by serde_json, split exactly; a record is
    /// left unparsed only when its own `eventName` plainly names an event
    /// fedtrail keeps from no source, and always when it does and the key's
    /// text appears nowhere else in it.
    #[test]
    fn random_records_split_exactly_and_skip_only_plain_unkept_names() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut skipped, mut parsed) = (0, 0);
        for _ in 0..500 {
            let records: Vec<String> = (0..1 + next(8))
                .map(|_| {
                    let mut record = random_object(&mut next, 0);
                    if next(2) == 0 {
                        // Most real records: both keys, plain.
                        let name = ["GetObject", "AssumeRoleWithSAML", "PutObject"];
                        let source = ["s3.amazonaws.com", "sts.amazonaws.com"];
                        record.insert("eventSource".into(), source[next(2) as usize].into());
                        record.insert("eventName".into(), name[next(3) as usize].into());
                    }
                    serde_json::Value::from(record).to_string()
                })
                .collect();
            let doc = format!("{{\"Records\":[{}]}}", records.join(","));
            let spans = split(&doc).unwrap_or_else(|| panic!("no split: {doc}"));
            let found: Vec<&str> = spans.iter().map(|s| &doc[s.bytes.clone()]).collect();
            assert_eq!(found, records);
            for (span, text) in spans.iter().zip(&records) {
                let record: serde_json::Value = serde_json::from_str(text).unwrap();
                let plain = |key: &str| {
                    let value = record[key].as_str().filter(|v| !v.is_empty())?;
                    // No escapes in its text, and no other object has the key.
                    let written = serde_json::to_string(value).unwrap();
                    let elsewhere = text.matches(&format!("\"{key}\":")).count() > 1;
                    (written == format!("\"{value}\"") && !elsewhere).then_some(value)
                };
                let skippable =
                    plain("eventName").is_some_and(|n| !may_keep_named(n, text.as_bytes()));
                if !span.candidate {
                    skipped += 1;
                    assert!(skippable, "left unparsed: {text}");
                } else {
                    parsed += 1;
                    let unmistakable = text.matches("eventName\"").count() == 1;
                    assert!(!(skippable && unmistakable), "parsed: {text}");
                }
            }
        }
        assert!(
            skipped > 50 && parsed > 50,
            "{skipped} skipped, {parsed} parsed"
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_masks_match_the_byte_loop() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..4000 {
            let mut block = [0u8; BEFORE + 64];
            for b in &mut block {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = b"\"\\{}[]ab: ,NSv\xc3\xff\x7f"[(state % 17) as usize];
            }
            if round % 2 == 0 {
                // Most blocks are ASCII.
                block
                    .iter_mut()
                    .filter(|b| **b > 0x7f)
                    .for_each(|b| *b = b'a');
            }
            // Which bits of `high` are set is the kernel's own; whether any is
            // is the same.
            let same = |mut m: RawMasks| {
                m.high = u64::from(m.high != 0);
                m
            };
            let want = same(scalar_masks(&block));
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("pclmulqdq")
            {
                // SAFETY: the CPU has AVX2 and PCLMULQDQ.
                assert_eq!(same(unsafe { raw_masks_avx2(&block) }), want);
            }
            if std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("pclmulqdq")
            {
                // SAFETY: the CPU has AVX-512BW and PCLMULQDQ.
                assert_eq!(same(unsafe { raw_masks_avx512(&block) }), want);
            }
        }
    }

    /// Every kernel splits the same documents the same way.
    #[test]
    fn every_kernel_gives_the_same_split() {
        let r = record("GetObject", r#","p":"\\\"]}","q":"ü""#);
        let k = record("AssumeRoleWithSAML", "");
        for doc in [
            format!(r#"{{"Records":[{r},{k},{r}]}}"#),
            format!(r#"{{"Records":[{r},{k}],"x":1}}"#),
            "\u{feff}{\"Records\":[]}".to_string(),
        ] {
            let doc = doc.as_bytes();
            let base = records_start(doc).unwrap();
            let mut want = Vec::new();
            let ascii = walk_with(doc, base, &mut want, scalar_masks);
            let mut got = Vec::new();
            assert_eq!(walk(doc, base, &mut got), ascii);
            assert_eq!(got, want);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("pclmulqdq")
            {
                // SAFETY: the CPU has AVX2 and PCLMULQDQ.
                assert_eq!(unsafe { walk_avx2(doc, base, &mut got) }, ascii);
                assert_eq!(got[want.len()..], want);
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
