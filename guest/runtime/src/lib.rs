//! What std would otherwise provide to a `no_std` wasm guest: an allocator, a
//! panic handler and the canonical ABI's `cabi_realloc`. None of them import
//! WASI, so a component built with this runtime imports nothing.
//!
//! Everything here exists only on `wasm32`; natively (policy unit tests) the
//! crate is empty and std provides the same.
#![no_std]
#![cfg(target_arch = "wasm32")]

use core::alloc::{GlobalAlloc, Layout};

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic becomes a trap; the host reports it as a panicking policy.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI allocates argument memory in the guest through this
/// export. On `wasm32-wasip2` wit-bindgen expects libc to provide it; a
/// `no_std` guest has none, so we do.
///
/// # Safety
/// Called by the component runtime with a layout that matches the previous
/// allocation (`old_len`, `align`) when `old_ptr` is not null.
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
    let ptr = unsafe {
        if old_len == 0 {
            ALLOCATOR.alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            ALLOCATOR.realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory (the host's memory cap): trap, the host reports it.
        core::arch::wasm32::unreachable()
    }
    ptr
}
