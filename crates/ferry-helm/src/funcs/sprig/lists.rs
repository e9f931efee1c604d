//! Sprig's list functions.

use super::*;

/// Registers sprig's list functions.
pub(super) fn register(m: &mut HashMap<&'static str, Func>) {
    // lists
    m.insert("list", |_, a| Ok(Value::from(a)));
    m.insert("tuple", |_, a| Ok(Value::from(a)));
    m.insert("first", |_, a| {
        Ok(list_of(arg(&a, 0), "first")?
            .first()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("mustFirst", |_, a| {
        Ok(list_of(arg(&a, 0), "first")?
            .first()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("last", |_, a| {
        Ok(list_of(arg(&a, 0), "last")?
            .last()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("mustLast", |_, a| {
        Ok(list_of(arg(&a, 0), "last")?
            .last()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("rest", |_, a| {
        let l = list_of(arg(&a, 0), "rest")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[1..].to_vec())
        })
    });
    m.insert("mustRest", |_, a| {
        let l = list_of(arg(&a, 0), "rest")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[1..].to_vec())
        })
    });
    m.insert("initial", |_, a| {
        let l = list_of(arg(&a, 0), "initial")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[..l.len() - 1].to_vec())
        })
    });
    m.insert("mustInitial", |_, a| {
        let l = list_of(arg(&a, 0), "initial")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[..l.len() - 1].to_vec())
        })
    });
    fn append(_: &mut Exec, a: Vec<Value>) -> R {
        want(&a, 2, "append")?;
        let mut l = list_of(&a[0], "push")?;
        l.push(a[1].clone());
        Ok(Value::from(l))
    }
    m.insert("append", append);
    m.insert("push", append);
    m.insert("mustAppend", append);
    m.insert("mustPush", append);
    fn prepend(_: &mut Exec, a: Vec<Value>) -> R {
        want(&a, 2, "prepend")?;
        let mut l = list_of(&a[0], "prepend")?;
        l.insert(0, a[1].clone());
        Ok(Value::from(l))
    }
    m.insert("prepend", prepend);
    m.insert("mustPrepend", prepend);
    m.insert("concat", |_, a| {
        let mut out = Vec::new();
        for x in &a {
            out.extend(list_of(x, "concat")?);
        }
        Ok(Value::from(out))
    });
    fn reverse(_: &mut Exec, a: Vec<Value>) -> R {
        let mut l = list_of(arg(&a, 0), "reverse")?;
        l.reverse();
        Ok(Value::from(l))
    }
    m.insert("reverse", reverse);
    m.insert("mustReverse", reverse);
    fn uniq(_: &mut Exec, a: Vec<Value>) -> R {
        let l = list_of(arg(&a, 0), "uniq")?;
        let mut out: Vec<Value> = Vec::new();
        for x in l {
            if !out.iter().any(|y| deep_eq(y, &x)) {
                out.push(x);
            }
        }
        Ok(Value::from(out))
    }
    m.insert("uniq", uniq);
    m.insert("mustUniq", uniq);
    fn without(_: &mut Exec, a: Vec<Value>) -> R {
        want_min(&a, 1, "without")?;
        let l = list_of(&a[0], "without")?;
        Ok(Value::from(
            l.into_iter()
                .filter(|x| !a[1..].iter().any(|y| deep_eq(x, y)))
                .collect::<Vec<_>>(),
        ))
    }
    m.insert("without", without);
    m.insert("mustWithout", without);
    fn has(_: &mut Exec, a: Vec<Value>) -> R {
        want(&a, 2, "has")?;
        let l = list_of(&a[1], "has")?;
        Ok(Value::Bool(l.iter().any(|x| deep_eq(x, &a[0]))))
    }
    m.insert("has", has);
    m.insert("mustHas", has);
    m.insert("chunk", |_, a| {
        want(&a, 2, "chunk")?;
        let n = a[0].to_i64().max(1) as usize;
        let l = list_of(&a[1], "chunk")?;
        Ok(Value::from(
            l.chunks(n)
                .map(|c| Value::from(c.to_vec()))
                .collect::<Vec<_>>(),
        ))
    });
}
