//! The response body collector: any limit, declared length and chunking.
//!
//! Besides not panicking (or reserving a declared length it was lied to about): the body is
//! exactly the chunks accepted, never longer than the limit, and a refused chunk changes
//! nothing.

#![no_main]

use arbitrary::Unstructured;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use vault_key_core::transport::BodyCollector;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let limit = if u.arbitrary()? {
        usize::from(u.arbitrary::<u16>()?)
    } else {
        u.arbitrary()?
    };
    let declared: Option<u64> = u.arbitrary()?;
    let Ok(mut collector) = BodyCollector::new(limit, declared) else {
        assert!(declared.is_some_and(|d| d > limit as u64));
        return Ok(());
    };
    let mut expected = Vec::new();
    while !u.is_empty() {
        let len = u.arbitrary_len::<u8>()?.min(4096);
        let chunk = u.bytes(len)?;
        match collector.push(chunk) {
            Ok(()) => expected.extend_from_slice(chunk),
            Err(_) => assert!(expected.len() + chunk.len() > limit),
        }
        assert_eq!(collector.len(), expected.len());
        assert!(collector.len() <= limit);
    }
    if u.arbitrary()? {
        assert_eq!(&collector.finish()[..], &expected[..]);
    } else {
        let partial = collector.into_partial(StatusCode::OK);
        assert_eq!(partial.body().expose(), &expected[..]);
    }
    Ok(())
}
