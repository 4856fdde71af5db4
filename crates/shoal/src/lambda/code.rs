//! Function and layer code: a zip (as CreateFunction and PublishLayerVersion carry it) unpacked
//! once into a folder named after its SHA-256, so unchanged code is never unpacked twice.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// Largest zip shoal accepts (AWS: 50 MB zipped, 250 MB unzipped).
pub const MAX_ZIP: usize = 50 << 20;
pub const MAX_UNZIPPED: u64 = 250 << 20;

#[derive(Debug)]
pub struct Unpacked {
    pub dir: PathBuf,
    /// base64 SHA-256 of the zip, as Lambda reports `CodeSha256`.
    pub sha256: String,
    pub size: u64,
}

/// Unpacks `zip` under `root`; the error says what is wrong with the archive.
pub fn unpack(root: &Path, zip: &[u8]) -> Result<Unpacked, String> {
    if zip.len() > MAX_ZIP {
        return Err(format!(
            "Unzipped size must be smaller than {MAX_UNZIPPED} bytes; the zip is {} bytes (at most {MAX_ZIP})",
            zip.len()
        ));
    }
    let digest = Sha256::digest(zip);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let sha256 = base64::engine::general_purpose::STANDARD.encode(digest);
    let dir = root.join(&hex);
    let done = dir.join(".shoal-unpacked");
    if done.exists() {
        return Ok(Unpacked {
            dir,
            sha256,
            size: zip.len() as u64,
        });
    }
    let tmp = root.join(format!("{hex}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = extract(&tmp, zip);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::write(tmp.join(".shoal-unpacked"), b"").map_err(|e| e.to_string())?;
    // another request may have unpacked the same code meanwhile: either copy will do
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(Unpacked {
        dir,
        sha256,
        size: zip.len() as u64,
    })
}

fn extract(dir: &Path, zip: &[u8]) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip))
        .map_err(|e| format!("Could not unzip uploaded file. Please check your file, then try to upload again. ({e})"))?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| e.to_string())?;
        let Some(rel) = f.enclosed_name() else {
            return Err(format!(
                "The zip entry '{}' points outside the archive",
                f.name()
            ));
        };
        let path = dir.join(&rel);
        if f.is_dir() {
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        let mut bytes = Vec::with_capacity(f.size() as usize);
        (&mut f)
            .take(MAX_UNZIPPED + 1 - total)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        total += bytes.len() as u64;
        if total > MAX_UNZIPPED {
            return Err(format!(
                "Unzipped size must be smaller than {MAX_UNZIPPED} bytes"
            ));
        }
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // zips made on Windows carry no mode: keep files readable, and a bootstrap runnable
            let mode = f.unix_mode().unwrap_or(0o644) | 0o444;
            let mode = if rel.file_name().is_some_and(|n| n == "bootstrap") {
                mode | 0o555
            } else {
                mode
            };
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, text) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn unpacks_once_and_refuses_escapes() {
        let root = std::env::temp_dir().join(format!("shoal-code-{}", uuid::Uuid::new_v4()));
        let z = zip_of(&[
            ("app.py", "x = 1"),
            ("pkg/mod.py", "y = 2"),
            ("bootstrap", "#!/bin/sh"),
        ]);
        let a = unpack(&root, &z).unwrap();
        assert_eq!(
            std::fs::read_to_string(a.dir.join("pkg/mod.py")).unwrap(),
            "y = 2"
        );
        let b = unpack(&root, &z).unwrap();
        assert_eq!((a.dir.clone(), a.sha256.clone()), (b.dir, b.sha256));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(a.dir.join("bootstrap"))
                .unwrap()
                .permissions()
                .mode();
            assert!(m & 0o111 != 0);
        }
        assert!(unpack(&root, b"not a zip")
            .unwrap_err()
            .contains("Could not unzip"));
        let evil = zip_of(&[("../evil.py", "boom")]);
        assert!(unpack(&root, &evil).unwrap_err().contains("outside"));
        let _ = std::fs::remove_dir_all(root);
    }
}
