//! A fault-injecting HTTP/1.1 reverse proxy (plain HTTP, std threads, `Connection: close`).
//!
//! Put it in front of a plain-HTTP [`super::Registry`] or [`super::HttpServer`] and point the
//! client at [`FaultProxy::host`]. The `Host` header is forwarded unchanged, so registry upload
//! `Location`s point back at the proxy. Request and response bodies are buffered in memory;
//! chunked upstream responses are de-chunked and sent downstream with `Content-Length`.

use super::http::{accept_loop, read_chunked, read_head, read_request_body, Head};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does to matching requests. Every fault mode fires `times` times on matching
/// requests, then the proxy reverts to [`FaultMode::PassThrough`] by itself.
///
/// A `path_contains` pattern matches when the request target contains it; a pattern that
/// starts with a method and a space (`"GET /blobs/"`, `"PUT /manifests/"`) also requires that
/// method. See [`request_matches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward everything unchanged.
    PassThrough,
    /// Send the response head with the full Content-Length, then close after `after_bytes`
    /// body bytes (only responses that have a body: not HEAD, not empty).
    DieMidBody {
        /// Request pattern: target substring, optionally prefixed by a method (`"GET /x"`).
        path_contains: String,
        /// Body bytes to send before closing the connection.
        after_bytes: usize,
        /// How many responses to cut.
        times: usize,
    },
    /// Answer with `code` (JSON error body) without contacting upstream.
    Status {
        /// HTTP status code to return, e.g. 500 or 503.
        code: u16,
        /// How many matching requests get the status.
        times: usize,
        /// Request pattern: target substring ("" = all), optionally `"METHOD substring"`.
        path_contains: String,
    },
    /// Corrupt the body of matching responses, keeping its length: in JSON the first hex digit
    /// after the last `sha256:` is changed (the JSON stays valid); otherwise the middle byte is
    /// XORed with 1.
    TamperBody {
        /// Request pattern, e.g. `/manifests/sha256:` or `"GET /manifests/"`.
        path_contains: String,
        /// How many responses to corrupt.
        times: usize,
    },
    /// Answer every request with 429 Too Many Requests (`Retry-After`) `times` times.
    RateLimit429 {
        /// How many requests get 429.
        times: usize,
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u32,
    },
    /// Read the request, then close the connection without any response.
    CloseWithoutResponse {
        /// Request pattern: target substring ("" = all), optionally `"METHOD substring"`.
        path_contains: String,
        /// How many matching requests get dropped.
        times: usize,
    },
    /// Wait `millis` before forwarding matching requests (for client timeout tests).
    Delay {
        /// Request pattern: target substring ("" = all), optionally `"METHOD substring"`.
        path_contains: String,
        /// Delay in milliseconds.
        millis: u64,
        /// How many matching requests get delayed.
        times: usize,
    },
}

impl FaultMode {
    /// `DieMidBody` for `times` matching responses.
    pub fn die_mid_body(path_contains: &str, after_bytes: usize, times: usize) -> FaultMode {
        FaultMode::DieMidBody {
            path_contains: path_contains.to_string(),
            after_bytes,
            times,
        }
    }

    /// `Status` with `code` for `times` matching requests.
    pub fn status(code: u16, times: usize, path_contains: &str) -> FaultMode {
        FaultMode::Status {
            code,
            times,
            path_contains: path_contains.to_string(),
        }
    }

    /// `TamperBody` for `times` matching responses.
    pub fn tamper_body(path_contains: &str, times: usize) -> FaultMode {
        FaultMode::TamperBody {
            path_contains: path_contains.to_string(),
            times,
        }
    }

    /// `RateLimit429` for `times` requests with `Retry-After: 0`.
    pub fn rate_limit(times: usize) -> FaultMode {
        FaultMode::RateLimit429 {
            times,
            retry_after_secs: 0,
        }
    }

