use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::jwks::Jwks;

pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew we tolerate between the token's issuer and us.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    /// Optional: external providers may leave it out.
    #[serde(default)]
    pub iat: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token has expired")]
    Expired,
}

impl From<AuthError> for web::ApiError {
    fn from(e: AuthError) -> Self {
        web::ApiError::Unauthorized(e.to_string())
    }
}

/// Issues our HS256 tokens and verifies those plus, when configured, an external provider's.
#[derive(Clone)]
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    token_ttl: Duration,
    jwks: Option<Arc<Jwks>>,
}

impl Authenticator {
    pub fn new(secret: &[u8], token_ttl: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "the JWT secret must hold at least {MIN_SECRET_BYTES} bytes"
        );
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            token_ttl,
            jwks: None,
        })
    }

    /// Also accept EdDSA and RS256 tokens signed by a key published at `url`.
    pub fn with_jwks(mut self, url: String) -> anyhow::Result<Self> {
        self.jwks = Some(Arc::new(Jwks::new(url)?));
        Ok(self)
    }

    pub fn issue(&self, user_id: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp() as u64;
        let claims = Claims {
            sub: user_id.to_owned(),
            iat: now,
            exp: now + self.token_ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Returns the token's user id (`sub`).
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        // `alg: none` and unknown algorithms fail here: the header does not parse.
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = match header.alg {
            Algorithm::HS256 => decode(token, &self.decoding, Algorithm::HS256)?,
            alg @ (Algorithm::EdDSA | Algorithm::RS256) => {
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| AuthError::Invalid(format!("{alg:?} tokens are not accepted")))?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
                let (key, key_alg) = jwks.key(&kid).await?;
                if key_alg != alg {
                    return Err(AuthError::Invalid("token algorithm does not match its key".into()));
                }
                decode(token, &key, alg)?
            }
            other => {
                return Err(AuthError::Invalid(format!("{other:?} tokens are not accepted")));
            }
        };
        if claims.sub.is_empty() {
            return Err(AuthError::Invalid("token has an empty subject".into()));
        }
        Ok(claims.sub)
    }
}

fn decode(token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.set_required_spec_claims(&["exp", "sub"]);
    // External providers set `aud` to their own origin; we trust the signature and `sub`.
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(&[7u8; 32], Duration::from_secs(3600)).unwrap()
    }

    #[tokio::test]
    async fn issued_tokens_verify_to_their_user() {
        let a = auth();
        let token = a.issue("user-1").unwrap();
        assert_eq!(a.verify(&token).await.unwrap(), "user-1");
    }

    #[tokio::test]
    async fn a_token_signed_with_another_secret_is_rejected() {
        let other = Authenticator::new(&[8u8; 32], Duration::from_secs(3600)).unwrap();
        let token = other.issue("user-1").unwrap();
        assert!(matches!(auth().verify(&token).await, Err(AuthError::Invalid(_))));
    }

    #[tokio::test]
    async fn alg_none_is_rejected() {
        // {"alg":"none","typ":"JWT"} . {"sub":"user-1","exp":9999999999,"iat":0} . (empty)
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjk5OTk5OTk5OTksImlhdCI6MH0.";
        assert!(auth().verify(token).await.is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Authenticator::new(&[1u8; 16], Duration::from_secs(60)).is_err());
    }
}
