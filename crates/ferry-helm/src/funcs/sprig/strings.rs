//! Sprig's string and regular-expression functions.

use super::*;

/// Registers sprig's string and regular-expression functions.
pub(super) fn register(m: &mut HashMap<&'static str, Func>) {
    // strings
    m.insert("trim", |_, a| Ok(same_or(arg(&a, 0), s(arg(&a, 0)).trim())));
    m.insert("trimAll", |_, a| {
        let cut: Vec<char> = s(arg(&a, 0)).chars().collect();
        Ok(Value::from(
            s(arg(&a, 1)).trim_matches(|c| cut.contains(&c)),
        ))
    });
    m.insert("trimPrefix", |_, a| {
        let (p, x) = (s(arg(&a, 0)), s(arg(&a, 1)));
        Ok(same_or(arg(&a, 1), x.strip_prefix(&*p).unwrap_or(&x)))
    });
    m.insert("trimSuffix", |_, a| {
        let (p, x) = (s(arg(&a, 0)), s(arg(&a, 1)));
        Ok(same_or(arg(&a, 1), x.strip_suffix(&*p).unwrap_or(&x)))
    });
    m.insert("upper", |_, a| {
        Ok(Value::from(s(arg(&a, 0)).to_uppercase()))
    });
    m.insert("lower", |_, a| {
        Ok(Value::from(s(arg(&a, 0)).to_lowercase()))
    });
    m.insert("title", |_, a| Ok(Value::from(title(&s(arg(&a, 0))))));
    m.insert("untitle", |_, a| {
        let x = s(arg(&a, 0));
        let mut out = String::new();
        let mut prev_space = true;
        for c in x.chars() {
            if prev_space {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
            prev_space = c.is_whitespace();
        }
        Ok(Value::from(out))
    });
    m.insert("repeat", |e, a| {
        want(&a, 2, "repeat")?;
        let text = s(&a[1]);
        let count = a[0].to_i64().max(0) as u64;
        super::super::within_output(e, "repeat", u128::from(count) * text.len() as u128)?;
        Ok(Value::from(text.repeat(count as usize)))
    });
    m.insert("substr", |_, a| {
        want(&a, 3, "substr")?;
        let st = s(&a[2]);
        let (mut start, end) = (a[0].to_i64(), a[1].to_i64());
        if start < 0 {
            start = 0;
        }
        let len = st.len() as i64;
        let end = if end < 0 || end > len { len } else { end };
        if start > end {
            return Ok(Value::from(""));
        }
        Ok(Value::from(
            String::from_utf8_lossy(&st.as_bytes()[start as usize..end as usize]).into_owned(),
        ))
    });
    m.insert("nospace", |_, a| {
        Ok(Value::from(
            s(arg(&a, 0))
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        ))
    });
    m.insert("trunc", |_, a| {
        want(&a, 2, "trunc")?;
        let n = a[0].to_i64();
        let st = s(&a[1]);
        let len = st.len() as i64;
        let r = if n < 0 && -n < len {
            String::from_utf8_lossy(&st.as_bytes()[(len + n) as usize..])
        } else if n >= 0 && len > n {
            String::from_utf8_lossy(&st.as_bytes()[..n as usize])
        } else {
            return Ok(same_or(&a[1], &st));
        };
        Ok(Value::from(&*r))
    });
    m.insert("abbrev", |_, a| {
        want(&a, 2, "abbrev")?;
        let w = a[0].to_i64().max(0) as usize;
        let st = s(&a[1]);
        if w < 4 || st.len() <= w {
            return Ok(same_or(&a[1], &st));
        }
        Ok(Value::from(format!(
            "{}...",
            String::from_utf8_lossy(&st.as_bytes()[..w - 3])
        )))
    });
    m.insert("initials", |_, a| {
        Ok(Value::from(
            s(arg(&a, 0))
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ))
    });
    m.insert("wrap", |_, a| {
        want(&a, 2, "wrap")?;
        Ok(Value::from(wrap(
            &s(&a[1]),
            a[0].to_i64().max(1) as usize,
            "\n",
        )))
    });
    m.insert("wrapWith", |_, a| {
        want(&a, 3, "wrapWith")?;
        Ok(Value::from(wrap(
            &s(&a[2]),
            a[0].to_i64().max(1) as usize,
            &s(&a[1]),
        )))
    });
    m.insert("contains", |_, a| {
        want(&a, 2, "contains")?;
        Ok(Value::Bool(s(&a[1]).contains(&*s(&a[0]))))
    });
    m.insert("hasPrefix", |_, a| {
        want(&a, 2, "hasPrefix")?;
        Ok(Value::Bool(s(&a[1]).starts_with(&*s(&a[0]))))
    });
    m.insert("hasSuffix", |_, a| {
        want(&a, 2, "hasSuffix")?;
        Ok(Value::Bool(s(&a[1]).ends_with(&*s(&a[0]))))
    });
    m.insert("quote", |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| go_quote(&x.to_str()))
            .collect();
        Ok(Value::from(parts.join(" ")))
    });
    m.insert("squote", |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| format!("'{}'", x.to_str()))
            .collect();
        Ok(Value::from(parts.join(" ")))
    });
    m.insert("cat", |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(Value::to_str)
            .collect();
        Ok(Value::from(parts.join(" ")))
    });
    m.insert("indent", |e, a| {
        want(&a, 2, "indent")?;
        let text = s(&a[1]);
        super::super::within_output(e, "indent", indented_len(&text, a[0].to_i64()))?;
        Ok(Value::from(indent(&text, a[0].to_i64(), false)))
    });
    m.insert("nindent", |e, a| {
        want(&a, 2, "nindent")?;
        let text = s(&a[1]);
        super::super::within_output(e, "nindent", indented_len(&text, a[0].to_i64()) + 1)?;
        Ok(Value::from(indent(&text, a[0].to_i64(), true)))
    });
    m.insert("replace", |_, a| {
        want(&a, 3, "replace")?;
        Ok(Value::from(s(&a[2]).replace(&*s(&a[0]), &s(&a[1]))))
    });
    m.insert("plural", |_, a| {
        want(&a, 3, "plural")?;
        Ok(if a[2].to_i64() == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    m.insert("snakecase", |_, a| {
        Ok(Value::from(snake(&s(arg(&a, 0)), '_')))
    });
    m.insert("kebabcase", |_, a| {
        Ok(Value::from(snake(&s(arg(&a, 0)), '-')))
    });
    m.insert("camelcase", |_, a| {
        let x = s(arg(&a, 0));
        Ok(Value::from(
            x.split(['_', ' ', '-'])
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let mut c = p.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<String>(),
        ))
    });
    m.insert("swapcase", |_, a| {
        Ok(Value::from(
            s(arg(&a, 0))
                .chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect::<String>(),
        ))
    });
    m.insert("toString", |_, a| {
        let v = arg(&a, 0);
        Ok(match v {
            Value::BinStr(_) => v.clone(),
            // Go's string([]byte) keeps the bytes
            Value::Bytes(b) => Value::from_go_bytes(b.to_vec()),
            _ => same_or(v, &s(v)),
        })
    });
    m.insert("toStrings", |_, a| {
        Ok(Value::from(
            list_of(arg(&a, 0), "toStrings")?
                .iter()
                .map(|x| Value::from(x.to_str()))
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("join", |_, a| {
        want(&a, 2, "join")?;
        Ok(Value::from(str_list(&a[1]).join(&s(&a[0]))))
    });
    m.insert("split", |_, a| {
        want(&a, 2, "split")?;
        let sep = s(&a[0]);
        let mut out = BTreeMap::new();
        for (i, p) in go_split(&s(&a[1]), &sep).into_iter().enumerate() {
            out.insert(format!("_{i}"), Value::from(p));
        }
        Ok(Value::from(out))
    });
    m.insert("splitn", |_, a| {
        want(&a, 3, "splitn")?;
        let sep = s(&a[0]);
        let n = a[1].to_i64().max(0) as usize;
        let mut out = BTreeMap::new();
        for (i, p) in s(&a[2]).splitn(n, &*sep).enumerate() {
            out.insert(format!("_{i}"), Value::from(p));
        }
        Ok(Value::from(out))
    });
    m.insert("splitList", |_, a| {
        want(&a, 2, "splitList")?;
        Ok(Value::from(
            go_split(&s(&a[1]), &s(&a[0]))
                .into_iter()
                .map(Value::from)
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("sortAlpha", |_, a| {
        let mut l = str_list(arg(&a, 0));
        l.sort();
        Ok(Value::from(
            l.into_iter().map(Value::from).collect::<Vec<_>>(),
        ))
    });
    // regex
    m.insert("regexMatch", |_, a| {
        want(&a, 2, "regexMatch")?;
        // Sprig drops the compile error: an invalid pattern matches nothing
        Ok(Value::Bool(re(&a[0]).is_ok_and(|r| r.is_match(&s(&a[1])))))
    });
    m.insert("mustRegexMatch", |_, a| {
        want(&a, 2, "mustRegexMatch")?;
        Ok(Value::Bool(re(&a[0])?.is_match(&s(&a[1]))))
    });
    m.insert("regexFind", |_, a| {
        want(&a, 2, "regexFind")?;
        Ok(Value::from(
            re(&a[0])?
                .find(&s(&a[1]))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ))
    });
    m.insert("regexFindAll", |_, a| {
        want(&a, 3, "regexFindAll")?;
        let n = a[2].to_i64();
        let st = s(&a[1]);
        let r = re(&a[0])?;
        let it = r.find_iter(&st).map(|m| Value::from(m.as_str()));
        let v: Vec<Value> = if n < 0 {
            it.collect()
        } else {
            it.take(n as usize).collect()
        };
        Ok(Value::from(v))
    });
    m.insert("regexReplaceAll", |_, a| {
        want(&a, 3, "regexReplaceAll")?;
        let repl = go_expand(&s(&a[2]));
        Ok(Value::from(
            re(&a[0])?
                .replace_all(&s(&a[1]), repl.as_str())
                .into_owned(),
        ))
    });
    m.insert("regexReplaceAllLiteral", |_, a| {
        want(&a, 3, "regexReplaceAllLiteral")?;
        Ok(Value::from(
            re(&a[0])?
                .replace_all(&s(&a[1]), regex::NoExpand(&s(&a[2])))
                .into_owned(),
        ))
    });
    m.insert("regexSplit", |_, a| {
        want(&a, 3, "regexSplit")?;
        let n = a[2].to_i64();
        let st = s(&a[1]);
        let r = re(&a[0])?;
        let v: Vec<Value> = if n < 0 {
            r.split(&st).map(Value::from).collect()
        } else {
            r.splitn(&st, n as usize).map(Value::from).collect()
        };
        Ok(Value::from(v))
    });
    m.insert("regexQuoteMeta", |_, a| {
        Ok(Value::from(super::super::go_regex::quote_meta(&s(arg(
            &a, 0,
        )))))
    });
}
