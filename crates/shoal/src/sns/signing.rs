//! SNS message signatures, as AWS signs them: the string to sign is each signed field's name and
//! value on lines of their own, and `SignatureVersion` 1 signs it with SHA1withRSA, 2 with
//! SHA256withRSA. The RSA key and its self-signed certificate (served at `SigningCertURL`) are
//! made on first use and kept in the data folder, beside the database rather than in it.
//!
//! The key only proves that a message came from this server: subscribers verify it exactly as they
//! verify AWS's, except that AWS's validators also insist the certificate URL is on
//! `amazonaws.com`.

use base64::Engine;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::RsaPrivateKey;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::{Encode, EncodePem};

/// The key a server signs with, and its certificate.
pub struct Keys {
    sha1: SigningKey<sha1::Sha1>,
    sha256: SigningKey<sha2::Sha256>,
    /// PEM.
    pub certificate: String,
    /// `SimpleNotificationService-<hash>.pem`, the path the certificate is served at.
    pub certificate_name: String,
}

/// Makes the keys on first use (an RSA key takes a moment to generate).
pub struct Signer {
    dir: PathBuf,
    keys: OnceLock<Result<Keys, String>>,
}

impl Signer {
    pub fn new(dir: &Path) -> Signer {
        Signer {
            dir: dir.to_path_buf(),
            keys: OnceLock::new(),
        }
    }

    pub fn keys(&self) -> Result<&Keys, String> {
        self.keys
            .get_or_init(|| Keys::load_or_create(&self.dir))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The fields a signature covers, in AWS's order, for each message type.
pub fn signed_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        _ => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
    }
}

/// `Name\nValue\n` for each signed field the message has (a notification without a subject
/// leaves `Subject` out).
pub fn string_to_sign(message: &serde_json::Map<String, serde_json::Value>) -> String {
    let kind = message.get("Type").and_then(|v| v.as_str()).unwrap_or("");
    let mut s = String::new();
    for f in signed_fields(kind) {
        if let Some(v) = message.get(*f).and_then(|v| v.as_str()) {
            s.push_str(f);
            s.push('\n');
            s.push_str(v);
            s.push('\n');
        }
    }
    s
}

/// The topic's `SignatureVersion`: "2", or the default "1".
pub fn signature_version(topic: &super::model::Topic) -> &'static str {
    match topic.attributes.get("SignatureVersion").map(String::as_str) {
        Some("2") => "2",
        _ => "1",
    }
}

impl Signer {
    /// A JSON message (notification or confirmation) with `SignatureVersion`, `Signature` and
    /// `SigningCertURL` after its `Timestamp`, as SNS lays them out; `base_url` is where the
    /// certificate is served. Without a key (it could not be made or read) the message goes
    /// unsigned and the reason is logged.
    pub fn sign_body(&self, body: &str, version: &str, base_url: &str) -> String {
        let keys = match self.keys() {
            Ok(k) => k,
            Err(e) => {
                eprintln!("shoal: SNS messages go unsigned: {e}");
                return body.to_string();
            }
        };
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str(body) else {
            return body.to_string();
        };
        let signature = keys.sign(version, &string_to_sign(&m));
        let mut out = serde_json::Map::with_capacity(m.len() + 3);
        let add = |out: &mut serde_json::Map<String, serde_json::Value>| {
            out.insert("SignatureVersion".into(), version.into());
            out.insert("Signature".into(), signature.clone().into());
            out.insert(
                "SigningCertURL".into(),
                format!("{base_url}/{}", keys.certificate_name).into(),
            );
        };
        let mut added = false;
        for (k, v) in m {
            let after = k == "Timestamp";
            out.insert(k, v);
            if after {
                add(&mut out);
                added = true;
            }
        }
        if !added {
            add(&mut out);
        }
        serde_json::to_string_pretty(&serde_json::Value::Object(out)).unwrap_or_default()
    }
}

impl Keys {
    fn load_or_create(dir: &Path) -> Result<Keys, String> {
        let key_path = dir.join("sns-signing.key");
        let mut fresh = false;
        let key = match std::fs::read_to_string(&key_path) {
            Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem)
                .map_err(|e| format!("{} is not a PKCS#8 RSA key: {e}", key_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
                    .map_err(|e| format!("cannot make the SNS signing key: {e}"))?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| format!("cannot encode the SNS signing key: {e}"))?;
                write_private(&key_path, pem.as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
                fresh = true;
                key
            }
            Err(e) => return Err(format!("cannot read {}: {e}", key_path.display())),
        };
        // kept too: messages in flight across a restart name its URL
        let cert_path = dir.join("sns-signing.crt");
        let certificate = match std::fs::read_to_string(&cert_path) {
            Ok(pem) if !fresh && pem.starts_with("-----BEGIN CERTIFICATE-----") => pem,
            _ => {
                let pem = certificate(&key)?;
                write_private(&cert_path, pem.as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", cert_path.display()))?;
                pem
            }
        };
        let digest = sha2::Sha256::digest(certificate.as_bytes());
        let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Keys {
            sha1: SigningKey::new(key.clone()),
            sha256: SigningKey::new(key),
            certificate,
            certificate_name: format!("SimpleNotificationService-{hash}.pem"),
        })
    }

