//! The digests an upload is checked against: always MD5 (the ETag), plus the one flexible
//! checksum (`x-amz-checksum-<algorithm>`) the client sent, if any.

use base64::Engine;
use crc::{Crc, Digest, CRC_32_ISCSI, CRC_32_ISO_HDLC, CRC_64_NVME};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);
static CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);
static CRC64NVME: Crc<u64> = Crc::<u64>::new(&CRC_64_NVME);

/// The flexible checksum algorithms S3 knows, as they appear in header names.
pub const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

enum Flexible {
    Crc32(Digest<'static, u32>),
    Crc32c(Digest<'static, u32>),
    Crc64(Digest<'static, u64>),
    Sha1(Sha1),
    Sha256(Sha256),
}

/// Running digests over an upload's bytes.
pub struct Digests {
    md5: Md5,
    flexible: Option<(String, Flexible)>,
    pub size: u64,
}

/// What the digests came to.
pub struct Sums {
    pub md5: [u8; 16],
    /// The flexible checksum, base64 as S3 writes it, by algorithm.
    pub flexible: Option<(String, String)>,
    pub size: u64,
}

impl Digests {
    /// Digests for an upload; `algorithm` is a flexible checksum to compute too.
    pub fn new(algorithm: Option<&str>) -> Digests {
        let flexible = algorithm.and_then(|a| {
            let f = match a {
                "crc32" => Flexible::Crc32(CRC32.digest()),
                "crc32c" => Flexible::Crc32c(CRC32C.digest()),
                "crc64nvme" => Flexible::Crc64(CRC64NVME.digest()),
                "sha1" => Flexible::Sha1(Sha1::new()),
                "sha256" => Flexible::Sha256(Sha256::new()),
                _ => return None,
            };
            Some((a.to_string(), f))
        });
        Digests {
            md5: Md5::new(),
            flexible,
            size: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        self.md5.update(bytes);
        match &mut self.flexible {
            Some((_, Flexible::Crc32(d) | Flexible::Crc32c(d))) => d.update(bytes),
            Some((_, Flexible::Crc64(d))) => d.update(bytes),
            Some((_, Flexible::Sha1(d))) => d.update(bytes),
            Some((_, Flexible::Sha256(d))) => d.update(bytes),
            None => {}
        }
    }

    pub fn finish(self) -> Sums {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let flexible = self.flexible.map(|(a, f)| {
            let v = match f {
                Flexible::Crc32(d) | Flexible::Crc32c(d) => b64(&d.finalize().to_be_bytes()),
                Flexible::Crc64(d) => b64(&d.finalize().to_be_bytes()),
                Flexible::Sha1(d) => b64(&d.finalize()),
                Flexible::Sha256(d) => b64(&d.finalize()),
            };
            (a, v)
        });
        Sums {
            md5: self.md5.finalize().into(),
            flexible,
            size: self.size,
        }
    }
}

/// The hex form of an MD5, quoted as an ETag.
pub fn etag(md5: &[u8]) -> String {
    let mut s = String::with_capacity(34);
    s.push('"');
    for b in md5 {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('"');
    s
}

/// A multipart object's ETag: the MD5 of its parts' MD5s, then `-` and the part count.
pub fn multipart_etag(part_etags: &[String]) -> String {
    let mut md5 = Md5::new();
    for e in part_etags {
        let hex = e.trim_matches('"');
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        md5.update(&bytes);
    }
    let whole = etag(&md5.finalize());
    format!("{}-{}\"", &whole[..whole.len() - 1], part_etags.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        let mut d = Digests::new(Some("crc32"));
        d.update(b"hello ");
        d.update(b"world");
        let s = d.finish();
        assert_eq!(etag(&s.md5), "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
        // crc32("hello world") = 0x0d4a1185
        assert_eq!(s.flexible, Some(("crc32".into(), "DUoRhQ==".into())));
        assert_eq!(s.size, 11);
        let mut d = Digests::new(Some("sha256"));
        d.update(b"");
        assert_eq!(
            d.finish().flexible.unwrap().1,
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn multipart_etag_hashes_the_part_digests() {
        let a = etag(&Md5::digest(b"a"));
        let b = etag(&Md5::digest(b"b"));
        let e = multipart_etag(&[a, b]);
        assert!(e.starts_with('"') && e.ends_with("-2\""), "{e}");
        assert_eq!(e.len(), 36);
    }
}
