//! Who is calling: HS256 tokens we issue, tokens of an external identity provider verified
//! through its JWKS, and the extractors that put the caller's user id into handlers.

mod extract;
mod jwks;
mod token;

pub use extract::{AuthUser, Owner};
pub use token::{AuthError, Authenticator, Claims, EXTERNAL_USER_PREFIX, ExternalProvider, MIN_SECRET_BYTES};