    /// The base64 signature of `text` under `SignatureVersion` `version` ("2": SHA256, else
    /// SHA1).
    pub fn sign(&self, version: &str, text: &str) -> String {
        let bytes = if version == "2" {
            self.sha256.sign(text.as_bytes()).to_vec()
        } else {
            self.sha1.sign(text.as_bytes()).to_vec()
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// A self-signed certificate for the key, valid for ten years from when it is made.
fn certificate(key: &RsaPrivateKey) -> Result<String, String> {
    let bad = |e: &dyn std::fmt::Display| format!("cannot make the SNS signing certificate: {e}");
    let subject =
        x509_cert::name::Name::from_str("CN=sns.shoal.local,O=shoal").map_err(|e| bad(&e))?;
    let public = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(key.to_public_key())
        .map_err(|e| bad(&e))?;
    let validity =
        x509_cert::time::Validity::from_now(std::time::Duration::from_secs(10 * 365 * 86_400))
            .map_err(|e| bad(&e))?;
    let serial = x509_cert::serial_number::SerialNumber::new(&[1]).map_err(|e| bad(&e))?;
    let signer = SigningKey::<sha2::Sha256>::new(key.clone());
    let builder =
        CertificateBuilder::new(Profile::Root, serial, validity, subject, public, &signer)
            .map_err(|e| bad(&e))?;
    let cert = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| bad(&e))?;
    // encoded once as DER first: a certificate that cannot encode fails here, not in a client
    cert.to_der().map_err(|e| bad(&e))?;
    cert.to_pem(LineEnding::LF).map_err(|e| bad(&e))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use serde_json::json;

    #[test]
    fn string_to_sign_follows_aws_order_and_skips_absent_fields() {
        let n = json!({"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi",
                       "Timestamp": "ts", "UnsubscribeURL": "u"});
        assert_eq!(
            string_to_sign(n.as_object().unwrap()),
            "Message\nhi\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
        );
        let c = json!({"Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "k",
                       "TopicArn": "t", "Message": "hi", "SubscribeURL": "s", "Timestamp": "ts"});
        assert!(string_to_sign(c.as_object().unwrap())
            .starts_with("Message\nhi\nMessageId\nm\nSubscribeURL\ns\nTimestamp\nts\nToken\nk\n"));
    }

    #[test]
    fn keys_persist_and_signatures_verify() {
        let dir = std::env::temp_dir().join(format!("shoal-sign-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let keys = Keys::load_or_create(&dir).unwrap();
        assert!(keys.certificate.starts_with("-----BEGIN CERTIFICATE-----"));
        let again = Keys::load_or_create(&dir).unwrap();
        let text = "Message\nhi\n";
        assert_eq!(keys.sign("1", text), again.sign("1", text));
        let key = RsaPrivateKey::from_pkcs8_pem(
            &std::fs::read_to_string(dir.join("sns-signing.key")).unwrap(),
        )
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let v2 = Signature::try_from(b64.decode(keys.sign("2", text)).unwrap().as_slice()).unwrap();
        VerifyingKey::<sha2::Sha256>::new(key.to_public_key())
            .verify(text.as_bytes(), &v2)
            .unwrap();
        let v1 = Signature::try_from(b64.decode(keys.sign("1", text)).unwrap().as_slice()).unwrap();
        assert!(VerifyingKey::<sha2::Sha256>::new(key.to_public_key())
            .verify(text.as_bytes(), &v1)
            .is_err());
        // a body gets the three fields after its Timestamp, and keeps its other fields' order
        let signer = Signer::new(&dir);
        let body = r#"{"Type":"Notification","MessageId":"m","TopicArn":"t","Message":"hi","Timestamp":"ts","UnsubscribeURL":"u"}"#;
        let signed: serde_json::Value =
            serde_json::from_str(&signer.sign_body(body, "2", "http://h")).unwrap();
        let keys: Vec<&str> = signed
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "Type",
                "MessageId",
                "TopicArn",
                "Message",
                "Timestamp",
                "SignatureVersion",
                "Signature",
                "SigningCertURL",
                "UnsubscribeURL"
            ]
        );
        assert_eq!(
            signed["SigningCertURL"],
            json!(format!("http://h/{}", keys_name(&signer)))
        );
        assert_eq!(signer.sign_body("not json", "1", "http://h"), "not json");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn keys_name(s: &Signer) -> String {
        s.keys().unwrap().certificate_name.clone()
    }
}
