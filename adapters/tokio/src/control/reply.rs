//! The server's side of the wire: replies, stream items and forwarded calls,
//! each one JSON object on one line.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use vigil_core::RequestError;

use super::protocol::WireId;

/// A failed operation: a stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<RequestError> for Failure {
    fn from(e: RequestError) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

impl From<super::operator::OperatorError> for Failure {
    fn from(e: super::operator::OperatorError) -> Self {
        Failure::new(e.code, e.message)
    }
}

/// A success line: `{"id":..,"ok":true,"result":..}`.
#[derive(Serialize)]
struct SuccessLine<'a, T: Serialize> {
    id: &'a Option<WireId>,
    ok: bool,
    result: &'a T,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

/// A failure line: `{"id":..,"ok":false,"error":{"code":..,"message":..}}`.
#[derive(Serialize)]
struct FailureLine<'a> {
    id: &'a Option<WireId>,
    ok: bool,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct Item<'a, T: Serialize> {
    id: &'a Option<WireId>,
    item: &'a T,
}

#[derive(Serialize)]
struct Forward<'a> {
    call: u64,
    name: &'a str,
    args: &'a Value,
}

fn line(value: &impl Serialize) -> Bytes {
    line_sized(value, 128)
}

/// A line, written into a buffer of `capacity` bytes to begin with.
fn line_sized(value: &impl Serialize, capacity: usize) -> Bytes {
    let mut v = Vec::with_capacity(capacity);
    if serde_json::to_writer(&mut v, value).is_err() {
        v.clear();
        v.extend_from_slice(b"{}");
    }
    v.push(b'\n');
    Bytes::from(v)
}

/// `{"id":..,"ok":true,"result":..}`: the final answer to a request.
pub(crate) fn ok(id: &Option<WireId>, result: &impl Serialize) -> Bytes {
    line(&SuccessLine { id, ok: true, result })
}

/// [`ok`] for a large answer whose size is about `capacity` bytes.
pub(crate) fn ok_sized(id: &Option<WireId>, result: &impl Serialize, capacity: usize) -> Bytes {
    line_sized(&SuccessLine { id, ok: true, result }, capacity)
}

/// `{"id":..,"ok":false,"error":{"code":..,"message":..}}`.
pub(crate) fn error(id: &Option<WireId>, failure: &Failure) -> Bytes {
    line(&FailureLine {
        id,
        ok: false,
        error: ErrorBody {
            code: failure.code,
            message: &failure.message,
        },
    })
}

/// Either of the two.
pub(crate) fn result<T: Serialize>(id: &Option<WireId>, r: &Result<T, Failure>) -> Bytes {
    match r {
        Ok(v) => ok(id, v),
        Err(f) => error(id, f),
    }
}

/// `{"id":..,"item":..}`: one element of a stream.
pub(crate) fn item(id: &Option<WireId>, item: &impl Serialize) -> Bytes {
    line(&Item { id, item })
}

/// `{"id":..,"item":<raw JSON>}`: a stream element that is already JSON
/// text (a trace line).
pub(crate) fn raw_item(id: &Option<WireId>, raw: &str) -> Bytes {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("{{\"id\":{id},\"item\":{raw}}}\n"))
}

/// `{"id":..,"end":true}`: a stream is over.
pub(crate) fn end(id: &Option<WireId>) -> Bytes {
    #[derive(Serialize)]
    struct End<'a> {
        id: &'a Option<WireId>,
        end: bool,
    }
    line(&End { id, end: true })
}

/// `{"call":N,"name":..,"args":..}`: an operation forwarded to a worker.
pub(crate) fn forward(call: u64, name: &str, args: &Value) -> Bytes {
    line(&Forward { call, name, args })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id = Some(WireId::Num(1));
        assert_eq!(&ok(&id, &"x")[..], b"{\"id\":1,\"ok\":true,\"result\":\"x\"}\n");
        assert_eq!(
            &error(&None, &Failure::new("unknown_op", "unknown op `x`"))[..],
            b"{\"id\":null,\"ok\":false,\"error\":{\"code\":\"unknown_op\",\"message\":\"unknown op `x`\"}}\n"
        );
        assert_eq!(&raw_item(&id, "{\"t\":0}")[..], b"{\"id\":1,\"item\":{\"t\":0}}\n");
        assert_eq!(&end(&id)[..], b"{\"id\":1,\"end\":true}\n");
    }
}
