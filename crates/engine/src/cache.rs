//! On-disk cache of compiled components.
//!
//! Key: the component's sha256 plus the engine's compatibility hash (wasmtime
//! version, target, and every setting that affects code generation), so an
//! upgrade of kbind or a config change simply misses and recompiles.
//!
//! Deserializing compiled code runs it natively, so only artifacts this host
//! wrote are ever loaded: each file carries a header with the key it was
//! written for and a CRC-32 of the artifact, the directory is created
//! private to the user, and any mismatch (foreign file, truncation, bit rot)
//! is treated as a miss and overwritten. The checksum is against accidents,
//! not attackers: whoever can write the file can write a matching hash of
//! any strength next to it, so what keeps attackers out is the directory's
//! permissions. CRC-32 instead of the sha256 used before took ~240 µs off
//! every cached load of the shipped policy (BENCHMARKS.md).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"KBINDCW2";
const HEADER_LEN: usize = 8 + 32 + 8 + 4;

pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
    compat: u64,
}

impl ArtifactCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            compat: hasher.finish(),
        }
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{digest}-{:016x}.cwasm", self.compat)))
    }

    /// The cache file of this component, if it holds a valid artifact.
    pub(crate) fn artifact(&self, digest: &[u8; 32]) -> Option<PathBuf> {
        let path = self.path(&hex::encode(digest))?;
        let bytes = std::fs::read(&path).ok()?;
        self.verify(&bytes, digest).map(|_| path)
    }

    /// The cached compilation of the component with this digest, if a valid
    /// one written by this host exists.
    pub(crate) fn load(&self, engine: &Engine, digest: &[u8; 32]) -> Option<Component> {
        let path = self.path(&hex::encode(digest))?;
        let bytes = std::fs::read(&path).ok()?;
        let artifact = self.verify(&bytes, digest)?;
        // SAFETY: the artifact was produced by `Component::serialize` in this
        // host for this exact key (checked above against the header and the
        // artifact's checksum), in a directory private to this user.
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), "discarding unusable compiled policy: {err:#}");
                None
            }
        }
    }

    fn verify<'a>(&self, bytes: &'a [u8], digest: &[u8; 32]) -> Option<&'a [u8]> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC || &bytes[8..40] != digest {
            return None;
        }
        if bytes[40..48] != self.compat.to_le_bytes() {
            return None;
        }
        let artifact = &bytes[HEADER_LEN..];
        (crc32fast::hash(artifact).to_le_bytes() == bytes[48..52]).then_some(artifact)
    }

    /// Stores a compiled component. Failures only cost a recompilation next
    /// time, so they are logged, not returned.
    pub(crate) fn store(&self, digest: &[u8; 32], component: &Component) {
        let Some(path) = self.path(&hex::encode(digest)) else {
            return;
        };
        if let Err(err) = self.write(&path, digest, component) {
            tracing::warn!(path = %path.display(), "cannot cache compiled policy: {err:#}");
        }
    }

    fn write(&self, path: &Path, digest: &[u8; 32], component: &Component) -> anyhow::Result<()> {
        let artifact = component
            .serialize()
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(MAGIC)?;
        file.write_all(digest)?;
        file.write_all(&self.compat.to_le_bytes())?;
        file.write_all(&crc32fast::hash(&artifact).to_le_bytes())?;
        file.write_all(&artifact)?;
        file.persist(path)?;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
