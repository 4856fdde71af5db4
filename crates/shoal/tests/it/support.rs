//! Shared helpers: locating the binary, the repository and `../shared`.

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn shoal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` beside the repository; the tests that need it fail loudly when it is missing.
pub fn shared_dir() -> PathBuf {
    let p = repo_root().join("../shared");
    assert!(
        p.join("conformance").is_dir(),
        "../shared is missing (looked in {}): the conformance tests need the shared material beside the repository",
        p.display()
    );
    p
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run shoal");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A file named `name` in a folder of its own, removed when the value drops.
pub struct TempFile {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl AsRef<std::ffi::OsStr> for TempFile {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

pub fn temp_file(name: &str, contents: &str) -> TempFile {
    let dir = tempfile::Builder::new()
        .prefix("shoal-it-")
        .tempdir()
        .expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    TempFile { path, _dir: dir }
}
