//! A bump arena for the memory the host writes a call's arguments into.
//!
//! Lowering a decision's input calls `cabi_realloc` once per string and list
//! (about fifteen times per binding), and the guest frees every one of those
//! blocks again when the call returns. With a general-purpose allocator both
//! halves cost a search through free lists; here an allocation is a pointer
//! bump and a free is a counter decrement. When the last block is freed, the
//! arena starts again from its first chunk, so a warm instance reuses the same
//! memory call after call instead of growing.
//!
//! The arena only hands out memory; its chunks come from the caller (the
//! runtime passes the general heap), which keeps this logic testable natively.

/// Chunks beyond this many are not tracked; the runtime falls back to the
/// general heap, so a huge input still works, only without the arena.
const MAX_CHUNKS: usize = 24;
const FIRST_CHUNK: usize = 64 << 10;
/// Chunks double up to this shift (64 KiB << 12 = 256 MiB), which keeps the
/// size within a 32-bit `usize`.
const MAX_GROWTH_SHIFT: usize = 12;

#[derive(Clone, Copy)]
struct Chunk {
    start: usize,
    end: usize,
}

pub struct Arena {
    chunks: [Chunk; MAX_CHUNKS],
    /// Chunks obtained so far.
    len: usize,
    /// The chunk being bumped; `len` when none is.
    current: usize,
    cursor: usize,
    /// Blocks handed out and not yet released.
    live: usize,
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

impl Arena {
    pub const fn new() -> Self {
        Self {
            chunks: [Chunk { start: 0, end: 0 }; MAX_CHUNKS],
            len: 0,
            current: 0,
            cursor: 0,
            live: 0,
        }
    }

    /// A block of `size` bytes aligned to `align` (a power of two), or
    /// `None` when the arena cannot serve it (the chunk table is full or
    /// `new_chunk` returned null). `new_chunk(bytes)` supplies a chunk.
    pub fn alloc(
        &mut self,
        size: usize,
        align: usize,
        mut new_chunk: impl FnMut(usize) -> *mut u8,
    ) -> Option<*mut u8> {
        loop {
            if let Some(chunk) = self.chunks[..self.len].get(self.current) {
                let start = self.cursor.checked_add(align - 1)? & !(align - 1);
                if let Some(end) = start.checked_add(size).filter(|end| *end <= chunk.end) {
                    self.cursor = end;
                    self.live += 1;
                    return Some(start as *mut u8);
                }
                self.current += 1;
                if let Some(next) = self.chunks[..self.len].get(self.current) {
                    self.cursor = next.start;
                }
                continue;
            }
            if self.len == MAX_CHUNKS {
                return None;
            }
            let bytes =
                (FIRST_CHUNK << self.len.min(MAX_GROWTH_SHIFT)).max(size.checked_add(align)?);
            let start = new_chunk(bytes);
            if start.is_null() {
                return None;
            }
            let start = start as usize;
            self.chunks[self.len] = Chunk {
                start,
                end: start.checked_add(bytes)?,
            };
            self.current = self.len;
            self.len += 1;
            self.cursor = start;
        }
    }

    /// True when `ptr` was handed out by this arena.
    pub fn owns(&self, ptr: *mut u8) -> bool {
        let at = ptr as usize;
        self.chunks[..self.len]
            .iter()
            .any(|c| c.start <= at && at < c.end)
    }

    /// Gives back one block handed out by `alloc`. When none is left, the
    /// arena starts over from its first chunk.
    pub fn release(&mut self) {
        self.live = self.live.saturating_sub(1);
        if self.live == 0 && self.len > 0 {
            self.current = 0;
            self.cursor = self.chunks[0].start;
        }
    }

    /// Blocks handed out and not yet released.
    #[cfg(test)]
    pub fn live(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::alloc::{Layout, alloc, dealloc};
    use std::vec::Vec;

    /// Chunks from the system allocator, freed when the test ends.
    struct Chunks(Vec<(*mut u8, Layout)>);

    impl Chunks {
        fn get(&mut self, bytes: usize) -> *mut u8 {
            let layout = Layout::from_size_align(bytes, 16).unwrap();
            let ptr = unsafe { alloc(layout) };
            self.0.push((ptr, layout));
            ptr
        }
    }

    impl Drop for Chunks {
        fn drop(&mut self) {
            for (ptr, layout) in self.0.drain(..) {
                unsafe { dealloc(ptr, layout) };
            }
        }
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_owned() {
        let mut chunks = Chunks(Vec::new());
        let mut arena = Arena::new();
        let mut blocks = Vec::new();
        for (i, align) in [1usize, 8, 4, 16, 1, 2]
            .iter()
            .cycle()
            .take(600)
            .enumerate()
        {
            let size = 1 + i % 37;
            let ptr = arena.alloc(size, *align, |b| chunks.get(b)).unwrap();
            assert_eq!(ptr as usize % align, 0, "block {i} misaligned");
            assert!(arena.owns(ptr));
            blocks.push((ptr as usize, size));
        }
        blocks.sort();
        for pair in blocks.windows(2) {
            assert!(
                pair[0].0 + pair[0].1 <= pair[1].0,
                "blocks overlap: {pair:?}"
            );
        }
        assert_eq!(arena.live(), 600);
        let foreign = chunks.get(64);
        assert!(!arena.owns(foreign));
    }

    #[test]
    fn a_block_larger_than_a_chunk_gets_its_own_chunk() {
        let mut chunks = Chunks(Vec::new());
        let mut arena = Arena::new();
        let small = arena.alloc(10, 1, |b| chunks.get(b)).unwrap();
        let big = arena.alloc(FIRST_CHUNK * 3, 8, |b| chunks.get(b)).unwrap();
        assert!(arena.owns(small) && arena.owns(big));
        assert!(arena.owns(unsafe { big.add(FIRST_CHUNK * 3 - 1) }));
        assert_eq!(chunks.0.len(), 2);
    }

    #[test]
    fn memory_is_reused_only_once_every_block_is_released() {
        let mut chunks = Chunks(Vec::new());
        let mut arena = Arena::new();
        let first = arena.alloc(100, 8, |b| chunks.get(b)).unwrap();
        let second = arena.alloc(100, 8, |b| chunks.get(b)).unwrap();
        arena.release();
        // One block is still live: nothing may be handed out twice.
        let third = arena.alloc(100, 8, |b| chunks.get(b)).unwrap();
        assert!(third != first && third != second);
        arena.release();
        arena.release();
        assert_eq!(arena.live(), 0);
        // All released: the arena starts over, with no new chunk.
        let again = arena.alloc(100, 8, |b| chunks.get(b)).unwrap();
        assert_eq!(again, first);
        assert_eq!(chunks.0.len(), 1);
    }

    #[test]
    fn repeated_calls_do_not_grow_the_arena() {
        let mut chunks = Chunks(Vec::new());
        let mut arena = Arena::new();
        for _ in 0..50 {
            // One "call": 3,000 argument blocks, all freed afterwards.
            for i in 0..3_000 {
                arena.alloc(24 + i % 40, 4, |b| chunks.get(b)).unwrap();
            }
            for _ in 0..3_000 {
                arena.release();
            }
        }
        assert!(chunks.0.len() <= 2, "{} chunks", chunks.0.len());
    }

    #[test]
    fn a_refused_chunk_means_no_block() {
        let mut arena = Arena::new();
        assert!(arena.alloc(8, 8, |_| core::ptr::null_mut()).is_none());
        assert_eq!(arena.live(), 0);
    }
}
