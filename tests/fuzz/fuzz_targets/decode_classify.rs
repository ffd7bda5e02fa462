//! Decode + classify on arbitrary bytes. Nothing may panic, and wherever the
//! whole-document parse reads an object, the prescan path must agree with
//! it record by record: the same records, a record left unparsed only when
//! classify ignores it, and a parsed record classified the same.

#![no_main]

use fedtrail::classify::{classify, Origin};
use fedtrail::decode;
use fedtrail::prescan::Prescan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut text = Vec::new();
    if decode::inflate(data, 1 << 20, &mut text).is_err() {
        return;
    }
    let origin = Origin {
        object: "fuzz".into(),
        account: None,
    };
    let mut whole = text.clone();
    let mut buffers = simd_json::Buffers::default();
    let full = decode::parse(&mut whole, &mut buffers).ok().and_then(|doc| {
        let records = decode::records(&doc).ok()?;
        Some(records.iter().map(|r| classify(&r, &origin)).collect::<Vec<_>>())
    });
    let mut prescan = Prescan::default();
    if !prescan.split(&text) {
        return;
    }
    let mut parsed = Vec::new();
    for span in &prescan.spans {
        let mut record = text[span.bytes.clone()].to_vec();
        parsed.push(if span.candidate {
            simd_json::to_tape(&mut record)
                .ok()
                .map(|tape| classify(&tape.as_value(), &origin))
        } else {
            None
        });
    }
    if let Some(full) = full {
        assert_eq!(full.len(), prescan.spans.len(), "record count");
        for ((want, span), got) in full.iter().zip(&prescan.spans).zip(&parsed) {
            if span.candidate {
                assert_eq!(got.as_ref(), Some(want), "a parsed record");
            } else {
                assert_eq!(
                    want,
                    &Ok(fedtrail::classify::Classified::Ignored),
                    "a record left unparsed"
                );
            }
        }
    }
});
