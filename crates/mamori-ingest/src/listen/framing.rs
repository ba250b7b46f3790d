//! Syslog over a byte stream (RFC 6587): each frame is either octet-counted
//! (`MSG-LEN SP MSG`) or ends at a line feed. Senders mix both, so the form is
//! chosen per frame, as rsyslog does. Frames longer than the limit are cut
//! and marked; the rest of such a frame is skipped, never buffered.

use bytes::{Buf, BytesMut};

/// One message cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message bytes (without length prefix or trailing CR/LF).
    pub bytes: Vec<u8>,
    /// Whether the message was longer than the limit and was cut.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    None,
    /// Skip this many more bytes (rest of an oversized octet-counted frame).
    Bytes(usize),
    /// Skip up to and including the next LF (rest of an oversized line).
    Line,
}

/// Cuts frames out of a growing buffer.
#[derive(Debug)]
pub struct Framer {
    max: usize,
    skip: Skip,
}

/// Longest length prefix accepted as octet counting (digits).
const MAX_LEN_DIGITS: usize = 9;

impl Framer {
    /// A framer cutting messages longer than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Self {
        Framer {
            max: max_message_bytes.max(1),
            skip: Skip::None,
        }
    }

    /// The next complete frame in `buf`, consuming it; `None` when more bytes
    /// are needed.
    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            match self.skip {
                Skip::Bytes(n) => {
                    let k = n.min(buf.len());
                    buf.advance(k);
                    if k < n {
                        self.skip = Skip::Bytes(n - k);
                        return None;
                    }
                    self.skip = Skip::None;
                }
                Skip::Line => match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.skip = Skip::None;
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                },
                Skip::None => {}
            }
            // Blank separators between frames carry nothing.
            while let Some(&b) = buf.first() {
                if b == b'\n' || b == b'\r' || b == 0 {
                    buf.advance(1);
                } else {
                    break;
                }
            }
            if buf.is_empty() {
                return None;
            }
            match octet_count(buf) {
                Prefix::Count(digits, len) => {
                    let start = digits + 1;
                    if len > self.max {
                        if buf.len() < start + self.max {
                            return None;
                        }
                        let bytes = buf[start..start + self.max].to_vec();
                        buf.advance(start + self.max);
                        self.skip = Skip::Bytes(len - self.max);
                        return Some(Frame {
                            bytes,
                            truncated: true,
                        });
                    }
                    if buf.len() < start + len {
                        return None;
                    }
                    let mut bytes = buf[start..start + len].to_vec();
                    buf.advance(start + len);
                    trim_line_end(&mut bytes);
                    if bytes.is_empty() {
                        continue;
                    }
                    return Some(Frame {
                        bytes,
                        truncated: false,
                    });
                }
                Prefix::NeedMore => return None,
                Prefix::NotCounted => {}
            }
            let window = &buf[..buf.len().min(self.max + 2)];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    let mut bytes = buf[..i].to_vec();
                    buf.advance(i + 1);
                    trim_line_end(&mut bytes);
                    let truncated = bytes.len() > self.max;
                    bytes.truncate(self.max);
                    return Some(Frame { bytes, truncated });
                }
                None if buf.len() > self.max => {
                    let bytes = buf[..self.max].to_vec();
                    buf.advance(self.max);
                    self.skip = Skip::Line;
                    return Some(Frame {
                        bytes,
                        truncated: true,
                    });
                }
                None => return None,
            }
        }
    }

    /// What is left in `buf` when the stream ends: an unterminated last line
    /// is still a message (nothing received is dropped).
    pub fn finish(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        if let Some(f) = self.next_frame(buf) {
            return Some(f);
        }
        if self.skip != Skip::None || buf.is_empty() {
            buf.clear();
            return None;
        }
        let mut bytes = buf.split().to_vec();
        trim_line_end(&mut bytes);
        let truncated = bytes.len() > self.max;
        bytes.truncate(self.max);
        (!bytes.is_empty()).then_some(Frame { bytes, truncated })
    }
}

enum Prefix {
    /// Digits and the announced length.
    Count(usize, usize),
    NeedMore,
    NotCounted,
}

/// Whether `buf` starts with `MSG-LEN SP`: a non-zero digit, digits, a space.
fn octet_count(buf: &[u8]) -> Prefix {
    if !matches!(buf.first(), Some(b'1'..=b'9')) {
        return Prefix::NotCounted;
    }
    let mut len = 0usize;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'0'..=b'9' if i < MAX_LEN_DIGITS => len = len * 10 + usize::from(b - b'0'),
            b' ' => return Prefix::Count(i, len),
            _ => return Prefix::NotCounted,
        }
    }
    Prefix::NeedMore
}

fn trim_line_end(bytes: &mut Vec<u8>) {
    while matches!(bytes.last(), Some(b'\r' | b'\n' | 0)) {
        bytes.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut f = Framer::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(fr) = f.next_frame(&mut buf) {
                out.push(fr);
            }
        }
        while let Some(fr) = f.finish(&mut buf) {
            out.push(fr);
        }
        out
    }

    fn texts(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .collect()
    }

    #[test]
    fn newline_frames_and_crlf() {
        let f = all(100, &[b"<13>a one\r\n<13>b two\n\n<13>c th", b"ree"]);
        assert_eq!(texts(&f), ["<13>a one", "<13>b two", "<13>c three"]);
    }

    #[test]
    fn octet_counted_frames_split_anywhere() {
        let f = all(100, &[b"9 <13>hello1", b"0 <13>world\nX", b"\n"]);
        assert_eq!(texts(&f), ["<13>hello", "<13>world", "X"]);
    }

    #[test]
    fn octet_counted_message_may_hold_newlines() {
        let f = all(100, &[b"10 <13>a\nb\nc\n3 <1>"]);
        assert_eq!(texts(&f), ["<13>a\nb\nc", "<1>"]);
    }

    #[test]
    fn oversized_line_is_cut_and_rest_skipped() {
        let mut long = vec![b'a'; 50];
        long.extend_from_slice(b"\nnext\n");
        let f = all(10, &[&long[..20], &long[20..]]);
        assert_eq!(texts(&f), ["aaaaaaaaaa", "next"]);
        assert!(f[0].truncated && !f[1].truncated);
    }

    #[test]
    fn oversized_counted_frame_is_cut_and_rest_skipped() {
        let f = all(4, &[b"10 0123456789", b"2 ab"]);
        assert_eq!(texts(&f), ["0123", "ab"]);
        assert!(f[0].truncated);
    }

    proptest! {
        #[test]
        fn never_panics_and_respects_limit(data in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..600, max in 1usize..64) {
            let cut = cut.min(data.len());
            let frames = all(max, &[&data[..cut], &data[cut..]]);
            for f in frames {
                prop_assert!(f.bytes.len() <= max);
            }
        }

        #[test]
        fn lines_roundtrip(lines in proptest::collection::vec("[a-z<>][ -~]{0,40}", 1..20), cut in 0usize..400) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let bytes = text.as_bytes();
            let cut = cut.min(bytes.len());
            let frames = all(1000, &[&bytes[..cut], &bytes[cut..]]);
            let want: Vec<String> = lines.clone();
            prop_assert_eq!(texts(&frames), want);
        }
    }
}
