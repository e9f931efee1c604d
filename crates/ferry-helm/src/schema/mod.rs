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

/// The validation keywords, one `Ctx` method per family.
mod keywords;

// --- exact decimals -------------------------------------------------------------------------

mod dec;

// --- Go's printing --------------------------------------------------------------------------

mod text;

// --- JSON with numbers as written -----------------------------------------------------------

mod json;

// --- formats --------------------------------------------------------------------------------

/// The formats Helm's validator asserts (draft-04/06/07), ported with their error texts.
mod formats;

// --- Go regular expressions -----------------------------------------------------------------

/// Go's `regexp/syntax` parser, for its errors (the `regex` format), and the translation of a
/// Go pattern to the `regex` crate's syntax (for `pattern` and `patternProperties`).
mod goregex;

#[cfg(test)]
mod tests;
