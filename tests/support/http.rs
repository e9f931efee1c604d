//! A tiny static HTTP/1.1 file server (std threads) and HTTP message helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A parsed request or response head.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// First line without CRLF (`GET /x HTTP/1.1` or `HTTP/1.1 200 OK`).
    pub start_line: String,
    /// Header (name, value) pairs in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the message uses `Transfer-Encoding: chunked`.
    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .map(|v| v.to_ascii_lowercase().contains("chunked"))
            .unwrap_or(false)
    }

    /// Parsed `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

/// Reads a message head (up to the blank line); None on EOF/error before a complete head.
pub fn read_head(r: &mut impl BufRead) -> Option<Head> {
    let mut start_line = String::new();
    loop {
        start_line.clear();
        if r.read_line(&mut start_line).ok()? == 0 {
            return None;
        }
        if !start_line.trim().is_empty() {
            break;
        }
    }
    let mut head = Head {
        start_line: start_line.trim_end().to_string(),
        headers: Vec::new(),
    };
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(head);
        }
        if let Some((n, v)) = line.split_once(':') {
            head.headers
                .push((n.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// Reads a chunked body, returning the de-chunked bytes (trailers are discarded).
pub fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let size_str = line.trim().split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_str, 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk"))?;
        if size == 0 {
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(out);
                }
            }
        }
        let start = out.len();
        out.resize(start + size, 0);
        r.read_exact(&mut out[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

/// Reads a request body as framed by its head (Content-Length or chunked; else empty).
pub fn read_request_body(r: &mut impl BufRead, head: &Head) -> std::io::Result<Vec<u8>> {
    if head.is_chunked() {
        return read_chunked(r);
    }
    let n = head.content_length().unwrap_or(0) as usize;
    let mut body = vec![0u8; n];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// A static file server on a free 127.0.0.1 port; stops on drop.
///
/// GET and HEAD, `Content-Length`, single `Range: bytes=a-b` (206), 404 for missing files,
/// 400 for paths containing `..`, `Connection: close` on every response.
pub struct HttpServer {
    port: u16,
    root: PathBuf,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<(String, String)>>>,
    handle: Option<JoinHandle<()>>,
}

/// Binds `127.0.0.1:0` and hands every connection to `on_conn` on a thread of its own until
/// `stop` is set (the owner then connects once to wake the loop): (port, stop, accept thread).
pub fn accept_loop(
    on_conn: impl Fn(TcpStream) + Send + Sync + 'static,
) -> (u16, Arc<AtomicBool>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
    let port = listener.local_addr().expect("local addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let on_conn = Arc::new(on_conn);
    let handle = std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let on_conn = on_conn.clone();
            std::thread::spawn(move || on_conn(conn));
        }
    });
    (port, stop, handle)
}

impl HttpServer {
    /// Serves the files under `root`.
    pub fn serve_dir(root: impl AsRef<Path>) -> HttpServer {
        let root = root.as_ref().to_path_buf();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (req2, root2) = (requests.clone(), root.clone());
        let (port, stop, handle) = accept_loop(move |conn| handle_file_conn(conn, &root2, &req2));
        HttpServer {
            port,
            root,
            stop,
            requests,
            handle: Some(handle),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// (method, request target) of every request so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Number of requests whose target contains `path_contains`.
    pub fn count(&self, path_contains: &str) -> usize {
        self.requests()
            .iter()
            .filter(|(_, p)| p.contains(path_contains))
            .count()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Decodes `%XX` escapes in a URL path.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml") | Some("yml") => "application/x-yaml",
        Some("json") => "application/json",
        Some("tgz") | Some("gz") => "application/gzip",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

fn simple_response(s: &mut TcpStream, code: u16, reason: &str, head_only: bool) {
    let body = format!("{code} {reason}\n");
    let _ = write!(
        s,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        let _ = s.write_all(body.as_bytes());
    }
}

/// Parses `bytes=a-b` / `bytes=a-` / `bytes=-n` against a length; None if unsatisfiable.
fn parse_range(v: &str, len: u64) -> Option<(u64, u64)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (len.saturating_sub(n), len.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?)
        };
        (start, end)
    };
    if start > end || start >= len {
        return None;
    }
    Some((start, end))
}

fn handle_file_conn(mut conn: TcpStream, root: &Path, log: &Mutex<Vec<(String, String)>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    let _ = read_request_body(&mut reader, &head);
    let mut parts = head.start_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    if let Ok(mut l) = log.lock() {
        l.push((method.clone(), target.clone()));
    }
    let head_only = method == "HEAD";
    if method != "GET" && method != "HEAD" {
        simple_response(&mut conn, 405, "Method Not Allowed", head_only);
        return;
    }
    let path = percent_decode(target.split(['?', '#']).next().unwrap_or("/"));
    let rel = Path::new(path.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        || path.contains("..")
    {
        simple_response(&mut conn, 400, "Bad Request", head_only);
        return;
    }
    let full = root.join(rel);
    let data = match std::fs::metadata(&full) {
        Ok(m) if m.is_file() => std::fs::read(&full).ok(),
        _ => None,
    };
    let Some(data) = data else {
        simple_response(&mut conn, 404, "Not Found", head_only);
        return;
    };
    let len = data.len() as u64;
    let ctype = content_type(&full);
    let (status, slice, extra) = match head.header("range") {
        Some(r) => match parse_range(r, len) {
            Some((a, b)) => (
                "206 Partial Content",
                &data[a as usize..=b as usize],
                format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
            ),
            None => {
                let _ = write!(
                    conn,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                return;
            }
        },
        None => ("200 OK", &data[..], String::new()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
        slice.len()
    );
    if !head_only {
        let _ = conn.write_all(slice);
    }
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}
