//! What each request is answered: the four read-only resources, and the
//! refusals (`404`, `405`, `413`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::control::readout;
use crate::control::ControlServer;

/// The Prometheus text exposition format, version 0.0.4.
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// The resources served, for the `404` answer.
const PATHS: &str = "/metrics, /healthz, /readyz, /status";

/// Answer one request (never an error: every failure is a status code).
pub(super) async fn respond(
    control: ControlServer,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} is not allowed: this endpoint is read-only (GET, HEAD); operate vigil through its control socket\n",
                req.method()
            ),
        );
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    if has_body(&req) {
        return Ok(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are refused\n".to_owned(),
        ));
    }
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/healthz" | "/readyz" | "/status") {
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!("no such resource; this endpoint serves {PATHS}\n"),
        ));
    }
    let Some(shared) = control.current() else {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no tree is served yet\n".to_owned(),
        ));
    };
    Ok(match path {
        "/metrics" => with_type(StatusCode::OK, PROMETHEUS, readout::metrics(&shared).await.into()),
        "/healthz" => healthz(&shared),
        "/readyz" => readyz(&shared).await,
        _ => match readout::status_json(&shared).await {
            Ok(json) => with_type(StatusCode::OK, JSON, json.into()),
            Err(f) => with_type(
                StatusCode::SERVICE_UNAVAILABLE,
                JSON,
                serde_json::json!({"error": {"code": f.code, "message": f.message}})
                    .to_string()
                    .into(),
            ),
        },
    })
}

/// A request that carries a body (a length above zero, or chunks).
fn has_body(req: &Request<Incoming>) -> bool {
    let hint = req.body().size_hint();
    hint.exact() != Some(0) || hint.lower() > 0
}

fn healthz(shared: &Arc<crate::control::shared::Shared>) -> Response<Full<Bytes>> {
    if shared.sup.is_down() {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("down: {}\n", shared.sup.outcome()),
        )
    } else {
        text(StatusCode::OK, "ok\n".to_owned())
    }
}

async fn readyz(shared: &Arc<crate::control::shared::Shared>) -> Response<Full<Bytes>> {
    match readout::not_ready(shared).await {
        Ok(waiting) if waiting.is_empty() => text(StatusCode::OK, "ready\n".to_owned()),
        Ok(waiting) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", waiting.join(", ")),
        ),
        Err(f) => text(StatusCode::SERVICE_UNAVAILABLE, format!("down: {}\n", f.message)),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_type(status, TEXT, body.into())
}

fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
