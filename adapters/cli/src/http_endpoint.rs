//! `[http] listen` of `vigil run`: the read-only HTTP endpoint
//! (vigil_tokio::http), bound before the tree starts so that a port in use
//! stops vigil with one line, as a control socket that cannot bind does.

use std::process::ExitCode;

use vigil_config::TreeConfig;
use vigil_tokio::control::ControlServer;
use vigil_tokio::http::{HttpOptions, HttpServer};

/// A bound endpoint, not serving yet.
pub struct Bound(HttpServer);

/// A serving endpoint; closed when dropped (when vigil returns).
pub struct HttpGuard(HttpServer);

impl Drop for HttpGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Bind `[http] listen`, if the config has it; exit 2 if it cannot be bound.
pub fn bind(cfg: &TreeConfig) -> Result<Option<Bound>, ExitCode> {
    let Some(addr) = cfg.http.listen else {
        return Ok(None);
    };
    match HttpServer::bind(HttpOptions::new(addr)) {
        Ok(server) => Ok(Some(Bound(server))),
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
    }
}

impl Bound {
    /// Serve the tree of `control` until vigil returns.
    pub fn serve(self, control: &ControlServer) -> Result<HttpGuard, ExitCode> {
        match self.0.serve(control) {
            Ok(()) => Ok(HttpGuard(self.0)),
            Err(e) => {
                eprintln!("error: {e}");
                Err(ExitCode::from(2))
            }
        }
    }
}
