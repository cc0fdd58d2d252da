//! The `[http] listen` value: an IP address and a port, or a bare port for
//! the loopback address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::error::ValueError;

/// Parse a listen address: `"127.0.0.1:9100"`, `"[::1]:9100"`,
/// `"0.0.0.0:9100"`, `"localhost:9100"`, or a bare port (`"9100"`,
/// `":9100"`), which means `127.0.0.1`. Host names other than `localhost`
/// are refused: the address is resolved by nobody, it is bound as written.
///
/// ```
/// use vigil_config::parse_listen;
/// assert_eq!(parse_listen("9100").unwrap().to_string(), "127.0.0.1:9100");
/// assert_eq!(parse_listen("[::1]:80").unwrap().to_string(), "[::1]:80");
/// assert!(parse_listen("127.0.0.1:99999").unwrap_err().message().contains("port"));
/// ```
pub fn parse_listen(text: &str) -> Result<SocketAddr, ValueError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ValueError::new(
            "the address is empty; write an address and a port, like \"127.0.0.1:9100\"",
        ));
    }
    let bare = t.strip_prefix(':').unwrap_or(t);
    if bare.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port(bare, t)?));
    }
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, p)) = t.rsplit_once(':') else {
        return Err(ValueError::new(format!(
            "{t:?} has no port; write an address and a port, like \"127.0.0.1:9100\""
        )));
    };
    let port = port(p, t)?;
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, port)),
        Err(_) => Err(ValueError::new(format!(
            "{host:?} is not an IP address (host names other than localhost are not resolved); \
             write one like \"127.0.0.1:9100\" or \"[::1]:9100\""
        ))),
    }
}

fn port(p: &str, whole: &str) -> Result<u16, ValueError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(format!(
            "{whole:?}: the port {p:?} is not a number from 0 to 65535"
        )));
    }
    p.parse::<u16>()
        .map_err(|_| ValueError::new(format!("{whole:?}: the port {p} is not a number from 0 to 65535")))
}
