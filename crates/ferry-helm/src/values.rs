//! Helm's value handling: coalescing chart defaults, globals, dependency conditions, `--set`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::chart::{text_key, Chart};
use crate::error::Error;
use crate::value::Value;
use crate::yaml::parse_yaml;

/// Each chart's `values.yaml` read as YAML, kept for one render: Helm coalesces every chart's
/// defaults once to decide which dependencies are enabled and again to render, and reading is the
/// costly part. The trees are only read (coalescing copies what it takes).
#[derive(Default)]
pub struct DefaultsMemo {
    /// By [`text_key`]; each read is kept with its text, so the address is not reused meanwhile.
    read: RefCell<rustc_hash::FxHashMap<usize, (Arc<str>, ReadYaml)>>,
}

/// A text read as YAML, or the reader's error.
type ReadYaml = Result<Value, String>;

impl DefaultsMemo {
    /// `chart`'s defaults, its `values.yaml` read on first use.
    fn defaults(&self, chart: &Chart) -> Result<Value, Error> {
        let Some(text) = &chart.values_yaml else {
            return Ok(Value::new_map());
        };
        let read = self
            .read
            .borrow_mut()
            .entry(text_key(text))
            .or_insert_with(|| (text.clone(), parse_yaml(text)))
            .1
            .clone();
        defaults_of(read)
    }
}

/// A chart's defaults from its `values.yaml` read as YAML: a map, or nothing.
fn defaults_of(read: ReadYaml) -> Result<Value, Error> {
    match read {
        Ok(Value::Map(m)) => Ok(Value::Map(m)),
        Ok(Value::Nil) => Ok(Value::new_map()),
        // Helm reads values.yaml through JSON into a map: Go's JSON decoder names the kind
        Ok(other) => {
            let kind = match other {
                Value::List(_) => "array",
                Value::Str(_) => "string",
                Value::Bool(_) => "bool",
                _ => "number",
            };
            Err(Error::Values(format!(
                "cannot load values.yaml: cannot unmarshal yaml document: error unmarshaling \
                 JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type \
                 map[string]interface {{}}"
            )))
        }
        Err(e) => Err(Error::Values(format!(
            "cannot load values.yaml: cannot unmarshal yaml document: error converting YAML to \
             JSON: yaml: {e}"
        ))),
    }
}

fn map_of(v: &Value) -> Option<crate::value::MapRef> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

/// Coalesces `chart`'s defaults (and its dependencies') under `dest` (user values win), reusing
/// defaults parsed earlier in the same render.
pub fn coalesce(chart: &Chart, dest: &Value, memo: &DefaultsMemo) -> Result<(), Error> {
    let defaults = memo.defaults(chart)?;
    coalesce_values(dest, &defaults);
    for dep in &chart.dependencies {
        let Some(d) = map_of(dest) else { continue };
        let name = dep.name().to_string();
        let sub = d.borrow().get(&name).cloned();
        let sub = match sub {
            Some(v @ Value::Map(_)) => v,
            Some(Value::Nil) | None => {
                let v = Value::new_map();
                d.borrow_mut().insert(name.clone(), v.clone());
                v
            }
            Some(_) => continue,
        };
        coalesce_globals(&sub, dest);
        coalesce(dep, &sub, memo)?;
    }
    Ok(())
}

/// `coalesceValues`: copies defaults missing from `dest`; a null in `dest` deletes the key.
fn coalesce_values(dest: &Value, defaults: &Value) {
    let (Some(d), Some(s)) = (map_of(dest), map_of(defaults)) else {
        return;
    };
    let entries: Vec<(String, Value)> = s
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in entries {
        let existing = d.borrow().get(&key).cloned();
        match existing {
            Some(Value::Nil) => {
                d.borrow_mut().remove(&key);
            }
            Some(dv @ Value::Map(_)) => {
                if matches!(val, Value::Map(_)) {
                    coalesce_tables(&dv, &val, false);
                }
            }
            Some(_) => {}
            None => {
                if !matches!(val, Value::Nil) {
                    d.borrow_mut().insert(key, strip_nulls(&val));
                }
            }
        }
    }
}

