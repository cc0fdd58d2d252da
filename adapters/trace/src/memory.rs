//! A trace sink in memory, read back by whoever holds a clone: a replay
//! comparing its lines, an own-code simulation returning its trace, a test.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Bytes written to any clone land in one shared buffer.
///
/// ```
/// use vigil_trace::{SharedBuffer, TraceWriter};
/// let buffer = SharedBuffer::default();
/// let mut trace = TraceWriter::to_sink(Box::new(buffer.clone()));
/// trace.raw_line("{\"t\":0,\"ev\":\"meta\"}");
/// let _ = trace.finish();
/// assert_eq!(buffer.text(), "{\"t\":0,\"ev\":\"meta\"}\n");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A writer that panicked mid-append leaves whole bytes behind.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What was written so far.
    #[must_use]
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// What was written so far, as text (invalid UTF-8 replaced).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
