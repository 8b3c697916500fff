//! Distributed mode's [`Recipients`]: the api's accounts, asked by Dapr service invocation
//! through notify's own sidecar (`GET /v1.0/invoke/api/method/internal/users/{id}`). The api
//! answers that route only to its sidecar, which adds the app API token.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use domain::account::Recipient;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;

use crate::flow::Recipients;

pub struct DaprRecipients {
    http: reqwest::Client,
    /// `http://<sidecar>/v1.0/invoke/<api app id>/method`
    base: String,
}

impl DaprRecipients {
    pub fn new(sidecar_url: &str, api_app_id: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("building the HTTP client for the api")?,
            base: format!("{}/v1.0/invoke/{api_app_id}/method", sidecar_url.trim_end_matches('/')),
        })
    }
}

#[async_trait]
impl Recipients for DaprRecipients {
    async fn recipient(&self, user_id: &str) -> anyhow::Result<Option<Recipient>> {
        // One path segment, whatever the id holds (external ids are `ext:` + the provider's sub).
        let id = utf8_percent_encode(user_id, NON_ALPHANUMERIC);
        let response = self
            .http
            .get(format!("{}/internal/users/{id}", self.base))
            .send()
            .await
            .context("the api's sidecar did not answer")?;
        let status = response.status();
        let body = response.bytes().await.context("the api's answer broke off")?;
        match status {
            StatusCode::OK => Ok(Some(
                serde_json::from_slice(&body).context("the api's answer is not a recipient")?,
            )),
            // Only the api's own "no such account" means there is nobody to email; a 404 from
            // anything in between (a sidecar without the route) is a failure to retry.
            StatusCode::NOT_FOUND if is_api_error(&body, "not_found") => Ok(None),
            _ => anyhow::bail!(
                "the api answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
        }
    }
}

fn is_api_error(body: &[u8], code: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["error"]["code"] == code)
}
