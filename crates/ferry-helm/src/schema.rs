//! A `values.schema.json` validator that reports like Helm v4, whose validator is
//! santhosh-tekuri/jsonschema v6.0.2. Every behaviour below was checked against the real
//! `helm template` (v4.2.3): `tests/schema-keywords/` holds the charts, the values files and
//! Helm's recorded output, `tests/schema-keywords/README.md` what was found.
//!
//! The draft is the root's `$schema` (draft-04, -06, -07, 2019-09 or 2020-12; without one,
//! 2020-12 as in Helm) and holds for the whole document. Checked, each in the drafts that have it:
//!
//! - `type`, `enum`, `const`, `required`;
//! - objects: `properties`, `patternProperties`, `additionalProperties` (`false` or a schema;
//!   keys matched by `properties` or by a pattern are not additional), `minProperties`,
//!   `maxProperties`, `propertyNames`, `dependencies` (array and schema forms; Helm's validator
//!   applies it in every draft), `dependentRequired`, `dependentSchemas`,
//!   `unevaluatedProperties`;
//! - arrays: `items` (one schema, or the draft-04..2019-09 tuple form with `additionalItems`),
//!   `prefixItems` (2020-12), `minItems`, `maxItems`, `uniqueItems`, `contains`,
//!   `minContains`/`maxContains` (2019-09+), `unevaluatedItems`. Helm names an item checked by
//!   `additionalItems` or by the 2020-12 `items` by its index among the extra items (`/list/0`
//!   for the first item after the tuple), and so does this validator;
//! - strings: `minLength`, `maxLength`, `pattern` (Go's RE2 syntax: `\d`, `\w`, `\s`, `\b` are
//!   ASCII-only);
//! - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers, or the
//!   draft-04 booleans), `multipleOf`, in exact decimal arithmetic like Go's `big.Rat`
//!   (`0.3` is a multiple of `0.1`);
//! - `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`;
//! - `format`, asserted in draft-04/06/07 only (2019-09 and 2020-12 make it an annotation, and so
//!   does Helm): `date`, `time`, `date-time`, `duration`, `period`, `email`, `hostname`, `ipv4`,
//!   `ipv6`, `uri`, `uri-reference`, `iri`, `iri-reference`, `uri-template`, `json-pointer`,
//!   `relative-json-pointer`, `uuid`, `semver` and `regex`, with the texts of Go's parsers
//!   (`time.Parse`, `net/url`, `net/netip`, `regexp/syntax`); other format names pass;
//! - `$ref` (in draft-04/06/07 it replaces its siblings except `const`, as in Helm),
//!   `$recursiveRef` and `$dynamicRef` (resolved like `$ref`), to JSON pointers, `$id`s and
//!   anchors of the same document; reference cycles are reported as Helm reports them.
//!
//! Helm refuses, before validating anything, a schema whose references (or `$schema`) lead out
//! of the document: `http(s)://` ones (Helm fetches them; this validator never uses the network
//! and reports the failed fetch, `failing loading "https://…": HTTP request failed for …`),
//! other files (`failing loading "file:///x.json": open /x.json: …`), unknown schemes, missing
//! pointers or anchors, and invalid JSON: the report is then that one message, worded as Helm
//! words it. `urn:` references always pass, as in Helm. References to the json-schema.org
//! metaschemas also pass (Helm validates against its embedded copies; a difference).
//!
//! Not checked: the content keywords (`contentEncoding`, ...: Helm does not assert them), and
//! the schema's own validity against its metaschema (Helm rejects such schemas; this validator
//! ignores keywords it cannot use, such as a malformed `pattern`).
//!
//! Violations are worded and nested as Helm does (`- at '/age': minimum: got -5, want 0`;
//! numbers as Go's `x/text` printer prints them: `1,000`, `1×10²¹`; schema constants as
//! written: `1.50`). Sibling violations come in key order where Helm's order is Go's random map
//! order.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use crate::value::Value;

use self::dec::Dec;
use self::json::Json;
use self::text::{fmt_int, fmt_num, go_quote, js_quote};

/// Nesting limit of one validation (schema levels plus value levels).
const MAX_DEPTH: usize = 512;

/// A `values.schema.json` read as JSON (or Helm's message when it is not JSON). It holds no
/// template values, so it can be read on another thread.
pub struct ParsedSchema(Result<json::Json, String>);

/// Reads a schema's JSON, the first half of validating with it.
pub fn parse(schema: &str) -> ParsedSchema {
    ParsedSchema(json::parse(schema))
}

/// Validates `values` against `schema` (a `values.schema.json` read by [`parse`]). Returns Helm's
/// report for the chart: one entry per top-level violation (nested violations on the following,
/// indented lines of the same entry), or one entry with Helm's message when Helm could not use
/// the schema at all (invalid JSON, a reference it cannot load). Empty when the values pass.
/// Never `Err`: every failure is part of Helm's report.
pub fn validate(schema: &ParsedSchema, values: &Value) -> Result<Vec<String>, String> {
    let doc = match &schema.0 {
        Ok(doc) => doc,
        Err(e) => return Ok(vec![e.clone()]),
    };
    let ctx = match Ctx::compile(doc) {
        Ok(ctx) => ctx,
        Err(e) => return Ok(vec![e]),
    };
    let (err, _) = ctx.validate(doc, values, &mut Vec::new(), &Scope::root(doc), false);
    let Some(err) = err else {
        return Ok(Vec::new());
    };
    let causes = match err.kind {
        Kind::Group => err.causes,
        _ => vec![err],
    };
    Ok(causes
        .iter()
        .map(|c| {
            let mut out = String::new();
            c.display(&mut out, 1);
            out.trim_start_matches('\n').to_string()
        })
        .collect())
}

// --- compiled schema ------------------------------------------------------------------------

/// What a reference resolved to.
#[derive(Clone, Copy)]
enum Target<'a> {
    Schema(&'a Json),
    /// Always satisfied (`urn:` references, the json-schema.org metaschemas).
    True,
}

/// The schema document with its references resolved.
struct Ctx<'a> {
    /// 4, 6, 7, 2019 or 2020.
    draft: u32,
    /// Resolved references, keyed by the address of the reference's string in the document.
    refs: HashMap<usize, Target<'a>>,
    /// Compiled `pattern`s and `patternProperties` keys (`None`: not a usable regex).
    regexes: RefCell<HashMap<String, Option<regex::Regex>>>,
    /// The document.
    doc: &'a Json,
    /// The JSON pointer (percent-encoded as Helm prints it) of every node of the document,
    /// computed when a reference cycle needs them.
    locations: OnceCell<HashMap<usize, String>>,
}

const BASE_URL: &str = "file:///values.schema.json";

fn addr(j: &Json) -> usize {
    j as *const Json as usize
}

/// The draft a `$schema` URL names (Helm's `draftFromURL`).
fn draft_from_url(url: &str) -> Option<u32> {
    let (u, frag) = url.split_once('#').unwrap_or((url, ""));
    if !frag.is_empty() {
        return None;
    }
    let u = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .unwrap_or(u);
    match u {
        "json-schema.org/schema" | "json-schema.org/draft/2020-12/schema" => Some(2020),
        "json-schema.org/draft/2019-09/schema" => Some(2019),
        "json-schema.org/draft-07/schema" => Some(7),
        "json-schema.org/draft-06/schema" => Some(6),
        "json-schema.org/draft-04/schema" => Some(4),
        _ => None,
    }
}

/// Where anchors and `$id`s of the document lead.
#[derive(Default)]
struct Index<'a> {
    /// Resource URL (no fragment) -> the schema with that `$id` (the root's included).
    resources: HashMap<String, &'a Json>,
    /// (resource URL, anchor) -> schema.
    anchors: HashMap<(String, String), &'a Json>,
    /// Schema address -> base URL of the resource it sits in.
    bases: HashMap<usize, String>,
}

/// The subschemas of `s` (by keyword) a draft knows, for collecting `$id`s and compiling.
/// `definitions` are collected but not compiled.
fn subschemas<'a>(s: &'a BTreeMap<String, Json>, draft: u32, with_defs: bool) -> Vec<&'a Json> {
    let mut out = Vec::new();
    let one = |k: &str, out: &mut Vec<&'a Json>| {
        if let Some(x) = s.get(k) {
            out.push(x);
        }
    };
    let each_in_map = |k: &str, out: &mut Vec<&'a Json>| {
        if let Some(Json::Obj(m)) = s.get(k) {
            out.extend(m.values());
        }
    };
    let each_in_arr = |k: &str, out: &mut Vec<&'a Json>| {
        if let Some(Json::Arr(a)) = s.get(k) {
            out.extend(a.iter());
        }
    };
    if with_defs {
        each_in_map("definitions", &mut out);
        if draft >= 2019 {
            each_in_map("$defs", &mut out);
        }
    }
    one("not", &mut out);
    each_in_arr("allOf", &mut out);
    each_in_arr("anyOf", &mut out);
    each_in_arr("oneOf", &mut out);
    each_in_map("properties", &mut out);
    one("additionalProperties", &mut out);
    each_in_map("patternProperties", &mut out);
    match s.get("items") {
        Some(Json::Arr(a)) if draft < 2020 => out.extend(a.iter()),
        Some(x @ (Json::Obj(_) | Json::Bool(_))) => out.push(x),
        _ => {}
    }
    if draft < 2020 {
        one("additionalItems", &mut out);
    } else {
        each_in_arr("prefixItems", &mut out);
    }
    if let Some(Json::Obj(m)) = s.get("dependencies") {
        out.extend(m.values().filter(|d| !matches!(d, Json::Arr(_))));
    }
    if draft >= 6 {
        one("propertyNames", &mut out);
        one("contains", &mut out);
    }
    if draft >= 7 {
        one("if", &mut out);
        one("then", &mut out);
        one("else", &mut out);
    }
    if draft >= 2019 {
        each_in_map("dependentSchemas", &mut out);
        one("unevaluatedProperties", &mut out);
        one("unevaluatedItems", &mut out);
    }
    out.retain(|x| matches!(x, Json::Obj(_) | Json::Bool(_)));
    out
}

/// The `$id` of a schema object, without its fragment, and the fragment (a draft-04..07 anchor).
fn schema_id(s: &BTreeMap<String, Json>, draft: u32) -> Option<(&str, &str)> {
    if draft < 2019 && s.contains_key("$ref") {
        return None;
    }
    let key = if draft == 4 { "id" } else { "$id" };
    let id = s.get(key)?.as_str()?;
    Some(id.split_once('#').unwrap_or((id, "")))
}

impl<'a> Index<'a> {
    fn collect(&mut self, s: &'a Json, base: &str, draft: u32) {
        // Iterative walk: deep schemas must not exhaust the stack.
        let mut todo = vec![(s, base.to_string())];
        while let Some((s, mut base)) = todo.pop() {
            let Json::Obj(m) = s else {
                self.bases.entry(addr(s)).or_insert(base);
                continue;
            };
            if self.bases.contains_key(&addr(s)) {
                continue;
            }
            if let Some((id, frag)) = schema_id(m, draft) {
                if !id.is_empty() {
                    base = url_join(&base, id);
                    self.resources.entry(base.clone()).or_insert(s);
                }
                if draft < 2019 && !frag.is_empty() {
                    self.anchors
                        .entry((base.clone(), frag.to_string()))
                        .or_insert(s);
                }
            }
            if draft >= 2019 {
                for key in ["$anchor", "$dynamicAnchor"] {
                    if key == "$dynamicAnchor" && draft < 2020 {
                        continue;
                    }
                    if let Some(a) = m.get(key).and_then(Json::as_str) {
                        self.anchors
                            .entry((base.clone(), a.to_string()))
                            .or_insert(s);
                    }
                }
            }
            self.bases.insert(addr(s), base.clone());
            for sub in subschemas(m, draft, true).into_iter().rev() {
                todo.push((sub, base.clone()));
            }
        }
    }
}

/// Go's `url.ResolveReference` for the URLs schemas use (no query handling beyond keeping it).
fn url_join(base: &str, reference: &str) -> String {
    fn scheme_of(u: &str) -> Option<(&str, &str)> {
        let i = u.find(':')?;
        let scheme = &u[..i];
        let mut chars = scheme.chars();
        let first = chars.next()?;
        (first.is_ascii_alphabetic()
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then(|| (scheme, &u[i + 1..]))
    }
    if scheme_of(reference).is_some() {
        return reference.to_string();
    }
    let Some((scheme, rest)) = scheme_of(base) else {
        return reference.to_string();
    };
    if reference.is_empty() {
        return base.to_string();
    }
    if let Some(r) = reference.strip_prefix("//") {
        return format!("{scheme}://{r}");
    }
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (format!("//{}", &r[..i]), &r[i..]),
            None => (format!("//{r}"), ""),
        },
        None => {
            // An opaque base (`urn:x`): Go keeps the reference as the opaque part.
            if !rest.starts_with('/') {
                return format!("{scheme}:{reference}");
            }
            (String::new(), rest)
        }
    };
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let (ref_path, query) = match reference.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (reference, String::new()),
    };
    let full = if ref_path.starts_with('/') {
        ref_path.to_string()
    } else if ref_path.is_empty() {
        path.to_string()
    } else {
        let dir = path.rfind('/').map_or("", |i| &path[..=i]);
        format!("{dir}{ref_path}")
    };
    format!("{scheme}:{authority}{}{query}", resolve_dots(&full))
}

