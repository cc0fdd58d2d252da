//! The process spawner's receive buffer: an anonymous mapping of its own,
//! marked `MADV_WIPEONFORK`, so that the guards the spawner forks do not
//! inherit it.
//!
//! The spawner writes the first pages of this buffer at every request. A
//! page that the spawner writes after forking a guard stays in that guard
//! as a private copy (copy-on-write): with the buffer on the heap, every
//! guard kept one or more such pages for nothing (it never reads the
//! buffer). Marked `MADV_WIPEONFORK` (Linux 4.14), the range is empty (zero
//! pages, not copied) in every forked child; on an older kernel the mark
//! fails and the buffer is a plain mapping (the guards cost a few KiB more).
//! See docs/ADAPTER.md, "What a guard costs".

use std::ptr::NonNull;

/// A zero-filled, page-aligned byte buffer that a forked child does not
/// inherit (it sees zeros there, and must not use it).
pub(crate) struct SpawnerBuffer {
    start: NonNull<u8>,
    len: usize,
}

impl SpawnerBuffer {
    /// A new buffer of `len` bytes (more than 0), or the `mmap` error.
    pub(crate) fn new(len: usize) -> Result<SpawnerBuffer, nix::errno::Errno> {
        if len == 0 {
            return Err(nix::errno::Errno::EINVAL);
        }
        // SAFETY: a new private anonymous mapping at an address the kernel
        // chooses: nothing else is mapped over, and nothing aliases it.
        #[allow(unsafe_code)]
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(nix::errno::Errno::last());
        }
        // SAFETY: `start` is the mapping just made, `len` its length.
        // Failing (a kernel before 4.14) only leaves the pages inherited.
        #[allow(unsafe_code)]
        unsafe {
            libc::madvise(start, len, libc::MADV_WIPEONFORK);
        }
        let start = NonNull::new(start.cast::<u8>()).ok_or(nix::errno::Errno::ENOMEM)?;
        Ok(SpawnerBuffer { start, len })
    }

    /// The whole buffer.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `start` is a live read-write mapping of `len` bytes, owned
        // by `self` (unmapped only by its drop), so borrowed only through it.
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len)
        }
    }

    /// The first `len` bytes (at most the buffer's length).
    pub(crate) fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: as in `bytes_mut`, shared.
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts(self.start.as_ptr(), len.min(self.len))
        }
    }
}

impl Drop for SpawnerBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        #[allow(unsafe_code)]
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_holds_what_is_written() {
        let mut buffer = SpawnerBuffer::new(3 * 4096 + 5).expect("mmap");
        buffer.bytes_mut()[..3].copy_from_slice(b"abc");
        buffer.bytes_mut()[3 * 4096 + 4] = 7;
        assert_eq!(buffer.bytes(3), b"abc");
        assert_eq!(buffer.bytes(usize::MAX).len(), 3 * 4096 + 5);
        assert_eq!(buffer.bytes(usize::MAX)[3 * 4096 + 4], 7);
    }

    #[test]
    fn an_empty_buffer_is_an_error() {
        assert!(SpawnerBuffer::new(0).is_err());
    }
}
