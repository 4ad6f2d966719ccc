//! wasmtime's bindings of the `policy` world. The `types` interface is
//! kbind-contract's own types (`with:`), so a decision's input is lowered
//! into the component as the planner built it, with no conversion.

/// What `bindgen!` expects of the module an interface is mapped to with
/// `with:`: the interface's types (kbind-contract's) and its (empty) host
/// side, as wasmtime 48 generates them for an interface with no functions.
/// Mapping the interface is the only way wasmtime offers to reuse record
/// types; a different wasmtime may generate a different shape, and then
/// this fails to compile rather than misbehave.
pub mod contract_types {
    pub use kbind_contract::types::*;

    pub trait HostWithStore<T>: wasmtime::component::HasData {}
    impl<H: ?Sized, T> HostWithStore<T> for H where H: wasmtime::component::HasData {}
    pub trait Host {}
    impl<T: Host + ?Sized> Host for &mut T {}

    pub fn add_to_linker<T, D>(
        linker: &mut wasmtime::component::Linker<T>,
        _host_getter: fn(&mut T) -> D::Data<'_>,
    ) -> wasmtime::Result<()>
    where
        D: HostWithStore<T>,
        for<'a> D::Data<'a>: Host,
        T: 'static,
    {
        linker.instance("kbind:policy/types@0.2.0")?;
        Ok(())
    }
}

#[allow(missing_docs, clippy::all)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "policy",
        with: { "kbind:policy/types": super::contract_types },
    });
}

pub use generated::*;

/// The bindings of contract 0.1 (`wit/contract-0.1`, the WIT as it was
/// released), with types of their own: the adapter (`adapter.rs`) converts
/// between them and the current contract's.
#[allow(missing_docs, clippy::all)]
pub mod contract_0_1 {
    wasmtime::component::bindgen!({
        path: "wit/contract-0.1",
        world: "policy",
    });
}
