use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::RwLock;

use crate::token::AuthError;

/// Don't refetch the key set more often than this, whatever kids tokens claim.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// An external provider's signing keys, cached by `kid` and refetched when a token names a
/// kid we have not seen (key rotation).
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    state: RwLock<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
}

impl Jwks {
    pub fn new(url: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        Ok(Self {
            url,
            client,
            state: RwLock::new(Cache::default()),
        })
    }

    pub async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        if let Some(found) = self.state.read().await.keys.get(kid) {
            return Ok(found.clone());
        }
        let mut cache = self.state.write().await;
        let stale = cache.fetched_at.is_none_or(|t| t.elapsed() >= MIN_REFRESH_INTERVAL);
        if !cache.keys.contains_key(kid) && stale {
            match self.fetch().await {
                Ok(keys) => cache.keys = keys,
                Err(e) => tracing::warn!(error = %e, url = %self.url, "could not fetch the JWKS"),
            }
            cache.fetched_at = Some(Instant::now());
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::Invalid("unknown signing key".into()))
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, (DecodingKey, Algorithm)>> {
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::EdDSA), _) | (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
                (Some(KeyAlgorithm::RS256), _) | (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                _ => continue,
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (key, alg));
                }
                Err(e) => tracing::warn!(error = %e, kid, "skipping a JWKS key we cannot use"),
            }
        }
        Ok(keys)
    }
}
