use super::*;

// --- validation -----------------------------------------------------------------------------

impl<'a> Ctx<'a> {
    pub(super) fn regex(&self, pattern: &str) -> Option<regex::Regex> {
        let mut cache = self.regexes.borrow_mut();
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| regex::Regex::new(&goregex::to_rust(pattern)).ok())
            .clone()
    }

    /// Validates `v` (at `loc`) against the schema `s`: Helm's `validator.validate`. Also
    /// returns what of `v` stays unevaluated (tracked when `needs`, or for the schema's own
    /// `unevaluated*` keywords).
    pub(super) fn validate(
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
    pub(super) fn uneval_from(&self, s: &Json, v: &Value, needs: bool) -> Uneval {
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

    pub(super) fn check(
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
    pub(super) fn unevaluated(
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
    pub(super) fn sub(
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
    pub(super) fn location(&self, sch: usize) -> &str {
        self.locations
            .get_or_init(|| locations(self.doc))
            .get(&sch)
            .map_or("", String::as_str)
    }

    /// The keywords that led from the root to a scope (`/properties/x/$ref`).
    pub(super) fn keyword_location(&self, sc: &Scope<'_>) -> String {
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
    pub(super) fn validate_ref(
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
    pub(super) fn child(
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
    pub(super) fn object(
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

    pub(super) fn array(
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

    pub(super) fn string(
        &self,
        s: &BTreeMap<String, Json>,
        st: &str,
        loc: &[String],
        errs: &mut Vec<VErr>,
    ) {
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

    pub(super) fn number(
        &self,
        s: &BTreeMap<String, Json>,
        v: &Value,
        loc: &[String],
        errs: &mut Vec<VErr>,
    ) {
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

    pub(super) fn conditions(
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
