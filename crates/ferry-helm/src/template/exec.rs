//! The evaluator: walks a parsed template with Go's semantics.

use std::cell::RefCell;
use std::rc::Rc;

use super::parse::{line_col, Arg, BranchKind, Cmd, List, Node, Pipe, Pos};
use crate::rand::DetRng;
use crate::value::Value;

/// The clock used when `RenderOptions::now` is `None` (the render layer's default): 2025-01-01T00:00:00Z.
pub const DEFAULT_NOW: i64 = 1_735_689_600;

pub use crate::value::ExecError;

/// A template function.
pub type Func = fn(&mut Exec, Vec<Value>) -> Result<Value, ExecError>;

/// The function table, hashed with FNV-1a (names are short).
pub type FuncMap =
    std::collections::HashMap<&'static str, Func, std::hash::BuildHasherDefault<Fnv>>;

/// FNV-1a, a fast hash for short keys.
#[derive(Default)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A named template: its body and where it came from.
pub struct TemplateDef {
    /// The name it is called by.
    pub name: Rc<str>,
    /// The file the template was parsed from (Go's ParseName).
    pub file: Rc<str>,
    /// The source of that file, for error locations.
    pub src: std::sync::Arc<str>,
    /// The body.
    pub body: Rc<List>,
    /// Its literal text, taking the larger branch of each `if`/`else`: an estimate of its output.
    text_len: usize,
}

impl TemplateDef {
    /// A template called `name`, parsed from `file` whose text is `src`.
    pub fn new(name: &str, file: Rc<str>, src: std::sync::Arc<str>, body: List) -> Self {
        TemplateDef {
            name: Rc::from(name),
            file,
            src,
            text_len: text_len(&body),
            body: Rc::new(body),
        }
    }
}

/// The literal text of a body, taking the larger branch of each `if`/`else`.
fn text_len(list: &[Node]) -> usize {
    list.iter()
        .map(|n| match n {
            Node::Text(t) => t.as_str().len(),
            Node::Branch {
                list, else_list, ..
            } => text_len(list).max(else_list.as_deref().map_or(0, text_len)),
            _ => 0,
        })
        .sum()
}

/// Named templates by name.
pub type TemplateMap = rustc_hash::FxHashMap<String, Rc<TemplateDef>>;

/// All named templates visible to an execution.
pub type TemplateSet = Rc<RefCell<TemplateMap>>;

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Limits that stop runaway templates.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum nesting of `template`/`include`/`tpl` calls.
    pub max_depth: usize,
    /// Maximum bytes of output of one execution.
    pub max_output: usize,
    /// Maximum steps of one execution: nodes walked plus `range` iterations. Go has no such
    /// limit; it stops templates that would run for hours (nested `range`s of 1e10 steps).
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 3000,
            max_output: 256 * 1024 * 1024,
            max_steps: 100_000_000,
        }
    }
}

/// Execution state shared across nested template calls.
pub struct Exec {
    /// Named templates.
    pub templates: TemplateSet,
    /// Variables in scope, innermost last; those of the current template call start at `frame`.
    vars: Vec<(Rc<str>, Value)>,
    frame: usize,
    /// `$`, shared by every template call.
    dollar: Rc<str>,
    depth: usize,
    /// Per-name nesting counts of `include`, as Helm keeps them.
    pub include_counts: rustc_hash::FxHashMap<String, usize>,
    /// The deterministic random generator for rand*/gen* functions.
    pub rng: DetRng,
    /// Limits.
    pub limits: Limits,
    cur_name: Rc<str>,
    cur_def: Option<Rc<TemplateDef>>,
    total_output: usize,
    steps: u64,
    /// Functions.
    pub funcs: &'static FuncMap,
    /// The render clock (Unix seconds): what Sprig's `now` returns and where generated
    /// certificates' validity starts.
    pub now: i64,
    /// Warnings for the render's caller (e.g. a generated certificate already expired).
    pub warnings: Vec<String>,
}

