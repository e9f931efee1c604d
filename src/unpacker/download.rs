//! The bundle from `ferry serve` into the pod's work directory, resumable:
//! what a killed or restarted container already has is kept
//! (`bundle.tar.part`) and the rest asked for with `Range` and `If-Range`
//! (the server's ETag, saved next to it), so nothing is downloaded twice.
//! Bytes go straight to the file, never held whole.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

/// What the download did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Downloaded {
    /// The complete bundle file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Bytes moved by this run.
    pub bytes_fetched: u64,
    /// Bytes a previous run had already stored.
    pub resumed_from: u64,
}

/// Download errors, naming the URL and how far it got.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The server could not be reached or broke off.
    #[error(
        "bundle download from {url}: {detail} (have {have} of {size} bytes; run again to resume)"
    )]
    Transfer {
        /// The URL.
        url: String,
        /// What happened.
        detail: String,
        /// Bytes stored so far.
        have: u64,
        /// The full size, when known (`?` otherwise).
        size: String,
    },
    /// The server answered but not with the bundle.
    #[error("bundle download from {url}: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status line.
        status: String,
    },
    /// The work directory failed.
    #[error("bundle download: cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn total_of(response: &reqwest::Response, start: u64) -> Option<u64> {
    if response.status() == StatusCode::PARTIAL_CONTENT {
        let range = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
        return range.rsplit_once('/')?.1.parse().ok();
    }
    let length: u64 = response
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(length + start)
}

/// Downloads `url` into `dir/bundle.tar`, resuming `dir/bundle.tar.part`.
pub async fn fetch(url: &str, dir: &Path) -> Result<Downloaded, DownloadError> {
    let done = dir.join("bundle.tar");
    let part = dir.join("bundle.tar.part");
    let etag_file = dir.join("bundle.tar.etag");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DownloadError::Io { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    if let Ok(metadata) = tokio::fs::metadata(&done).await {
        return Ok(Downloaded {
            path: done,
            size: metadata.len(),
            bytes_fetched: 0,
            resumed_from: metadata.len(),
        });
    }
    let saved_etag = tokio::fs::read_to_string(&etag_file).await.ok();
    let mut have = match (&saved_etag, tokio::fs::metadata(&part).await) {
        (Some(_), Ok(metadata)) => metadata.len(),
        _ => 0,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| DownloadError::Transfer {
            url: url.to_owned(),
            detail: e.to_string(),
            have,
            size: "?".to_owned(),
        })?;
    let transfer = |detail: String, have: u64, size: Option<u64>| DownloadError::Transfer {
        url: url.to_owned(),
        detail,
        have,
        size: size.map_or_else(|| "?".to_owned(), |s| s.to_string()),
    };
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
        if let Some(etag) = &saved_etag {
            request = request.header(IF_RANGE, etag.trim());
        }
    }
    let response = request
        .send()
        .await
        .map_err(|e| transfer(error_chain(&e), have, None))?;
    let status = response.status();
    if status == StatusCode::OK {
        // The whole file (no range asked, or the file changed): start over.
        have = 0;
    } else if status != StatusCode::PARTIAL_CONTENT {
        return Err(DownloadError::Status {
            url: url.to_owned(),
            status: status.to_string(),
        });
    }
    let resumed_from = have;
    let size = total_of(&response, have);
    if let Some(etag) = response.headers().get(ETAG).and_then(|v| v.to_str().ok()) {
        tokio::fs::write(&etag_file, etag)
            .await
            .map_err(io(&etag_file))?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(have > 0)
        .truncate(have == 0)
        .open(&part)
        .await
        .map_err(io(&part))?;
    let mut fetched = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                file.flush().await.map_err(io(&part))?;
                return Err(transfer(
                    format!("the transfer broke off: {}", error_chain(&error)),
                    have + fetched,
                    size,
                ));
            }
        };
        file.write_all(&chunk).await.map_err(io(&part))?;
        fetched += chunk.len() as u64;
    }
    file.flush().await.map_err(io(&part))?;
    file.sync_all().await.map_err(io(&part))?;
    drop(file);
    let got = have + fetched;
    if let Some(size) = size {
        if got != size {
            return Err(transfer(
                "the server closed the connection early".to_owned(),
                got,
                Some(size),
            ));
        }
    }
    tokio::fs::rename(&part, &done).await.map_err(io(&done))?;
    Ok(Downloaded {
        path: done,
        size: got,
        bytes_fetched: fetched,
        resumed_from,
    })
}

/// An error and its causes, `: `-separated.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = cause_source(source);
    }
    text
}

fn cause_source<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}