/// Go's `resolvePath` (RFC 3986 dot segments), always with a leading `/`.
fn resolve_dots(full: &str) -> String {
    if full.is_empty() {
        return String::new();
    }
    let mut out: Vec<&str> = Vec::new();
    let parts: Vec<&str> = full.split('/').collect();
    let last = parts.len() - 1;
    for (i, p) in parts.iter().enumerate() {
        match *p {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// Go's `url.PathUnescape`, `None` on a bad escape.
fn path_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = b.get(i + 1).copied().and_then(hex)?;
            let lo = b.get(i + 2).copied().and_then(hex)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The pointer of every node of the document, keyed by its address.
fn locations(doc: &Json) -> HashMap<usize, String> {
    let mut out = HashMap::new();
    let mut todo = vec![(doc, String::new())];
    while let Some((j, ptr)) = todo.pop() {
        match j {
            Json::Obj(m) => {
                for (k, x) in m {
                    let tok = k.replace('~', "~0").replace('/', "~1");
                    todo.push((x, format!("{ptr}/{}", formats::escape_path_segments(&tok))));
                }
            }
            Json::Arr(a) => {
                for (i, x) in a.iter().enumerate() {
                    todo.push((x, format!("{ptr}/{i}")));
                }
            }
            _ => {}
        }
        out.insert(addr(j), ptr);
    }
    out
}

/// Follows a JSON pointer (already percent-decoded) the way Helm's validator does.
fn lookup<'a>(root: &'a Json, ptr: &str) -> Option<&'a Json> {
    let mut cur = root;
    if ptr.is_empty() {
        return Some(cur);
    }
    for tok in ptr.strip_prefix('/')?.split('/') {
        let tok = tok.replace("~1", "/").replace("~0", "~");
        cur = match cur {
            Json::Obj(m) => m.get(&tok)?,
            Json::Arr(a) => {
                let i: i64 = formats::go_atoi(tok.as_bytes()).ok()?;
                a.get(usize::try_from(i).ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

impl<'a> Ctx<'a> {
    /// Resolves every reference reachable from the root (what Helm's compiler does before it
    /// validates anything); fails with Helm's message where Helm's compiler fails.
    fn compile(doc: &'a Json) -> Result<Ctx<'a>, String> {
        let mut draft = 2020;
        if let Json::Obj(m) = doc {
            if let Some(url) = m.get("$schema").and_then(Json::as_str) {
                match draft_from_url(url) {
                    Some(d) => draft = d,
                    None => {
                        let target = url_join(BASE_URL, url);
                        let (u, _) = target.split_once('#').unwrap_or((&target, ""));
                        if let Some(e) = load_error(u) {
                            return Err(e);
                        }
                    }
                }
            }
        }
        let mut index = Index::default();
        index.resources.insert(BASE_URL.to_string(), doc);
        index.collect(doc, BASE_URL, draft);
        let mut ctx = Ctx {
            draft,
            refs: HashMap::new(),
            regexes: RefCell::new(HashMap::new()),
            doc,
            locations: OnceCell::new(),
        };
        let mut seen = HashSet::new();
        let mut todo = vec![doc];
        while let Some(s) = todo.pop() {
            let Json::Obj(m) = s else { continue };
            if !seen.insert(addr(s)) {
                continue;
            }
            let own_base = index
                .bases
                .get(&addr(s))
                .cloned()
                .unwrap_or_else(|| BASE_URL.to_string());
            let mut keywords = vec!["$ref"];
            if draft >= 2019 {
                keywords.push("$recursiveRef");
            }
            if draft >= 2020 {
                keywords.push("$dynamicRef");
            }
            let mut legacy_ref = false;
            for kw in keywords {
                let Some(r @ Json::Str(reference)) = m.get(kw) else {
                    continue;
                };
                let target = ctx.resolve(&index, &own_base, reference)?;
                if let Target::Schema(t) = target {
                    todo.push(t);
                }
                ctx.refs.insert(addr(r), target);
                legacy_ref |= kw == "$ref" && draft < 2019;
            }
            if legacy_ref {
                // Helm's compiler ignores the siblings of a draft-04..07 `$ref`, except the
                // draft-06/07 keywords it still compiles (never reached when validating).
                for k in ["contains", "propertyNames", "if", "then", "else"] {
                    if let Some(x) = m.get(k) {
                        if draft >= 6 && (draft >= 7 || !matches!(k, "if" | "then" | "else")) {
                            todo.push(x);
                        }
                    }
                }
                continue;
            }
            let subs = subschemas(m, draft, false);
            todo.extend(subs.into_iter().rev());
        }
        Ok(ctx)
    }

    /// Resolves one reference found in a resource whose base URL is `base`.
    fn resolve(
        &self,
        index: &Index<'a>,
        base: &str,
        reference: &str,
    ) -> Result<Target<'a>, String> {
        let (r, frag) = reference.split_once('#').unwrap_or((reference, ""));
        let url = if r.is_empty() {
            base.to_string()
        } else {
            url_join(base, r)
        };
        let Some(frag) = path_unescape(frag) else {
            return Err(format!(
                "error in parsing {}: invalid URL escape",
                go_quote(reference)
            ));
        };
        let Some(&resource) = index.resources.get(&url) else {
            if url.starts_with("urn:")
                || url.starts_with("http://json-schema.org/")
                || url.starts_with("https://json-schema.org/")
            {
                return Ok(Target::True);
            }
            return Err(load_error(&url).unwrap_or_else(|| {
                format!(
                    "failing loading {}: no URLLoader registered for {}",
                    go_quote(&url),
                    go_quote(&url)
                )
            }));
        };
        if frag.is_empty() || frag.starts_with('/') {
            return lookup(resource, &frag).map(Target::Schema).ok_or_else(|| {
                format!(
                    "json-pointer in {} not found",
                    go_quote(&format!("{url}#{}", formats::escape_path_segments(&frag)))
                )
            });
        }
        match index.anchors.get(&(url.clone(), frag.clone())) {
            Some(&s) => Ok(Target::Schema(s)),
            None => Err(format!(
                "anchor in {} not found in schema {}",
                go_quote(&format!("{url}#{frag}")),
                go_quote(&url)
            )),
        }
    }
}

/// Helm's message when loading a schema document from `url` fails, without network access:
/// `None` for URLs Helm resolves without loading anything (`urn:`).
fn load_error(url: &str) -> Option<String> {
    let q = go_quote(url);
    if url.starts_with("http://") || url.starts_with("https://") {
        return Some(format!(
            "failing loading {q}: HTTP request failed for {url}: Get {q}: \
             schemas are not fetched over the network (ferry renders offline)"
        ));
    }
    if let Some(path) = url.strip_prefix("file://") {
        let path = path_unescape(path).unwrap_or_else(|| path.to_string());
        return Some(format!(
            "failing loading {q}: open {path}: no such file or directory"
        ));
    }
    if url.starts_with("urn:") {
        return None;
    }
    Some(format!(
        "failing loading {q}: no URLLoader registered for {q}"
    ))
}

// --- violations -----------------------------------------------------------------------------

/// What a violation says.
enum Kind {
    /// Several violations of one schema (`validation failed`, nesting them).
    Group,
    /// A reference whose target failed (`validation failed`; not shown when it has one cause).
    Ref,
    /// One keyword's message.
    Msg(String),
}

/// One violation, as Helm's validator builds them.
struct VErr {
    loc: Vec<String>,
    kind: Kind,
    causes: Vec<VErr>,
}

impl VErr {
    fn msg(loc: &[String], msg: String) -> VErr {
        VErr {
            loc: loc.to_vec(),
            kind: Kind::Msg(msg),
            causes: Vec::new(),
        }
    }

    fn nest(loc: &[String], msg: String, causes: Vec<VErr>) -> VErr {
        VErr {
            loc: loc.to_vec(),
            kind: Kind::Msg(msg),
            causes,
        }
    }

    /// Helm's text of the violation and its causes, each on a line of its own.
    fn display(&self, out: &mut String, indent: usize) {
        let mut indent = indent;
        let skip = matches!(self.kind, Kind::Ref) && self.causes.len() == 1;
        if !skip {
            if indent > 0 {
                out.push('\n');
                for _ in 1..indent {
                    out.push_str("  ");
                }
                out.push_str("- ");
            }
            indent += 1;
            let msg = match &self.kind {
                Kind::Group | Kind::Ref => "validation failed",
                Kind::Msg(m) => m,
            };
            let _ = write!(out, "at {}: {msg}", js_quote(&json_ptr(&self.loc)));
        }
        for c in &self.causes {
            c.display(out, indent);
        }
    }
}

fn json_ptr(tokens: &[String]) -> String {
    let mut out = String::new();
    for t in tokens {
        out.push('/');
        out.push_str(&t.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// The result of one schema: no violation, the violation, or a group of them.
fn finish(loc: &[String], mut errs: Vec<VErr>) -> Option<VErr> {
    match errs.len() {
        0 => None,
        1 => errs.pop(),
        _ => Some(VErr {
            loc: loc.to_vec(),
            kind: Kind::Group,
            causes: errs,
        }),
    }
}

/// The causes a reference or `propertyNames` violation nests: a group's members, or itself.
fn causes_of(e: VErr) -> Vec<VErr> {
    match e.kind {
        Kind::Group => e.causes,
        _ => vec![e],
    }
}

/// What of a value its schema has not evaluated yet (Helm's `uneval`); `None`: not tracked.
#[derive(Default)]
struct Uneval {
    props: Option<BTreeSet<String>>,
    items: Option<BTreeSet<usize>>,
}

impl Uneval {
    fn is_empty(&self) -> bool {
        self.props.as_ref().is_none_or(BTreeSet::is_empty)
            && self.items.as_ref().is_none_or(BTreeSet::is_empty)
    }

    /// Keeps unevaluated only what the passing subschema did not evaluate either.
    fn merge(&mut self, theirs: &Uneval) {
        if let Some(props) = &mut self.props {
            props.retain(|p| theirs.props.as_ref().is_some_and(|t| t.contains(p)));
        }
        if let Some(items) = &mut self.items {
            items.retain(|i| theirs.items.as_ref().is_some_and(|t| t.contains(i)));
        }
    }
}

/// One schema's validation in progress: its violations so far and what stays unevaluated.
struct Out {
    errs: Vec<VErr>,
    ue: Uneval,
}

/// Where a validation stands: the schema, how it was reached, the value's identity (Helm's
/// `scope`, which finds reference cycles).
struct Scope<'p> {
    sch: usize,
    /// The reference keyword that led here, if any.
    kw: Option<&'static str>,
    /// Which value is validated: the same number for the same value along the chain.
    vid: usize,
    parent: Option<&'p Scope<'p>>,
    depth: usize,
}

impl<'p> Scope<'p> {
    fn root(s: &Json) -> Scope<'static> {
        Scope {
            sch: addr(s),
            kw: None,
            vid: 0,
            parent: None,
            depth: 0,
        }
    }

    fn next(&'p self, s: &Json, kw: Option<&'static str>, vid: usize) -> Scope<'p> {
        Scope {
            sch: addr(s),
            kw,
            vid,
            parent: Some(self),
            depth: self.depth + 1,
        }
    }

    /// An enclosing scope validating the same value with the same schema: a reference cycle.
    fn cycle(&self) -> Option<&'p Scope<'p>> {
        let mut p = self.parent;
        while let Some(sc) = p {
            if sc.vid != self.vid {
                break;
            }
            if sc.sch == self.sch {
                return Some(sc);
            }
            p = sc.parent;
        }
        None
    }
}

// --- values ---------------------------------------------------------------------------------

const TYPE_ORDER: [&str; 7] = [
    "null", "boolean", "number", "integer", "string", "array", "object",
];

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::Int64(_) | Value::Float(_) => "number",
        Value::Str(_) | Value::BinStr(_) | Value::Bytes(_) | Value::Object(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) => "object",
    }
}

/// The exact decimal value of a number value.
fn num_of(v: &Value) -> Option<Dec> {
    match v {
        Value::Int(i) | Value::Int64(i) => Some(Dec::from_i64(*i)),
        Value::Float(f) => Dec::from_f64(*f),
        _ => None,
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

/// Go's `equals` between a value and a schema constant.
fn equals_json(v: &Value, j: &Json) -> bool {
    match (v, j) {
        (Value::Nil, Json::Null) => true,
        (Value::Bool(a), Json::Bool(b)) => a == b,
        (Value::Str(a), Json::Str(b)) => a.as_ref() == b.as_str(),
        (Value::List(a), Json::Arr(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equals_json(x, y))
        }
        (Value::Map(a), Json::Obj(b)) => {
            let a = a.borrow();
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| equals_json(x, y)))
        }
        (_, Json::Num(n)) => match (num_of(v), n.dec()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// Go's `equals` between two values.
fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equals(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| equals(p, q)))
        }
        _ => match (num_of(a), num_of(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// How Helm's messages print a schema constant (`display`): strings quoted, numbers as written.
fn display_json(j: &Json) -> String {
    match j {
        Json::Str(s) => js_quote(s),
        Json::Arr(_) | Json::Obj(_) => "value".into(),
        Json::Num(n) => n.lit.clone(),
        Json::Null => "<nil>".into(),
        Json::Bool(b) => b.to_string(),
    }
}

fn join_quoted<'s>(names: impl IntoIterator<Item = &'s str>) -> String {
    names
        .into_iter()
        .map(js_quote)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A non-negative integer keyword (`minLength`, ...), as Helm's compiler reads it.
fn int_kw(s: &BTreeMap<String, Json>, k: &str) -> Option<i64> {
    let d = s.get(k)?.as_num()?.dec()?;
    d.to_i64()
}

/// The `min…`/`max…` keywords on a count (properties, items, characters), Helm-worded.
fn count_bounds(
    s: &BTreeMap<String, Json>,
    n: i64,
    (min_kw, max_kw): (&str, &str),
    loc: &[String],
    errs: &mut Vec<VErr>,
) {
    if let Some(min) = int_kw(s, min_kw).filter(|min| n < *min) {
        errs.push(VErr::msg(
            loc,
            format!("{min_kw}: got {}, want {}", fmt_int(n), fmt_int(min)),
        ));
    }
    if let Some(max) = int_kw(s, max_kw).filter(|max| n > *max) {
        errs.push(VErr::msg(
            loc,
            format!("{max_kw}: got {}, want {}", fmt_int(n), fmt_int(max)),
        ));
    }
}

fn num_kw(s: &BTreeMap<String, Json>, k: &str) -> Option<Dec> {
    s.get(k)?.as_num()?.dec()
}

fn strings(j: &Json) -> Vec<&str> {
    match j {
        Json::Arr(a) => a.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

// --- validation -----------------------------------------------------------------------------

impl<'a> Ctx<'a> {
    fn regex(&self, pattern: &str) -> Option<regex::Regex> {
        let mut cache = self.regexes.borrow_mut();
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| regex::Regex::new(&goregex::to_rust(pattern)).ok())
            .clone()
    }

    /// Validates `v` (at `loc`) against the schema `s`: Helm's `validator.validate`. Also
    /// returns what of `v` stays unevaluated (tracked when `needs`, or for the schema's own
    /// `unevaluated*` keywords).
    fn validate(
        &self,
        s: &'a Json,
        v: &Value,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        needs: bool,
    ) -> (Option<VErr>, Uneval) {
        let mut out = Out {
            errs: Vec::new(),
            ue: self.uneval_from(s, v, needs),
        };
        let e = self.check(s, v, loc, sc, &mut out);
        (e, out.ue)
    }

    /// What `v` has that `s` does not evaluate by itself (Helm's `unevalFrom`).
    fn uneval_from(&self, s: &Json, v: &Value, needs: bool) -> Uneval {
        let m = match s {
            Json::Obj(m) => Some(m),
            _ => None,
        };
        let has = |k: &str| m.is_some_and(|m| m.contains_key(k));
        let legacy_ref = self.draft < 2019 && has("$ref");
        let mut ue = Uneval::default();
        match v {
            Value::Map(map) => {
                let all = !legacy_ref && has("additionalProperties");
                let wanted = needs || (self.draft >= 2019 && has("unevaluatedProperties"));
                if !all && wanted {
                    ue.props = Some(map.borrow().keys().cloned().collect());
                }
            }
            Value::List(items) => {
                let (all, first) = if legacy_ref {
                    (false, 0)
                } else if self.draft < 2020 {
                    match m.and_then(|m| m.get("items")) {
                        Some(Json::Arr(t)) => (has("additionalItems"), t.len()),
                        Some(_) => (true, 0),
                        None => (false, 0),
                    }
                } else {
                    let prefix = match m.and_then(|m| m.get("prefixItems")) {
                        Some(Json::Arr(p)) => p.len(),
                        _ => 0,
                    };
                    (has("items"), prefix)
                };
                let wanted = needs || (self.draft >= 2019 && has("unevaluatedItems"));
                if !all && wanted && first < items.len() {
                    ue.items = Some((first..items.len()).collect());
                }
            }
            _ => {}
        }
        ue
    }

    fn check(
        &self,
        s: &'a Json,
        v: &Value,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        out: &mut Out,
    ) -> Option<VErr> {
        if sc.depth > MAX_DEPTH {
            return None;
        }
        if let Some(earlier) = sc.cycle() {
            return Some(VErr::msg(
                loc,
                format!(
                    "both {} and {} resolve to {} causing reference cycle",
                    self.keyword_location(sc),
                    self.keyword_location(earlier),
                    go_quote(&format!("{BASE_URL}#{}", self.location(sc.sch)))
                ),
            ));
        }
        let m = match s {
            Json::Obj(m) => m,
            Json::Bool(false) => return Some(VErr::msg(loc, "false schema".into())),
            _ => return None,
        };
        let reference = m.get("$ref").filter(|r| matches!(r, Json::Str(_)));
        let legacy_ref = reference.is_some() && self.draft < 2019;

        // type, const, enum and format end the validation when they fail.
        if !legacy_ref {
            if let Some(t) = m.get("type") {
                let named: Vec<&str> = match t {
                    Json::Str(x) => vec![x.as_str()],
                    Json::Arr(xs) => xs.iter().filter_map(Json::as_str).collect(),
                    _ => Vec::new(),
                };
                let want: Vec<&str> = TYPE_ORDER
                    .iter()
                    .copied()
                    .filter(|t| named.contains(t))
                    .collect();
                if !want.is_empty() {
                    let got = type_of(v);
                    let integer = || num_of(v).is_some_and(|d| d.is_integer());
                    let matched = want.contains(&got)
                        || (want.contains(&"integer") && got == "number" && integer());
                    if !matched {
                        return Some(VErr::msg(
                            loc,
                            format!("got {got}, want {}", want.join(" or ")),
                        ));
                    }
                }
            }
        }
        if self.draft >= 6 {
            if let Some(c) = m.get("const") {
                if !equals_json(v, c) {
                    let msg = match c {
                        Json::Arr(_) | Json::Obj(_) => "'const' failed".to_string(),
                        c => format!("value must be {}", display_json(c)),
                    };
                    return Some(VErr::msg(loc, msg));
                }
            }
        }
        if !legacy_ref {
            if let Some(Json::Arr(options)) = m.get("enum") {
                if !options.iter().any(|o| equals_json(v, o)) {
                    let msg = if options
                        .iter()
                        .any(|o| matches!(o, Json::Arr(_) | Json::Obj(_)))
                    {
                        "'enum' failed".to_string()
                    } else if options.len() == 1 {
                        format!("value must be {}", display_json(&options[0]))
                    } else {
                        let all: Vec<String> = options.iter().map(display_json).collect();
                        format!("value must be one of {}", all.join(", "))
                    };
                    return Some(VErr::msg(loc, msg));
                }
            }
            if self.draft < 2019 {
                if let (Some(name), Value::Str(st)) = (m.get("format").and_then(Json::as_str), v) {
                    if let Some(Err(e)) = formats::check(name, st) {
                        return Some(VErr::msg(
                            loc,
                            format!("{} is not valid {name}: {e}", js_quote(st)),
                        ));
                    }
                }
            }
        }

        if let Some(r) = reference {
            let e = self.validate_ref(r, "$ref", v, loc, sc, &mut out.ue);
            if legacy_ref {
                return e;
            }
            out.errs.extend(e);
        }

        match v {
            Value::Map(map) => self.object(m, v, &map.borrow(), loc, sc, out),
            Value::List(items) => self.array(m, items, loc, sc, out),
            Value::Str(st) => self.string(m, st, loc, &mut out.errs),
            Value::Int(_) | Value::Int64(_) | Value::Float(_) => {
                self.number(m, v, loc, &mut out.errs);
            }
            _ => {}
        }

        if self.draft >= 2019 {
            for kw in ["$recursiveRef", "$dynamicRef"] {
                if let Some(r) = m.get(kw) {
                    let e = self.validate_ref(r, kw, v, loc, sc, &mut out.ue);
                    out.errs.extend(e);
                }
            }
        }
        self.conditions(m, v, loc, sc, out);
        if self.draft >= 2019 {
            self.unevaluated(m, v, loc, sc, out);
        }
        finish(loc, std::mem::take(&mut out.errs))
    }

    /// `unevaluatedProperties` and `unevaluatedItems`, for what no keyword evaluated.
    fn unevaluated(
        &self,
        s: &'a BTreeMap<String, Json>,
        v: &Value,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        out: &mut Out,
    ) {
        match v {
            Value::Map(map) => {
                let Some(sch) = s.get("unevaluatedProperties") else {
                    return;
                };
                let Some(props) = out.ue.props.take() else {
                    return;
                };
                let map = map.borrow();
                for name in props {
                    if let Some(value) = map.get(&name) {
                        out.errs
                            .extend(self.child(sch, value, name.clone(), loc, sc));
                    }
                }
            }
            Value::List(list) => {
                let Some(sch) = s.get("unevaluatedItems") else {
                    return;
                };
                let Some(items) = out.ue.items.take() else {
                    return;
                };
                for i in items {
                    if let Some(item) = list.get(i) {
                        out.errs
                            .extend(self.child(sch, item, i.to_string(), loc, sc));
                    }
                }
            }
            _ => {}
        }
    }

    /// Another schema for the same value (Helm's `validateSelf`): what it evaluates counts as
    /// evaluated when it passes.
    fn sub(
        &self,
        s: &'a Json,
        v: &Value,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        ue: &mut Uneval,
    ) -> Option<VErr> {
        let (e, theirs) = self.validate(s, v, loc, &sc.next(s, None, sc.vid), !ue.is_empty());
        if e.is_none() {
            ue.merge(&theirs);
        }
        e
    }

    /// The JSON pointer of a schema in the document (`#` and the pointer make its location).
    fn location(&self, sch: usize) -> &str {
        self.locations
            .get_or_init(|| locations(self.doc))
            .get(&sch)
            .map_or("", String::as_str)
    }

    /// The keywords that led from the root to a scope (`/properties/x/$ref`).
    fn keyword_location(&self, sc: &Scope<'_>) -> String {
        let mut parts = Vec::new();
        let mut cur = sc;
        while let Some(parent) = cur.parent {
            match cur.kw {
                Some(kw) => parts.push(format!("/{kw}")),
                None => {
                    let (here, above) = (self.location(cur.sch), self.location(parent.sch));
                    parts.push(here.strip_prefix(above).unwrap_or(here).to_string());
                }
            }
            cur = parent;
        }
        parts.reverse();
        parts.concat()
    }

    /// A reference: its target's violations, nested under a reference violation.
    fn validate_ref(
        &self,
        r: &'a Json,
        kw: &'static str,
        v: &Value,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        ue: &mut Uneval,
    ) -> Option<VErr> {
        let Target::Schema(target) = *self.refs.get(&addr(r))? else {
            return None;
        };
        let (e, theirs) = self.validate(
            target,
            v,
            loc,
            &sc.next(target, Some(kw), sc.vid),
            !ue.is_empty(),
        );
        let Some(e) = e else {
            ue.merge(&theirs);
            return None;
        };
        Some(VErr {
            loc: loc.clone(),
            kind: Kind::Ref,
            causes: causes_of(e),
        })
    }

    /// The value `v` under the token `tok` of the current location.
    fn child(
        &self,
        s: &'a Json,
        v: &Value,
        tok: String,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
    ) -> Option<VErr> {
        loc.push(tok);
        let (e, _) = self.validate(s, v, loc, &sc.next(s, None, sc.vid + 1), false);
        loc.pop();
        e
    }

    #[allow(clippy::too_many_arguments)]
    fn object(
        &self,
        s: &'a BTreeMap<String, Json>,
        v: &Value,
        obj: &BTreeMap<String, Value>,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        out: &mut Out,
    ) {
        let n = obj.len() as i64;
        count_bounds(s, n, ("minProperties", "maxProperties"), loc, &mut out.errs);
        let missing_of = |names: Vec<&'a str>| -> Vec<&'a str> {
            names
                .into_iter()
                .filter(|k| !obj.contains_key(*k))
                .collect()
        };
        if let Some(req) = s.get("required") {
            let missing = missing_of(strings(req));
            match missing.len() {
                0 => {}
                1 => out.errs.push(VErr::msg(
                    loc,
                    format!("missing property {}", js_quote(missing[0])),
                )),
                _ => out.errs.push(VErr::msg(
                    loc,
                    format!("missing properties {}", join_quoted(missing)),
                )),
            }
        }
        if let Some(Json::Obj(deps)) = s.get("dependencies") {
            for (name, dep) in deps {
                if !obj.contains_key(name) {
                    continue;
                }
                match dep {
                    Json::Arr(_) => {
                        let missing = missing_of(strings(dep));
                        if !missing.is_empty() {
                            out.errs.push(VErr::msg(
                                loc,
                                format!(
                                    "properties {} required, if {} exists",
                                    join_quoted(missing),
                                    js_quote(name)
                                ),
                            ));
                        }
                    }
                    dep => out.errs.extend(self.sub(dep, v, loc, sc, &mut out.ue)),
                }
            }
        }

        let props = match s.get("properties") {
            Some(Json::Obj(p)) => Some(p),
            _ => None,
        };
        let patterns: Vec<(regex::Regex, &'a Json)> = match s.get("patternProperties") {
            Some(Json::Obj(p)) => p
                .iter()
                .filter_map(|(re, sch)| self.regex(re).map(|re| (re, sch)))
                .collect(),
            _ => Vec::new(),
        };
        let additional = s.get("additionalProperties");
        let mut extra = Vec::new();
        for (name, value) in obj {
            let mut evaluated = false;
            if let Some(sch) = props.and_then(|p| p.get(name)) {
                evaluated = true;
                out.errs
                    .extend(self.child(sch, value, name.clone(), loc, sc));
            }
            for (re, sch) in &patterns {
                if re.is_match(name) {
                    evaluated = true;
                    out.errs
                        .extend(self.child(sch, value, name.clone(), loc, sc));
                }
            }
            if !evaluated {
                match additional {
                    Some(Json::Bool(false)) => extra.push(name.as_str()),
                    Some(Json::Bool(true)) => {}
                    None => continue,
                    Some(sch) => out
                        .errs
                        .extend(self.child(sch, value, name.clone(), loc, sc)),
                }
            }
            if let Some(props) = &mut out.ue.props {
                props.remove(name);
            }
        }
        if !extra.is_empty() {
            out.errs.push(VErr::msg(
                loc,
                format!("additional properties {} not allowed", join_quoted(extra)),
            ));
        }
        if self.draft == 4 {
            return;
        }
        if let Some(names) = s.get("propertyNames") {
            for name in obj.keys() {
                let key = Value::Str(name.as_str().into());
                let (e, _) =
                    self.validate(names, &key, &mut Vec::new(), &Scope::root(names), false);
                if let Some(e) = e {
                    out.errs.push(VErr::nest(
                        &[],
                        format!("invalid propertyName {}", js_quote(name)),
                        causes_of(e),
                    ));
                }
            }
        }
        if self.draft < 2019 {
            return;
        }
        if let Some(Json::Obj(deps)) = s.get("dependentSchemas") {
            for (name, dep) in deps {
                if obj.contains_key(name) {
                    out.errs.extend(self.sub(dep, v, loc, sc, &mut out.ue));
                }
            }
        }
        if let Some(Json::Obj(deps)) = s.get("dependentRequired") {
            for (name, dep) in deps {
                if !obj.contains_key(name) || !matches!(dep, Json::Arr(_)) {
                    continue;
                }
                let missing = missing_of(strings(dep));
                if !missing.is_empty() {
                    out.errs.push(VErr::msg(
                        loc,
                        format!(
                            "properties {} required, if {} exists",
                            join_quoted(missing),
                            js_quote(name)
                        ),
                    ));
                }
            }
        }
    }

    fn array(
        &self,
        s: &'a BTreeMap<String, Json>,
        arr: &[Value],
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        out: &mut Out,
    ) {
        let n = arr.len() as i64;
        count_bounds(s, n, ("minItems", "maxItems"), loc, &mut out.errs);
        if matches!(s.get("uniqueItems"), Some(Json::Bool(true))) && arr.len() > 1 {
            let dup = (1..arr.len())
                .find_map(|i| (0..i).find(|&j| equals(&arr[i], &arr[j])).map(|j| (j, i)));
            if let Some((j, i)) = dup {
                out.errs.push(VErr::msg(
                    loc,
                    format!(
                        "items at {} and {} are equal",
                        fmt_int(j as i64),
                        fmt_int(i as i64)
                    ),
                ));
            }
        }
        // The schemas of the first items, then the one for the rest; Helm names the rest by
        // their index among the rest.
        let (prefix, rest): (&[Json], Option<&'a Json>) = if self.draft < 2020 {
            match s.get("items") {
                Some(Json::Arr(tuple)) => (tuple, s.get("additionalItems")),
                Some(one @ (Json::Obj(_) | Json::Bool(_))) => (&[], Some(one)),
                _ => (&[], None),
            }
        } else {
            let prefix: &[Json] = match s.get("prefixItems") {
                Some(Json::Arr(p)) => p,
                _ => &[],
            };
            let rest = s
                .get("items")
                .filter(|i| matches!(i, Json::Obj(_) | Json::Bool(_)));
            (prefix, rest)
        };
        let evaluated = prefix.len().min(arr.len());
        for (i, (item, sch)) in arr.iter().zip(prefix).enumerate() {
            out.errs
                .extend(self.child(sch, item, i.to_string(), loc, sc));
        }
        let tuple_form = self.draft < 2020 && matches!(s.get("items"), Some(Json::Arr(_)));
        match rest {
            Some(Json::Bool(false)) if tuple_form && evaluated != arr.len() => {
                out.errs.push(VErr::msg(
                    loc,
                    format!(
                        "last {} additionalItem(s) not allowed",
                        fmt_int((arr.len() - evaluated) as i64)
                    ),
                ));
            }
            Some(Json::Bool(_)) if tuple_form => {}
            Some(sch) => {
                for (i, item) in arr[evaluated..].iter().enumerate() {
                    out.errs
                        .extend(self.child(sch, item, i.to_string(), loc, sc));
                }
            }
            None => {}
        }
        if self.draft < 6 {
            return;
        }
        let Some(contains) = s.get("contains") else {
            return;
        };
        let mut failures = Vec::new();
        let mut matched = Vec::new();
        for (i, item) in arr.iter().enumerate() {
            match self.child(contains, item, i.to_string(), loc, sc) {
                Some(e) => failures.push(e),
                None => {
                    matched.push(i);
                    if self.draft >= 2020 {
                        if let Some(items) = &mut out.ue.items {
                            items.remove(&i);
                        }
                    }
                }
            }
        }
        let (min, max) = if self.draft >= 2019 {
            (int_kw(s, "minContains"), int_kw(s, "maxContains"))
        } else {
            (None, None)
        };
        let at: Vec<String> = matched.iter().map(ToString::to_string).collect();
        let at = at.join(" ");
        match min {
            Some(min) => {
                if (matched.len() as i64) < min {
                    let msg = if matched.is_empty() {
                        format!(
                            "min {} items required to match contains schema, but none matched",
                            fmt_int(min)
                        )
                    } else {
                        format!(
                            "min {} items required to match contains schema, but matched {} items at {at}",
                            fmt_int(min),
                            fmt_int(matched.len() as i64)
                        )
                    };
                    out.errs.push(VErr::nest(loc, msg, failures));
                }
            }
            None => {
                if matched.is_empty() {
                    out.errs.push(VErr::nest(
                        loc,
                        "no items match contains schema".into(),
                        failures,
                    ));
                }
            }
        }
        if let Some(max) = max {
            if matched.len() as i64 > max {
                out.errs.push(VErr::msg(
                    loc,
                    format!(
                        "max {} items required to match contains schema, but matched {} items at {at}",
                        fmt_int(max),
                        fmt_int(matched.len() as i64)
                    ),
                ));
            }
        }
    }

    fn string(&self, s: &BTreeMap<String, Json>, st: &str, loc: &[String], errs: &mut Vec<VErr>) {
        let n = st.chars().count() as i64;
        count_bounds(s, n, ("minLength", "maxLength"), loc, errs);
        if let Some(p) = s.get("pattern").and_then(Json::as_str) {
            if let Some(re) = self.regex(p) {
                if !re.is_match(st) {
                    errs.push(VErr::msg(
                        loc,
                        format!("{} does not match pattern {}", js_quote(st), js_quote(p)),
                    ));
                }
            }
        }
    }

    fn number(&self, s: &BTreeMap<String, Json>, v: &Value, loc: &[String], errs: &mut Vec<VErr>) {
        let Some(x) = num_of(v) else { return };
        let got = fmt_num(as_f64(v));
        let mut maximum = num_kw(s, "maximum");
        let exclusive_max = if matches!(s.get("exclusiveMaximum"), Some(Json::Bool(true))) {
            maximum.take()
        } else {
            num_kw(s, "exclusiveMaximum")
        };
        let mut minimum = num_kw(s, "minimum");
        let exclusive_min = if matches!(s.get("exclusiveMinimum"), Some(Json::Bool(true))) {
            minimum.take()
        } else {
            num_kw(s, "exclusiveMinimum")
        };
        let mut check = |name: &str, bound: Option<Dec>, fails: fn(std::cmp::Ordering) -> bool| {
            if let Some(b) = bound {
                if fails(x.cmp(&b)) {
                    errs.push(VErr::msg(
                        loc,
                        format!("{name}: got {got}, want {}", fmt_num(b.to_f64())),
                    ));
                }
            }
        };
        check("minimum", minimum, |o| o.is_lt());
        check("maximum", maximum, |o| o.is_gt());
        check("exclusiveMinimum", exclusive_min, |o| o.is_le());
        check("exclusiveMaximum", exclusive_max, |o| o.is_ge());
        if let Some(m) = num_kw(s, "multipleOf") {
            if !m.is_zero() && !x.is_multiple_of(&m) {
                errs.push(VErr::msg(
                    loc,
                    format!("multipleOf: got {got}, want {}", fmt_num(m.to_f64())),
                ));
            }
        }
    }

    fn conditions(
        &self,
        s: &'a BTreeMap<String, Json>,
        v: &Value,
        loc: &mut Vec<String>,
        sc: &Scope<'_>,
        out: &mut Out,
    ) {
        if let Some(not) = s.get("not") {
            if self.sub(not, v, loc, sc, &mut out.ue).is_none() {
                out.errs.push(VErr::msg(loc, "'not' failed".into()));
            }
        }
        if let Some(Json::Arr(all)) = s.get("allOf") {
            let mut failed = Vec::new();
            for sub in all {
                failed.extend(self.sub(sub, v, loc, sc, &mut out.ue));
            }
            if !failed.is_empty() {
                out.errs
                    .push(VErr::nest(loc, "'allOf' failed".into(), failed));
            }
        }
        if let Some(Json::Arr(any)) = s.get("anyOf") {
            let mut failed = Vec::new();
            let mut matched = false;
            for sub in any {
                match self.sub(sub, v, loc, sc, &mut out.ue) {
                    Some(e) => failed.push(e),
                    None => {
                        matched = true;
                        // Every subschema counts for what is unevaluated.
                        if out.ue.is_empty() {
                            break;
                        }
                    }
                }
            }
            if !matched && !any.is_empty() {
                out.errs
                    .push(VErr::nest(loc, "'anyOf' failed".into(), failed));
            }
        }
        if let Some(Json::Arr(one)) = s.get("oneOf") {
            let mut failed = Vec::new();
            let mut matched: Option<usize> = None;
            for (i, sub) in one.iter().enumerate() {
                match (self.sub(sub, v, loc, sc, &mut out.ue), matched) {
                    (Some(e), None) => failed.push(e),
                    (Some(_), Some(_)) => {}
                    (None, None) => matched = Some(i),
                    (None, Some(first)) => {
                        out.errs.push(VErr::msg(
                            loc,
                            format!(
                                "'oneOf' failed, subschemas {}, {} matched",
                                fmt_int(first as i64),
                                fmt_int(i as i64)
                            ),
                        ));
                        break;
                    }
                }
            }
            if matched.is_none() && !one.is_empty() {
                out.errs.push(VErr::nest(
                    loc,
                    "'oneOf' failed, none matched".into(),
                    failed,
                ));
            }
        }
        if self.draft >= 7 {
            if let Some(condition) = s.get("if") {
                let branch = if self.sub(condition, v, loc, sc, &mut out.ue).is_none() {
                    "then"
                } else {
                    "else"
                };
                if let Some(sub) = s.get(branch) {
                    out.errs.extend(self.sub(sub, v, loc, sc, &mut out.ue));
                }
            }
        }
    }
}

// --- exact decimals -------------------------------------------------------------------------

mod dec {
    use std::cmp::Ordering;

    use num_bigint_dig::BigUint;

    /// An exact decimal: `digits × 10^exp` (what Go's `big.Rat` holds for JSON numbers).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Dec {
        neg: bool,
        /// ASCII digits without leading or trailing zeros; empty for zero.
        digits: Vec<u8>,
        exp: i64,
    }

    impl Dec {
        /// Parses a JSON number literal (or Rust's `{:e}` output).
        pub fn parse(lit: &str) -> Option<Dec> {
            let (neg, rest) = match lit.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, lit.strip_prefix('+').unwrap_or(lit)),
            };
            let (mant, exp) = match rest.find(['e', 'E']) {
                Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
                None => (rest, 0),
            };
            let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
            if int.is_empty() && frac.is_empty() {
                return None;
            }
            if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
            let mut exp = exp.checked_sub(frac.len() as i64)?;
            let lead = digits.iter().take_while(|&&d| d == b'0').count();
            digits.drain(..lead);
            while digits.last() == Some(&b'0') {
                digits.pop();
                exp = exp.checked_add(1)?;
            }
            if digits.is_empty() {
                return Some(Dec {
                    neg: false,
                    digits,
                    exp: 0,
                });
            }
            Some(Dec { neg, digits, exp })
        }

        pub fn from_i64(i: i64) -> Dec {
            Dec::parse(&i.to_string()).unwrap_or(Dec {
                neg: false,
                digits: Vec::new(),
                exp: 0,
            })
        }

        /// The value Go's `big.Rat` gets from `fmt.Sprint` of a float64 (its shortest form).
        pub fn from_f64(f: f64) -> Option<Dec> {
            if !f.is_finite() {
                return None;
            }
            Dec::parse(&format!("{f:e}"))
        }

        pub fn is_zero(&self) -> bool {
            self.digits.is_empty()
        }

        pub fn is_integer(&self) -> bool {
            self.exp >= 0
        }

        pub fn to_f64(&self) -> f64 {
            if self.is_zero() {
                return 0.0;
            }
            let s = format!(
                "{}{}e{}",
                if self.neg { "-" } else { "" },
                String::from_utf8_lossy(&self.digits),
                self.exp
            );
            s.parse().unwrap_or(f64::NAN)
        }

        pub fn to_i64(&self) -> Option<i64> {
            if !self.is_integer() {
                return None;
            }
            if self.is_zero() {
                return Some(0);
            }
            let exp = usize::try_from(self.exp).ok().filter(|&e| e <= 20)?;
            let mut s = String::from_utf8_lossy(&self.digits).into_owned();
            s.extend(std::iter::repeat_n('0', exp));
            let v: i64 = s.parse().ok()?;
            Some(if self.neg { -v } else { v })
        }

        /// Order of magnitude: the value lies in [10^(mag-1), 10^mag).
        fn mag(&self) -> i64 {
            self.digits.len() as i64 + self.exp
        }

        fn cmp_abs(&self, other: &Dec) -> Ordering {
            match (self.is_zero(), other.is_zero()) {
                (true, true) => return Ordering::Equal,
                (true, false) => return Ordering::Less,
                (false, true) => return Ordering::Greater,
                _ => {}
            }
            self.mag().cmp(&other.mag()).then_with(|| {
                let n = self.digits.len().max(other.digits.len());
                let at = |d: &[u8], i: usize| d.get(i).copied().unwrap_or(b'0');
                (0..n)
                    .map(|i| at(&self.digits, i).cmp(&at(&other.digits, i)))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
        }

        /// Whether `self / m` is an integer (`m` not zero).
        pub fn is_multiple_of(&self, m: &Dec) -> bool {
            if self.is_zero() {
                return true;
            }
            let big = |d: &[u8]| BigUint::parse_bytes(d, 10).unwrap_or_default();
            let (a, b) = (big(&self.digits), big(&m.digits));
            let zero = BigUint::default();
            if b == zero {
                return false;
            }
            let k = self.exp - m.exp;
            if k >= 0 {
                // a × 10^k ≡ 0 (mod b)
                let ten = BigUint::from(10u32);
                let p = ten.modpow(&BigUint::from(k as u64), &b);
                (a * p) % b == zero
            } else {
                let shift = k.unsigned_abs();
                if shift > self.digits.len() as u64 + 1 {
                    return false;
                }
                let mut divisor = b;
                for _ in 0..shift {
                    divisor *= 10u32;
                }
                a % divisor == zero
            }
        }
    }

    impl PartialOrd for Dec {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for Dec {
        fn cmp(&self, other: &Self) -> Ordering {
            match (self.neg, other.neg) {
                (false, true) => Ordering::Greater,
                (true, false) => Ordering::Less,
                (false, false) => self.cmp_abs(other),
                (true, true) => other.cmp_abs(self),
            }
        }
    }
}

// --- Go's printing --------------------------------------------------------------------------

mod text {
    /// Go's `unicode.IsPrint`, closely enough for messages.
    fn is_print(c: char) -> bool {
        let u = c as u32;
        if u < 0x80 {
            return (0x20..0x7f).contains(&u);
        }
        !(c.is_control()
            || matches!(
                u,
                0xa0 | 0xad
                    | 0x600..=0x605
                    | 0x61c
                    | 0x6dd
                    | 0x70f
                    | 0x1680
                    | 0x180e
                    | 0x2000..=0x200f
                    | 0x2028..=0x202f
                    | 0x205f..=0x2064
                    | 0x2066..=0x206f
                    | 0x3000
                    | 0xd800..=0xf8ff
                    | 0xfeff
                    | 0xfff9..=0xfffb
                    | 0xfffe
                    | 0xffff
                    | 0xe0001
                    | 0xe0020..=0xe007f
                    | 0xf0000..
            ))
    }

    fn escape_rune(out: &mut String, c: char, quote: char) {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_print(c) => out.push(c),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }

    /// Go's `strconv.Quote` of bytes (invalid UTF-8 as `\x..`).
    pub fn go_quote_bytes(b: &[u8]) -> String {
        let mut out = String::from("\"");
        for chunk in b.utf8_chunks() {
            for c in chunk.valid().chars() {
                escape_rune(&mut out, c, '"');
            }
            for byte in chunk.invalid() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        }
        out.push('"');
        out
    }

    /// Go's `strconv.Quote`.
    pub fn go_quote(s: &str) -> String {
        go_quote_bytes(s.as_bytes())
    }

    /// Go's `%q` of a rune: `'x'`.
    pub fn go_quote_rune(c: char) -> String {
        let mut out = String::from("'");
        escape_rune(&mut out, c, '\'');
        out.push('\'');
        out
    }

    /// The validator's `quote`: Go's quoting in single quotes (`'a\'b'`).
    pub fn js_quote(s: &str) -> String {
        let q = go_quote(s).replace("\\\"", "\"").replace('\'', "\\'");
        let inner = q
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or(&q);
        format!("'{inner}'")
    }

    /// Go's `time` package quoting (non-ASCII and control bytes as `\x..`).
    pub fn time_quote(b: &[u8]) -> String {
        let mut out = String::from("\"");
        for chunk in b.utf8_chunks() {
            for c in chunk.valid().chars() {
                if (c as u32) >= 0x80 || c < ' ' {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                } else {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            for byte in chunk.invalid() {
                out.push_str(&format!("\\x{byte:02x}"));
            }
        }
        out.push('"');
        out
    }

    fn group(int: &str) -> String {
        let mut out = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    /// `%d` as Helm's message printer (`golang.org/x/text/message`, English) prints it: `1,234`.
    pub fn fmt_int(i: i64) -> String {
        let digits = i.unsigned_abs().to_string();
        format!("{}{}", if i < 0 { "-" } else { "" }, group(&digits))
    }

    const SUPERSCRIPTS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];

    /// `%v` of a float64 as Helm's message printer prints it: Go's shortest `%g` form, with
    /// digit grouping (`12,345.5`) and `×10ⁿⁿ` exponents (`1×10⁰⁶`, `1.5×10⁻⁰⁷`).
    pub fn fmt_num(f: f64) -> String {
        if f.is_nan() {
            return "NaN".into();
        }
        if f.is_infinite() {
            return if f > 0.0 { "∞".into() } else { "-∞".into() };
        }
        if f == 0.0 {
            return "0".into();
        }
        let s = format!("{:e}", f.abs());
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_end_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        let sign = if f < 0.0 { "-" } else { "" };
        if !(-4..6).contains(&exp) {
            let mut out = format!("{sign}{}", &digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push_str("×10");
            if exp < 0 {
                out.push('⁻');
            }
            let e = format!("{:02}", exp.unsigned_abs());
            out.extend(e.bytes().map(|b| SUPERSCRIPTS[usize::from(b - b'0')]));
            return out;
        }
        let (int, frac) = if exp >= 0 {
            let n = exp as usize + 1;
            if digits.len() <= n {
                (format!("{digits:0<n$}"), String::new())
            } else {
                (digits[..n].to_string(), digits[n..].to_string())
            }
        } else {
            let zeros = "0".repeat(exp.unsigned_abs() as usize - 1);
            ("0".to_string(), format!("{zeros}{digits}"))
        };
        let mut out = format!("{sign}{}", group(&int));
        if !frac.is_empty() {
            out.push('.');
            out.push_str(&frac);
        }
        out
    }
}

// --- JSON with numbers as written -----------------------------------------------------------

mod json {
    use std::collections::BTreeMap;

    use super::dec::Dec;
    use super::text::go_quote;

    /// A JSON number as written in the schema (Go's `json.Number`).
    #[derive(Debug, Clone)]
    pub struct Num {
        pub lit: String,
    }

    impl Num {
        pub fn dec(&self) -> Option<Dec> {
            Dec::parse(&self.lit)
        }
    }

    /// A JSON document; objects keep the last of duplicate keys, as Go does.
    #[derive(Debug, Clone)]
    pub enum Json {
        Null,
        Bool(bool),
        Num(Num),
        Str(String),
        Arr(Vec<Json>),
        Obj(BTreeMap<String, Json>),
    }

    impl Json {
        pub fn as_str(&self) -> Option<&str> {
            match self {
                Json::Str(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_num(&self) -> Option<&Num> {
            match self {
                Json::Num(n) => Some(n),
                _ => None,
            }
        }
    }

    /// Go's `encoding/json` nesting limit.
    const MAX_NESTING: usize = 10000;

    enum Frame {
        Arr(Vec<Json>),
        Obj(BTreeMap<String, Json>, String),
    }

    struct Parser<'s> {
        b: &'s [u8],
        i: usize,
    }

    const UNEXPECTED_EOF: &str = "unexpected EOF";

    /// Go's `quoteChar` (a byte shown as its Latin-1 rune).
    fn quote_char(c: u8) -> String {
        match c {
            b'\'' => "'\\''".into(),
            b'"' => "'\"'".into(),
            c => {
                let q = go_quote(&char::from(c).to_string());
                format!("'{}'", &q[1..q.len() - 1])
            }
        }
    }

    fn invalid(c: u8, context: &str) -> String {
        format!("invalid character {} {context}", quote_char(c))
    }

    impl Parser<'_> {
        fn skip_ws(&mut self) {
            while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            }
        }

        fn peek(&mut self) -> Result<u8, String> {
            self.skip_ws();
            self.b
                .get(self.i)
                .copied()
                .ok_or_else(|| UNEXPECTED_EOF.to_string())
        }

        fn next_byte(&mut self) -> Result<u8, String> {
            let c = self
                .b
                .get(self.i)
                .copied()
                .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
            self.i += 1;
            Ok(c)
        }

        /// An object key: a string, after `{` or `,`.
        fn key(&mut self) -> Result<String, String> {
            let c = self.peek()?;
            if c != b'"' {
                return Err(invalid(c, "looking for beginning of object key string"));
            }
            let k = self.string()?;
            let c = self.peek()?;
            if c != b':' {
                return Err(invalid(c, "after object key"));
            }
            self.i += 1;
            Ok(k)
        }

        fn string(&mut self) -> Result<String, String> {
            self.i += 1; // the opening quote
            let mut out: Vec<u8> = Vec::new();
            loop {
                let c = self.next_byte()?;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let e = self.next_byte()?;
                        match e {
                            b'"' | b'\\' | b'/' => out.push(e),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'u' => {
                                let mut r = self.hex4()?;
                                if (0xd800..0xdc00).contains(&r)
                                    && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                                {
                                    let save = self.i;
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if (0xdc00..0xe000).contains(&lo) {
                                        r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
                                    } else {
                                        self.i = save;
                                    }
                                }
                                let ch = char::from_u32(r).unwrap_or('\u{fffd}');
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            }
                            e => return Err(invalid(e, "in string escape code")),
                        }
                    }
                    c if c < 0x20 => return Err(invalid(c, "in string literal")),
                    c => out.push(c),
                }
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }

        fn hex4(&mut self) -> Result<u32, String> {
            let mut r = 0u32;
            for _ in 0..4 {
                let c = self.next_byte()?;
                let d = (c as char)
                    .to_digit(16)
                    .ok_or_else(|| invalid(c, "in \\u hexadecimal character escape"))?;
                r = r * 16 + d;
            }
            Ok(r)
        }

        fn number(&mut self) -> Result<String, String> {
            let start = self.i;
            let at_end = |p: &Self| p.i >= p.b.len();
            if self.b[self.i] == b'-' {
                self.i += 1;
                let c = self
                    .b
                    .get(self.i)
                    .copied()
                    .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
                if !c.is_ascii_digit() {
                    return Err(invalid(c, "in numeric literal"));
                }
            }
            if self.b[self.i] == b'0' {
                self.i += 1;
            } else {
                while !at_end(self) && self.b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
            }
            if !at_end(self) && self.b[self.i] == b'.' {
                self.i += 1;
                let c = self
                    .b
                    .get(self.i)
                    .copied()
                    .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
                if !c.is_ascii_digit() {
                    return Err(invalid(c, "after decimal point in numeric literal"));
                }
                while !at_end(self) && self.b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
            }
            if !at_end(self) && matches!(self.b[self.i], b'e' | b'E') {
                self.i += 1;
                let mut c = self
                    .b
                    .get(self.i)
                    .copied()
                    .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
                if c == b'+' || c == b'-' {
                    self.i += 1;
                    c = self
                        .b
                        .get(self.i)
                        .copied()
                        .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
                }
                if !c.is_ascii_digit() {
                    return Err(invalid(c, "in exponent of numeric literal"));
                }
                while !at_end(self) && self.b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
            }
            Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
        }

        fn literal(&mut self, word: &str) -> Result<(), String> {
            for (k, want) in word.bytes().enumerate() {
                let c = self.next_byte()?;
                if k > 0 && c != want {
                    return Err(invalid(
                        c,
                        &format!("in literal {word} (expecting {})", quote_char(want)),
                    ));
                }
            }
            Ok(())
        }
    }

    /// Parses a schema as Helm's validator reads it (`json.Decoder` with `UseNumber`), with
    /// Go's error messages.
    pub fn parse(src: &str) -> Result<Json, String> {
        let mut p = Parser {
            b: src.as_bytes(),
            i: 0,
        };
        p.skip_ws();
        if p.i >= p.b.len() {
            return Err("EOF".into());
        }
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            // A value starts here.
            let c = p.peek()?;
            let mut v = match c {
                b'{' | b'[' if stack.len() >= MAX_NESTING => {
                    return Err(invalid(c, "exceeded max depth"));
                }
                b'{' => {
                    p.i += 1;
                    if p.peek()? == b'}' {
                        p.i += 1;
                        Json::Obj(BTreeMap::new())
                    } else {
                        let k = p.key()?;
                        stack.push(Frame::Obj(BTreeMap::new(), k));
                        continue;
                    }
                }
                b'[' => {
                    p.i += 1;
                    if p.peek()? == b']' {
                        p.i += 1;
                        Json::Arr(Vec::new())
                    } else {
                        stack.push(Frame::Arr(Vec::new()));
                        continue;
                    }
                }
                b'"' => Json::Str(p.string()?),
                b'-' | b'0'..=b'9' => Json::Num(Num { lit: p.number()? }),
                b't' => {
                    p.literal("true")?;
                    Json::Bool(true)
                }
                b'f' => {
                    p.literal("false")?;
                    Json::Bool(false)
                }
                b'n' => {
                    p.literal("null")?;
                    Json::Null
                }
                c => return Err(invalid(c, "looking for beginning of value")),
            };
            // A value ended: hand it to its container.
            loop {
                match stack.last_mut() {
                    None => {
                        p.skip_ws();
                        if p.i < p.b.len() {
                            return Err("invalid character after top-level value".into());
                        }
                        return Ok(v);
                    }
                    Some(Frame::Arr(items)) => {
                        items.push(v);
                        match p.peek()? {
                            b',' => {
                                p.i += 1;
                                break;
                            }
                            b']' => {
                                p.i += 1;
                                let Some(Frame::Arr(items)) = stack.pop() else {
                                    return Err(UNEXPECTED_EOF.into());
                                };
                                v = Json::Arr(items);
                            }
                            c => return Err(invalid(c, "after array element")),
                        }
                    }
                    Some(Frame::Obj(map, key)) => {
                        map.insert(std::mem::take(key), v);
                        match p.peek()? {
                            b',' => {
                                p.i += 1;
                                let k = p.key()?;
                                if let Some(Frame::Obj(_, key)) = stack.last_mut() {
                                    *key = k;
                                }
                                break;
                            }
                            b'}' => {
                                p.i += 1;
                                let Some(Frame::Obj(map, _)) = stack.pop() else {
                                    return Err(UNEXPECTED_EOF.into());
                                };
                                v = Json::Obj(map);
                            }
                            c => return Err(invalid(c, "after object key:value pair")),
                        }
                    }
                }
            }
        }
    }
}

// --- formats --------------------------------------------------------------------------------

/// The formats Helm's validator asserts (draft-04/06/07), ported with their error texts.
mod formats {
    use super::goregex;
    use super::text::{go_quote_bytes, go_quote_rune, time_quote};

    /// Checks `s` against the format `name`: `None` for formats Helm's validator does not know.
    pub fn check(name: &str, s: &str) -> Option<Result<(), String>> {
        let b = s.as_bytes();
        Some(match name {
            "json-pointer" => json_pointer(b),
            "relative-json-pointer" => relative_json_pointer(b),
            "uuid" => uuid(b),
            "duration" => duration(b),
            "period" => period(b),
            "ipv4" => ipv4(b),
            "ipv6" => ipv6(b),
            "hostname" => hostname(b),
            "email" => email(b),
            "date" => date(b),
            "time" => time(b),
            "date-time" => date_time(b),
            "uri" | "iri" => uri(b),
            "uri-reference" | "iri-reference" => uri_reference(b),
            "uri-template" => uri_template(b),
            "semver" => semver(b),
            "regex" => goregex::check(s),
            _ => return None,
        })
    }

    fn err<T>(msg: impl Into<String>) -> Result<T, String> {
        Err(msg.into())
    }

    fn split(b: &[u8], sep: u8) -> Vec<&[u8]> {
        b.split(|&c| c == sep).collect()
    }

    fn lossy(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn runes(b: &[u8]) -> impl Iterator<Item = char> + '_ {
        b.utf8_chunks().flat_map(|c| {
            c.valid()
                .chars()
                .chain(c.invalid().iter().map(|_| '\u{fffd}'))
        })
    }

    /// Go's `strconv.Atoi`.
    pub fn go_atoi(s: &[u8]) -> Result<i64, String> {
        let syntax = || {
            format!(
                "strconv.Atoi: parsing {}: invalid syntax",
                go_quote_bytes(s)
            )
        };
        let (neg, digits) = match s.first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(syntax());
        }
        let mut v: i64 = 0;
        for &d in digits {
            v = match v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(d - b'0')))
            {
                Some(v) => v,
                None if neg
                    && v.checked_mul(10)
                        .and_then(|v| v.checked_sub(i64::from(d - b'0')))
                        .is_some() =>
                {
                    // -9223372036854775808
                    return lossy(s).parse().map_err(|_| syntax());
                }
                None => {
                    return Err(format!(
                        "strconv.Atoi: parsing {}: value out of range",
                        go_quote_bytes(s)
                    ))
                }
            };
        }
        Ok(if neg { -v } else { v })
    }

    fn json_pointer(s: &[u8]) -> Result<(), String> {
        if s.is_empty() {
            return Ok(());
        }
        if s[0] != b'/' {
            return err("not starting with /");
        }
        for tok in split(&s[1..], b'/') {
            let mut escape = false;
            for c in runes(tok) {
                if escape {
                    escape = false;
                    if c != '0' && c != '1' {
                        return err("~ must be followed by 0 or 1");
                    }
                    continue;
                }
                if c == '~' {
                    escape = true;
                }
            }
            if escape {
                return err("~ must be followed by 0 or 1");
            }
        }
        Ok(())
    }

    fn relative_json_pointer(s: &[u8]) -> Result<(), String> {
        let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return err("must start with non-negative integer");
        }
        if digits > 1 && s[0] == b'0' {
            return err("starts with zero");
        }
        let rest = &s[digits..];
        if rest == b"#" {
            return Ok(());
        }
        json_pointer(rest)
    }

    fn uuid(s: &[u8]) -> Result<(), String> {
        let want = [8, 4, 4, 4, 12];
        let groups = split(s, b'-');
        if groups.len() != want.len() {
            return err(format!("must have {} elements", want.len()));
        }
        for (i, g) in groups.iter().enumerate() {
            if g.len() != want[i] {
                return err(format!(
                    "element {} must be {} characters long",
                    i + 1,
                    want[i]
                ));
            }
            if let Some(c) = runes(g).find(|c| !c.is_ascii_hexdigit()) {
                return err(format!("non-hex character {}", go_quote_rune(c)));
            }
        }
        Ok(())
    }

    fn duration(s: &[u8]) -> Result<(), String> {
        let Some(s) = s.strip_prefix(b"P") else {
            return err("must start with P");
        };
        if s.is_empty() {
            return err("nothing after P");
        }
        if let Some(w) = s.strip_suffix(b"W") {
            if w.is_empty() {
                return err("no number in week");
            }
            if !w.iter().all(u8::is_ascii_digit) {
                return err("invalid week");
            }
            return Ok(());
        }
        let all_units: [&[u8]; 2] = [b"YMD", b"HMS"];
        for (i, part) in split(s, b'T').into_iter().enumerate() {
            if i != 0 && part.is_empty() {
                return err("no time elements");
            }
            if i >= all_units.len() {
                return err("more than one T");
            }
            let mut units = all_units[i];
            let mut part = part;
            while !part.is_empty() {
                let digits = part.iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return err("missing number");
                }
                part = &part[digits..];
                let Some(&unit) = part.first() else {
                    return err("missing unit");
                };
                match units.iter().position(|&u| u == unit) {
                    Some(j) => units = &units[j + 1..],
                    None => {
                        let q = go_quote_rune(char::from(unit));
                        if all_units[i].contains(&unit) {
                            return err(format!("unit {q} out of order"));
                        }
                        return err(format!("invalid unit {q}"));
                    }
                }
                part = &part[1..];
            }
        }
        Ok(())
    }

    fn period(s: &[u8]) -> Result<(), String> {
        let Some(slash) = s.iter().position(|&c| c == b'/') else {
            return err("missing slash");
        };
        let (start, end) = (&s[..slash], &s[slash + 1..]);
        if start.starts_with(b"P") {
            duration(start).map_err(|e| format!("invalid start duration: {e}"))?;
            date_time(end).map_err(|e| format!("invalid end date-time: {e}"))?;
        } else {
            date_time(start).map_err(|e| format!("invalid start date-time: {e}"))?;
            if end.starts_with(b"P") {
                duration(end).map_err(|e| format!("invalid end duration: {e}"))?;
            } else {
                date_time(end).map_err(|e| format!("invalid end date-time: {e}"))?;
            }
        }
        Ok(())
    }

    fn ipv4(s: &[u8]) -> Result<(), String> {
        let groups = split(s, b'.');
        if groups.len() != 4 {
            return err("expected four decimals");
        }
        for g in groups {
            if g.len() > 1 && g[0] == b'0' {
                return err("leading zeros");
            }
            let n = go_atoi(g)?;
            if !(0..=255).contains(&n) {
                return err("decimal must be between 0 and 255");
            }
        }
        Ok(())
    }

    fn ipv6(s: &[u8]) -> Result<(), String> {
        if !s.contains(&b':') {
            return err("missing colon");
        }
        let addr = parse_addr(s)?;
        if addr.zone {
            return err("zone id is not a part of ipv6 address");
        }
        Ok(())
    }

    fn hostname(s: &[u8]) -> Result<(), String> {
        let s = s.strip_suffix(b".").unwrap_or(s);
        if s.len() > 253 {
            return err("more than 253 characters long");
        }
        for label in split(s, b'.') {
            if label.is_empty() || label.len() > 63 {
                return err("label must be 1 to 63 characters long");
            }
            if label.starts_with(b"-") {
                return err("label starts with hyphen");
            }
            if label.ends_with(b"-") {
                return err("label ends with hyphen");
            }
            if let Some(c) = runes(label).find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                return err(format!("invalid character {}", go_quote_rune(c)));
            }
        }
        Ok(())
    }

    fn email(s: &[u8]) -> Result<(), String> {
        if s.len() > 254 {
            return err("more than 255 characters long");
        }
        let Some(at) = s.iter().rposition(|&c| c == b'@') else {
            return err("missing @");
        };
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.len() > 64 {
            return err("local part more than 64 characters long");
        }
        if local.len() > 1 && local.starts_with(b"\"") {
            let inner = &local[1..local.len() - 1];
            if inner.contains(&b'\\') || inner.contains(&b'"') {
                return err("backslash and quote are not allowed within quoted local part");
            }
        } else {
            if local.starts_with(b".") {
                return err("starts with dot");
            }
            if local.ends_with(b".") {
                return err("ends with dot");
            }
            if local.windows(2).any(|w| w == b"..") {
                return err("consecutive dots");
            }
            let allowed = ".!#$%&'*+-/=?^_`{|}~";
            if let Some(c) =
                runes(local).find(|c| !(c.is_ascii_alphanumeric() || allowed.contains(*c)))
            {
                return err(format!("invalid character {}", go_quote_rune(c)));
            }
        }
        if domain.len() >= 2 && domain.starts_with(b"[") && domain.ends_with(b"]") {
            let inner = &domain[1..domain.len() - 1];
            if let Some(rem) = inner.strip_prefix(b"IPv6:") {
                return ipv6(rem).map_err(|e| format!("invalid ipv6 address: {e}"));
            }
            return ipv4(inner).map_err(|e| format!("invalid ipv4 address: {e}"));
        }
        hostname(domain).map_err(|e| format!("invalid domain: {e}"))
    }

    fn days_in(month: i64, year: i64) -> i64 {
        match month {
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// Go's `time.Parse("2006-01-02", s)`, errors only.
    fn date(value: &[u8]) -> Result<(), String> {
        let layout = "2006-01-02";
        let bad = |elem: &[u8], layout_elem: &str| {
            format!(
                "parsing time {} as {}: cannot parse {} as {}",
                time_quote(value),
                time_quote(layout.as_bytes()),
                time_quote(elem),
                time_quote(layout_elem.as_bytes())
            )
        };
        let range = |what: &str| format!("parsing time {}: {what} out of range", time_quote(value));
        let digit = |v: &[u8], i: usize| v.get(i).is_some_and(u8::is_ascii_digit);
        let mut v = value;
        if v.len() < 4 || !digit(v, 0) || !v[..4].iter().all(u8::is_ascii_digit) {
            return Err(bad(v, "2006"));
        }
        let year: i64 = v[..4].iter().fold(0, |a, d| a * 10 + i64::from(d - b'0'));
        v = &v[4..];
        let two = |v: &mut &[u8], sep_first: bool, elem: &str| -> Result<i64, String> {
            if sep_first {
                if v.first() != Some(&b'-') {
                    return Err(bad(v, "-"));
                }
                *v = &v[1..];
            }
            if !digit(v, 0) || !digit(v, 1) {
                return Err(bad(v, elem));
            }
            let n = i64::from(v[0] - b'0') * 10 + i64::from(v[1] - b'0');
            *v = &v[2..];
            Ok(n)
        };
        let month = two(&mut v, true, "01")?;
        if !(1..=12).contains(&month) {
            return Err(range("month"));
        }
        let day = two(&mut v, true, "02")?;
        if !v.is_empty() {
            return Err(format!(
                "parsing time {}: extra text: {}",
                time_quote(value),
                time_quote(v)
            ));
        }
        if day < 1 || day > days_in(month, year) {
            return Err(range("day"));
        }
        Ok(())
    }

    fn time(s: &[u8]) -> Result<(), String> {
        if s.len() < 9 {
            return err("less than 9 characters long");
        }
        if s[2] != b':' || s[5] != b':' {
            return err("missing colon in correct place");
        }
        let mut hms = Vec::new();
        for tok in s[..8].splitn(3, |&c| c == b':') {
            let Ok(i) = go_atoi(tok) else {
                return err("invalid hour/min/sec");
            };
            if i < 0 {
                return err("non-positive hour/min/sec");
            }
            hms.push(i);
        }
        if hms.len() != 3 {
            return err("missing hour/min/sec");
        }
        let (mut h, mut m, sec) = (hms[0], hms[1], hms[2]);
        if h > 23 || m > 59 || sec > 60 {
            return err("hour/min/sec out of range");
        }
        let mut rest = &s[8..];
        if let Some(frac) = rest.strip_prefix(b".") {
            let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return err("no digits in second fraction");
            }
            rest = &frac[digits..];
        }
        if rest != b"z" && rest != b"Z" {
            if rest.len() != 6 {
                return err("offset must be 6 characters long");
            }
            let sign = match rest[0] {
                b'+' => -1,
                b'-' => 1,
                _ => return err("offset must begin with plus/minus"),
            };
            let rest = &rest[1..];
            if rest[2] != b':' {
                return err("missing colon in offset in correct place");
            }
            let mut zhm = Vec::new();
            for tok in rest.splitn(2, |&c| c == b':') {
                let Ok(i) = go_atoi(tok) else {
                    return err("invalid hour/min in offset");
                };
                if i < 0 {
                    return err("non-positive hour/min in offset");
                }
                zhm.push(i);
            }
            let (zh, zm) = (zhm[0], zhm.get(1).copied().unwrap_or(0));
            if zh > 23 || zm > 59 {
                return err("hour/min in offset out of range");
            }
            let mut hm = (h * 60 + m) + sign * (zh * 60 + zm);
            if hm < 0 {
                hm += 24 * 60;
            }
            (h, m) = (hm / 60, hm % 60);
        }
        if sec >= 60 && (h != 23 || m != 59) {
            return err("invalid leap second");
        }
        Ok(())
    }

    fn date_time(s: &[u8]) -> Result<(), String> {
        if s.len() < 20 {
            return err("less than 20 characters long");
        }
        if s[10] != b't' && s[10] != b'T' {
            return err("11th character must be t or T");
        }
        date(&s[..10]).map_err(|e| format!("invalid date element: {e}"))?;
        time(&s[11..]).map_err(|e| format!("invalid time element: {e}"))
    }

    fn uri(s: &[u8]) -> Result<(), String> {
        let u = parse_url(s)?;
        if u.scheme.is_empty() {
            return err("relative url");
        }
        Ok(())
    }

    fn uri_reference(s: &[u8]) -> Result<(), String> {
        if s.contains(&b'\\') {
            return err("contains \\");
        }
        parse_url(s).map(|_| ())
    }

    fn uri_template(s: &[u8]) -> Result<(), String> {
        let u = parse_url(s)?;
        for tok in split(&u.raw_path, b'/') {
            let tok = unescape(tok, Mode::PathSegment)
                .map_err(|e| format!("percent decode failed: {e}"))?;
            let mut want = true;
            for c in runes(&tok) {
                let got = match c {
                    '{' => true,
                    '}' => false,
                    _ => continue,
                };
                if got != want {
                    return err("nested curly braces");
                }
                want = !want;
            }
            if !want {
                return err("no matching closing brace");
            }
        }
        Ok(())
    }

    fn semver(s: &[u8]) -> Result<(), String> {
        let mut s = s;
        if let Some(i) = s.iter().position(|&c| c == b'+') {
            let build = &s[i + 1..];
            if build.is_empty() {
                return err("build is empty");
            }
            for id in split(build, b'.') {
                if id.is_empty() {
                    return err("build identifier is empty");
                }
                if let Some(c) = runes(id).find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                    return err(format!(
                        "invalid character {} in build identifier",
                        go_quote_rune(c)
                    ));
                }
            }
            s = &s[..i];
        }
        if let Some(i) = s.iter().position(|&c| c == b'-') {
            for id in split(&s[i + 1..], b'.') {
                if id.is_empty() {
                    return err("pre-release identifier is empty");
                }
                if let Some(c) = runes(id).find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                    return err(format!(
                        "invalid character {} in pre-release identifier",
                        go_quote_rune(c)
                    ));
                }
                if id.iter().all(u8::is_ascii_digit) && id.len() > 1 && id[0] == b'0' {
                    return err("pre-release numeric identifier starts with zero");
                }
            }
            s = &s[..i];
        }
        let versions = split(s, b'.');
        if versions.len() != 3 {
            return err("versionCore must have 3 numbers separated by dot");
        }
        for (v, name) in versions.iter().zip(["major", "minor", "patch"]) {
            if v.is_empty() {
                return err(format!("{name} is empty"));
            }
            if v.len() > 1 && v[0] == b'0' {
                return err(format!("{name} starts with zero"));
            }
            if !v.iter().all(u8::is_ascii_digit) {
                return err(format!("{name} contains non-digit"));
            }
        }
        Ok(())
    }

    // --- net/netip ParseAddr ---

    pub struct Addr {
        is4: bool,
        zone: bool,
    }

    fn addr_error(input: &[u8], msg: &str, at: &[u8]) -> String {
        if at.is_empty() {
            format!("ParseAddr({}): {msg}", go_quote_bytes(input))
        } else {
            format!(
                "ParseAddr({}): {msg} (at {})",
                go_quote_bytes(input),
                go_quote_bytes(at)
            )
        }
    }

    /// Go's `netip.ParseAddr`.
    pub fn parse_addr(s: &[u8]) -> Result<Addr, String> {
        for &c in s {
            match c {
                b'.' => {
                    ipv4_fields(s, s)?;
                    return Ok(Addr {
                        is4: true,
                        zone: false,
                    });
                }
                b':' => return parse_ipv6(s),
                b'%' => return Err(addr_error(s, "missing IPv6 address", b"")),
                _ => {}
            }
        }
        Err(addr_error(s, "unable to parse IP", b""))
    }

    fn ipv4_fields(input: &[u8], s: &[u8]) -> Result<(), String> {
        let (mut val, mut pos, mut dig_len) = (0u32, 0, 0);
        for (i, &c) in s.iter().enumerate() {
            if c.is_ascii_digit() {
                if dig_len == 1 && val == 0 {
                    return Err(addr_error(
                        input,
                        "IPv4 field has octet with leading zero",
                        b"",
                    ));
                }
                val = val * 10 + u32::from(c - b'0');
                dig_len += 1;
                if val > 255 {
                    return Err(addr_error(input, "IPv4 field has value >255", b""));
                }
            } else if c == b'.' {
                if i == 0 || i == s.len() - 1 || s[i - 1] == b'.' {
                    return Err(addr_error(
                        input,
                        "IPv4 field must have at least one digit",
                        &s[i..],
                    ));
                }
                if pos == 3 {
                    return Err(addr_error(input, "IPv4 address too long", b""));
                }
                pos += 1;
                val = 0;
                dig_len = 0;
            } else {
                return Err(addr_error(input, "unexpected character", &s[i..]));
            }
        }
        if pos < 3 {
            return Err(addr_error(input, "IPv4 address too short", b""));
        }
        Ok(())
    }

    fn parse_ipv6(input: &[u8]) -> Result<Addr, String> {
        let mut s = input;
        let mut zone = false;
        if let Some(i) = s.iter().position(|&c| c == b'%') {
            if i + 1 == s.len() {
                return Err(addr_error(input, "zone must be a non-empty string", b""));
            }
            s = &s[..i];
            zone = true;
        }
        let zone_len = input.len() - s.len();
        let mut ellipsis: i32 = -1;
        if s.len() >= 2 && s[0] == b':' && s[1] == b':' {
            ellipsis = 0;
            s = &s[2..];
            if s.is_empty() {
                return Ok(Addr { is4: false, zone });
            }
        }
        let mut i: i32 = 0;
        while i < 16 {
            let mut off = 0;
            let mut acc: u32 = 0;
            while off < s.len() {
                let Some(d) = (s[off] as char).to_digit(16) else {
                    break;
                };
                acc = (acc << 4) + d;
                if off > 3 {
                    return Err(addr_error(
                        input,
                        "each group must have 4 or less digits",
                        s,
                    ));
                }
                if acc > 0xffff {
                    return Err(addr_error(input, "IPv6 field has value >=2^16", s));
                }
                off += 1;
            }
            if off == 0 {
                return Err(addr_error(
                    input,
                    "each colon-separated field must have at least one digit",
                    s,
                ));
            }
            if off < s.len() && s[off] == b'.' {
                if ellipsis < 0 && i != 12 {
                    return Err(addr_error(
                        input,
                        "embedded IPv4 address must replace the final 2 fields of the address",
                        s,
                    ));
                }
                if i + 4 > 16 {
                    return Err(addr_error(
                        input,
                        "too many hex fields to fit an embedded IPv4 at the end of the address",
                        s,
                    ));
                }
                let end = input.len() - zone_len;
                ipv4_fields(input, &input[end - s.len()..end])?;
                s = b"";
                i += 4;
                break;
            }
            i += 2;
            s = &s[off..];
            if s.is_empty() {
                break;
            }
            if s[0] != b':' {
                return Err(addr_error(input, "unexpected character, want colon", s));
            } else if s.len() == 1 {
                return Err(addr_error(
                    input,
                    "colon must be followed by more characters",
                    s,
                ));
            }
            s = &s[1..];
            if s[0] == b':' {
                if ellipsis >= 0 {
                    return Err(addr_error(input, "multiple :: in address", s));
                }
                ellipsis = i;
                s = &s[1..];
                if s.is_empty() {
                    break;
                }
            }
        }
        if !s.is_empty() {
            return Err(addr_error(input, "trailing garbage after address", s));
        }
        if i < 16 {
            if ellipsis < 0 {
                return Err(addr_error(input, "address string too short", b""));
            }
        } else if ellipsis >= 0 {
            return Err(addr_error(
                input,
                "the :: must expand to at least one field of zeros",
                b"",
            ));
        }
        Ok(Addr { is4: false, zone })
    }

    // --- net/url Parse ---

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Path,
        PathSegment,
        Host,
        Zone,
        UserPassword,
        Fragment,
    }

    /// Go's `shouldEscape`.
    fn should_escape(c: u8, mode: Mode) -> bool {
        if c.is_ascii_alphanumeric() {
            return false;
        }
        if matches!(mode, Mode::Host | Mode::Zone)
            && matches!(
                c,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'<'
                    | b'>'
                    | b'"'
            )
        {
            return false;
        }
        match c {
            b'-' | b'_' | b'.' | b'~' => return false,
            b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
                Mode::Path => return c == b'?',
                Mode::PathSegment => return matches!(c, b'/' | b';' | b',' | b'?'),
                Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
                Mode::Fragment => return false,
                Mode::Host | Mode::Zone => {}
            },
            _ => {}
        }
        if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
            return false;
        }
        true
    }

    fn unhex(c: u8) -> u8 {
        (c as char).to_digit(16).map_or(0, |d| d as u8)
    }

    /// Go's `unescape`.
    fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, String> {
        let escape_error = |e: &[u8]| format!("invalid URL escape {}", go_quote_bytes(e));
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'%' => {
                    if i + 2 >= s.len()
                        || !s[i + 1].is_ascii_hexdigit()
                        || !s[i + 2].is_ascii_hexdigit()
                    {
                        return Err(escape_error(&s[i..(i + 3).min(s.len())]));
                    }
                    let esc = &s[i..i + 3];
                    if mode == Mode::Host && unhex(s[i + 1]) < 8 && esc != b"%25" {
                        return Err(escape_error(esc));
                    }
                    if mode == Mode::Zone {
                        let v = unhex(s[i + 1]) << 4 | unhex(s[i + 2]);
                        if esc != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                            return Err(escape_error(esc));
                        }
                    }
                    i += 3;
                }
                c => {
                    if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode)
                    {
                        return Err(format!(
                            "invalid character {} in host name",
                            go_quote_bytes(&[c])
                        ));
                    }
                    i += 1;
                }
            }
        }
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            if s[i] == b'%' {
                out.push(unhex(s[i + 1]) << 4 | unhex(s[i + 2]));
                i += 3;
            } else {
                out.push(s[i]);
                i += 1;
            }
        }
        Ok(out)
    }

    fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len());
        for &c in s {
            if should_escape(c, mode) {
                out.extend_from_slice(format!("%{c:02X}").as_bytes());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// `url.PathEscape` of each `/`-separated token (how the validator prints pointers).
    pub fn escape_path_segments(ptr: &str) -> String {
        ptr.split('/')
            .map(|t| lossy(&escape(t.as_bytes(), Mode::PathSegment)))
            .collect::<Vec<_>>()
            .join("/")
    }

    pub struct Url {
        pub scheme: String,
        pub raw_path: Vec<u8>,
    }

    /// Go's `url.Parse`, with the validator's extra IPv6 host check.
    pub fn parse_url(raw: &[u8]) -> Result<Url, String> {
        let (u, frag) = match raw.iter().position(|&c| c == b'#') {
            Some(i) => (&raw[..i], &raw[i + 1..]),
            None => (raw, &b""[..]),
        };
        let (url, host) = parse(u).map_err(|e| format!("parse {}: {e}", go_quote_bytes(u)))?;
        if !frag.is_empty() {
            unescape(frag, Mode::Fragment)
                .map_err(|e| format!("parse {}: {e}", go_quote_bytes(raw)))?;
        }
        // The validator: an IPv6 host name must be bracketed and valid.
        let mut hostname: &[u8] = &host;
        if let Some(colon) = hostname.iter().rposition(|&c| c == b':') {
            if valid_optional_port(&hostname[colon..]) {
                hostname = &hostname[..colon];
            }
        }
        if hostname.len() >= 2 && hostname.starts_with(b"[") && hostname.ends_with(b"]") {
            hostname = &hostname[1..hostname.len() - 1];
        }
        if hostname.contains(&b':') {
            if !host.contains(&b'[') || !host.contains(&b']') {
                return err("ipv6 address not enclosed in brackets");
            }
            super::formats::ipv6(hostname).map_err(|e| format!("invalid ipv6 address: {e}"))?;
        }
        Ok(url)
    }

    fn valid_optional_port(port: &[u8]) -> bool {
        port.is_empty() || (port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit))
    }

    fn get_scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), String> {
        for (i, &c) in raw.iter().enumerate() {
            match c {
                c if c.is_ascii_alphabetic() => {}
                c if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') => {
                    if i == 0 {
                        return Ok((b"", raw));
                    }
                }
                b':' => {
                    if i == 0 {
                        return err("missing protocol scheme");
                    }
                    return Ok((&raw[..i], &raw[i + 1..]));
                }
                _ => return Ok((b"", raw)),
            }
        }
        Ok((b"", raw))
    }

    /// Go's `parse(rawURL, false)`: the URL and its (unescaped) host.
    fn parse(raw: &[u8]) -> Result<(Url, Vec<u8>), String> {
        if raw.iter().any(|&c| c < 0x20 || c == 0x7f) {
            return err("net/url: invalid control character in URL");
        }
        if raw == b"*" {
            return Ok((
                Url {
                    scheme: String::new(),
                    raw_path: Vec::new(),
                },
                Vec::new(),
            ));
        }
        let (scheme, rest) = get_scheme(raw)?;
        let scheme = lossy(scheme).to_ascii_lowercase();
        let mut rest = rest;
        let questions = rest.iter().filter(|&&c| c == b'?').count();
        if rest.ends_with(b"?") && questions == 1 {
            rest = &rest[..rest.len() - 1];
        } else if let Some(q) = rest.iter().position(|&c| c == b'?') {
            rest = &rest[..q];
        }
        if !rest.starts_with(b"/") {
            if !scheme.is_empty() {
                return Ok((
                    Url {
                        scheme,
                        raw_path: Vec::new(),
                    },
                    Vec::new(),
                ));
            }
            let segment = rest.split(|&c| c == b'/').next().unwrap_or(b"");
            if segment.contains(&b':') {
                return err("first path segment in URL cannot contain colon");
            }
        }
        let mut host = Vec::new();
        if (!scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
            let mut authority = &rest[2..];
            rest = b"";
            if let Some(i) = authority.iter().position(|&c| c == b'/') {
                rest = &authority[i..];
                authority = &authority[..i];
            }
            host = parse_authority(&scheme, authority)?;
        }
        let path = unescape(rest, Mode::Path)?;
        let raw_path = if escape(&path, Mode::Path) == rest {
            Vec::new()
        } else {
            rest.to_vec()
        };
        Ok((Url { scheme, raw_path }, host))
    }

    fn parse_authority(scheme: &str, authority: &[u8]) -> Result<Vec<u8>, String> {
        let at = authority.iter().rposition(|&c| c == b'@');
        let host = parse_host(scheme, at.map_or(authority, |i| &authority[i + 1..]))?;
        if let Some(i) = at {
            let userinfo = &authority[..i];
            let valid = userinfo.iter().all(|&c| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        b'-' | b'.'
                            | b'_'
                            | b':'
                            | b'~'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                            | b'%'
                            | b'@'
                    )
                    || c >= 0x80
            });
            if !valid {
                return err("net/url: invalid userinfo");
            }
            match userinfo.iter().position(|&c| c == b':') {
                None => {
                    unescape(userinfo, Mode::UserPassword)?;
                }
                Some(k) => {
                    unescape(&userinfo[..k], Mode::UserPassword)?;
                    unescape(&userinfo[k + 1..], Mode::UserPassword)?;
                }
            }
        }
        Ok(host)
    }

    fn parse_host(scheme: &str, host: &[u8]) -> Result<Vec<u8>, String> {
        match host.iter().rposition(|&c| c == b'[') {
            Some(open) if open > 0 => err("invalid IP-literal"),
            Some(_) => {
                let Some(close) = host.iter().rposition(|&c| c == b']') else {
                    return err("missing ']' in host");
                };
                let colon_port = &host[close + 1..];
                if !valid_optional_port(colon_port) {
                    return err(format!(
                        "invalid port {} after host",
                        go_quote_bytes(colon_port)
                    ));
                }
                let port = unescape(colon_port, Mode::Host)?;
                let name = &host[1..close];
                let unescaped = match name.windows(3).position(|w| w == b"%25") {
                    Some(z) => {
                        let mut h = unescape(&name[..z], Mode::Host)?;
                        h.extend(unescape(&name[z..], Mode::Zone)?);
                        h
                    }
                    None => unescape(name, Mode::Host)?,
                };
                let addr = parse_addr(&unescaped).map_err(|e| format!("invalid host: {e}"))?;
                if addr.is4 {
                    return err("invalid IP-literal");
                }
                let mut out = b"[".to_vec();
                out.extend(unescaped);
                out.push(b']');
                out.extend(port);
                Ok(out)
            }
            None => {
                if let Some(first) = host.iter().position(|&c| c == b':') {
                    let last = host.iter().rposition(|&c| c == b':').unwrap_or(first);
                    let i = if last != first && scheme != "http" && scheme != "https" {
                        last
                    } else {
                        first
                    };
                    let colon_port = &host[i..];
                    if !valid_optional_port(colon_port) {
                        return err(format!(
                            "invalid port {} after host",
                            go_quote_bytes(colon_port)
                        ));
                    }
                }
                unescape(host, Mode::Host)
            }
        }
    }
}