impl Exec {
    /// A new execution state.
    pub fn new(
        templates: TemplateSet,
        rng: DetRng,
        limits: Limits,
        funcs: &'static FuncMap,
    ) -> Self {
        Exec {
            templates,
            vars: Vec::new(),
            frame: 0,
            dollar: Rc::from("$"),
            depth: 0,
            include_counts: rustc_hash::FxHashMap::default(),
            rng,
            limits,
            cur_name: Rc::from(""),
            cur_def: None,
            total_output: 0,
            steps: 0,
            funcs,
            now: DEFAULT_NOW,
            warnings: Vec::new(),
        }
    }

    /// The name of the template being executed.
    pub fn current_template(&self) -> &str {
        &self.cur_name
    }

    /// Executes the named template with `data`, returning its output.
    pub fn execute(&mut self, name: &str, data: Value) -> Result<String, ExecError> {
        let def = self.templates.borrow().get(name).cloned();
        let Some(def) = def else {
            return Err(ExecError {
                message: format!(
                    "template: no template {name:?} associated with template {:?}",
                    self.cur_name.as_ref()
                ),
                located: true,
            });
        };
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            self.depth -= 1;
            return Err(ExecError {
                message: format!(
                    "template: {name}: exceeded maximum template depth ({})",
                    self.limits.max_depth
                ),
                located: true,
            });
        }
        // a called template sees only its own `$`
        let saved_frame = std::mem::replace(&mut self.frame, self.vars.len());
        self.vars.push((self.dollar.clone(), data.clone()));
        let saved_name = std::mem::replace(&mut self.cur_name, def.name.clone());
        let saved_def = self.cur_def.replace(def.clone());
        // the body's text estimates the output: one allocation for CRD-sized templates instead
        // of a doubling series of copies
        let mut out = String::with_capacity(def.text_len.min(self.limits.max_output));
        let r = self.walk_list(&mut out, &def.body, &data);
        self.vars.truncate(self.frame);
        self.frame = saved_frame;
        self.cur_name = saved_name;
        self.cur_def = saved_def;
        self.depth -= 1;
        r.map(|_| out)
    }

    fn location(&self, pos: Pos) -> String {
        match &self.cur_def {
            Some(d) => {
                let (l, c) = line_col(&d.src, pos);
                format!("{}:{l}:{c}", d.file)
            }
            None => self.cur_name.to_string(),
        }
    }

    fn fail(&self, pos: Pos, node: &dyn std::fmt::Display, msg: &str) -> ExecError {
        ExecError {
            message: format!(
                "template: {}: executing {:?} at <{}>: {}",
                self.location(pos),
                self.cur_name.as_ref(),
                node,
                msg
            ),
            located: true,
        }
    }

    fn wrap(&self, pos: Pos, node: &dyn std::fmt::Display, e: ExecError) -> ExecError {
        if e.located && e.message.starts_with("template: ") && !e.message.contains("error calling")
        {
            // errors from nested `template` actions are passed on as they are
            return e;
        }
        self.fail(pos, node, &e.message)
    }

    fn write(&mut self, out: &mut String, s: &str) -> Result<(), ExecError> {
        self.count_output(s.len())?;
        out.push_str(s);
        Ok(())
    }

    /// Counts `n` more bytes of output against the limit.
    fn count_output(&mut self, n: usize) -> Result<(), ExecError> {
        self.total_output += n;
        if self.total_output > self.limits.max_output {
            return Err(ExecError {
                message: format!(
                    "template: {}: output exceeds the limit of {} bytes",
                    self.cur_name, self.limits.max_output
                ),
                located: true,
            });
        }
        Ok(())
    }

    /// Counts one more step (a node walked, a `range` iteration) against the limit.
    fn count_step(&mut self) -> Result<(), ExecError> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(ExecError {
                message: format!(
                    "template: {}: execution exceeds the limit of {} steps",
                    self.cur_name, self.limits.max_steps
                ),
                located: true,
            });
        }
        Ok(())
    }

    fn walk_list(&mut self, out: &mut String, list: &List, dot: &Value) -> Result<Flow, ExecError> {
        for n in list {
            match self.walk(out, n, dot)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, out: &mut String, node: &Node, dot: &Value) -> Result<Flow, ExecError> {
        self.count_step()?;
        match node {
            Node::Text(t) => self.write(out, t.as_str())?,
            Node::Action(pipe) => {
                let v = self.eval_pipe(dot, pipe)?;
                if pipe.decl.is_empty() {
                    match &v {
                        Value::Str(s) => self.write(out, s)?,
                        Value::Nil => self.write(out, "<no value>")?,
                        other => {
                            let before = out.len();
                            other.write_go(out, true);
                            self.count_output(out.len() - before)?;
                        }
                    }
                }
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                let data = match pipe {
                    Some(p) => self.eval_pipe(dot, p)?,
                    None => Value::Nil,
                };
                let exists = self.templates.borrow().contains_key(name);
                if !exists {
                    return Err(self.fail(
                        *pos,
                        &format!("template {name:?}"),
                        &format!("template {name:?} not defined"),
                    ));
                }
                let s = self.execute(name, data)?;
                self.write(out, &s)?;
                let _ = pos;
            }
            Node::Branch {
                kind,
                pipe,
                list,
                else_list,
            } => {
                let mark = self.vars.len();
                let r = self.walk_branch(out, *kind, pipe, list, else_list.as_ref(), dot);
                self.vars.truncate(mark);
                return r;
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_branch(
        &mut self,
        out: &mut String,
        kind: BranchKind,
        pipe: &Pipe,
        list: &List,
        else_list: Option<&List>,
        dot: &Value,
    ) -> Result<Flow, ExecError> {
        match kind {
            BranchKind::If | BranchKind::With => {
                let v = self.eval_pipe(dot, pipe)?;
                if v.truthy() {
                    let d = if kind == BranchKind::With { &v } else { dot };
                    return self.walk_list(out, list, d);
                } else if let Some(e) = else_list {
                    return self.walk_list(out, e, dot);
                }
                Ok(Flow::Normal)
            }
            BranchKind::Range => {
                // evaluate without declaring the variables
                let v = self.eval_pipe_raw(dot, pipe)?;
                // an integer is counted through, never made into a list (`range 10000000000`)
                let count = match &v {
                    Value::Int(n) | Value::Int64(n) => Some(*n),
                    Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
                    _ => None,
                };
                if let Some(n) = count {
                    if n <= 0 {
                        return self.range_else(out, else_list, dot);
                    }
                    let int64 = matches!(v, Value::Int64(_));
                    for i in 0..n {
                        let i = if int64 {
                            Value::Int64(i)
                        } else {
                            Value::Int(i)
                        };
                        if let Flow::Break = self.range_step(out, pipe, list, i.clone(), i)? {
                            break;
                        }
                    }
                    return Ok(Flow::Normal);
                }
                let items: Vec<(Value, Value)> = match &v {
                    Value::List(l) => l
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Value::Int(i as i64), x.clone()))
                        .collect(),
                    Value::Bytes(b) => b
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (Value::Int(i as i64), Value::Int(i64::from(*x))))
                        .collect(),
                    Value::Map(m) => m
                        .borrow()
                        .iter()
                        .map(|(k, x)| (Value::from(k.as_str()), x.clone()))
                        .collect(),
                    Value::Nil => Vec::new(),
                    Value::Object(o) if o.entries().is_some() => o
                        .entries()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, x)| (Value::from(k), x))
                        .collect(),
                    other => {
                        return Err(self.fail(
                            pipe.pos,
                            pipe,
                            &format!("range can't iterate over {}", other.go_string()),
                        ))
                    }
                };
                if items.is_empty() {
                    return self.range_else(out, else_list, dot);
                }
                for (k, x) in items {
                    if let Flow::Break = self.range_step(out, pipe, list, k, x)? {
                        break;
                    }
                }
                Ok(Flow::Normal)
            }
        }
    }

    /// The `else` of a `range` over nothing.
    fn range_else(
        &mut self,
        out: &mut String,
        else_list: Option<&List>,
        dot: &Value,
    ) -> Result<Flow, ExecError> {
        match else_list {
            Some(e) => self.walk_list(out, e, dot),
            None => Ok(Flow::Normal),
        }
    }

    /// One iteration of a `range`: its variables bound to key `k` and element `x`, the body
    /// walked with `x` as dot.
    fn range_step(
        &mut self,
        out: &mut String,
        pipe: &Pipe,
        list: &List,
        k: Value,
        x: Value,
    ) -> Result<Flow, ExecError> {
        self.count_step()?;
        let mark = self.vars.len();
        match pipe.decl.len() {
            0 => {}
            1 => self.vars.push((pipe.decl[0].clone(), x.clone())),
            _ => {
                self.vars.push((pipe.decl[0].clone(), k));
                self.vars.push((pipe.decl[1].clone(), x.clone()));
            }
        }
        let f = self.walk_list(out, list, &x);
        self.vars.truncate(mark);
        f
    }

    fn eval_pipe(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, ExecError> {
        let v = self.eval_pipe_raw(dot, pipe)?;
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, v.clone());
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_pipe_raw(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, ExecError> {
        let mut final_v: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_cmd(dot, cmd, final_v.take())?;
            final_v = Some(v);
        }
        Ok(final_v.unwrap_or(Value::Nil))
    }

    fn set_var(&mut self, name: &str, v: Value) {
        let frame = self.frame.min(self.vars.len());
        for (n, x) in self.vars[frame..].iter_mut().rev() {
            if n.as_ref() == name {
                *x = v;
                return;
            }
        }
    }

    fn var(&self, name: &str) -> Value {
        let frame = self.frame.min(self.vars.len());
        for (n, x) in self.vars[frame..].iter().rev() {
            if n.as_ref() == name {
                return x.clone();
            }
        }
        Value::Nil
    }

    fn eval_cmd(
        &mut self,
        dot: &Value,
        cmd: &Cmd,
        final_v: Option<Value>,
    ) -> Result<Value, ExecError> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match first {
            Arg::Func(pos, name) => self.call_func(dot, *pos, name, cmd, rest, final_v),
            Arg::Field(pos, fields) => {
                let r =
                    self.eval_fields(dot, *pos, first, dot.clone(), fields, rest, final_v, true)?;
                Ok(r)
            }
            Arg::Var(pos, name, fields) => {
                let base = self.var(name);
                if fields.is_empty() {
                    self.not_a_function(cmd, &final_v)?;
                    return Ok(base);
                }
                self.eval_fields(dot, *pos, first, base, fields, rest, final_v, false)
            }
            Arg::Chain(pos, inner, fields) => {
                let base = self.eval_arg(dot, inner)?;
                self.eval_fields(dot, *pos, first, base, fields, rest, final_v, false)
            }
            other => {
                self.not_a_function(cmd, &final_v)?;
                self.eval_arg(dot, other)
            }
        }
    }

    fn not_a_function(&self, cmd: &Cmd, final_v: &Option<Value>) -> Result<(), ExecError> {
        if cmd.args.len() > 1 || final_v.is_some() {
            return Err(self.fail(
                cmd.pos,
                cmd,
                &format!("can't give argument to non-function {}", cmd.args[0]),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_fields(
        &mut self,
        dot: &Value,
        pos: Pos,
        node: &Arg,
        mut recv: Value,
        fields: &[Rc<str>],
        args: &[Arg],
        final_v: Option<Value>,
        from_dot: bool,
    ) -> Result<Value, ExecError> {
        let n = fields.len();
        // Go: a nil base (dot, variable, parenthesized pipeline) is an invalid value, and fields
        // of it are nil without error; a nil found in a map is a typed nil and errors.
        let mut untyped = matches!(recv, Value::Nil);
        let _ = from_dot;
        for (i, f) in fields.iter().enumerate() {
            let last = i + 1 == n;
            let has_args = last && (!args.is_empty() || final_v.is_some());
            recv = match &recv {
                Value::Map(m) => {
                    if has_args {
                        return Err(self.fail(
                            pos,
                            node,
                            &format!("{f} is not a method but has arguments"),
                        ));
                    }
                    let v = m.borrow().get(&**f).cloned();
                    untyped = false;
                    v.unwrap_or(Value::Nil)
                }
                Value::Object(o) => {
                    if has_args {
                        let mut vals = Vec::new();
                        for a in args {
                            vals.push(self.eval_arg(dot, a)?);
                        }
                        if let Some(fv) = &final_v {
                            vals.push(fv.clone());
                        }
                        match o.call(f, &vals) {
                            Some(Ok(v)) => v,
                            Some(Err(e)) => {
                                return Err(self.fail(
                                    pos,
                                    node,
                                    &format!("error calling {f}: {}", e.message),
                                ))
                            }
                            None => {
                                return Err(self.fail(
                                    pos,
                                    node,
                                    &format!("can't evaluate field {f} in type {}", o.type_name()),
                                ))
                            }
                        }
                    } else {
                        match o.field(f) {
                            Some(v) => v,
                            None => {
                                return Err(self.fail(
                                    pos,
                                    node,
                                    &format!("can't evaluate field {f} in type {}", o.type_name()),
                                ))
                            }
                        }
                    }
                }
                Value::Nil => {
                    if untyped {
                        Value::Nil
                    } else {
                        return Err(self.fail(
                            pos,
                            node,
                            &format!("nil pointer evaluating interface {{}}.{f}"),
                        ));
                    }
                }
                other => {
                    return Err(self.fail(
                        pos,
                        node,
                        &format!("can't evaluate field {f} in type {}", other.type_name()),
                    ))
                }
            };
        }
        Ok(recv)
    }

    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> Result<Value, ExecError> {
        Ok(match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => Value::Nil,
            Arg::Bool(_, b) => Value::Bool(*b),
            Arg::Int(_, i) => Value::Int(*i),
            Arg::Float(_, f) => Value::Float(*f),
            Arg::Str(_, s) => Value::Str(s.clone()),
            Arg::Field(p, fs) => {
                self.eval_fields(dot, *p, arg, dot.clone(), fs, &[], None, true)?
            }
            Arg::Var(p, name, fs) => {
                let base = self.var(name);
                if fs.is_empty() {
                    base
                } else {
                    self.eval_fields(dot, *p, arg, base, fs, &[], None, false)?
                }
            }
            Arg::Chain(p, inner, fs) => {
                let base = self.eval_arg(dot, inner)?;
                self.eval_fields(dot, *p, arg, base, fs, &[], None, false)?
            }
            Arg::Pipe(_, p) => {
                let mark = self.vars.len();
                let v = self.eval_pipe(dot, p);
                self.vars.truncate(mark);
                v?
            }
            Arg::Func(p, name) => {
                let cmd = Cmd {
                    pos: *p,
                    args: vec![arg.clone()],
                };
                self.call_func(dot, *p, name, &cmd, &[], None)?
            }
        })
    }

    fn call_func(
        &mut self,
        dot: &Value,
        pos: Pos,
        name: &str,
        cmd: &Cmd,
        args: &[Arg],
        final_v: Option<Value>,
    ) -> Result<Value, ExecError> {
        // short-circuit and/or
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(final_v.is_some());
            if total == 0 {
                return Err(self.fail(
                    pos,
                    cmd,
                    &format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.eval_arg(dot, a)?;
                if (name == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            if let Some(f) = final_v {
                last = f;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
        }
        if let Some(f) = final_v {
            vals.push(f);
        }
        let f = self.funcs.get(name).copied();
        let Some(f) = f else {
            return Err(self.fail(pos, cmd, &format!("function {name:?} not defined")));
        };
        f(self, vals).map_err(|e| {
            // the node is only needed to word an error
            let node = &Arg::Func(pos, Rc::from(name));
            if e.located {
                self.fail(pos, node, &format!("error calling {name}: {}", e.message))
            } else {
                self.wrap(
                    pos,
                    node,
                    ExecError::new(format!("error calling {name}: {}", e.message)),
                )
            }
        })
    }
}
