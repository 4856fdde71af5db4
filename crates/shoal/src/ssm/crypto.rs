//! SecureString values are sealed with AES-256-GCM under a key kept in its own file, outside the
//! database: a copy of `shoal.db` alone does not reveal them.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the parameter key {0}: {1}")]
    Read(String, std::io::Error),
    #[error("cannot create the parameter key {0}: {1}")]
    Create(String, std::io::Error),
    #[error("the parameter key {0} is not 32 bytes")]
    Size(String),
    #[error("no random numbers for a new key")]
    Random,
}

impl Sealer {
    /// Loads the key file, creating it (32 random bytes, owner-only permissions) if missing.
    pub fn open(path: &Path) -> Result<Sealer, KeyError> {
        let shown = path.display().to_string();
        let rng = SystemRandom::new();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut b = vec![0u8; 32];
                rng.fill(&mut b).map_err(|_| KeyError::Random)?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| KeyError::Create(shown.clone(), e))?;
                }
                write_private(path, &b).map_err(|e| KeyError::Create(shown.clone(), e))?;
                b
            }
            Err(e) => return Err(KeyError::Read(shown, e)),
        };
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyError::Size(shown))?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            rng,
        })
    }

    /// The sealed form of a value: base64 of nonce, ciphertext and tag.
    pub fn seal(&self, plain: &str, context: &str) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend(data);
        Some(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens what [`Sealer::seal`] made for the same `context` (the parameter's name).
    pub fn open_value(&self, sealed: &str, context: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_name() {
        let dir = std::env::temp_dir().join(format!("shoal-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("parameters.key");
        let s = Sealer::open(&path).unwrap();
        let sealed = s.seal("hunter2", "/db/password").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            s.open_value(&sealed, "/db/password").as_deref(),
            Some("hunter2")
        );
        assert_eq!(
            s.open_value(&sealed, "/other"),
            None,
            "bound to the parameter's name"
        );
        // the same file gives the same key; another key cannot open it
        let again = Sealer::open(&path).unwrap();
        assert_eq!(
            again.open_value(&sealed, "/db/password").as_deref(),
            Some("hunter2")
        );
        let other = Sealer::open(&dir.join("other.key")).unwrap();
        assert_eq!(other.open_value(&sealed, "/db/password"), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
