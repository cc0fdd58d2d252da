//! Splitting a connection's bytes into request lines, with a length limit
//! that never buffers an overlong line: its bytes are discarded as they
//! arrive, up to its newline.

use bytes::{Buf, BytesMut};
use tokio_util::codec::Decoder;

/// One unit read from a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A complete line, without its newline.
    Line(BytesMut),
    /// A line longer than the limit began; the rest of it, up to its
    /// newline, is discarded without another frame.
    TooLong,
    /// The connection ended after these bytes, without a newline.
    Incomplete,
}

/// A newline-delimited decoder with a length limit (tokio-util's `LinesCodec`
/// would end the stream on invalid UTF-8; this one leaves every check on
/// the content to [`super::protocol::decode`]).
#[derive(Debug)]
pub(crate) struct LineDecoder {
    max: usize,
    /// Inside an overlong line: drop bytes until a newline.
    discarding: bool,
    /// Bytes of the buffer already searched for a newline.
    scanned: usize,
}

impl LineDecoder {
    pub(crate) fn new(max: usize) -> Self {
        LineDecoder {
            max,
            discarding: false,
            scanned: 0,
        }
    }
}

impl Decoder for LineDecoder {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        loop {
            let newline = buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + self.scanned);
            if self.discarding {
                match newline {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.discarding = false;
                        self.scanned = 0;
                        continue; // what follows may be a whole line
                    }
                    None => {
                        buf.clear();
                        self.scanned = 0;
                        return Ok(None);
                    }
                }
            }
            return Ok(match newline {
                Some(i) if i > self.max => {
                    buf.advance(i + 1);
                    self.scanned = 0;
                    Some(Frame::TooLong)
                }
                Some(i) => {
                    let mut line = buf.split_to(i + 1);
                    line.truncate(i);
                    self.scanned = 0;
                    Some(Frame::Line(line))
                }
                None if buf.len() > self.max => {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    Some(Frame::TooLong)
                }
                None => {
                    self.scanned = buf.len();
                    None
                }
            });
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let partial = !buf.is_empty() && !self.discarding;
        buf.clear();
        self.scanned = 0;
        self.discarding = false;
        Ok(partial.then_some(Frame::Incomplete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(decoder: &mut LineDecoder, buf: &mut BytesMut, input: &[u8]) -> Vec<Frame> {
        buf.extend_from_slice(input);
        let mut out = Vec::new();
        while let Some(f) = decoder.decode(buf).unwrap() {
            out.push(f);
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(BytesMut::from(s.as_bytes()))
    }

    #[test]
    fn lines_split_across_reads() {
        let (mut d, mut b) = (LineDecoder::new(8), BytesMut::new());
        assert_eq!(frames(&mut d, &mut b, b"ab"), vec![]);
        assert_eq!(
            frames(&mut d, &mut b, b"c\nde\n\nf"),
            vec![line("abc"), line("de"), line("")]
        );
        assert_eq!(d.decode_eof(&mut b).unwrap(), Some(Frame::Incomplete));
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_never_buffered() {
        let (mut d, mut b) = (LineDecoder::new(8), BytesMut::new());
        assert_eq!(frames(&mut d, &mut b, b"0123456789"), vec![Frame::TooLong]);
        assert!(b.is_empty());
        for _ in 0..100 {
            assert_eq!(frames(&mut d, &mut b, b"xxxxxxxxxxxxxxxx"), vec![]);
            assert!(b.is_empty());
        }
        assert_eq!(frames(&mut d, &mut b, b"yy\nok\n"), vec![line("ok")]);
        // A long line that arrives whole with its newline.
        assert_eq!(
            frames(&mut d, &mut b, b"0123456789\nok\n"),
            vec![Frame::TooLong, line("ok")]
        );
        // Exactly the limit is fine.
        assert_eq!(frames(&mut d, &mut b, b"01234567\n"), vec![line("01234567")]);
        assert_eq!(d.decode_eof(&mut b).unwrap(), None);
    }
}
