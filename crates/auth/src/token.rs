use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::jwks::Jwks;

pub const MIN_SECRET_BYTES: usize = 32;
/// What an external token's `sub` is prefixed with to make its user id. Our own user ids are
/// UUIDs (hex digits and dashes), so no external subject can ever name a local user.
pub const EXTERNAL_USER_PREFIX: &str = "ext:";
/// The longest user id the stores keep (`VARCHAR(255)`).
const MAX_USER_ID_CHARS: usize = 255;
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

/// An external identity provider whose tokens are accepted: its keys, and the `iss` and `aud`
/// its tokens must carry (a provider's key signs tokens for other services and other tenants
/// too; only those it issued for us may pass).
#[derive(Debug, Clone)]
pub struct ExternalProvider {
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
}

struct External {
    jwks: Jwks,
    issuer: String,
    audience: String,
}

/// Issues our HS256 tokens and verifies those plus, when configured, an external provider's.
#[derive(Clone)]
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    token_ttl: Duration,
    external: Option<Arc<External>>,
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
            external: None,
        })
    }

    /// Also accept EdDSA and RS256 tokens signed by a key the provider publishes, issued by it
    /// for our audience. Their user id is the `sub` in a namespace of its own
    /// ([`EXTERNAL_USER_PREFIX`]).
    pub fn with_external(mut self, provider: ExternalProvider) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !provider.issuer.trim().is_empty() && !provider.audience.trim().is_empty(),
            "tokens of an external provider need both an issuer and an audience to check"
        );
        self.external = Some(Arc::new(External {
            jwks: Jwks::new(provider.jwks_url)?,
            issuer: provider.issuer,
            audience: provider.audience,
        }));
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

    /// Returns the token's user id: our own token's `sub`, or an external token's `sub` in
    /// the external namespace.
    /// The caller's user id and when the token expires (Unix seconds).
    pub async fn verify(&self, token: &str) -> Result<(String, u64), AuthError> {
        // `alg: none` and unknown algorithms fail here: the header does not parse.
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let caller = match header.alg {
            Algorithm::HS256 => {
                let mut validation = validation(Algorithm::HS256);
                // Our tokens carry no `aud` (and never did: tokens issued earlier stay valid).
                validation.validate_aud = false;
                let claims = decode(token, &self.decoding, &validation)?;
                (claims.sub, claims.exp)
            }
            alg @ (Algorithm::EdDSA | Algorithm::RS256) => {
                let external = self
                    .external
                    .as_ref()
                    .ok_or_else(|| AuthError::Invalid(format!("{alg:?} tokens are not accepted")))?;
                let kid = header
                    .kid
                    .ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
                let (key, key_alg) = external.jwks.key(&kid).await?;
                if key_alg != alg {
                    return Err(AuthError::Invalid("token algorithm does not match its key".into()));
                }
                let mut validation = validation(alg);
                validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
                validation.set_issuer(&[&external.issuer]);
                validation.set_audience(&[&external.audience]);
                let claims = decode(token, &key, &validation)?;
                (external_user_id(claims.sub)?, claims.exp)
            }
            other => {
                return Err(AuthError::Invalid(format!("{other:?} tokens are not accepted")));
            }
        };
        if caller.0.is_empty() {
            return Err(AuthError::Invalid("token has an empty subject".into()));
        }
        Ok(caller)
    }
}

/// An external subject's user id. It must fit where user ids are stored and hold no control
/// character (it becomes part of paths, logs and events).
fn external_user_id(sub: String) -> Result<String, AuthError> {
    if sub.is_empty() {
        return Err(AuthError::Invalid("token has an empty subject".into()));
    }
    if sub.chars().any(char::is_control) {
        return Err(AuthError::Invalid("token subject holds a control character".into()));
    }
    if sub.chars().count() + EXTERNAL_USER_PREFIX.len() > MAX_USER_ID_CHARS {
        return Err(AuthError::Invalid("token subject is too long".into()));
    }
    Ok(format!("{EXTERNAL_USER_PREFIX}{sub}"))
}

fn validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation
}

fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Claims, AuthError> {
    use jsonwebtoken::errors::ErrorKind;
    jsonwebtoken::decode::<Claims>(token, key, validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::InvalidIssuer => AuthError::Invalid("the token's issuer (iss) is not accepted".into()),
            ErrorKind::InvalidAudience => AuthError::Invalid("the token is not meant for this service (aud)".into()),
            ErrorKind::MissingRequiredClaim(claim) => AuthError::Invalid(format!("the token has no `{claim}` claim")),
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
        assert_eq!(a.verify(&token).await.unwrap().0, "user-1");
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
    fn external_subjects_live_in_their_own_namespace() {
        assert_eq!(external_user_id("abc".into()).unwrap(), "ext:abc");
        // A local id (a UUID) as an external subject is still another user.
        let local = "0b6c3f5e-8d6a-4c1e-9f53-2a1d7e0c9b41";
        assert_ne!(external_user_id(local.into()).unwrap(), local);
        assert!(external_user_id(String::new()).is_err());
        assert!(external_user_id("a\u{7}b".into()).is_err());
        assert!(external_user_id("x".repeat(MAX_USER_ID_CHARS - EXTERNAL_USER_PREFIX.len())).is_ok());
        assert!(external_user_id("x".repeat(MAX_USER_ID_CHARS - EXTERNAL_USER_PREFIX.len() + 1)).is_err());
    }

    #[test]
    fn an_external_provider_needs_an_issuer_and_an_audience() {
        let provider = |issuer: &str, audience: &str| ExternalProvider {
            jwks_url: "http://127.0.0.1:1/jwks".into(),
            issuer: issuer.into(),
            audience: audience.into(),
        };
        assert!(auth().with_external(provider("", "https://todo.example")).is_err());
        assert!(auth().with_external(provider("https://id.example", " ")).is_err());
        assert!(
            auth()
                .with_external(provider("https://id.example", "https://todo.example"))
                .is_ok()
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Authenticator::new(&[1u8; 16], Duration::from_secs(60)).is_err());
    }
}
