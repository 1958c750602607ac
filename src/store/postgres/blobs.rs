//! `impl BlobStore for PgStore`: job inputs kept in the database by content hash, in chunks of
//! 1 MiB, so that a file enqueued on one host is read by a worker on another. A blob is written
//! in one transaction (a killed enqueue leaves none) and checked against its hash when read.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use postgres::fallible_iterator::FallibleIterator;
use sha2::{Digest, Sha256};

use super::{args, PgStore};
use crate::store::{BlobStore, LocalBlob};

/// Bytes per stored chunk.
const CHUNK: usize = 1 << 20;

impl PgStore {
    /// Keep `size` bytes read from `src` as the blob `sha256`, unless it is already kept.
    fn put_reader(&self, sha256: &str, size: u64, src: &mut dyn Read) -> Result<()> {
        if !crate::store::is_content_hash(sha256) {
            bail!("`{sha256}` is not a content hash");
        }
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let chunks =
            i32::try_from(((size + CHUNK as i64 - 1) / CHUNK as i64).max(1)).unwrap_or(i32::MAX);
        self.tx(|tx| {
            // Another host keeping the same content at the same time waits here for it, then
            // finds it kept.
            let new = tx
                .query_typed_opt(
                    "INSERT INTO blobs (sha256, size, chunks, created_at) VALUES ($1, $2, $3, now())
                     ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
                    args![sha256, size, chunks],
                )?
                .is_some();
            if !new {
                return Ok(());
            }
            let mut buf = vec![0u8; CHUNK];
            let mut hash = Sha256::new();
            let mut n: i32 = 0;
            let mut total: i64 = 0;
            loop {
                let mut filled = 0;
                while filled < CHUNK {
                    let got = src.read(&mut buf[filled..])?;
                    if got == 0 {
                        break;
                    }
                    filled += got;
                }
                if filled == 0 && n > 0 {
                    break;
                }
                hash.update(&buf[..filled]);
                total += filled as i64;
                tx.execute_typed(
                    "INSERT INTO blob_chunks (sha256, n, data) VALUES ($1, $2, $3)",
                    args![sha256, n, &buf[..filled]],
                )?;
                n += 1;
                if filled < CHUNK {
                    break;
                }
            }
            let got = hex::encode(hash.finalize());
            if got != sha256 || total != size {
                bail!(
                    "the content changed while it was being kept (hash {got}, {total} bytes; \
                     expected {sha256}, {size} bytes): enqueue it again"
                );
            }
            tx.execute_typed(
                "UPDATE blobs SET chunks = $2 WHERE sha256 = $1",
                args![sha256, n],
            )?;
            Ok(())
        })
    }
}

impl BlobStore for PgStore {
    fn put_blob_file(&self, sha256: &str, src: &Path) -> Result<()> {
        let mut f =
            std::fs::File::open(src).with_context(|| format!("cannot read `{}`", src.display()))?;
        let size = f.metadata()?.len();
        self.put_reader(sha256, size, &mut f)
            .with_context(|| format!("cannot keep `{}` in `{}`", src.display(), self.shown))
    }

    fn put_blob_bytes(&self, bytes: &[u8]) -> Result<String> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        self.put_reader(&sha256, bytes.len() as u64, &mut &bytes[..])?;
        Ok(sha256)
    }

    fn fetch_blob(&self, sha256: &str) -> Result<Option<LocalBlob>> {
        if !crate::store::is_content_hash(sha256) {
            bail!("`{sha256}` is not a content hash");
        }
        let Some(meta) = self.query_opt(
            "SELECT size, chunks FROM blobs WHERE sha256 = $1",
            args![sha256],
        )?
        else {
            return Ok(None);
        };
        let (size, chunks): (i64, i32) = (meta.get(0), meta.get(1));
        let path = self.tmp_dir.join(format!(
            "salesingest-blob-{sha256}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        // Removed when dropped, also when this fails half-way.
        let blob = LocalBlob::temporary(path.clone());
        let mut out =
            private_file(&path).with_context(|| format!("cannot write `{}`", path.display()))?;
        let mut hash = Sha256::new();
        let mut total = 0i64;
        let mut seen = 0i32;
        {
            let mut c = self.conn()?;
            let mut rows = c
                .query_typed_raw(
                    "SELECT data FROM blob_chunks WHERE sha256 = $1 ORDER BY n",
                    args![sha256].iter().map(|(v, t)| (*v, t.clone())),
                )
                .map_err(|e| self.lost(&e))?;
            while let Some(r) = rows.next().map_err(|e| self.lost(&e))? {
                let data: &[u8] = r.get(0);
                hash.update(data);
                out.write_all(data).with_context(|| {
                    format!("cannot write `{}` (is that disk full?)", path.display())
                })?;
                total += data.len() as i64;
                seen += 1;
            }
        }
        out.flush()?;
        let got = hex::encode(hash.finalize());
        if seen != chunks || total != size || got != sha256 {
            bail!(
                "the kept copy {sha256} in `{}` is damaged ({seen} of {chunks} chunks, {total} of \
                 {size} bytes, hash {got}): enqueue the file again",
                self.shown
            );
        }
        Ok(Some(blob))
    }

    fn blob_location(&self, sha256: &str) -> String {
        format!("{sha256} in `{}`", self.shown)
    }
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}