// --- Go regular expressions -----------------------------------------------------------------

/// Go's `regexp/syntax` parser, for its errors (the `regex` format), and the translation of a
/// Go pattern to the `regex` crate's syntax (for `pattern` and `patternProperties`).
mod goregex {
    const MAX_REPEAT: i64 = 1000;
    const MAX_NESTING: usize = 1000;

    enum Node {
        Leaf,
        Repeat { max: i64, min: i64, sub: Box<Node> },
        Multi(Vec<Node>),
    }

    enum Item {
        Node(Node),
        LeftParen,
        VerticalBar,
    }

    fn error(code: &str, expr: &str) -> String {
        format!("error parsing regexp: {code}: `{expr}`")
    }

    const MISSING_PAREN: &str = "missing closing )";
    const UNEXPECTED_PAREN: &str = "unexpected )";
    const MISSING_BRACKET: &str = "missing closing ]";
    const INVALID_ESCAPE: &str = "invalid escape sequence";
    const INVALID_RANGE: &str = "invalid character class range";
    const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
    const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
    const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
    const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
    const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
    const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
    const NESTING_DEPTH: &str = "expression nests too deeply";

    const POSIX_CLASSES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];

    fn repeat_is_valid(re: &Node, n: i64) -> bool {
        let mut n = n;
        match re {
            Node::Repeat { max, min, sub } => {
                let mut m = *max;
                if m == 0 {
                    return true;
                }
                if m < 0 {
                    m = *min;
                }
                if m > n {
                    return false;
                }
                if m > 0 {
                    n /= m;
                }
                repeat_is_valid(sub, n)
            }
            Node::Multi(subs) => subs.iter().all(|s| repeat_is_valid(s, n)),
            Node::Leaf => true,
        }
    }

    struct Parser<'s> {
        s: &'s str,
        stack: Vec<Item>,
        depth: usize,
    }

    fn char_at(s: &str, i: usize) -> Option<char> {
        s.get(i..).and_then(|t| t.chars().next())
    }

    impl Parser<'_> {
        fn push(&mut self, n: Node) {
            self.stack.push(Item::Node(n));
        }

        /// Pops the nodes above the topmost `(` or `|` into one.
        fn collapse(&mut self) {
            let mut subs = Vec::new();
            while let Some(Item::Node(_)) = self.stack.last() {
                if let Some(Item::Node(n)) = self.stack.pop() {
                    subs.push(n);
                }
            }
            self.push(Node::Multi(subs));
        }

        fn swap_vertical_bar(&mut self) -> bool {
            let n = self.stack.len();
            if n >= 2 && matches!(self.stack[n - 2], Item::VerticalBar) {
                self.stack.swap(n - 2, n - 1);
                return true;
            }
            false
        }

        fn right_paren(&mut self) -> Result<(), String> {
            self.collapse();
            if self.swap_vertical_bar() {
                self.stack.pop();
            }
            self.collapse();
            let n = self.stack.len();
            if n < 2 {
                return Err(error(UNEXPECTED_PAREN, self.s));
            }
            let re1 = self.stack.pop();
            let re2 = self.stack.pop();
            match (re1, re2) {
                (Some(Item::Node(node)), Some(Item::LeftParen)) => {
                    self.depth = self.depth.saturating_sub(1);
                    self.push(Node::Multi(vec![node]));
                    Ok(())
                }
                _ => Err(error(UNEXPECTED_PAREN, self.s)),
            }
        }

        fn left_paren(&mut self) -> Result<(), String> {
            self.depth += 1;
            if self.depth > MAX_NESTING {
                return Err(error(NESTING_DEPTH, self.s));
            }
            self.stack.push(Item::LeftParen);
            Ok(())
        }

        /// Applies a repetition operator to the top of the stack; returns where parsing goes on.
        fn repeat(
            &mut self,
            min: i64,
            max: i64,
            counted: bool,
            before: usize,
            after: usize,
            last_repeat: Option<usize>,
        ) -> Result<usize, String> {
            let s = self.s;
            let mut after = after;
            if s.as_bytes().get(after) == Some(&b'?') {
                after += 1;
            }
            if let Some(last) = last_repeat {
                return Err(error(INVALID_REPEAT_OP, &s[last..after]));
            }
            let Some(Item::Node(_)) = self.stack.last() else {
                return Err(error(MISSING_REPEAT_ARGUMENT, &s[before..after]));
            };
            let Some(Item::Node(sub)) = self.stack.pop() else {
                return Err(error(MISSING_REPEAT_ARGUMENT, &s[before..after]));
            };
            let re = Node::Repeat {
                max,
                min,
                sub: Box::new(sub),
            };
            if counted && (min >= 2 || max >= 2) && !repeat_is_valid(&re, MAX_REPEAT) {
                return Err(error(INVALID_REPEAT_SIZE, &s[before..after]));
            }
            self.push(re);
            Ok(after)
        }

        /// `(?flags)`, `(?flags:`, `(?P<name>` and `(?<name>`.
        fn perl_flags(&mut self, pos: usize) -> Result<usize, String> {
            let t = &self.s[pos..];
            let b = t.as_bytes();
            let starts_with_p = b.len() > 4 && b[2] == b'P' && b[3] == b'<';
            let starts_with_name = b.len() > 3 && b[2] == b'<';
            if starts_with_p || starts_with_name {
                let start = if starts_with_p { 4 } else { 3 };
                let Some(end) = t.find('>') else {
                    return Err(error(INVALID_NAMED_CAPTURE, t));
                };
                let name = &t[start..end];
                if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                    return Err(error(INVALID_NAMED_CAPTURE, &t[..=end]));
                }
                self.left_paren()?;
                return Ok(pos + end + 1);
            }
            let mut i = 2;
            let mut negated = false;
            let mut saw_flag = false;
            while let Some(c) = char_at(t, i) {
                i += c.len_utf8();
                match c {
                    'i' | 'm' | 's' | 'U' => saw_flag = true,
                    '-' => {
                        if negated {
                            break;
                        }
                        negated = true;
                        saw_flag = false;
                    }
                    ':' | ')' => {
                        if negated && !saw_flag {
                            break;
                        }
                        if c == ':' {
                            self.left_paren()?;
                        }
                        return Ok(pos + i);
                    }
                    _ => break,
                }
            }
            Err(error(INVALID_PERL_OP, &t[..i]))
        }

        /// An escape (`\n`, `\x41`, `\.`): where it ends.
        fn escape(&self, pos: usize) -> Result<usize, String> {
            let s = self.s;
            let mut t = pos + 1;
            let Some(c) = char_at(s, t) else {
                return Err(error(TRAILING_BACKSLASH, ""));
            };
            t += c.len_utf8();
            let octal = |i: usize| {
                s.as_bytes()
                    .get(i)
                    .is_some_and(|b| (b'0'..=b'7').contains(b))
            };
            let hex = |c: Option<char>| c.and_then(|c| c.to_digit(16));
            match c {
                '1'..='7' if octal(t) => {
                    for _ in 1..3 {
                        if !octal(t) {
                            break;
                        }
                        t += 1;
                    }
                    return Ok(t);
                }
                '0' => {
                    for _ in 1..3 {
                        if !octal(t) {
                            break;
                        }
                        t += 1;
                    }
                    return Ok(t);
                }
                'x' => {
                    if let Some(c) = char_at(s, t) {
                        t += c.len_utf8();
                        if c == '{' {
                            let mut nhex = 0;
                            let mut r: u32 = 0;
                            loop {
                                let Some(c) = char_at(s, t) else {
                                    return Err(error(INVALID_ESCAPE, &s[pos..t]));
                                };
                                t += c.len_utf8();
                                if c == '}' {
                                    break;
                                }
                                let Some(v) = hex(Some(c)) else {
                                    return Err(error(INVALID_ESCAPE, &s[pos..t]));
                                };
                                r = r.saturating_mul(16).saturating_add(v);
                                if r > 0x10ffff {
                                    return Err(error(INVALID_ESCAPE, &s[pos..t]));
                                }
                                nhex += 1;
                            }
                            if nhex == 0 {
                                return Err(error(INVALID_ESCAPE, &s[pos..t]));
                            }
                            return Ok(t);
                        }
                        let x = hex(Some(c));
                        let c2 = char_at(s, t);
                        if let Some(c2) = c2 {
                            t += c2.len_utf8();
                        }
                        if x.is_some() && hex(c2).is_some() {
                            return Ok(t);
                        }
                    }
                }
                'a' | 'f' | 'n' | 'r' | 't' | 'v' => return Ok(t),
                c if c.is_ascii() && !c.is_ascii_alphanumeric() => return Ok(t),
                _ => {}
            }
            Err(error(INVALID_ESCAPE, &s[pos..t]))
        }

        /// `\pN`, `\p{Greek}`, `\PN`: `None` when `pos` is not at one.
        fn unicode_class(&self, pos: usize) -> Result<Option<usize>, String> {
            let s = self.s;
            let b = s.as_bytes();
            if b.len() < pos + 2 || b[pos] != b'\\' || (b[pos + 1] != b'p' && b[pos + 1] != b'P') {
                return Ok(None);
            }
            let t = pos + 2;
            let (seq_end, name) = match char_at(s, t) {
                Some('{') => {
                    let Some(end) = s[pos..].find('}') else {
                        return Err(error(INVALID_RANGE, &s[pos..]));
                    };
                    (pos + end + 1, &s[pos + 3..pos + end])
                }
                Some(c) => (t + c.len_utf8(), &s[t..t + c.len_utf8()]),
                None => (t, ""),
            };
            let name = name.strip_prefix('^').unwrap_or(name);
            let known = !name.is_empty()
                && (name == "Any"
                    || name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && regex::Regex::new(&format!("\\p{{{name}}}")).is_ok());
            if !known {
                return Err(error(INVALID_RANGE, &s[pos..seq_end]));
            }
            Ok(Some(seq_end))
        }

        fn perl_class(&self, pos: usize) -> Option<usize> {
            let b = self.s.as_bytes();
            (b.get(pos) == Some(&b'\\') && b.get(pos + 1).is_some_and(|c| b"dDsSwW".contains(c)))
                .then_some(pos + 2)
        }

        /// A bracketed class: where it ends.
        fn class(&self, pos: usize) -> Result<usize, String> {
            let s = self.s;
            let whole = &s[pos..];
            let mut t = pos + 1;
            if s.as_bytes().get(t) == Some(&b'^') {
                t += 1;
            }
            let mut first = true;
            while first || s.as_bytes().get(t) != Some(&b']') {
                first = false;
                let rest = &s[t..];
                if rest.len() > 2 && rest.starts_with("[:") {
                    if let Some(i) = rest[2..].find(":]") {
                        let name = &rest[..i + 4];
                        let bare = &rest[2..i + 2];
                        let bare = bare.strip_prefix('^').unwrap_or(bare);
                        if !POSIX_CLASSES.contains(&bare) {
                            return Err(error(INVALID_RANGE, name));
                        }
                        t += name.len();
                        continue;
                    }
                }
                if let Some(nt) = self.unicode_class(t)? {
                    t = nt;
                    continue;
                }
                if let Some(nt) = self.perl_class(t) {
                    t = nt;
                    continue;
                }
                let rng = t;
                let (lo, nt) = self.class_char(t, whole)?;
                t = nt;
                let b = s.as_bytes();
                if b.len() >= t + 2 && b[t] == b'-' && b[t + 1] != b']' {
                    let (hi, nt) = self.class_char(t + 1, whole)?;
                    t = nt;
                    if hi < lo {
                        return Err(error(INVALID_RANGE, &s[rng..t]));
                    }
                }
            }
            Ok(t + 1)
        }

        /// One character of a class, with its code point (escapes decoded).
        fn class_char(&self, pos: usize, whole: &str) -> Result<(u32, usize), String> {
            let s = self.s;
            let Some(c) = char_at(s, pos) else {
                return Err(error(MISSING_BRACKET, whole));
            };
            if c != '\\' {
                return Ok((c as u32, pos + c.len_utf8()));
            }
            let end = self.escape(pos)?;
            Ok((escape_value(&s[pos..end]), end))
        }
    }

    /// The code point an escape stands for (for range checks).
    fn escape_value(e: &str) -> u32 {
        let body = &e[1..];
        let mut chars = body.chars();
        let first = chars.next().unwrap_or('\0');
        match first {
            '0'..='7' => u32::from_str_radix(body, 8).unwrap_or(0),
            'x' => {
                let hex = body[1..].trim_start_matches('{').trim_end_matches('}');
                u32::from_str_radix(hex, 16).unwrap_or(0)
            }
            'a' => 7,
            'f' => 12,
            'n' => 10,
            'r' => 13,
            't' => 9,
            'v' => 11,
            c => c as u32,
        }
    }

    /// Checks a pattern as Go's `regexp.Compile` does: `Err` carries Go's message.
    pub fn check(s: &str) -> Result<(), String> {
        let mut p = Parser {
            s,
            stack: Vec::new(),
            depth: 0,
        };
        let b = s.as_bytes();
        let mut pos = 0;
        let mut last_repeat: Option<usize> = None;
        while pos < b.len() {
            let mut repeat = None;
            match b[pos] {
                b'(' => {
                    if b.get(pos + 1) == Some(&b'?') {
                        pos = p.perl_flags(pos)?;
                    } else {
                        p.left_paren()?;
                        pos += 1;
                    }
                }
                b'|' => {
                    p.collapse();
                    if !p.swap_vertical_bar() {
                        p.stack.push(Item::VerticalBar);
                    }
                    pos += 1;
                }
                b')' => {
                    p.right_paren()?;
                    pos += 1;
                }
                b'^' | b'$' | b'.' => {
                    p.push(Node::Leaf);
                    pos += 1;
                }
                b'[' => {
                    pos = p.class(pos)?;
                    p.push(Node::Leaf);
                }
                b'*' | b'+' | b'?' => {
                    let before = pos;
                    pos = p.repeat(0, 0, false, before, pos + 1, last_repeat)?;
                    repeat = Some(before);
                }
                b'{' => match parse_repeat(s, pos) {
                    None => {
                        p.push(Node::Leaf);
                        pos += 1;
                    }
                    Some((min, max, after)) => {
                        let before = pos;
                        if !(0..=MAX_REPEAT).contains(&min)
                            || max > MAX_REPEAT
                            || (max >= 0 && min > max)
                        {
                            return Err(error(INVALID_REPEAT_SIZE, &s[before..after]));
                        }
                        pos = p.repeat(min, max, true, before, after, last_repeat)?;
                        repeat = Some(before);
                    }
                },
                b'\\' => match b.get(pos + 1) {
                    Some(b'A' | b'b' | b'B' | b'z') => {
                        p.push(Node::Leaf);
                        pos += 2;
                    }
                    Some(b'C') => return Err(error(INVALID_ESCAPE, &s[pos..pos + 2])),
                    Some(b'Q') => {
                        let rest = &s[pos + 2..];
                        let (lit, end) = match rest.find("\\E") {
                            Some(i) => (&rest[..i], pos + 2 + i + 2),
                            None => (rest, s.len()),
                        };
                        for _ in lit.chars() {
                            p.push(Node::Leaf);
                        }
                        pos = end;
                    }
                    _ => {
                        if let Some(nt) = p.unicode_class(pos)? {
                            pos = nt;
                        } else if let Some(nt) = p.perl_class(pos) {
                            pos = nt;
                        } else {
                            pos = p.escape(pos)?;
                        }
                        p.push(Node::Leaf);
                    }
                },
                _ => {
                    let c = char_at(s, pos).unwrap_or('\0');
                    p.push(Node::Leaf);
                    pos += c.len_utf8().max(1);
                }
            }
            last_repeat = repeat;
        }
        p.collapse();
        if p.swap_vertical_bar() {
            p.stack.pop();
        }
        p.collapse();
        if p.stack.len() != 1 {
            return Err(error(MISSING_PAREN, s));
        }
        Ok(())
    }

    /// `{n}`, `{n,}`, `{n,m}` at `pos`: (min, max, end); max is -1 for `{n,}`, min -1 when a
    /// number is too large.
    fn parse_repeat(s: &str, pos: usize) -> Option<(i64, i64, usize)> {
        let b = s.as_bytes();
        let parse_int = |i: usize| -> Option<(i64, usize)> {
            if !b.get(i)?.is_ascii_digit() {
                return None;
            }
            if b[i] == b'0' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            let end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let mut n: i64 = 0;
            for &d in &b[i..end] {
                if n >= 100_000_000 {
                    n = -1;
                    break;
                }
                n = n * 10 + i64::from(d - b'0');
            }
            Some((n, end))
        };
        let (mut min, mut i) = parse_int(pos + 1)?;
        let max;
        match b.get(i)? {
            b',' => {
                i += 1;
                if *b.get(i)? == b'}' {
                    max = -1;
                } else {
                    let (m, ni) = parse_int(i)?;
                    i = ni;
                    max = m;
                    if m < 0 {
                        min = -1;
                    }
                }
            }
            _ => max = min,
        }
        if *b.get(i)? != b'}' {
            return None;
        }
        Some((min, max, i + 1))
    }

    /// Rewrites a Go pattern for the `regex` crate: Go's `\d`, `\s`, `\w` and `\b` are ASCII,
    /// and `[`, `&`, `~`, `-` inside a class are literals in Go.
    pub fn to_rust(p: &str) -> String {
        let mut out = String::with_capacity(p.len() + 8);
        let mut chars = p.chars().peekable();
        let mut in_class = false;
        let mut class_start = false;
        while let Some(c) = chars.next() {
            let at_class_start = class_start;
            class_start = false;
            match c {
                '\\' => {
                    let Some(n) = chars.next() else {
                        out.push('\\');
                        break;
                    };
                    let class = match n {
                        'd' => Some((false, "0-9")),
                        'D' => Some((true, "0-9")),
                        's' => Some((false, "\\t\\n\\f\\r ")),
                        'S' => Some((true, "\\t\\n\\f\\r ")),
                        'w' => Some((false, "0-9A-Za-z_")),
                        'W' => Some((true, "0-9A-Za-z_")),
                        _ => None,
                    };
                    match (class, in_class) {
                        (Some((false, set)), true) => out.push_str(set),
                        (Some((negated, set)), _) => {
                            out.push('[');
                            if negated {
                                out.push('^');
                            }
                            out.push_str(set);
                            out.push(']');
                        }
                        (None, false) if n == 'b' || n == 'B' => {
                            out.push_str("(?-u:\\");
                            out.push(n);
                            out.push(')');
                        }
                        (None, _) => {
                            out.push('\\');
                            out.push(n);
                        }
                    }
                }
                '[' if !in_class => {
                    in_class = true;
                    class_start = true;
                    out.push('[');
                    if chars.peek() == Some(&'^') {
                        chars.next();
                        out.push('^');
                    }
                    if chars.peek() == Some(&']') {
                        chars.next();
                        out.push_str("\\]");
                    }
                }
                '[' if chars.peek() == Some(&':') => {
                    // A POSIX class: copy it through `:]`.
                    out.push('[');
                    let mut prev = ' ';
                    for n in chars.by_ref() {
                        out.push(n);
                        if prev == ':' && n == ']' {
                            break;
                        }
                        prev = n;
                    }
                }
                '[' | '&' | '~' if in_class => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if in_class && (at_class_start || chars.peek() == Some(&'-')) => {
                    out.push_str("\\-");
                }
                ']' if in_class => {
                    in_class = false;
                    out.push(']');
                }
                c => out.push(c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::dec::Dec;
    use super::text::{fmt_int, fmt_num, js_quote};

    /// Numbers as Helm printed them in `minimum`/`maximum` messages.
    #[test]
    fn numbers_print_like_helm() {
        for (f, want) in [
            (12345.0, "12,345"),
            (-12345.5, "-12,345.5"),
            (-1.25, "-1.25"),
            (123456.75, "123,456.75"),
            (0.123456789, "0.123456789"),
            (0.001, "0.001"),
            (1e-5, "1×10⁻⁰⁵"),
            (1e-7, "1×10⁻⁰⁷"),
            (1e6, "1×10⁰⁶"),
            (2e20, "2×10²⁰"),
            (123456789012.0, "1.23456789012×10¹¹"),
            (1.5e300, "1.5×10³⁰⁰"),
            (0.0, "0"),
        ] {
            assert_eq!(fmt_num(f), want, "{f}");
        }
        assert_eq!(fmt_int(1234), "1,234");
        assert_eq!(fmt_int(-1000), "-1,000");
        assert_eq!(fmt_int(999), "999");
    }

    #[test]
    fn quoting_like_helm() {
        assert_eq!(js_quote("\\"), "'\\'");
        assert_eq!(js_quote("\\q"), "'\\\\q'");
        assert_eq!(js_quote("it's"), "'it\\'s'");
        assert_eq!(js_quote("a\"b"), "'a\"b'");
    }

    /// Every string up to `len` characters over `alphabet`.
    fn strings(alphabet: &str, len: usize) -> Vec<String> {
        let chars: Vec<char> = alphabet.chars().collect();
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|s| chars.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    /// The ported parsers must not panic, whatever they are given.
    #[test]
    fn odd_input_does_not_panic() {
        for s in strings("()[]{}*+?|\\^$.-:aP<>0x1,pEQ", 4) {
            let _ = super::goregex::check(&s);
            let _ = super::goregex::to_rust(&s);
        }
        let names = [
            "date",
            "time",
            "date-time",
            "duration",
            "period",
            "email",
            "hostname",
            "ipv4",
            "ipv6",
            "uri",
            "uri-reference",
            "uri-template",
            "json-pointer",
            "relative-json-pointer",
            "uuid",
            "semver",
        ];
        for s in strings("0:.-TZ+/%[]@\"a~#{}éP1", 3) {
            for name in names {
                let _ = super::formats::check(name, &s);
            }
        }
        for s in strings("{}[]\":,0-.eE1tn\\u", 3) {
            let _ = super::json::parse(&s);
        }
    }

    #[test]
    fn decimals_are_exact() {
        let d = |s: &str| Dec::parse(s).expect("a number");
        assert!(d("0.3").is_multiple_of(&d("0.1")));
        assert!(!d("0.35").is_multiple_of(&d("0.1")));
        assert!(!d("1e21").is_multiple_of(&d("3")));
        assert!(d("1e21").is_multiple_of(&d("5e20")));
        assert!(d("2.5e-3").is_multiple_of(&d("5e-4")));
        assert!(d("19.99").is_multiple_of(&d("0.01")));
        assert!(!d("19.995").is_multiple_of(&d("0.01")));
        assert!(d("1.50") == d("1.5") && d("-0") == d("0"));
        assert!(d("-2") < d("-1.5") && d("0.001") < d("1e-2") && d("1e3") > d("999.9"));
        assert_eq!(Dec::from_f64(0.1), Some(d("0.1")));
    }
}
