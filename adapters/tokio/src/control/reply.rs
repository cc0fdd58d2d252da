//! The server's side of the wire: replies, stream items and forwarded calls,
//! each one JSON object on one line.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use vigil_core::RequestError;

use super::protocol::RequestId;

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

#[derive(Serialize)]
struct Ok<'a, T: Serialize> {
    id: &'a Option<RequestId>,
    ok: bool,
    result: &'a T,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct Err<'a> {
    id: &'a Option<RequestId>,
    ok: bool,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct Item<'a, T: Serialize> {
    id: &'a Option<RequestId>,
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
pub(crate) fn ok(id: &Option<RequestId>, result: &impl Serialize) -> Bytes {
    line(&Ok { id, ok: true, result })
}

/// [`ok`] for a large answer whose size is about `capacity` bytes.
pub(crate) fn ok_sized(id: &Option<RequestId>, result: &impl Serialize, capacity: usize) -> Bytes {
    line_sized(&Ok { id, ok: true, result }, capacity)
}

/// `{"id":..,"ok":false,"error":{"code":..,"message":..}}`.
pub(crate) fn error(id: &Option<RequestId>, failure: &Failure) -> Bytes {
    line(&Err {
        id,
        ok: false,
        error: ErrorBody {
            code: failure.code,
            message: &failure.message,
        },
    })
}

/// Either of the two.
pub(crate) fn result<T: Serialize>(id: &Option<RequestId>, r: &Result<T, Failure>) -> Bytes {
    match r {
        Result::Ok(v) => ok(id, v),
        Result::Err(f) => error(id, f),
    }
}

/// `{"id":..,"item":..}`: one element of a stream.
pub(crate) fn item(id: &Option<RequestId>, item: &impl Serialize) -> Bytes {
    line(&Item { id, item })
}

/// `{"id":..,"item":<raw JSON>}`: a stream element that is already JSON
/// text (a trace line).
pub(crate) fn raw_item(id: &Option<RequestId>, raw: &str) -> Bytes {
    let id = serde_json::to_string(id).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("{{\"id\":{id},\"item\":{raw}}}\n"))
}

/// `{"id":..,"end":true}`: a stream is over.
pub(crate) fn end(id: &Option<RequestId>) -> Bytes {
    #[derive(Serialize)]
    struct End<'a> {
        id: &'a Option<RequestId>,
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
        let id = Some(RequestId::Num(1));
        assert_eq!(&ok(&id, &"x")[..], b"{\"id\":1,\"ok\":true,\"result\":\"x\"}\n");
        assert_eq!(
            &error(&None, &Failure::new("unknown_op", "unknown op `x`"))[..],
            b"{\"id\":null,\"ok\":false,\"error\":{\"code\":\"unknown_op\",\"message\":\"unknown op `x`\"}}\n"
        );
        assert_eq!(&raw_item(&id, "{\"t\":0}")[..], b"{\"id\":1,\"item\":{\"t\":0}}\n");
        assert_eq!(&end(&id)[..], b"{\"id\":1,\"end\":true}\n");
    }
}
