//! Output forwarding line by line (`src/output.rs`), with reads cut at every
//! awkward place: terminators split across reads, binary bytes, no final
//! newline, a very long line that never ends, a stream that fails mid-line,
//! and real pipes that a child closes early.

#![allow(dead_code)]

#[path = "../src/log_file.rs"]
mod log_file;
#[path = "../src/output.rs"]
mod output;
#[path = "../src/recent_output.rs"]
mod recent_output;

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use output::MAX_LINE;
use tokio::io::{AsyncRead, ReadBuf};

/// A reader that gives one piece per read, with a `Pending` (and a wake-up)
/// between pieces, as a pipe that a slow child writes into; then end of
/// file, or the error given.
struct Pieces {
    pieces: VecDeque<Vec<u8>>,
    end: Option<io::ErrorKind>,
    pending_next: bool,
}

impl Pieces {
    fn new<I: IntoIterator<Item = Vec<u8>>>(pieces: I) -> Self {
        Pieces {
            pieces: pieces.into_iter().collect(),
            end: None,
            pending_next: true,
        }
    }

    fn failing_with(mut self, kind: io::ErrorKind) -> Self {
        self.end = Some(kind);
        self
    }
}

impl AsyncRead for Pieces {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pending_next {
            this.pending_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pending_next = true;
        match this.pieces.pop_front() {
            Some(mut piece) => {
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    this.pieces.push_front(piece.split_off(n));
                }
                Poll::Ready(Ok(()))
            }
            None => match this.end {
                Some(kind) => Poll::Ready(Err(io::Error::from(kind))),
                None => Poll::Ready(Ok(())),
            },
        }
    }
}

