//! Sprig's defaults, logic and type functions.

use super::*;

/// Registers sprig's defaults, logic and type functions.
pub(super) fn register(m: &mut HashMap<&'static str, Func>) {
    // defaults and logic
    m.insert("default", |_, a| {
        want_min(&a, 1, "default")?;
        if a.len() == 1 {
            return Ok(a[0].clone());
        }
        Ok(if a[1].truthy() {
            a[1].clone()
        } else {
            a[0].clone()
        })
    });
    m.insert("empty", |_, a| Ok(Value::Bool(!arg(&a, 0).truthy())));
    m.insert("coalesce", |_, a| {
        Ok(a.iter().find(|x| x.truthy()).cloned().unwrap_or(Value::Nil))
    });
    m.insert("all", |_, a| Ok(Value::Bool(a.iter().all(Value::truthy))));
    m.insert("any", |_, a| Ok(Value::Bool(a.iter().any(Value::truthy))));
    m.insert("ternary", |_, a| {
        want(&a, 3, "ternary")?;
        Ok(if a[2].truthy() {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    m.insert("compact", |_, a| {
        Ok(Value::from(
            list_of(arg(&a, 0), "compact")?
                .into_iter()
                .filter(Value::truthy)
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("mustCompact", |_, a| {
        Ok(Value::from(
            list_of(arg(&a, 0), "compact")?
                .into_iter()
                .filter(Value::truthy)
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("fromJson", |_, a| {
        Ok(crate::yaml::parse_json(&s(arg(&a, 0))).unwrap_or_else(|e| {
            let mut m = BTreeMap::new();
            m.insert("Error".to_string(), Value::from(e));
            Value::from(m)
        }))
    });
    m.insert("toJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), false)))
    });
    m.insert("mustToJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), false)))
    });
    m.insert("toRawJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), true)))
    });
    m.insert("mustToRawJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), true)))
    });
    m.insert("toPrettyJson", |_, a| {
        Ok(Value::from(crate::yaml::to_pretty_json(arg(&a, 0))))
    });
    m.insert("mustToPrettyJson", |_, a| {
        Ok(Value::from(crate::yaml::to_pretty_json(arg(&a, 0))))
    });
    m.insert("deepEqual", |_, a| {
        want(&a, 2, "deepEqual")?;
        Ok(Value::Bool(deep_eq(&a[0], &a[1])))
    });
    // types
    m.insert("typeOf", |_, a| Ok(Value::from(arg(&a, 0).type_name())));
    m.insert("kindOf", |_, a| Ok(Value::from(arg(&a, 0).kind_name())));
    m.insert("typeIs", |_, a| {
        want(&a, 2, "typeIs")?;
        Ok(Value::Bool(s(&a[0]) == a[1].type_name()))
    });
    m.insert("typeIsLike", |_, a| {
        want(&a, 2, "typeIsLike")?;
        let t = s(&a[0]);
        Ok(Value::Bool(
            t == a[1].type_name() || t == format!("*{}", a[1].type_name()),
        ))
    });
    m.insert("kindIs", |_, a| {
        want(&a, 2, "kindIs")?;
        Ok(Value::Bool(s(&a[0]) == a[1].kind_name()))
    });
}