/// A deep copy without null map entries: a null in a chart's defaults means "no value".
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Map(m) => {
            let c: BTreeMap<String, Value> = m
                .borrow()
                .iter()
                .filter(|(_, x)| !matches!(x, Value::Nil))
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .collect();
            Value::from(c)
        }
        other => other.deep_copy(),
    }
}

/// `coalesceTablesFullKey`: `src` fills in `dst`; with `merge` false a null in `dst` deletes the key.
fn coalesce_tables(dst: &Value, src: &Value, merge: bool) {
    let (Some(d), Some(s)) = (map_of(dst), map_of(src)) else {
        return;
    };
    let entries: Vec<(String, Value)> = s
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in entries {
        let existing = d.borrow().get(&key).cloned();
        match existing {
            Some(Value::Nil) if !merge => {
                d.borrow_mut().remove(&key);
            }
            None => {
                if !matches!(val, Value::Nil) || merge {
                    d.borrow_mut().insert(
                        key,
                        if merge {
                            val.deep_copy()
                        } else {
                            strip_nulls(&val)
                        },
                    );
                }
            }
            Some(dv @ Value::Map(_)) if matches!(val, Value::Map(_)) => {
                coalesce_tables(&dv, &val, merge)
            }
            Some(_) => {}
        }
    }
}

/// Copies the parent's `global` into the subchart's values (parent wins).
fn coalesce_globals(dest: &Value, src: &Value) {
    let (Some(d), Some(s)) = (map_of(dest), map_of(src)) else {
        return;
    };
    let dg = match d.borrow().get("global").cloned() {
        Some(v @ Value::Map(_)) => v,
        None | Some(Value::Nil) => Value::new_map(),
        Some(_) => return,
    };
    let sg = match s.borrow().get("global").cloned() {
        Some(v @ Value::Map(_)) => v,
        None | Some(Value::Nil) => Value::new_map(),
        Some(_) => return,
    };
    let (Some(dgm), Some(sgm)) = (map_of(&dg), map_of(&sg)) else {
        return;
    };
    let entries: Vec<(String, Value)> = sgm
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, val) in entries {
        if matches!(val, Value::Map(_)) {
            let vv = val.deep_copy();
            let existing = dgm.borrow().get(&key).cloned();
            match existing {
                None => {
                    dgm.borrow_mut().insert(key, vv);
                }
                Some(dv @ Value::Map(_)) => {
                    coalesce_tables(&vv, &dv, true);
                    dgm.borrow_mut().insert(key, vv);
                }
                Some(_) => {}
            }
        } else {
            let existing = dgm.borrow().get(&key).cloned();
            if !matches!(existing, Some(Value::Map(_))) {
                dgm.borrow_mut().insert(key, val.clone());
            }
        }
    }
    d.borrow_mut().insert("global".into(), dg);
}

