//! The `control_protocol` target: arbitrary bytes as what a client sends to
//! the control socket, cut into lines at `\n` as the server's framing does,
//! each line given to the decoder (`vigil_tokio::control::protocol::decode`).
//!
//! Must hold, for every line: no panic; a decoded request encodes (the
//! client's `encode`) to one line that decodes to the same request (id and
//! operation), so what the server understood is exactly what a client can
//! say; a rejected line gets an error with a reply code and a message.

use vigil_tokio::control::protocol::{decode, encode, MAX_LINE};

/// Run the target on `data`.
pub fn run(data: &[u8]) -> Result<(), String> {
    for line in data.split(|&b| b == b'\n') {
        // The framing rejects longer lines before the decoder sees them.
        if line.len() > MAX_LINE {
            continue;
        }
        match decode(line) {
            Ok(request) => {
                let again = encode(request.id.as_ref(), &request.op);
                let Some((b'\n', body)) = again.split_last() else {
                    return Err(format!("an encoded request does not end its line: {again:?}"));
                };
                if body.contains(&b'\n') {
                    return Err(format!("an encoded request spans lines: {again:?}"));
                }
                match decode(body) {
                    Ok(back) if back == request => {}
                    Ok(back) => {
                        return Err(format!(
                            "round trip changed the request: {request:?} -> {} -> {back:?}",
                            String::from_utf8_lossy(body)
                        ))
                    }
                    Err(e) => {
                        return Err(format!(
                            "the encoding of {request:?} does not decode: {} ({e})",
                            String::from_utf8_lossy(body)
                        ))
                    }
                }
            }
            Err(e) => {
                if e.kind.code().is_empty() || e.to_string().is_empty() {
                    return Err(format!("an error without a code or message for {line:?}: {e:?}"));
                }
            }
        }
    }
    Ok(())
}
