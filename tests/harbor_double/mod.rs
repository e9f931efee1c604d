//! A Harbor API TEST DOUBLE: not Harbor, a small stand-in written from Harbor's OpenAPI file
//! (`shared/tools/registry-recipes/swagger.yaml`, goharbor/harbor v2.15.2) and the behaviour
//! notes in `shared/tools/registry-recipes/README.md`.
//!
//! It answers the three calls `ferry push` makes to Harbor's API itself and forwards every
//! `/v2/…` request byte for byte to a real `docker-registry` behind it:
//!
//! * `GET /api/v2.0/systeminfo`: 200 `GeneralInfo`; `harbor_version` (`v2.15.2-test`),
//!   `external_url`, `registry_url`, `project_creation_restriction`, `read_only`,
//!   `has_ca_root` and `current_time` only for authenticated callers, as in Harbor.
//! * `HEAD /api/v2.0/projects?project_name=NAME`: 200 exists, 404 missing, 400 bad name,
//!   401 anonymous.
//! * `POST /api/v2.0/projects` with a `ProjectReq` (`{"project_name": …, "metadata":
//!   {"public": "false"}}`): 201 + `Location`, 409 `CONFLICT` when it exists, 400 bad name or
//!   body, 401 anonymous, 403 when the request carries a session cookie but no CSRF token.
//! * `GET /api/v2.0/projects/{name}`: 200 `Project` or 404.
//!
//! Credentials are HTTP basic on every API call; wrong credentials make the caller anonymous
//! (Harbor's security middleware falls through to the unauthenticated context). As in Harbor,
//! an authenticated `/v2/` request for a repository whose project does not exist is refused
//! with 401 `project <name> not found`, so a push that skips project creation fails.
//!
//! Plain HTTP, std threads, one request per connection (`Connection: close`). The `Host`
//! header is forwarded unchanged and any upstream `Location` is rewritten to the double's
//! address, so upload sessions come back through the double.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;

use crate::support::http::{accept_loop, read_chunked, read_head, read_request_body, Head};

/// The version the double reports in `systeminfo`.
pub const HARBOR_VERSION: &str = "v2.15.2-test";

/// One request the double handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// The authenticated user, if the basic credentials were valid.
    pub user: Option<String>,
    /// Status sent back.
    pub status: u16,
}

struct State {
    upstream: String,
    realm: Option<String>,
    users: Vec<(String, String)>,
    /// Project name → id.
    projects: BTreeMap<String, u64>,
    next_id: u64,
    api: Vec<Call>,
    registry: Vec<Call>,
}

