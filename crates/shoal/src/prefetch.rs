//! Reading the server's own executable into the page cache when it starts.
//!
//! The kernel maps an executable's code lazily: the first time a request runs a function, the
//! page holding it is read from disk if the page cache does not have it. shoal's code is about
//! 100 MiB and a request's path crosses many crates, so the first call of each operation in a
//! fresh process took a few of those reads. On a virtual disk each costs about a millisecond,
//! and on a host that reclaims cold page-cache pages (as the one the benchmarks run on does) the
//! executable is rarely cached by the time a server starts. One sequential read of the whole
//! file, in the background, costs about 0.15 s of disk time there and takes no memory that the
//! kernel cannot reclaim: the pages are cache, not the process's own.

use std::fs::File;

/// Asks the kernel, from a background thread, to read the running executable into the page
/// cache. Nothing is waited for; a failure only means the first requests read their code on
/// demand, as without it.
pub fn executable() {
    let spawned = std::thread::Builder::new()
        .name("shoal-prefetch".into())
        .spawn(|| {
            if let Ok(exe) = File::open("/proc/self/exe") {
                will_need(&exe);
            }
        });
    // no thread: the code is read on demand instead
    drop(spawned);
}

/// Linux reads ahead at most a few MiB per call, whatever the length asked for, so the file is
/// asked for 2 MiB at a time. The reads themselves run after the calls return.
#[cfg(target_os = "linux")]
fn will_need(file: &File) {
    use std::os::fd::AsRawFd;
    const CHUNK: i64 = 2 << 20;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0) as i64;
    for at in (0..len).step_by(CHUNK as usize) {
        // SAFETY: posix_fadvise takes an open descriptor, which `file` holds for the call,
        // and integers; it changes no memory of this process.
        let r =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), at, CHUNK, libc::POSIX_FADV_WILLNEED) };
        if r != 0 {
            return;
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn will_need(_file: &File) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// The share of `file`'s pages in the page cache, as mincore(2) reports them.
    fn cached(file: &File, len: usize) -> f64 {
        let page = 4096;
        let pages = len.div_ceil(page);
        let mut flags = vec![0u8; pages];
        // SAFETY: a private read-only mapping of `len` bytes of an open file, unmapped before
        // returning; mincore writes one byte per page into `flags`, which holds `pages` bytes.
        unsafe {
            let at = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(at, libc::MAP_FAILED, "cannot map the test file");
            let r = libc::mincore(at, len, flags.as_mut_ptr());
            libc::munmap(at, len);
            assert_eq!(r, 0, "mincore failed");
        }
        flags.iter().filter(|f| *f & 1 == 1).count() as f64 / pages as f64
    }

    #[test]
    fn a_file_the_cache_dropped_is_read_back_into_it() {
        // beside the test executable: a build folder on disk, where pages can be dropped
        // (a tmpfs /tmp keeps every page in memory)
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.to_path_buf()))
            .unwrap_or_else(std::env::temp_dir);
        let path = dir.join(format!("prefetch-{}.bin", uuid::Uuid::new_v4()));
        let len = 32 << 20;
        let mut f = File::create(&path).expect("cannot create the test file");
        f.write_all(&vec![7u8; len])
            .expect("cannot write the test file");
        f.sync_all().expect("cannot sync the test file");
        let file = File::open(&path).expect("cannot open the test file");
        // SAFETY: an open descriptor and integers; no memory of this process changes.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let before = cached(&file, len);
        will_need(&file);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut after = cached(&file, len);
        while after < 1.0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            after = cached(&file, len);
        }
        let _ = std::fs::remove_file(&path);
        assert!(
            before < 0.5,
            "the file system kept {:.0}% of a synced file cached after DONTNEED: \
             this test needs {} on a disk",
            before * 100.0,
            dir.display()
        );
        assert_eq!(after, 1.0, "only {:.0}% read into the cache", after * 100.0);
    }
}
