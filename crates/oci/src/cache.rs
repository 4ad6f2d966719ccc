//! Pulled components, by manifest digest: `<dir>/<hex>.wasm`. A digest names
//! its content for good, so a cached digest is never fetched again; the
//! file is written whole (a temp file renamed) and checked on read.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::OciError;
use super::artifact::sha256_digest;

pub(crate) struct Cache {
    dir: PathBuf,
}

/// `<hex>` of `sha256:<hex>`, or None for anything else (never a path).
fn hex_of(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Cache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn paths(&self, manifest: &str) -> Option<(PathBuf, PathBuf)> {
        let hex = hex_of(manifest)?;
        Some((
            self.dir.join(format!("{hex}.wasm")),
            self.dir.join(format!("{hex}.layer")),
        ))
    }

    /// The component of this manifest and its layer digest, if cached and
    /// intact.
    pub(crate) fn get(&self, manifest: &str) -> Option<(Vec<u8>, String)> {
        let (wasm, layer) = self.paths(manifest)?;
        let bytes = std::fs::read(wasm).ok()?;
        let layer = std::fs::read_to_string(layer).ok()?;
        (sha256_digest(&bytes) == layer.trim()).then(|| (bytes, layer.trim().to_string()))
    }

    pub(crate) fn put(
        &self,
        manifest: &str,
        bytes: &[u8],
        layer: &str,
    ) -> Result<PathBuf, OciError> {
        let fail = |source| OciError::Cache {
            path: self.dir.clone(),
            source,
        };
        let Some((wasm, layer_file)) = self.paths(manifest) else {
            return Err(fail(std::io::Error::other(format!(
                "{manifest} is not a sha256 digest"
            ))));
        };
        create_private_dir(&self.dir).map_err(fail)?;
        write_whole(&self.dir, &layer_file, layer.as_bytes()).map_err(fail)?;
        write_whole(&self.dir, &wasm, bytes).map_err(fail)?;
        Ok(wasm)
    }

    /// Where a cached manifest's component is.
    pub(crate) fn path(&self, manifest: &str) -> Option<PathBuf> {
        self.paths(manifest).map(|(wasm, _)| wasm)
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn write_whole(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_entry_is_a_miss_and_a_bad_digest_no_path() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("oci"));
        let manifest = format!("sha256:{}", "ab".repeat(32));
        let bytes = b"\0asm component".to_vec();
        cache
            .put(&manifest, &bytes, &sha256_digest(&bytes))
            .unwrap();
        assert_eq!(cache.get(&manifest).unwrap().0, bytes);
        std::fs::write(cache.path(&manifest).unwrap(), b"bit rot").unwrap();
        assert!(cache.get(&manifest).is_none());
        assert!(cache.path("sha256:../../etc/passwd").is_none());
    }
}
