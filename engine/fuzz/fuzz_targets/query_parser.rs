//! The query parser on any text: it returns an AST or an error, never panics or overflows the
//! stack, and an error's offset is a position in the text (the rule loader turns it into a line
//! and column).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailtag_engine::query;
use trailtag_engine_fuzz::text;

fuzz_target!(|data: &[u8]| {
    let query = text(data);
    if let Err(e) = query::parse(&query) {
        assert!(
            query.is_char_boundary(e.offset),
            "error offset {} is not a position in the query: {e:?}",
            e.offset
        );
    }
});
