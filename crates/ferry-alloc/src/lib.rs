//! The global allocator of ferry's programs: mimalloc.
//!
//! The `mimalloc` crate passes every Rust allocation to mimalloc's aligned entry points. Those
//! take a fast path only for small blocks; a larger buffer (a file read, a rendered template)
//! goes through the generic aligned path, which may over-allocate to find an aligned address.
//! Every mimalloc block is already aligned to a machine word, so [`MiMalloc`] calls the plain
//! `mi_malloc`/`mi_realloc` when Rust asks for a word's alignment or less (nearly always), and
//! the aligned functions only beyond that. Rendering the corpus's two smallest charts took 2–5%
//! less time on one core (`taskset -c 1 render_bench CHART --bench 300`, six runs each).
//!
//! ```text
//! #[global_allocator]
//! static GLOBAL: ferry_alloc::MiMalloc = ferry_alloc::MiMalloc;
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every mimalloc block has: blocks are whole machine words.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc as Rust's global allocator.
pub struct MiMalloc;

// SAFETY: every pointer returned comes from mimalloc, at the requested size, aligned as the
// layout requires (plain calls only for alignments a word-aligned block satisfies), and every
// pointer freed or resized came from this allocator.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain FFI calls with a size and a power-of-two alignment
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract)
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (the caller's contract); the
        // result keeps that alignment
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::MiMalloc;
    use std::alloc::{GlobalAlloc, Layout};

    /// Allocates, writes, grows and frees blocks of many sizes and alignments, checking each
    /// address is aligned as asked and contents survive a resize.
    #[test]
    fn blocks_are_aligned_and_keep_their_contents() {
        let a = MiMalloc;
        for align in [1usize, 2, 4, 8, 16, 64, 4096] {
            for size in [1usize, 3, 8, 24, 100, 1024, 5000, 70_000, 3 << 20] {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    std::ptr::write_bytes(p, 0xAB, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0, "grown: size {size} align {align}");
                    assert!((0..size).all(|i| *q.add(i) == 0xAB));
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
