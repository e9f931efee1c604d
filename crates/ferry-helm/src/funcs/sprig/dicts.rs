//! Sprig's dict functions.

use super::*;

/// Registers sprig's dict functions.
pub(super) fn register(m: &mut HashMap<&'static str, Func>) {
    // dicts
    m.insert("dict", |_, a| {
        let mut m = BTreeMap::new();
        let mut i = 0;
        while i < a.len() {
            m.insert(
                a[i].to_str(),
                a.get(i + 1).cloned().unwrap_or(Value::from("")),
            );
            i += 2;
        }
        Ok(Value::from(m))
    });
    m.insert("get", |_, a| {
        want(&a, 2, "get")?;
        Ok(a[0].get(&s(&a[1])).unwrap_or(Value::from("")))
    });
    m.insert("set", |_, a| {
        want(&a, 3, "set")?;
        if let Value::Map(m) = &a[0] {
            m.borrow_mut().insert(s(&a[1]).into_owned(), a[2].clone());
            return Ok(a[0].clone());
        }
        Err(ExecError::new(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            a[0].type_name()
        )))
    });
    m.insert("unset", |_, a| {
        want(&a, 2, "unset")?;
        if let Value::Map(m) = &a[0] {
            m.borrow_mut().remove(&*s(&a[1]));
        }
        Ok(a[0].clone())
    });
    m.insert("hasKey", |_, a| {
        want(&a, 2, "hasKey")?;
        Ok(Value::Bool(match &a[0] {
            Value::Map(m) => m.borrow().contains_key(&*s(&a[1])),
            _ => false,
        }))
    });
    m.insert("pluck", |_, a| {
        want_min(&a, 1, "pluck")?;
        let k = s(&a[0]);
        Ok(Value::from(
            a[1..].iter().filter_map(|d| d.get(&k)).collect::<Vec<_>>(),
        ))
    });
    m.insert("dig", |_, a| {
        want_min(&a, 3, "dig")?;
        let n = a.len();
        let mut cur = a[n - 1].clone();
        for k in &a[..n - 2] {
            match cur.get(&s(k)) {
                Some(v) => cur = v,
                None => return Ok(a[n - 2].clone()),
            }
        }
        Ok(cur)
    });
    m.insert("keys", |_, a| {
        let mut out = Vec::new();
        for d in &a {
            if let Value::Map(m) = d {
                out.extend(m.borrow().keys().map(|k| Value::from(k.as_str())));
            }
        }
        Ok(Value::from(out))
    });
    m.insert("values", |_, a| {
        Ok(Value::from(match arg(&a, 0) {
            Value::Map(m) => m.borrow().values().cloned().collect::<Vec<_>>(),
            _ => Vec::new(),
        }))
    });
    m.insert("pick", |_, a| {
        want_min(&a, 1, "pick")?;
        let mut out = BTreeMap::new();
        for k in &a[1..] {
            if let Some(v) = a[0].get(&s(k)) {
                out.insert(s(k).into_owned(), v);
            }
        }
        Ok(Value::from(out))
    });
    m.insert("omit", |_, a| {
        want_min(&a, 1, "omit")?;
        let drop: Vec<String> = a[1..].iter().map(|x| s(x).into_owned()).collect();
        let mut out = BTreeMap::new();
        if let Value::Map(m) = &a[0] {
            for (k, v) in m.borrow().iter() {
                if !drop.contains(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Value::from(out))
    });
    m.insert("deepCopy", |_, a| Ok(arg(&a, 0).deep_copy()));
    m.insert("mustDeepCopy", |_, a| Ok(arg(&a, 0).deep_copy()));
    fn merge(_: &mut Exec, a: Vec<Value>) -> R {
        want_min(&a, 1, "merge")?;
        for src in &a[1..] {
            merge_into(&a[0], src, false);
        }
        Ok(a[0].clone())
    }
    fn merge_overwrite(_: &mut Exec, a: Vec<Value>) -> R {
        want_min(&a, 1, "mergeOverwrite")?;
        for src in &a[1..] {
            merge_into(&a[0], src, true);
        }
        Ok(a[0].clone())
    }
    m.insert("merge", merge);
    m.insert("mustMerge", merge);
    m.insert("mergeOverwrite", merge_overwrite);
    m.insert("mustMergeOverwrite", merge_overwrite);
}