/// The running double; stops accepting on drop.
pub struct HarborDouble {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl HarborDouble {
    /// Starts the double on a free 127.0.0.1 port in front of the plain-HTTP registry at
    /// `upstream` (`127.0.0.1:PORT`). `users` are the API's (name, password) pairs; `realm`
    /// is the registry's token realm, used in the challenge of a "project not found" 401.
    pub fn start(upstream: &str, users: &[(&str, &str)], realm: Option<&str>) -> HarborDouble {
        let state = Arc::new(Mutex::new(State {
            upstream: upstream.trim_start_matches("http://").to_owned(),
            realm: realm.map(str::to_owned),
            users: users
                .iter()
                .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
                .collect(),
            projects: BTreeMap::from([("library".to_owned(), 1)]),
            next_id: 2,
            api: Vec::new(),
            registry: Vec::new(),
        }));
        let state2 = state.clone();
        let (port, stop, handle) = accept_loop(move |conn| {
            // the double's own address, for the Location headers it writes
            let me = conn.local_addr().map(|a| a.to_string()).unwrap_or_default();
            handle_conn(conn, &state2, &me)
        });
        HarborDouble {
            port,
            state,
            stop,
            handle: Some(handle),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Every `/api/…` call so far.
    pub fn api_calls(&self) -> Vec<Call> {
        self.lock().api.clone()
    }

    /// Every `/v2/…` request so far.
    pub fn registry_calls(&self) -> Vec<Call> {
        self.lock().registry.clone()
    }

    /// Number of `/api/…` calls with this method whose path (without query) is `path`.
    pub fn count_api(&self, method: &str, path: &str) -> usize {
        self.lock()
            .api
            .iter()
            .filter(|c| {
                c.method.eq_ignore_ascii_case(method)
                    && c.target.split('?').next().unwrap_or_default() == path
            })
            .count()
    }

    /// Number of `POST /api/v2.0/projects` calls (whatever their outcome).
    pub fn project_posts(&self) -> usize {
        self.count_api("POST", "/api/v2.0/projects")
    }

    /// Names of the projects that exist (`library` exists from the start, as in Harbor).
    pub fn projects(&self) -> Vec<String> {
        self.lock().projects.keys().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for HarborDouble {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A response to send: status, extra headers, body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            &serde_json::json!({ "errors": [{ "code": code, "message": message }] }),
        )
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Status",
    }
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

fn write_reply(
    conn: &mut TcpStream,
    reply: &Reply,
    head_only: bool,
    upstream_length: Option<&str>,
) {
    let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (n, v) in &reply.headers {
        if !is_hop_header(n) {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    let no_body = head_only || reply.status == 204 || reply.status == 304;
    match (no_body, upstream_length) {
        (true, Some(length)) => out.push_str(&format!("Content-Length: {length}\r\n")),
        (true, None) => out.push_str("Content-Length: 0\r\n"),
        (false, _) => out.push_str(&format!("Content-Length: {}\r\n", reply.body.len())),
    }
    out.push_str("Connection: close\r\n\r\n");
    let _ = conn.write_all(out.as_bytes());
    if !no_body {
        let _ = conn.write_all(&reply.body);
    }
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
}

fn handle_conn(mut conn: TcpStream, state: &Mutex<State>, me: &str) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    // A TLS ClientHello (clients probe https first): this double speaks plain HTTP only.
    let mut first = [0u8; 1];
    match conn.peek(&mut first) {
        Ok(1) if first[0] == 0x16 => {
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
        Ok(1) => {}
        _ => return,
    }
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    if head
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let Ok(body) = read_request_body(&mut reader, &head) else {
        return;
    };
    let mut parts = head.start_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_ascii_uppercase();
    let target = parts.next().unwrap_or("/").to_owned();
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let head_only = method == "HEAD";
    let user = authenticated_user(state, &head);

    if path.starts_with("/api/") {
        let reply = api(state, &method, &target, &head, &body, user.as_deref(), me);
        lock(state).api.push(Call {
            method,
            target,
            user,
            status: reply.status,
        });
        write_reply(&mut conn, &reply, head_only, None);
        return;
    }
    if path == "/v2" || path.starts_with("/v2/") {
        if let Some(reply) = missing_project(state, &path, &head) {
            lock(state).registry.push(Call {
                method,
                target,
                user,
                status: reply.status,
            });
            write_reply(&mut conn, &reply, head_only, None);
            return;
        }
        let upstream = lock(state).upstream.clone();
        let (reply, length) = match forward(&upstream, &head, &method, &target, &body) {
            Some((rhead, rbody, status)) => {
                let headers = rhead
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        if n.eq_ignore_ascii_case("location") {
                            (
                                n.clone(),
                                v.replace(&format!("http://{upstream}"), &format!("http://{me}")),
                            )
                        } else {
                            (n.clone(), v.clone())
                        }
                    })
                    .collect();
                let length = rhead.header("content-length").map(str::to_owned);
                (
                    Reply {
                        status,
                        headers,
                        body: rbody,
                    },
                    length,
                )
            }
            None => (
                Reply::error(502, "UNKNOWN", "Harbor double: registry unreachable"),
                None,
            ),
        };
        lock(state).registry.push(Call {
            method,
            target,
            user,
            status: reply.status,
        });
        write_reply(&mut conn, &reply, head_only, length.as_deref());
        return;
    }
    let reply = Reply::error(404, "NOT_FOUND", "Harbor double: no such path");
    write_reply(&mut conn, &reply, head_only, None);
}

/// The user whose basic credentials are valid; anything else is anonymous (as in Harbor).
fn authenticated_user(state: &Mutex<State>, head: &Head) -> Option<String> {
    let value = head.header("authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    lock(state)
        .users
        .iter()
        .any(|(u, p)| u == user && p == password)
        .then(|| user.to_owned())
}

/// Harbor's project name rule (src/pkg/project/manager.go).
fn valid_project_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let bytes = name.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut previous_separator = false;
    for &b in bytes {
        if alnum(b) {
            previous_separator = false;
        } else if matches!(b, b'.' | b'_' | b'-') {
            if previous_separator {
                return false;
            }
            previous_separator = true;
        } else {
            return false;
        }
    }
    true
}

fn query_param(target: &str, key: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[allow(clippy::too_many_arguments)]
fn api(
    state: &Mutex<State>,
    method: &str,
    target: &str,
    head: &Head,
    body: &[u8],
    user: Option<&str>,
    me: &str,
) -> Reply {
    let path = target.split('?').next().unwrap_or_default();
    let unauthorized = || Reply::error(401, "UNAUTHORIZED", "unauthorized");
    match (method, path) {
        ("GET", "/api/v2.0/systeminfo") => {
            let mut info = serde_json::json!({
                "auth_mode": "db_auth",
                "primary_auth_mode": false,
                "self_registration": false,
                "banner_message": "",
            });
            if user.is_some() {
                let extra = serde_json::json!({
                    "harbor_version": HARBOR_VERSION,
                    "external_url": format!("http://{me}"),
                    "registry_url": me,
                    "project_creation_restriction": "everyone",
                    "read_only": false,
                    "has_ca_root": false,
                    "current_time": "2026-11-26T00:00:00Z",
                    "with_chartmuseum": false,
                    "notification_enable": true,
                });
                if let (Some(info), Some(extra)) = (info.as_object_mut(), extra.as_object()) {
                    info.extend(extra.clone());
                }
            }
            Reply::json(200, &info)
        }
        ("HEAD", "/api/v2.0/projects") => {
            if user.is_none() {
                return unauthorized();
            }
            let Some(name) = query_param(target, "project_name") else {
                return Reply::empty(400);
            };
            if !valid_project_name(&name) {
                return Reply::empty(400);
            }
            if lock(state).projects.contains_key(&name) {
                Reply::empty(200)
            } else {
                Reply::empty(404)
            }
        }
        ("POST", "/api/v2.0/projects") => {
            if head.header("cookie").is_some_and(|c| c.contains("sid="))
                && head.header("x-harbor-csrf-token").is_none()
            {
                return Reply::error(403, "FORBIDDEN", "CSRF token invalid");
            }
            if user.is_none() {
                return unauthorized();
            }
            let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
                return Reply::error(400, "BAD_REQUEST", "invalid JSON body");
            };
            let Some(name) = request["project_name"].as_str() else {
                return Reply::error(400, "BAD_REQUEST", "project_name is required");
            };
            if !valid_project_name(name) {
                return Reply::error(
                    400,
                    "BAD_REQUEST",
                    "project name is not in lower case or contains illegal characters",
                );
            }
            if let Some(metadata) = request.get("metadata") {
                let Some(map) = metadata.as_object() else {
                    return Reply::error(400, "BAD_REQUEST", "metadata must be an object");
                };
                if let Some(public) = map.get("public") {
                    if !matches!(public.as_str(), Some("true" | "false")) {
                        return Reply::error(
                            400,
                            "BAD_REQUEST",
                            "metadata.public must be the string \"true\" or \"false\"",
                        );
                    }
                }
            }
            let mut st = lock(state);
            if st.projects.contains_key(name) {
                return Reply::error(
                    409,
                    "CONFLICT",
                    &format!("The project named {name} already exists"),
                );
            }
            let id = st.next_id;
            st.next_id += 1;
            st.projects.insert(name.to_owned(), id);
            let by_name = head
                .header("x-resource-name-in-location")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let location = if by_name {
                format!("/api/v2.0/projects/{name}")
            } else {
                format!("/api/v2.0/projects/{id}")
            };
            Reply {
                status: 201,
                headers: vec![("Location".into(), location)],
                body: Vec::new(),
            }
        }
        ("GET", _) if path.starts_with("/api/v2.0/projects/") => {
            let name = &path["/api/v2.0/projects/".len()..];
            let st = lock(state);
            match st.projects.get(name) {
                Some(id) => Reply::json(
                    200,
                    &serde_json::json!({
                        "project_id": id,
                        "name": name,
                        "metadata": { "public": "false" },
                    }),
                ),
                None => Reply::error(404, "NOT_FOUND", &format!("project {name} not found")),
            }
        }
        _ => Reply::error(404, "NOT_FOUND", "Harbor double: API not implemented"),
    }
}

/// Harbor refuses an authenticated request for a repository whose project does not exist.
fn missing_project(state: &Mutex<State>, path: &str, head: &Head) -> Option<Reply> {
    head.header("authorization")?;
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() || rest == "_catalog" {
        return None;
    }
    let name = ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|marker| rest.find(marker).map(|i| &rest[..i]))
        .min_by_key(|n| n.len())?;
    let project = name.split('/').next()?;
    let st = lock(state);
    if st.projects.contains_key(project) {
        return None;
    }
    let mut reply = Reply::error(401, "UNAUTHORIZED", &format!("project {project} not found"));
    if let Some(realm) = &st.realm {
        reply.headers.push((
            "Www-Authenticate".into(),
            format!(
                "Bearer realm=\"{realm}\",service=\"harbor-registry\",scope=\"repository:{name}:pull,push\""
            ),
        ));
    }
    Some(reply)
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
    if !body.is_empty()
        || head.content_length().is_some()
        || head.is_chunked()
        || matches!(method, "POST" | "PUT" | "PATCH")
    {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes()).ok()?;
    up.write_all(body).ok()?;
    up.flush().ok()?;
    let mut reader = BufReader::new(up);
    let rhead = read_head(&mut reader)?;
    let status: u16 = rhead
        .start_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())?;
    let no_body =
        method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304;
    let rbody = if no_body {
        Vec::new()
    } else if rhead.is_chunked() {
        read_chunked(&mut reader).ok()?
    } else if let Some(n) = rhead.content_length() {
        let mut b = vec![0u8; usize::try_from(n).ok()?];
        reader.read_exact(&mut b).ok()?;
        b
    } else {
        let mut b = Vec::new();
        reader.read_to_end(&mut b).ok()?;
        b
    };
    Some((rhead, rbody, status))
}
