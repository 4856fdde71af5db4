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

pub fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shoal-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write temp file");
    p
}
