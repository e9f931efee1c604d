//! Reading the Kubernetes protobuf encoding (`application/vnd.kubernetes.protobuf`) of the few
//! kinds typed Go clients send that way to the double: Secret and ConfigMap (Helm's release
//! storage) and DeleteOptions. Responses are always JSON, which those clients also accept.

use base64::Engine;
use serde_json::{json, Map, Value};

/// The magic prefix of the envelope.
const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, Copy)]
enum F {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    Msg(&'static [(u64, &'static str, F)]),
    RepStr,
    RepMsg(&'static [(u64, &'static str, F)]),
    MapStr,
    MapBytes,
}

type Schema = &'static [(u64, &'static str, F)];

const OWNER_REF: Schema = &[
    (1, "kind", F::Str),
    (3, "name", F::Str),
    (4, "uid", F::Str),
    (5, "apiVersion", F::Str),
    (6, "controller", F::Bool),
    (7, "blockOwnerDeletion", F::Bool),
];
const OBJECT_META: Schema = &[
    (1, "name", F::Str),
    (2, "generateName", F::Str),
    (3, "namespace", F::Str),
    (5, "uid", F::Str),
    (6, "resourceVersion", F::Str),
    (7, "generation", F::Int),
    (8, "creationTimestamp", F::Time),
    (9, "deletionTimestamp", F::Time),
    (10, "deletionGracePeriodSeconds", F::Int),
    (11, "labels", F::MapStr),
    (12, "annotations", F::MapStr),
    (13, "ownerReferences", F::RepMsg(OWNER_REF)),
    (14, "finalizers", F::RepStr),
];
const SECRET: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapBytes),
    (3, "type", F::Str),
    (4, "stringData", F::MapStr),
    (5, "immutable", F::Bool),
];
const CONFIG_MAP: Schema = &[
    (1, "metadata", F::Msg(OBJECT_META)),
    (2, "data", F::MapStr),
    (3, "binaryData", F::MapBytes),
    (4, "immutable", F::Bool),
];
const DELETE_OPTIONS: Schema = &[
    (1, "gracePeriodSeconds", F::Int),
    (4, "propagationPolicy", F::Str),
    (5, "dryRun", F::RepStr),
];
const TYPE_META: Schema = &[(1, "apiVersion", F::Str), (2, "kind", F::Str)];
const UNKNOWN: Schema = &[(1, "typeMeta", F::Msg(TYPE_META)), (2, "raw", F::Bytes)];

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err("varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            other => Err(format!("unsupported wire type {other}")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), String> {
        if self.pos + n > self.buf.len() {
            return Err("truncated field".into());
        }
        self.pos += n;
        Ok(())
    }
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a string field is not UTF-8".to_string())
}

fn entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), String> {
    let mut r = Reader { buf: b, pos: 0 };
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while r.pos < b.len() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 2) => k = text(r.bytes()?)?,
            (2, 2) => {
                let raw = r.bytes()?;
                v = if bytes_value {
                    json!(base64::engine::general_purpose::STANDARD.encode(raw))
                } else {
                    json!(text(raw)?)
                };
            }
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Option<String>, String> {
    let mut r = Reader { buf: b, pos: 0 };
    let mut secs = 0u64;
    while r.pos < b.len() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 0) => secs = r.varint()?,
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok((secs > 0).then(|| crate::util::rfc3339(secs)))
}

fn message(b: &[u8], schema: Schema) -> Result<Map<String, Value>, String> {
    let mut r = Reader { buf: b, pos: 0 };
    let mut out = Map::new();
    while r.pos < b.len() {
        let tag = r.varint()?;
        let (num, wire) = (tag >> 3, tag & 7);
        let Some(&(_, name, kind)) = schema.iter().find(|(n, _, _)| *n == num) else {
            r.skip(wire)?;
            continue;
        };
        match kind {
            F::Int | F::Bool => {
                let v = r.varint()?;
                if v != 0 {
                    out.insert(
                        name.into(),
                        if matches!(kind, F::Bool) {
                            json!(true)
                        } else {
                            json!(v as i64)
                        },
                    );
                }
            }
            _ => {
                let raw = r.bytes()?;
                match kind {
                    F::Str if !raw.is_empty() => {
                        out.insert(name.into(), json!(text(raw)?));
                    }
                    F::Bytes => {
                        out.insert(
                            name.into(),
                            json!(base64::engine::general_purpose::STANDARD.encode(raw)),
                        );
                    }
                    F::Time => {
                        if let Some(t) = time(raw)? {
                            out.insert(name.into(), json!(t));
                        }
                    }
                    F::Msg(s) => {
                        out.insert(name.into(), Value::Object(message(raw, s)?));
                    }
                    F::RepStr => push(&mut out, name, json!(text(raw)?)),
                    F::RepMsg(s) => push(&mut out, name, Value::Object(message(raw, s)?)),
                    F::MapStr | F::MapBytes => {
                        let (k, v) = entry(raw, matches!(kind, F::MapBytes))?;
                        let map = out.entry(name).or_insert_with(|| json!({}));
                        if let Some(m) = map.as_object_mut() {
                            m.insert(k, v);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    let list = out.entry(name).or_insert_with(|| json!([]));
    if let Some(a) = list.as_array_mut() {
        a.push(v);
    }
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or("the protobuf body lacks the k8s envelope")?;
    let unknown = message(inner, UNKNOWN)?;
    let api_version = unknown
        .get("typeMeta")
        .and_then(|t| t.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = unknown
        .get("typeMeta")
        .and_then(|t| t.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let raw = unknown
        .get("raw")
        .and_then(Value::as_str)
        .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
        .unwrap_or_default();
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => SECRET,
        ("v1", "ConfigMap") => CONFIG_MAP,
        (_, "DeleteOptions") => DELETE_OPTIONS,
        _ => return Err(format!("the double reads protobuf only for Secret, ConfigMap and DeleteOptions, not {kind} {api_version}")),
    };
    let mut object = message(&raw, schema)?;
    if kind != "DeleteOptions" {
        object.insert("apiVersion".into(), json!(api_version));
        object.insert("kind".into(), json!(kind));
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(num << 3 | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_secret() {
        let meta = [
            field(1, b"s1"),
            field(3, b""),
            field(11, &[field(1, b"owner"), field(2, b"helm")].concat()),
        ]
        .concat();
        let secret = [
            field(1, &meta),
            field(2, &[field(1, b"release"), field(2, b"\x01\x02")].concat()),
            field(3, b"helm.sh/release.v1"),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &secret)].concat();
        let v = decode(&body).unwrap_or(Value::Null);
        assert_eq!(
            v,
            json!({"metadata": {"name": "s1", "labels": {"owner": "helm"}}, "data": {"release": "AQI="},
                "type": "helm.sh/release.v1", "apiVersion": "v1", "kind": "Secret"})
        );
    }

    #[test]
    fn refuses_other_kinds() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta)].concat();
        assert!(decode(&body).is_err_and(|e| e.contains("Deployment")));
    }
}
