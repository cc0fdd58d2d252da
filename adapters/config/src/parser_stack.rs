//! The stack a config is read on.
//!
//! Reading a `[[child]]` table is a recursive descent (serde's derived
//! visitors, one level per nesting of `child`), and each level's frame
//! holds every key a child may have. At the deepest tree vigil accepts
//! (`vigil_core::MAX_DEPTH` levels) that is more than the 2 MiB stack of a
//! tokio worker or a test thread in a debug build, and a reload or a
//! `vigil check` must never overflow a stack. So a config is read on a
//! thread of its own with [`PARSER_STACK`] bytes of stack: about 50 µs more
//! per read, which happens at start, at a reload and in `vigil check` only.

use std::sync::Mutex;

/// The stack of the thread that reads a config: ample for
/// `vigil_core::MAX_DEPTH` levels of children in a debug build (the depth
/// guard in `raw.rs` refuses deeper trees before they use more).
pub(crate) const PARSER_STACK: usize = 64 << 20;

/// Run `read` on a thread with [`PARSER_STACK`] bytes of stack and return
/// what it returns; on the calling thread if no thread can be started (then
/// the caller's stack must do). A panic in `read` is passed on.
pub(crate) fn on_parser_stack<T: Send>(read: impl FnOnce() -> T + Send) -> T {
    let read = Mutex::new(Some(read));
    let taken = || read.lock().ok().and_then(|mut r| r.take());
    let ran = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("vigil-config".to_owned())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, || taken().map(|read| read()));
        match spawned.map(|thread| thread.join()) {
            Ok(Ok(value)) => value,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => None,
        }
    });
    match ran {
        Some(value) => value,
        // The thread could not start, so `read` is still here.
        None => match taken() {
            Some(read) => read(),
            None => unreachable_read(),
        },
    }
}

/// `read` ran on the thread but gave nothing back: impossible, since the
/// thread returns what `read` returns whenever it took `read`, and only
/// the thread or the fallback takes it.
#[cold]
fn unreachable_read() -> ! {
    std::panic::resume_unwind(Box::new("the config reader vanished"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_comes_back_and_the_stack_is_the_parsers() {
        let name = on_parser_stack(|| std::thread::current().name().map(str::to_owned));
        assert_eq!(name.as_deref(), Some("vigil-config"));
        assert_eq!(on_parser_stack(|| 7), 7);
    }

    #[test]
    fn a_panic_is_passed_on() {
        let caught = std::panic::catch_unwind(|| on_parser_stack(|| -> u8 { panic!("boom") }));
        assert!(caught.is_err());
    }
}