/// Looks up a dotted path (`a.b.c`) in a values tree.
pub fn path_value(v: &Value, path: &str) -> Option<Value> {
    let mut cur = v.clone();
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// Removes disabled dependencies (conditions and tags) and applies aliases, recursively.
/// `user` is the user-supplied values tree (not yet coalesced).
/// Defaults parsed on the way are kept in `memo`.
pub fn process_dependencies(
    chart: &Chart,
    user: &Value,
    memo: &DefaultsMemo,
) -> Result<Chart, Error> {
    let mut c = chart.clone();
    enable_deps(&mut c, user, "", memo)?;
    import_values(&mut c, memo)?;
    Ok(c)
}

/// Helm's processImportValues, children first: values exported by a dependency
/// (`import-values`) become defaults of the parent, below the parent's own defaults.
fn import_values(c: &mut Chart, memo: &DefaultsMemo) -> Result<(), Error> {
    for d in &mut c.dependencies {
        import_values(d, memo)?;
    }
    if !c
        .metadata
        .dependencies
        .iter()
        .any(|r| !r.import_values.is_empty())
    {
        return Ok(());
    }
    let cvals = Value::new_map();
    coalesce(c, &cvals, memo)?;
    let imported = Value::new_map();
    for r in &c.metadata.dependencies {
        for (child, parent) in &r.import_values {
            let Some(v @ Value::Map(_)) = path_value(&cvals, &format!("{}.{child}", r.name)) else {
                continue;
            };
            let at = parent.trim_start_matches('.');
            let piece = if at.is_empty() {
                v.deep_copy()
            } else {
                let mut node = v.deep_copy();
                for part in at.split('.').rev() {
                    let mut m = BTreeMap::new();
                    m.insert(part.to_string(), node);
                    node = Value::from(m);
                }
                node
            };
            merge_maps(&imported, &piece);
        }
    }
    // the parent's own values win over imported ones
    coalesce_tables(&cvals, &imported, true);
    c.values_yaml = Some(Arc::from(crate::yaml::to_json(&cvals, true)));
    Ok(())
}

fn enable_deps(c: &mut Chart, vals: &Value, path: &str, memo: &DefaultsMemo) -> Result<(), Error> {
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    // charts in charts/ not listed stay; listed ones get their alias
    let mut deps: Vec<Chart> = Vec::new();
    for existing in &c.dependencies {
        if !c
            .metadata
            .dependencies
            .iter()
            .any(|r| r.name == existing.name())
        {
            deps.push(existing.clone());
        }
    }
    let mut reqs = c.metadata.dependencies.clone();
    for r in &mut reqs {
        if let Some(found) = c.dependencies.iter().find(|d| d.name() == r.name) {
            let mut copy = found.clone();
            if !r.alias.is_empty() {
                copy.metadata.name = r.alias.clone();
                r.name = r.alias.clone();
            }
            deps.push(copy);
        } else if !r.alias.is_empty() {
            r.name = r.alias.clone();
        }
    }
    c.dependencies = deps;
    let cvals = vals.deep_copy();
    coalesce(c, &cvals, memo)?;
    let mut enabled: BTreeMap<String, bool> = BTreeMap::new();
    let tags = cvals.get("tags");
    for r in &reqs {
        let mut on = true;
        if let Some(tags @ Value::Map(_)) = &tags {
            let (mut has_true, mut has_false) = (false, false);
            for t in &r.tags {
                match tags.get(t) {
                    Some(Value::Bool(true)) => has_true = true,
                    Some(Value::Bool(false)) => has_false = true,
                    _ => {}
                }
            }
            if !has_true && has_false {
                on = false;
            }
        }
        for cond in r.condition.trim().split(',') {
            let cond = cond.trim();
            if cond.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(&cvals, &format!("{path}{cond}")) {
                on = b;
                break;
            }
        }
        enabled.insert(r.name.clone(), on);
    }
    c.dependencies
        .retain(|d| enabled.get(d.name()).copied().unwrap_or(true));
    c.metadata.dependencies = reqs
        .into_iter()
        .filter(|r| enabled.get(&r.name).copied().unwrap_or(true))
        .collect();
    for d in &mut c.dependencies {
        let sub = format!("{path}{}.", d.name());
        enable_deps(d, &cvals, &sub, memo)?;
    }
    Ok(())
}

/// Merges `src` into `dst` (values files: later files win, maps merged recursively).
pub fn merge_maps(dst: &Value, src: &Value) {
    let (Some(d), Some(s)) = (map_of(dst), map_of(src)) else {
        return;
    };
    let entries: Vec<(String, Value)> = s
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in entries {
        let existing = d.borrow().get(&k).cloned();
        match (existing, &v) {
            (Some(dv @ Value::Map(_)), Value::Map(_)) => merge_maps(&dv, &v),
            _ => {
                d.borrow_mut().insert(k, v);
            }
        }
    }
}

/// Applies one `--set` (or `--set-string` when `as_string`) expression, as Helm's strvals does.
pub fn apply_set(dst: &Value, expr: &str, as_string: bool) -> Result<(), Error> {
    for assignment in split_unescaped(expr, ',') {
        if assignment.is_empty() {
            continue;
        }
        let Some((key, val)) = split_once_unescaped(&assignment, '=') else {
            return Err(Error::Values(format!("key \"{assignment}\" has no value")));
        };
        let value = if as_string {
            Value::from(unescape(&val))
        } else if let Some(inner) = val.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            Value::from(
                split_unescaped(inner, ',')
                    .iter()
                    .map(|x| typed_val(&unescape(x)))
                    .collect::<Vec<_>>(),
            )
        } else {
            typed_val(&unescape(&val))
        };
        set_path(dst, &key, value)?;
    }
    Ok(())
}