async fn lines_of(reader: Pieces) -> Vec<String> {
    let mut lines = Vec::new();
    output::forward_lines(reader, |line| lines.push(String::from_utf8_lossy(line).into_owned())).await;
    lines
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[tokio::test]
async fn lines_cut_across_reads_are_joined() {
    let reader = Pieces::new([bytes("he"), bytes("llo\nwo"), bytes("r"), bytes("ld\n\n"), bytes("x")]);
    assert_eq!(lines_of(reader).await, ["hello", "world", "", "x"]);
}

#[tokio::test]
async fn a_crlf_split_between_two_reads_is_one_terminator() {
    let reader = Pieces::new([bytes("a\r"), bytes("\nb\r\n"), bytes("\r\n")]);
    assert_eq!(lines_of(reader).await, ["a", "b", ""]);
}

#[tokio::test]
async fn a_lone_carriage_return_stays_in_the_line() {
    let reader = Pieces::new([bytes("50%\r100%\n")]);
    assert_eq!(lines_of(reader).await, ["50%\r100%"]);
}

#[tokio::test]
async fn binary_output_is_forwarded_lossily_and_keeps_its_line_structure() {
    let reader = Pieces::new([vec![0, 1, 0xff], vec![b'\n', 0xc3], vec![0xa9, b'\n', 0x80]]);
    // 0xc3 0xa9 is 'é', cut between two reads; 0x80 alone is invalid.
    assert_eq!(lines_of(reader).await, ["\0\u{1}\u{fffd}", "é", "\u{fffd}"]);
}

#[tokio::test]
async fn a_last_line_without_newline_is_emitted_at_end_of_file() {
    let reader = Pieces::new([bytes("one\ntw"), bytes("o")]);
    assert_eq!(lines_of(reader).await, ["one", "two"]);
}

#[tokio::test]
async fn a_very_long_line_without_newline_is_emitted_in_bounded_pieces() {
    // 3.5 pieces of MAX_LINE, never terminated, read 10 000 bytes at a time.
    let total = 3 * MAX_LINE + MAX_LINE / 2;
    let pieces: Vec<Vec<u8>> = (0..total.div_ceil(10_000))
        .map(|i| vec![b'a' + (i % 26) as u8; 10_000.min(total - i * 10_000)])
        .collect();
    let expected: Vec<u8> = pieces.concat();
    let lines = lines_of(Pieces::new(pieces)).await;
    let lengths: Vec<usize> = lines.iter().map(String::len).collect();
    assert_eq!(lengths, [MAX_LINE, MAX_LINE, MAX_LINE, MAX_LINE / 2]);
    assert_eq!(lines.concat().into_bytes(), expected);
}

#[tokio::test]
async fn a_long_line_then_short_ones_are_each_complete() {
    let mut first = vec![b'x'; MAX_LINE + 5];
    first.extend_from_slice(b"\nshort");
    let reader = Pieces::new([first, bytes("\nlast\n")]);
    let lines = lines_of(reader).await;
    let lengths: Vec<usize> = lines.iter().map(String::len).collect();
    assert_eq!(lengths, [MAX_LINE, 5, 5, 4]);
    assert_eq!(&lines[2..], ["short", "last"]);
}

#[tokio::test]
async fn a_read_error_ends_the_stream_after_the_pending_line() {
    let reader = Pieces::new([bytes("whole\npart")]).failing_with(io::ErrorKind::ConnectionReset);
    assert_eq!(lines_of(reader).await, ["whole", "part"]);
}

#[tokio::test]
async fn an_empty_stream_emits_nothing() {
    assert!(lines_of(Pieces::new([])).await.is_empty());
    assert!(lines_of(Pieces::new([]).failing_with(io::ErrorKind::BrokenPipe))
        .await
        .is_empty());
}

/// The `tracing` events of target `vigil::child`: (stream, message).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, String)>>>);

struct Fields(Option<String>, Option<String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.1 = Some(format!("{value:?}"));
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "stream" {
            self.0 = Some(value.to_owned());
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "vigil::child"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(None, None);
        event.record(&mut fields);
        let line = (fields.0.unwrap_or_default(), fields.1.unwrap_or_default());
        self.0.lock().expect("lock").push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Run `sh -c script` with both streams piped and forwarded; wait for it,
/// then for the forwarding to see the end of both pipes (`lines` events).
async fn forwarded(script: &str, lines: usize) -> Vec<(String, String)> {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sh starts");
    output::forward(&mut child, &output::OutputMode::Tracing, &Arc::from("w"), 1);
    assert!(child.stdout.is_none() && child.stderr.is_none(), "both pipes taken");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("sh ends (safety net)")
        .expect("wait");
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while capture.0.lock().expect("lock").len() < lines {
        assert!(tokio::time::Instant::now() < deadline, "lines missing (safety net)");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = capture.0.lock().expect("lock").clone();
    seen
}

fn line(stream: &str, text: &str) -> (String, String) {
    (stream.to_owned(), text.to_owned())
}

#[tokio::test]
async fn a_child_closing_its_stdout_early_still_has_its_stderr_forwarded() {
    let seen = forwarded("echo a; exec 1>&-; echo b >&2; echo c >&2", 3).await;
    assert_eq!(seen, [line("stdout", "a"), line("stderr", "b"), line("stderr", "c")]);
}

#[tokio::test]
async fn a_child_closing_both_streams_at_once_emits_no_line() {
    let seen = forwarded("exec 1>&- 2>&-; true", 0).await;
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn interleaved_streams_keep_each_stream_in_order_and_whole() {
    let script = "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done; printf tail";
    let seen = forwarded(script, 401).await;
    let of = |stream: &str| -> Vec<String> { seen.iter().filter(|l| l.0 == stream).map(|l| l.1.clone()).collect() };
    let mut expected_out: Vec<String> = (0..200).map(|i| format!("out{i}")).collect();
    expected_out.push("tail".to_owned());
    let expected_err: Vec<String> = (0..200).map(|i| format!("err{i}")).collect();
    assert_eq!(of("stdout"), expected_out);
    assert_eq!(of("stderr"), expected_err);
}
