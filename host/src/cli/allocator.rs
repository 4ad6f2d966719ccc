//! Heap tuning for the long-running commands.

/// Limits glibc's malloc to one arena. The operator's cache, views and
/// plans are many small allocations made by several worker threads; with an
/// arena per thread, the free space left by one thread's transient peak
/// (a promise's plan over 10,000 bindings) is not reused by the others, and
/// the 10,000-request upgrade wave peaked at 235 MiB instead of ~175 MiB
/// (BENCHMARKS.md). Must run before any thread is started.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called
    // before the runtime starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