fn typed_val(s: &str) -> Value {
    match s {
        "true" | "TRUE" | "True" => return Value::Bool(true),
        "false" | "FALSE" | "False" => return Value::Bool(false),
        "null" => return Value::Nil,
        "0" => return Value::Int64(0),
        _ => {}
    }
    if !s.starts_with('0') {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Int64(i);
        }
    }
    Value::from(s)
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    let mut depth = 0;
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            c if c == sep && depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn split_once_unescaped(s: &str, sep: char) -> Option<(String, String)> {
    let mut esc = false;
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        if c == '\\' {
            esc = true;
        } else if c == sep {
            return Some((s[..i].to_string(), s[i + 1..].to_string()));
        }
    }
    None
}

/// Sets `value` at a `--set`-style key path (`a.b[0].c`).
pub fn set_value(dst: &Value, key: &str, value: Value) -> Result<(), Error> {
    set_path(dst, key, value)
}

fn set_path(dst: &Value, key: &str, value: Value) -> Result<(), Error> {
    let parts: Vec<String> = split_unescaped(key, '.')
        .iter()
        .map(|p| unescape(p))
        .collect();
    let mut cur = dst.clone();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        // list index: name[3]
        let (name, index) = match part.find('[') {
            Some(b) if part.ends_with(']') => {
                let idx: usize = part[b + 1..part.len() - 1]
                    .parse()
                    .map_err(|_| Error::Values(format!("failed to parse index in {key}")))?;
                (part[..b].to_string(), Some(idx))
            }
            _ => (part.clone(), None),
        };
        let Some(m) = map_of(&cur) else {
            return Err(Error::Values(format!("cannot set {key}: not a map")));
        };
        match index {
            None => {
                if last {
                    m.borrow_mut().insert(name, value);
                    return Ok(());
                }
                let next = m.borrow().get(&name).cloned();
                let next = match next {
                    Some(v @ Value::Map(_)) => v,
                    _ => {
                        let v = Value::new_map();
                        m.borrow_mut().insert(name, v.clone());
                        v
                    }
                };
                cur = next;
            }
            Some(idx) => {
                if idx > 65536 {
                    return Err(Error::Values(format!(
                        "index of {idx} is greater than maximum supported index 65536"
                    )));
                }
                let mut list = match m.borrow().get(&name) {
                    Some(Value::List(l)) => l.as_ref().clone(),
                    _ => Vec::new(),
                };
                while list.len() <= idx {
                    list.push(Value::Nil);
                }
                if last {
                    list[idx] = value;
                    m.borrow_mut().insert(name, Value::from(list));
                    return Ok(());
                }
                if !matches!(list[idx], Value::Map(_)) {
                    list[idx] = Value::new_map();
                }
                let next = list[idx].clone();
                m.borrow_mut().insert(name, Value::from(list));
                cur = next;
            }
        }
    }
    Ok(())
}
