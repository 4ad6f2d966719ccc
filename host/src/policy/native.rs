//! Native `kratix-default`, written independently of the wasm one: the
//! differential test checks both give identical decisions, the benches
//! measure the engine's overhead against it.
