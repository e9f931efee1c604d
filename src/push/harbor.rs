//! The part of Harbor's v2.0 API a push needs: detection
//! (`GET /api/v2.0/systeminfo`) and projects (`HEAD`/`POST /api/v2.0/projects`).
//! Credentials are the registry's (robot accounts work); they are never printed.

use reqwest::StatusCode;

use crate::registry::{Client, RegistryError};

/// Harbor API errors.
#[derive(Debug, thiserror::Error)]
pub enum HarborError {
    /// The request failed.
    #[error("Harbor API {url}")]
    Request {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Harbor rejected the credentials.
    #[error("authentication to {host} failed: the Harbor API answered {status} for {url} (check the user or robot account in the docker config)")]
    Unauthorized {
        /// The Harbor host.
        host: String,
        /// The request.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// Harbor refused.
    #[error("Harbor API {url} answered {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Harbor's error body.
        body: String,
    },
}

/// Talks to one Harbor instance.
pub struct Harbor<'a> {
    client: &'a Client,
    host: String,
}

impl<'a> Harbor<'a> {
    /// A Harbor at `host` (reached like the registry: same scheme, CA, credentials).
    pub fn new(client: &'a Client, host: &str) -> Self {
        Self {
            client,
            host: host.to_owned(),
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, String), HarborError> {
        let base = self
            .client
            .base_url(&self.host)
            .await
            .map_err(|e| HarborError::Request {
                url: self.host.clone(),
                source: Box::new(e),
            })?;
        let url = format!("{base}{path}");
        let mut request = self
            .client
            .http()
            .request(method, &url)
            .header("Accept", "application/json");
        let credentials = self
            .client
            .credentials_for(&self.host)
            .map_err(|e: RegistryError| HarborError::Request {
                url: url.clone(),
                source: Box::new(e),
            })?;
        if let Some(credentials) = credentials {
            request = request.header("Authorization", credentials.basic_header());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| HarborError::Request {
            url: url.clone(),
            source: Box::new(e),
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(HarborError::Unauthorized {
                host: self.host.clone(),
                url: path.to_owned(),
                status: status.as_u16(),
            });
        }
        let text = response.text().await.unwrap_or_default();
        Ok((status, text))
    }

    /// Whether the host is a Harbor (its systeminfo answers with a version).
    pub async fn detect(&self) -> bool {
        match self
            .request(reqwest::Method::GET, "/api/v2.0/systeminfo", None)
            .await
        {
            Ok((status, body)) if status.is_success() => body.contains("harbor_version"),
            _ => false,
        }
    }

    /// Creates a project unless it exists; returns whether it was created.
    pub async fn ensure_project(&self, name: &str) -> Result<bool, HarborError> {
        let query = format!(
            "/api/v2.0/projects?project_name={}",
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        let (status, body) = self.request(reqwest::Method::HEAD, &query, None).await?;
        if status.is_success() {
            return Ok(false);
        }
        if status != StatusCode::NOT_FOUND {
            return Err(HarborError::Status {
                url: query,
                status: status.as_u16(),
                body,
            });
        }
        let request =
            serde_json::json!({ "project_name": name, "metadata": { "public": "false" } });
        let (status, body) = self
            .request(reqwest::Method::POST, "/api/v2.0/projects", Some(request))
            .await?;
        match status {
            StatusCode::CREATED => Ok(true),
            // Someone created it in between: fine.
            StatusCode::CONFLICT => Ok(false),
            _ => Err(HarborError::Status {
                url: "/api/v2.0/projects".to_owned(),
                status: status.as_u16(),
                body,
            }),
        }
    }
}
