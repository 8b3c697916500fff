use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use auth::Authenticator;

use crate::config::AuthArgs;

/// The JWT secret: the configured one, or one generated on first start and kept in the data
/// dir so that tokens survive restarts.
pub fn jwt_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)?;
    let secret: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a JWT secret");
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    Ok(std::fs::write(path, contents)?)
}

/// Distributed mode has no data dir to keep a generated secret in, and the api and the audit
/// service must share it: it has to be configured.
pub fn required_jwt_secret(auth: &AuthArgs) -> anyhow::Result<Vec<u8>> {
    auth.jwt_secret
        .as_deref()
        .map(|s| s.as_bytes().to_vec())
        .context("TASKTRAIL_JWT_SECRET (or --jwt-secret) is required in distributed mode: the api and the audit service must share it")
}

pub fn authenticator(secret: &[u8], auth: &AuthArgs) -> anyhow::Result<Arc<Authenticator>> {
    let mut authenticator = Authenticator::new(secret, auth.token_ttl)?;
    if let Some(url) = &auth.jwks_url {
        // clap requires both with --jwks-url; empty values are refused here.
        authenticator = authenticator
            .with_external(auth::ExternalProvider {
                jwks_url: url.clone(),
                issuer: auth.jwt_issuer.clone().unwrap_or_default(),
                audience: auth.jwt_audience.clone().unwrap_or_default(),
            })
            .context(
                "--jwks-url needs --jwt-issuer and --jwt-audience (TASKTRAIL_JWT_ISSUER, TASKTRAIL_JWT_AUDIENCE)",
            )?;
    }
    Ok(Arc::new(authenticator))
}