    /// `CloseWithoutResponse` for `times` matching requests.
    pub fn close_without_response(path_contains: &str, times: usize) -> FaultMode {
        FaultMode::CloseWithoutResponse {
            path_contains: path_contains.to_string(),
            times,
        }
    }

    /// `Delay` of `millis` for `times` matching requests.
    pub fn delay(path_contains: &str, millis: u64, times: usize) -> FaultMode {
        FaultMode::Delay {
            path_contains: path_contains.to_string(),
            millis,
            times,
        }
    }
}

/// A request the proxy has handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// HTTP method.
    pub method: String,
    /// Request target (path + query).
    pub target: String,
    /// Status sent to the client (502 if upstream was unreachable, 0 if none was sent).
    pub status: u16,
    /// Fault applied (`"die_mid_body"`, `"status"`, `"tamper"`, `"429"`, `"close"`, `"delay"`), if any.
    pub fault: Option<&'static str>,
}

struct State {
    mode: FaultMode,
    seen: Vec<SeenRequest>,
    /// Request body bytes read from clients (requests cut short included).
    received: u64,
    /// Request body bytes per second read from clients, if limited.
    rate: Option<u64>,
}

/// The fault-injecting proxy; stops accepting on drop.
pub struct FaultProxy {
    port: u16,
    upstream: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port forwarding to `upstream` (`host:port` or `http://host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        assert!(
            !upstream.starts_with("https://"),
            "FaultProxy forwards plain HTTP only"
        );
        let state = Arc::new(Mutex::new(State {
            mode: FaultMode::PassThrough,
            seen: Vec::new(),
            received: 0,
            rate: None,
        }));
        let (state2, up2) = (state.clone(), upstream.clone());
        let (port, stop, handle) = accept_loop(move |conn| handle_conn(conn, &up2, &state2));
        FaultProxy {
            port,
            upstream,
            state,
            stop,
            handle: Some(handle),
        }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The upstream `host:port`.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Switches the mode (takes effect for the next request).
    pub fn set_mode(&self, mode: FaultMode) {
        self.lock().mode = mode;
    }

    /// The current mode (PassThrough once a fault's `times` are used up).
    pub fn mode(&self) -> FaultMode {
        self.lock().mode.clone()
    }

    /// All requests handled so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.lock().seen.clone()
    }

    /// Number of requests matching a pattern (see [`request_matches`], e.g. `"GET /blobs/"`).
    pub fn count(&self, pattern: &str) -> usize {
        self.lock()
            .seen
            .iter()
            .filter(|r| request_matches(pattern, &r.method, &r.target))
            .count()
    }

    /// Number of requests with `method` whose target contains `path_contains`.
    pub fn count_method(&self, method: &str, path_contains: &str) -> usize {
        self.lock()
            .seen
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.target.contains(path_contains))
            .count()
    }

    /// Number of faults injected so far.
    pub fn faults_injected(&self) -> usize {
        self.lock()
            .seen
            .iter()
            .filter(|r| r.fault.is_some())
            .count()
    }

    /// Forgets the recorded requests and the received byte count.
    pub fn reset_counts(&self) {
        let mut state = self.lock();
        state.seen.clear();
        state.received = 0;
    }

    /// Request body bytes read from clients so far, including bodies of
    /// requests the client abandoned (those are never forwarded: the proxy
    /// forwards a request only once its whole body is in).
    pub fn received_bytes(&self) -> u64 {
        self.lock().received
    }

    /// Reads request bodies (with a `Content-Length`) at most at `bytes_per_second`
    /// (`None`: as fast as they come), so that a test can interrupt a client mid-body.
    pub fn set_request_rate(&self, bytes_per_second: Option<u64>) {
        self.lock().rate = bytes_per_second;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}

fn write_error(conn: &mut TcpStream, code: u16, extra: &str, head_only: bool) {
    let body = format!(
        "{{\"errors\":[{{\"code\":\"UNKNOWN\",\"message\":\"ferry test proxy: injected {code}\"}}]}}"
    );
    let _ = write!(
        conn,
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    if !head_only {
        let _ = conn.write_all(body.as_bytes());
    }
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}

fn is_hop_header(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "content-length",
        "expect",
        "te",
        "upgrade",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Whether a request matches a pattern: `"METHOD part"` (method must be equal and the target
/// contain `part`) or just `part` (target contains it; "" matches everything).
pub fn request_matches(pattern: &str, method: &str, target: &str) -> bool {
    const METHODS: &[&str] = &["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"];
    if let Some((m, rest)) = pattern.split_once(' ') {
        if METHODS.contains(&m) {
            return method.eq_ignore_ascii_case(m) && target.contains(rest);
        }
    }
    target.contains(pattern)
}

/// Changes one byte of `body` (keeping its length); see [`FaultMode::TamperBody`].
pub fn tamper(body: &mut [u8]) {
    if body.is_empty() {
        return;
    }
    if body[0] == b'{' {
        let needle = b"sha256:";
        if let Some(pos) = body.windows(needle.len()).rposition(|w| w == needle) {
            let i = pos + needle.len();
            if i < body.len() && body[i].is_ascii_hexdigit() {
                body[i] = if body[i] == b'0' { b'1' } else { b'0' };
                return;
            }
        }
    }
    let mid = body.len() / 2;
    body[mid] ^= 1;
}

/// Reads a request body in pieces, counting them into the state and pacing them to its rate.
fn read_counted_body(
    reader: &mut impl std::io::BufRead,
    head: &Head,
    state: &Mutex<State>,
) -> std::io::Result<Vec<u8>> {
    if head.is_chunked() {
        let body = read_request_body(reader, head)?;
        lock(state).received += body.len() as u64;
        return Ok(body);
    }
    let total = head.content_length().unwrap_or(0) as usize;
    let mut body = vec![0u8; total];
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < total {
        let end = (done + (64 << 10)).min(total);
        let n = reader.read(&mut body[done..end])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
        let rate = {
            let mut st = lock(state);
            st.received += n as u64;
            st.rate
        };
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(done as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    Ok(body)
}

enum Post {
    None,
    Die(usize),
    Tamper,
}

fn handle_conn(mut conn: TcpStream, upstream: &str, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    let mut parts = head.start_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let head_only = method.eq_ignore_ascii_case("HEAD");
    if head
        .header("expect")
        .map(|v| v.eq_ignore_ascii_case("100-continue"))
        .unwrap_or(false)
    {
        let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let Ok(body) = read_counted_body(&mut reader, &head, state) else {
        return;
    };
    let record = |status: u16, fault: Option<&'static str>| {
        lock(state).seen.push(SeenRequest {
            method: method.clone(),
            target: target.clone(),
            status,
            fault,
        });
    };

    // Faults decided before contacting upstream.
    enum Pre {
        None,
        Respond(u16, String, &'static str),
        Close,
        Delay(u64),
    }
    let pre = {
        let mut st = lock(state);
        let mut exhausted = false;
        let mut take = |times: &mut usize| {
            *times -= 1;
            exhausted = *times == 0;
        };
        let r = match &mut st.mode {
            FaultMode::Status {
                code,
                times,
                path_contains,
            } if *times > 0 && request_matches(path_contains, &method, &target) => {
                take(times);
                Pre::Respond(*code, String::new(), "status")
            }
            FaultMode::RateLimit429 {
                times,
                retry_after_secs,
            } if *times > 0 => {
                take(times);
                Pre::Respond(429, format!("Retry-After: {retry_after_secs}\r\n"), "429")
            }
            FaultMode::CloseWithoutResponse {
                path_contains,
                times,
            } if *times > 0 && request_matches(path_contains, &method, &target) => {
                take(times);
                Pre::Close
            }
            FaultMode::Delay {
                path_contains,
                millis,
                times,
            } if *times > 0 && request_matches(path_contains, &method, &target) => {
                take(times);
                Pre::Delay(*millis)
            }
            _ => Pre::None,
        };
        if exhausted {
            st.mode = FaultMode::PassThrough;
        }
        r
    };
    let mut fault_name = None;
    match pre {
        Pre::None => {}
        Pre::Respond(code, extra, name) => {
            record(code, Some(name));
            write_error(&mut conn, code, &extra, head_only);
            return;
        }
        Pre::Close => {
            record(0, Some("close"));
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
        Pre::Delay(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            fault_name = Some("delay");
        }
    }

    // Forward upstream.
    let Some((rhead, mut rbody, status)) = forward(upstream, &head, &method, &target, &body) else {
        record(502, fault_name);
        write_error(&mut conn, 502, "", head_only);
        return;
    };

    // Faults applied to the response.
    let post = {
        let mut st = lock(state);
        let mut exhausted = false;
        let r = match &mut st.mode {
            FaultMode::DieMidBody {
                path_contains,
                after_bytes,
                times,
            } if *times > 0
                && !rbody.is_empty()
                && request_matches(path_contains, &method, &target) =>
            {
                *times -= 1;
                exhausted = *times == 0;
                Post::Die(*after_bytes)
            }
            FaultMode::TamperBody {
                path_contains,
                times,
            } if *times > 0
                && !rbody.is_empty()
                && request_matches(path_contains, &method, &target) =>
            {
                *times -= 1;
                exhausted = *times == 0;
                Post::Tamper
            }
            _ => Post::None,
        };
        if exhausted {
            st.mode = FaultMode::PassThrough;
        }
        r
    };

    let mut out = String::new();
    out.push_str(&rhead.start_line);
    out.push_str("\r\n");
    for (n, v) in &rhead.headers {
        if !is_hop_header(n) {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    let no_body = head_only || (100..200).contains(&status) || status == 204 || status == 304;
    if no_body {
        if let Some(cl) = rhead.header("content-length") {
            out.push_str(&format!("Content-Length: {cl}\r\n"));
        }
    } else {
        out.push_str(&format!("Content-Length: {}\r\n", rbody.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    match post {
        Post::None => {
            record(status, fault_name);
            let _ = conn.write_all(out.as_bytes());
            let _ = conn.write_all(&rbody);
        }
        Post::Tamper => {
            record(status, Some("tamper"));
            tamper(&mut rbody);
            let _ = conn.write_all(out.as_bytes());
            let _ = conn.write_all(&rbody);
        }
        Post::Die(n) => {
            record(status, Some("die_mid_body"));
            let _ = conn.write_all(out.as_bytes());
            let _ = conn.write_all(&rbody[..n.min(rbody.len())]);
            let _ = conn.flush();
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}

fn forward(
    upstream: &str,
    head: &Head,
    method: &str,
    target: &str,
    body: &[u8],
) -> Option<(Head, Vec<u8>, u16)> {
    let mut up = TcpStream::connect(upstream).ok()?;
    up.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for (n, v) in &head.headers {
        if !is_hop_header(n) {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    let had_length = head.content_length().is_some() || head.is_chunked();
    if had_length || !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes()).ok()?;
    up.write_all(body).ok()?;
    up.flush().ok()?;
    let mut ur = BufReader::new(up);
    let rhead = read_head(&mut ur)?;
    let status: u16 = rhead
        .start_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let no_body = method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304;
    let rbody = if no_body {
        Vec::new()
    } else if rhead.is_chunked() {
        read_chunked(&mut ur).ok()?
    } else if let Some(n) = rhead.content_length() {
        let mut b = vec![0u8; n as usize];
        ur.read_exact(&mut b).ok()?;
        b
    } else {
        let mut b = Vec::new();
        ur.read_to_end(&mut b).ok()?;
        b
    };
    Some((rhead, rbody, status))
}
