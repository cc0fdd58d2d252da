//! The `http` health probe: one `GET` over plain HTTP/1.1 (no TLS), written
//! by hand on a tokio `TcpStream` rather than with hyper's client: hyper is
//! only linked with the optional `http` feature, a probe must work in every
//! build, and a probe needs one request line, a `Host` header and a status
//! line (docs/ADAPTER.md, "Health probes").
//!
//! The status line is parsed strictly (`HTTP/1.0` or `HTTP/1.1`, a space,
//! three digits, then a space or the end of the line); a 2xx status passes.
//! Headers and body are never read: the connection is closed once the status
//! line is in, and at most [`MAX_STATUS_LINE`] bytes are read for it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most bytes read looking for the end of the status line.
pub(crate) const MAX_STATUS_LINE: usize = 1024;

/// `GET path` from `host:port`: `Ok` for a 2xx status, else why not.
pub(crate) async fn get(host: &str, port: u16, path: &str) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut stream = TcpStream::connect((bare, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let host_header = if port == 80 {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: vigil-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request to {host}:{port}: {e}"))?;
    let line = status_line(&mut stream).await?;
    match parse_status(&line) {
        Some(code) if (200..300).contains(&code) => Ok(()),
        Some(code) => Err(format!("HTTP status {code} from http://{host_header}{path}")),
        None => Err(format!(
            "not an HTTP/1 status line from http://{host_header}{path}: {:?}",
            String::from_utf8_lossy(&line)
        )),
    }
}

/// Read up to the first `\n` (at most [`MAX_STATUS_LINE`] bytes).
async fn status_line(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut line = Vec::with_capacity(128);
    let mut buf = [0u8; 256];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read the response: {e}"))?;
        if n == 0 {
            return if line.is_empty() {
                Err("the server closed the connection without a response".to_owned())
            } else {
                Ok(line)
            };
        }
        line.extend_from_slice(&buf[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end);
            return Ok(line);
        }
        if line.len() >= MAX_STATUS_LINE {
            line.truncate(MAX_STATUS_LINE);
            return Ok(line);
        }
    }
}

/// The status code of an HTTP/1 status line (without its `\n`), strictly.
pub(crate) fn parse_status(line: &[u8]) -> Option<u16> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))?;
    let (code, after) = rest.split_at_checked(3)?;
    if !code.iter().all(u8::is_ascii_digit) || !(after.is_empty() || after[0] == b' ') {
        return None;
    }
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    (100..=599).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn status_lines_are_parsed_strictly() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 204"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.1 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status(b"HTTP/1.1 2000 OK"), None);
        assert_eq!(parse_status(b"HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status(b"HTTP/2 200"), None);
        assert_eq!(parse_status(b"http/1.1 200 OK"), None);
        assert_eq!(parse_status(b"HTTP/1.1 099 x"), None);
        assert_eq!(parse_status(b"HTTP/1.1 2x0 OK"), None);
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(b""), None);
    }
}
