//! A `no_std` policy on `wasm32-wasip2` still needs `memcmp`/`memcpy` and
//! friends; std gets them from wasi-libc, so we link the same static libc.
//! Only those pure functions are pulled in, so the component imports no WASI.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "wasm32" {
        println!("cargo:rustc-link-lib=c");
    }
}
