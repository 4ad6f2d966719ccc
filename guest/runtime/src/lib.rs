//! What std would otherwise provide to a `no_std` wasm guest: an allocator, a
//! panic handler and the canonical ABI's `cabi_realloc`. None of them import
//! WASI, so a component built with this runtime imports nothing.
//!
//! The wasm-only parts exist only on `wasm32`; natively (policy unit tests)
//! std provides the same, and only the arena's logic is built, for its tests.
#![no_std]

#[cfg(any(target_arch = "wasm32", test))]
mod arena;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use core::alloc::{GlobalAlloc, Layout};
    use core::ptr::{self, addr_of_mut};

    use dlmalloc::Dlmalloc;

    use crate::arena::Arena;

    // A component instance runs one call at a time on one thread, so the
    // heap needs no lock (dlmalloc's `GlobalDlmalloc` takes one per call).
    static mut HEAP: Dlmalloc = Dlmalloc::new();
    /// Argument memory written by the host through `cabi_realloc`.
    static mut ARGUMENTS: Arena = Arena::new();

    struct Allocator;

    #[global_allocator]
    static ALLOCATOR: Allocator = Allocator;

    fn heap() -> &'static mut Dlmalloc {
        // SAFETY: single-threaded (see HEAP), and no caller holds the
        // reference across another allocator call.
        unsafe { &mut *addr_of_mut!(HEAP) }
    }

    fn arguments() -> &'static mut Arena {
        // SAFETY: as for `heap`.
        unsafe { &mut *addr_of_mut!(ARGUMENTS) }
    }

    unsafe impl GlobalAlloc for Allocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { heap().malloc(layout.size(), layout.align()) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            unsafe { heap().calloc(layout.size(), layout.align()) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if arguments().owns(ptr) {
                arguments().release();
            } else {
                unsafe { heap().free(ptr, layout.size(), layout.align()) }
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if !arguments().owns(ptr) {
                return unsafe { heap().realloc(ptr, layout.size(), layout.align(), new_size) };
            }
            // A lifted argument the policy grows (a `push` onto an input
            // list) moves to the heap.
            let moved = unsafe { heap().malloc(new_size, layout.align()) };
            if !moved.is_null() {
                unsafe { ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size)) };
                arguments().release();
            }
            moved
        }
    }

    /// A panic becomes a trap; the host reports it as a panicking policy.
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }

    /// The canonical ABI allocates argument memory in the guest through this
    /// export. On `wasm32-wasip2` wit-bindgen expects libc to provide it; a
    /// `no_std` guest has none, so we do. Arguments go to the arena (see
    /// `arena`), and to the heap when the arena cannot take them.
    ///
    /// # Safety
    /// Called by the component runtime with a layout that matches the
    /// previous allocation (`old_len`, `align`) when `old_ptr` is not null.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn cabi_realloc(
        old_ptr: *mut u8,
        old_len: usize,
        align: usize,
        new_len: usize,
    ) -> *mut u8 {
        if new_len == 0 {
            return align as *mut u8;
        }
        let fresh = arguments()
            .alloc(new_len, align, |bytes| unsafe { heap().malloc(bytes, 16) })
            .unwrap_or_else(|| unsafe { heap().malloc(new_len, align) });
        if fresh.is_null() {
            // Out of memory (the host's memory cap): trap, the host reports it.
            core::arch::wasm32::unreachable()
        }
        if old_len != 0 {
            unsafe {
                ptr::copy_nonoverlapping(old_ptr, fresh, old_len.min(new_len));
                ALLOCATOR.dealloc(old_ptr, Layout::from_size_align_unchecked(old_len, align));
            }
        }
        fresh
    }
}
