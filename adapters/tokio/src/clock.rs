//! The engine's clock on tokio's: nanoseconds since the driver started.

use std::time::Duration;

/// Maps tokio's monotonic clock to the engine's [`vigil_core::Instant`].
/// Built on `tokio::time::Instant`, so `tokio::time::pause` drives it in tests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Clock {
            origin: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> vigil_core::Instant {
        let ns = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        vigil_core::Instant::from_nanos(ns)
    }

    pub(crate) fn to_tokio(self, t: vigil_core::Instant) -> tokio::time::Instant {
        self.origin + Duration::from_nanos(t.as_nanos())
    }
}
