//! Cutting a connection's bytes into the pipeline's items, as they arrive.
//!
//! A socket delivers bytes in arbitrary pieces; the guest wants whole lines. A [`Cutter`] keeps
//! the unfinished last line of what it was given and hands out, after every read, the whole lines
//! read so far as one [`Item::Batch`]: a client that writes one line and waits is answered at
//! once, one that writes fast gets batches as large as its reads. A line longer than the size
//! limit is never held whole: it is handed out in [`Item::OversizedPiece`]s as it arrives and
//! closed by [`Item::OversizedEnd`], which the pipeline passes through unevaluated and counts,
//! exactly as `trailtag tag` does with a file. Memory per connection is therefore bounded by the
//! limit plus one read.

use crate::feed::Item;

/// Whole lines and oversized pieces out of a stream of bytes.
#[derive(Debug)]
pub struct Cutter {
    /// The unfinished last line (never longer than `max_record`).
    pending: Vec<u8>,
    max_record: usize,
    /// Inside a line longer than `max_record`: bytes up to its `\n` are pieces.
    oversized: bool,
}

impl Cutter {
    /// A cutter passing lines longer than `max_record` bytes (without the `\n`) through in
    /// pieces.
    pub fn new(max_record: usize) -> Self {
        Self {
            pending: Vec::new(),
            max_record,
            oversized: false,
        }
    }

    /// Takes bytes just read; appends the items they complete to `out`, in stream order.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Item>) {
        let bytes = if self.oversized {
            self.continue_oversized(bytes, out)
        } else {
            bytes
        };
        if self.oversized || bytes.is_empty() {
            return;
        }
        self.pending.extend_from_slice(bytes);
        self.cut(out);
    }

    /// The stream ended: a last line without its `\n` is handed out with one, an oversized one
    /// is closed.
    pub fn finish(&mut self, out: &mut Vec<Item>) {
        if self.oversized {
            self.oversized = false;
            out.push(Item::OversizedEnd);
        } else if !self.pending.is_empty() {
            let mut line = std::mem::take(&mut self.pending);
            line.push(b'\n');
            out.push(Item::Batch(line));
        }
    }

    /// Streams the rest of an oversized line; returns the bytes after its end.
    fn continue_oversized<'b>(&mut self, bytes: &'b [u8], out: &mut Vec<Item>) -> &'b [u8] {
        match memchr::memchr(b'\n', bytes) {
            Some(end) => {
                if end > 0 {
                    out.push(Item::OversizedPiece(bytes[..end].to_vec()));
                }
                out.push(Item::OversizedEnd);
                self.oversized = false;
                &bytes[end + 1..]
            }
            None => {
                out.push(Item::OversizedPiece(bytes.to_vec()));
                &[]
            }
        }
    }

    /// Hands out the whole lines pending (an oversized one on its own), keeps the rest.
    fn cut(&mut self, out: &mut Vec<Item>) {
        let pending = std::mem::take(&mut self.pending);
        let (mut batch_start, mut line_start) = (0, 0);
        for end in memchr::memchr_iter(b'\n', &pending) {
            if end - line_start > self.max_record {
                push_batch(&pending[batch_start..line_start], out);
                out.push(Item::OversizedPiece(pending[line_start..end].to_vec()));
                out.push(Item::OversizedEnd);
                batch_start = end + 1;
            }
            line_start = end + 1;
        }
        push_batch(&pending[batch_start..line_start], out);
        let tail = &pending[line_start..];
        if tail.len() > self.max_record {
            out.push(Item::OversizedPiece(tail.to_vec()));
            self.oversized = true;
        } else {
            self.pending = tail.to_vec();
        }
    }
}

fn push_batch(lines: &[u8], out: &mut Vec<Item>) {
    if !lines.is_empty() {
        out.push(Item::Batch(lines.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, reason = "a test fails by panicking")]
    use super::*;

    /// What a cutter makes of `input` read in pieces of `step` bytes, as text: batches as they
    /// are, oversized records as `<N>` (their length).
    fn cut(input: &[u8], step: usize, max_record: usize) -> String {
        let mut cutter = Cutter::new(max_record);
        let mut items = Vec::new();
        for piece in input.chunks(step) {
            cutter.push(piece, &mut items);
        }
        cutter.finish(&mut items);
        let mut text = String::new();
        let mut oversized = 0;
        for item in items {
            match item {
                Item::Batch(b) => text.push_str(&String::from_utf8_lossy(&b)),
                Item::OversizedPiece(p) => oversized += p.len(),
                Item::OversizedEnd => {
                    text.push_str(&format!("<{oversized}>\n"));
                    oversized = 0;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        text
    }

    #[test]
    fn lines_come_out_whole_whatever_the_reads() {
        let input = b"{\"a\":1}\n\n{\"b\":22}\n{\"c\":333}\n";
        for step in 1..input.len() {
            assert_eq!(cut(input, step, 100), String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn a_last_line_without_a_newline_gets_one() {
        assert_eq!(cut(b"a\nb", 1, 100), "a\nb\n");
        assert_eq!(cut(b"", 1, 100), "");
    }

    #[test]
    fn a_line_over_the_limit_is_streamed_apart_and_the_rest_carries_on() {
        let long = "x".repeat(25);
        let input = format!("short\n{long}\nafter\n{long}");
        for step in [1, 3, 7, 10, 100] {
            assert_eq!(
                cut(input.as_bytes(), step, 10),
                "short\n<25>\nafter\n<25>\n",
                "reads of {step}"
            );
        }
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_evaluated() {
        assert_eq!(cut(b"0123456789\n", 4, 10), "0123456789\n");
        assert_eq!(cut(b"0123456789a\n", 4, 10), "<11>\n");
    }
}
