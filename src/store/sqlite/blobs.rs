//! `impl BlobStore for Db`: job inputs (report files, Ping bodies) kept by content hash as
//! owner-only files in `<folder of the database>/inbox/<sha256>`, next to the database they
//! belong to (SQLite serves one machine, so every worker reads the same folder).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::Db;
use crate::store::{BlobStore, LocalBlob};

impl BlobStore for Db {
    fn put_blob_file(&self, sha256: &str, src: &Path) -> Result<()> {
        copy_in(&self.blob_dir(), src, sha256).map(drop)
    }

    fn put_blob_bytes(&self, bytes: &[u8]) -> Result<String> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        write_in(&self.blob_dir(), &sha256, bytes)?;
        Ok(sha256)
    }

    fn fetch_blob(&self, sha256: &str) -> Result<Option<LocalBlob>> {
        if !crate::store::is_content_hash(sha256) {
            anyhow::bail!("`{sha256}` is not a content hash");
        }
        let path = self.blob_dir().join(sha256);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(LocalBlob::kept(path))),
            Ok(_) => anyhow::bail!("`{}` is not a file", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        }
    }

    fn blob_location(&self, sha256: &str) -> String {
        self.blob_dir().join(sha256).display().to_string()
    }
}

impl Db {
    /// Where this database keeps its blobs: `<folder of the database>/inbox`.
    pub fn blob_dir(&self) -> PathBuf {
        self.path()
            .parent()
            .map_or_else(|| PathBuf::from("inbox"), |d| d.join("inbox"))
    }
}

/// Copy `src` to `<dir>/<sha256>` (atomically, owner-only, synced), unless it is already there.
fn copy_in(dir: &Path, src: &Path, sha256: &str) -> Result<PathBuf> {
    if !crate::store::is_content_hash(sha256) {
        anyhow::bail!("`{sha256}` is not a content hash");
    }
    let dest = dir.join(sha256);
    if dest.exists() {
        return Ok(dest);
    }
    create_private_dir(dir)?;
    let tmp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
    let copied = copy_file_synced(src, &tmp, dir);
    if copied.is_err() {
        // A partial copy (disk full) must not keep holding the space it took.
        let _ = std::fs::remove_file(&tmp);
    }
    copied?;
    std::fs::rename(&tmp, &dest)
        .with_context(|| format!("cannot move `{}` into place", tmp.display()))?;
    Ok(dest)
}

fn copy_file_synced(src: &Path, tmp: &Path, dir: &Path) -> Result<()> {
    let mut out = private_file(tmp)
        .with_context(|| format!("cannot write into the inbox `{}`", dir.display()))?;
    let mut input = File::open(src).with_context(|| format!("cannot read `{}`", src.display()))?;
    io::copy(&mut input, &mut out).with_context(|| {
        format!(
            "cannot copy `{}` into the inbox `{}` (is that disk full?)",
            src.display(),
            dir.display()
        )
    })?;
    out.sync_all()
        .with_context(|| format!("cannot sync `{}`", tmp.display()))
}

/// Write `bytes` to `<dir>/<sha256>` (atomically, owner-only, synced), unless already there.
fn write_in(dir: &Path, sha256: &str, bytes: &[u8]) -> Result<PathBuf> {
    let dest = dir.join(sha256);
    if dest.exists() {
        return Ok(dest);
    }
    create_private_dir(dir)?;
    let tmp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
    let written = private_file(&tmp)
        .with_context(|| format!("cannot write into the inbox `{}`", dir.display()))
        .and_then(|mut out| {
            out.write_all(bytes)?;
            out.sync_all()?;
            Ok(())
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::rename(&tmp, &dest)
        .with_context(|| format!("cannot move `{}` into place", tmp.display()))?;
    Ok(dest)
}

fn private_file(path: &Path) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("cannot create the inbox `{}`", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::temp_db;

    #[test]
    fn blobs_are_kept_by_hash_and_read_back() {
        let (dir, db) = temp_db();
        let src = dir.path().join("report.csv");
        std::fs::write(&src, b"a,b\n1,2\n").unwrap();
        let sha = hex::encode(Sha256::digest(b"a,b\n1,2\n"));
        db.put_blob_file(&sha, &src).unwrap();
        std::fs::remove_file(&src).unwrap();
        let blob = db.fetch_blob(&sha).unwrap().expect("kept");
        assert_eq!(std::fs::read(blob.path()).unwrap(), b"a,b\n1,2\n");
        let sha2 = db.put_blob_bytes(b"ping").unwrap();
        assert_eq!(sha2, hex::encode(Sha256::digest(b"ping")));
        let blob = db.fetch_blob(&sha2).unwrap().unwrap();
        assert_eq!(std::fs::read(blob.path()).unwrap(), b"ping");
        // Kept files are not removed when read.
        drop(blob);
        assert!(db.fetch_blob(&sha2).unwrap().is_some());
        assert!(db.fetch_blob(&"0".repeat(64)).unwrap().is_none());
        assert!(db.fetch_blob("../../etc/passwd").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(db.blob_dir().join(&sha))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "owner-only");
        }
    }
}
