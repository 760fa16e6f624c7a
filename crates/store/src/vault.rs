//! Protection of personal data at rest (Personal Information Protection Law).
//!
//! ID numbers and phones are sealed with XChaCha20-Poly1305 under a key
//! derived from the master key; the column name is bound in as associated
//! data so a sealed phone cannot be passed off as an ID number. A keyed
//! hash (HMAC-SHA256, "blind index") allows exact look-up without ever
//! storing the clear value.

use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::{OsRng, RngCore, SeedableRng, TryRngCore};
use sha2::Sha256;

use crate::StoreError;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// What a sealed value is; bound into the ciphertext and the blind index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    IdNumber,
    Phone,
    BirthDate,
    /// The original of a free text in which ID numbers or phones were found.
    FreeText,
    /// An uploaded file kept between its preview and its confirmation.
    Upload,
    /// A reporter's name as given (lists show its mask).
    ReporterName,
}

impl Field {
    fn label(self) -> &'static [u8] {
        match self {
            Field::IdNumber => b"id_number",
            Field::Phone => b"phone",
            Field::BirthDate => b"birth_date",
            Field::FreeText => b"free_text",
            Field::Upload => b"upload",
            Field::ReporterName => b"reporter_name",
        }
    }
}

pub struct Vault {
    cipher: XChaCha20Poly1305,
    index_key: [u8; 32],
    webhook_key: [u8; 32],
    /// Keys the audit chain; see [`Vault::with_audit_key`].
    audit_key: [u8; 32],
    nonces: Mutex<ChaCha20Rng>,
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl Vault {
    pub fn new(master: [u8; 32]) -> Self {
        let enc = derive(&master, b"linli/seal/v1");
        let mut seed = [0u8; 32];
        // The nonce generator is a CSPRNG seeded from the OS once, so that
        // sealing millions of rows needs no system call per row.
        if OsRng.try_fill_bytes(&mut seed).is_err() {
            seed = derive(
                &master,
                format!("linli/nonce/{}", crate::db::now_ms()).as_bytes(),
            );
        }
        Vault {
            cipher: XChaCha20Poly1305::new(&enc.into()),
            index_key: derive(&master, b"linli/index/v1"),
            webhook_key: derive(&master, b"linli/webhook/v1"),
            audit_key: derive(&master, b"linli/audit/v1"),
            nonces: Mutex::new(ChaCha20Rng::from_seed(seed)),
        }
    }

    /// Reads a master key written as base64 (32 bytes).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        Ok(Vault::new(key_from_base64("encryption key", text)?))
    }

    /// Keys the audit chain with a key of its own (LINLI_AUDIT_KEY),
    /// instead of one derived from the master key: whoever holds the data
    /// key alone then cannot rewrite the log, and an auditor with the audit
    /// key alone can verify it.
    pub fn with_audit_key(mut self, base64: &str) -> Result<Self, StoreError> {
        self.audit_key = key_from_base64("audit key", base64)?;
        Ok(self)
    }

    /// A vault that can only key and verify the audit chain (for auditors).
    pub fn audit_only(base64: &str) -> Result<Self, StoreError> {
        Vault::new([0; 32]).with_audit_key(base64)
    }

    /// HMAC-SHA256 under the audit key over length-prefixed parts, in hex.
    pub fn audit_mac(&self, parts: &[&[u8]]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.audit_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A fresh random master key in base64.
    pub fn generate_key() -> Result<String, StoreError> {
        let mut key = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| StoreError::Crypto(format!("no randomness from the OS: {e}")))?;
        Ok(B64.encode(key))
    }

    pub fn seal(&self, field: Field, clear: &str) -> Vec<u8> {
        self.seal_bytes(field, clear.as_bytes())
    }

    /// Seals any bytes (an uploaded file waiting for confirmation).
    pub fn seal_bytes(&self, field: Field, clear: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        match self.nonces.lock() {
            Ok(mut rng) => rng.fill_bytes(&mut nonce),
            Err(poisoned) => poisoned.into_inner().fill_bytes(&mut nonce),
        }
        let payload = Payload {
            msg: clear,
            aad: field.label(),
        };
        // Encryption with a valid key and nonce cannot fail for our sizes.
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, field: Field, sealed: &[u8]) -> Result<String, StoreError> {
        String::from_utf8(self.open_bytes(field, sealed)?)
            .map_err(|e| StoreError::Crypto(format!("decrypted value is not text: {e}")))
    }

    pub fn open_bytes(&self, field: Field, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(StoreError::Crypto("sealed value is malformed".into()));
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let clear = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: field.label(),
                },
            )
            .map_err(|e| {
                StoreError::Crypto(format!(
                    "cannot decrypt: wrong key, or the value was altered ({e})"
                ))
            })?;
        Ok(clear)
    }

    /// The secret webhook receivers use to check signatures (base64).
    pub fn webhook_secret(&self) -> String {
        B64.encode(self.webhook_key)
    }

    /// `sha256=<hex>`: HMAC-SHA256 of a webhook body under the webhook secret.
    pub fn sign_webhook(&self, body: &[u8]) -> String {
        sign(&self.webhook_key, body)
    }

    /// 16 bytes of HMAC-SHA256 over the field and the normalised value.
    pub fn blind_index(&self, field: Field, normalised: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(field.label());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        mac.finalize().into_bytes()[..16].to_vec()
    }
}

fn key_from_base64(what: &str, text: &str) -> Result<[u8; 32], StoreError> {
    let bytes = B64
        .decode(text.trim())
        .map_err(|e| StoreError::Config(format!("{what} is not base64: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        StoreError::Config(format!("{what} must be 32 bytes, found {}", b.len()))
    })
}

/// `sha256=<hex>` of HMAC-SHA256(key, body), the webhook signature header.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_bind_field() {
        let v = Vault::new([7; 32]);
        let s1 = v.seal(Field::IdNumber, "11010519491231002X");
        let s2 = v.seal(Field::IdNumber, "11010519491231002X");
        assert_ne!(s1, s2, "random nonces");
        assert!(!String::from_utf8_lossy(&s1).contains("1101051949"));
        assert_eq!(v.open(Field::IdNumber, &s1).unwrap(), "11010519491231002X");
        assert!(v.open(Field::Phone, &s1).is_err(), "field is bound in");
        let mut t = s1.clone();
        t[30] ^= 1;
        assert!(v.open(Field::IdNumber, &t).is_err(), "tampering detected");
        assert!(Vault::new([8; 32]).open(Field::IdNumber, &s1).is_err());
        assert_eq!(
            v.blind_index(Field::Phone, "13800138000"),
            v.blind_index(Field::Phone, "13800138000")
        );
        assert_ne!(
            v.blind_index(Field::Phone, "13800138000"),
            v.blind_index(Field::IdNumber, "13800138000")
        );
    }

    #[test]
    fn keys_from_base64() {
        let k = Vault::generate_key().unwrap();
        assert!(Vault::from_base64(&k).is_ok());
        assert!(Vault::from_base64("c2hvcnQ=").is_err());
        assert!(Vault::from_base64("!!").is_err());
    }
}
