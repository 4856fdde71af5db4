//! Where object bytes live. A blob is written once, made durable, and only then named by an
//! object record; so a crash mid-upload leaves at most an unnamed blob, which [`Blobs::sweep`]
//! removes at the next start, and never a half-written object. A backend on another
//! S3-compatible store implements the same trait.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A blob being written.
pub trait BlobWriter: Send {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes the blob durable and returns its id.
    fn finish(self: Box<Self>) -> io::Result<String>;
}

pub trait Blobs: Send + Sync {
    fn create(&self) -> io::Result<Box<dyn BlobWriter>>;
    /// Reads `len` bytes of blob `id` from `offset`.
    fn read(&self, id: &str, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>>;
    /// Copies a blob into a new one (CopyObject keeps the source independent).
    fn copy(&self, id: &str) -> io::Result<String>;
    fn remove(&self, id: &str) -> io::Result<()>;
    /// Removes every blob not in `keep`; returns how many went.
    fn sweep(&self, keep: &HashSet<String>) -> io::Result<usize>;
}

/// Blobs as files under one folder, fanned out by the first two characters of their id.
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    pub fn open(root: &Path) -> io::Result<FsBlobs> {
        fs::create_dir_all(root)?;
        Ok(FsBlobs { root: root.into() })
    }

    fn path(&self, id: &str) -> io::Result<PathBuf> {
        let ok = id.len() > 2 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad blob id"));
        }
        Ok(self.root.join(&id[..2]).join(id))
    }
}

struct FsWriter {
    id: String,
    dir: PathBuf,
    file: io::BufWriter<File>,
}

impl BlobWriter for FsWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn finish(self: Box<Self>) -> io::Result<String> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        // the directory entry must be durable too
        File::open(&self.dir)?.sync_all()?;
        Ok(self.id)
    }
}

impl Blobs for FsBlobs {
    fn create(&self) -> io::Result<Box<dyn BlobWriter>> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = self.path(&id)?;
        let dir = self.root.join(&id[..2]);
        fs::create_dir_all(&dir)?;
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok(Box::new(FsWriter {
            id,
            dir,
            file: io::BufWriter::with_capacity(1 << 20, file),
        }))
    }

    fn read(&self, id: &str, offset: u64, len: u64) -> io::Result<Box<dyn Read + Send>> {
        let mut f = File::open(self.path(id)?)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(f.take(len)))
    }

    fn copy(&self, id: &str) -> io::Result<String> {
        let mut from = File::open(self.path(id)?)?;
        let mut w = self.create()?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n])?;
        }
        w.finish()
    }

    fn remove(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.path(id)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sweep(&self, keep: &HashSet<String>) -> io::Result<usize> {
        let mut gone = 0;
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path())? {
                let f = f?;
                let name = f.file_name().to_string_lossy().to_string();
                if !keep.contains(&name) {
                    fs::remove_file(f.path())?;
                    gone += 1;
                }
            }
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_blobs_read_back_by_range_and_sweep_keeps_named_ones() {
        let dir = std::env::temp_dir().join(format!("shoal-blobs-{}", uuid::Uuid::new_v4()));
        let blobs = FsBlobs::open(&dir).unwrap();
        let mut w = blobs.create().unwrap();
        w.write(b"hello ").unwrap();
        w.write(b"world").unwrap();
        let a = w.finish().unwrap();
        let mut s = String::new();
        blobs
            .read(&a, 6, 3)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "wor");
        let b = blobs.copy(&a).unwrap();
        assert_ne!(a, b);
        let keep: HashSet<String> = [b.clone()].into();
        assert_eq!(blobs.sweep(&keep).unwrap(), 1);
        assert!(blobs.read(&a, 0, 1).is_err());
        let mut s = String::new();
        blobs
            .read(&b, 0, 100)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello world");
        assert!(blobs.read("../etc", 0, 1).is_err());
        let _ = fs::remove_dir_all(dir);
    }
}
