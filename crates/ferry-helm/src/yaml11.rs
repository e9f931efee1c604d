//! A YAML 1.1 reader matching what Helm's values go through (go-yaml v2 via sigs.k8s.io/yaml):
//! plain `yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0755` is octal, timestamps stay strings,
//! `<<` merge keys are applied, and every number becomes a float64.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::value::{format_float_g, Value};

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Vec<(Value, Value)>, Option<Value>, usize),
}

struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Value>,
    /// Anchored values and how many nodes each holds (what expanding an alias decodes).
    anchors: BTreeMap<usize, (Value, usize)>,
    error: Option<String>,
    /// go-yaml's count of decoded nodes, aliases expanded, and of those decoded through an alias.
    decode_count: usize,
    alias_count: usize,
}

/// go-yaml v2's share of nodes that may come from alias expansion, by document size: what
/// stops a "billion laughs" document (`allowedAliasRatio`).
fn allowed_alias_ratio(decode_count: usize) -> f64 {
    const LOW: usize = 400_000;
    const HIGH: usize = 4_000_000;
    if decode_count <= LOW {
        0.99
    } else if decode_count >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((decode_count - LOW) as f64 / (HIGH - LOW) as f64)
    }
}

/// The nodes go-yaml decodes for a value (a mapping's keys included).
fn node_count(v: &Value) -> usize {
    match v {
        Value::List(l) => 1 + l.iter().map(node_count).sum::<usize>(),
        Value::Map(m) => {
            1 + m
                .borrow()
                .values()
                .map(|x| 1 + node_count(x))
                .sum::<usize>()
        }
        _ => 1,
    }
}

impl Builder {
    /// Counts an expanded alias of `nodes` nodes; false (and an error) when the document now
    /// holds more aliasing than go-yaml allows.
    fn count_alias(&mut self, nodes: usize) -> bool {
        self.decode_count += 1 + nodes;
        self.alias_count += nodes;
        let ratio = self.alias_count as f64 / self.decode_count as f64;
        if self.alias_count > 100
            && self.decode_count > 1000
            && ratio > allowed_alias_ratio(self.decode_count)
        {
            self.error = Some("document contains excessive aliasing".into());
            return false;
        }
        true
    }

    fn push_value(&mut self, v: Value, anchor: usize) {
        if anchor > 0 {
            let nodes = node_count(&v);
            self.anchors.insert(anchor, (v.clone(), nodes));
        }
        match self.stack.last_mut() {
            None => self.docs.push(v),
            Some(Frame::Seq(items, _)) => items.push(v),
            Some(Frame::Map(entries, key, _)) => match key.take() {
                None => *key = Some(v),
                Some(k) => entries.push((k, v)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        if matches!(
            ev,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) {
            self.decode_count += 1;
        }
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                // an implicit empty key (`: x`) is an error for libyaml/go-yaml
                if value.is_empty()
                    && style == TScalarStyle::Plain
                    && tag.is_none()
                    && matches!(self.stack.last(), Some(Frame::Map(_, None, _)))
                {
                    self.error = Some("did not find expected key".into());
                }
                let v = resolve(&value, style, tag.as_ref());
                self.push_value(v, anchor);
            }
            Event::Alias(id) => {
                if self.error.is_some() {
                    return;
                }
                let nodes = self.anchors.get(&id).map_or(0, |(_, n)| *n);
                if !self.count_alias(nodes) {
                    return;
                }
                let v = match self.anchors.get(&id) {
                    Some((v, _)) => v.deep_copy(),
                    None => {
                        self.error = Some("unknown anchor referenced".into());
                        Value::Nil
                    }
                };
                self.push_value(v, 0);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), anchor)),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor)) = self.stack.pop() {
                    self.push_value(Value::from(items), anchor);
                }
            }
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map(Vec::new(), None, anchor)),
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, anchor)) = self.stack.pop() {
                    self.push_value(build_map(entries), anchor);
                }
            }
            _ => {}
        }
    }
}

fn key_string(k: &Value) -> String {
    match k {
        Value::Str(s) => s.to_string(),
        Value::Nil => "null".into(),
        Value::Float(f) => format_float_g(*f),
        other => other.go_string(),
    }
}

/// A mapping from its entries in document order, as go-yaml builds it: later keys win, `<<`
/// merge keys fill in what is missing.
pub(crate) fn build_map(entries: Vec<(Value, Value)>) -> Value {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    let mut merges: Vec<Value> = Vec::new();
    for (k, v) in entries {
        if let Value::Str(s) = &k {
            if s.as_ref() == "<<" && !matches!(v, Value::Str(_)) {
                match v {
                    Value::List(l) => merges.extend(l.iter().cloned()),
                    other => merges.push(other),
                }
                continue;
            }
        }
        out.insert(key_string(&k), v);
    }
    for m in merges {
        if let Value::Map(mm) = m {
            for (k, v) in mm.borrow().iter() {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    Value::from(out)
}

fn resolve(value: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag {
        if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" {
            match t.suffix.as_str() {
                "str" => return Value::from(value),
                "null" => return Value::Nil,
                "bool" | "int" | "float" => {
                    return resolve_plain(value).unwrap_or_else(|| Value::from(value))
                }
                _ => {}
            }
        }
    }
    if style != TScalarStyle::Plain {
        return Value::from(value);
    }
    resolve_plain(value).unwrap_or_else(|| Value::from(value))
}

/// go-yaml v2's resolution of a plain scalar (numbers as float64, as JSON gives them).
pub fn resolve_plain(s: &str) -> Option<Value> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Nil),
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Some(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Some(Value::Bool(false))
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(Value::Float(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(Value::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Value::Float(f64::NAN)),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    let plain = s.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return Some(Value::Float(i as f64));
    }
    if crate::yaml::is_yaml_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            return Some(Value::Float(f));
        }
    }
    None
}

/// Go's `strconv.ParseInt(s, 0, 64)` (also accepting uint64 range, as go-yaml does).
fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i128::from_str_radix(&lower[1..], 8).ok()?
    } else {
        if !lower.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        lower.parse::<i128>().ok()?
    };
    if v > i128::from(u64::MAX) {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// Parses the first YAML document of `text` with YAML 1.1 rules.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut b = Builder {
        stack: Vec::new(),
        docs: Vec::new(),
        anchors: BTreeMap::new(),
        error: None,
        decode_count: 0,
        alias_count: 0,
    };
    let mut p = Parser::new_from_str(text);
    p.load(&mut b, false).map_err(|e| {
        let m = e.marker();
        format!("line {}: {}", m.line(), e.info())
    })?;
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.docs.into_iter().next().unwrap_or(Value::Nil))
}
