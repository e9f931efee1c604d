//! Lexer and parser for Go's text/template syntax.

use std::rc::Rc;

mod lex;
use lex::*;

/// A byte offset into a template's source, for error locations.
pub type Pos = usize;

/// A parsed template body.
pub type List = Vec<Node>;

/// Literal text of a template: a byte range of its (shared) source.
#[derive(Debug, Clone)]
pub struct TextRef {
    src: std::sync::Arc<str>,
    start: usize,
    end: usize,
}

impl TextRef {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.src.get(self.start..self.end).unwrap_or("")
    }
}

/// A node of a template body.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text: a range of the template's source.
    Text(TextRef),
    /// `{{ pipeline }}`.
    Action(Pipe),
    /// `{{ if }}`, `{{ range }}`, `{{ with }}`.
    Branch {
        /// Which control structure.
        kind: BranchKind,
        /// The condition/range pipeline.
        pipe: Pipe,
        /// The body.
        list: List,
        /// The else branch.
        else_list: Option<List>,
    },
    /// `{{ template "name" pipe }}`.
    Template {
        /// Position of the action.
        pos: Pos,
        /// The template called.
        name: String,
        /// Its data.
        pipe: Option<Pipe>,
    },
    /// `{{ break }}`.
    Break,
    /// `{{ continue }}`.
    Continue,
}

/// The kind of a control structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchKind {
    /// `if`.
    If,
    /// `range`.
    Range,
    /// `with`.
    With,
}

/// A pipeline: optional variable declarations and commands joined by `|`.
#[derive(Debug, Clone)]
pub struct Pipe {
    /// Position of the pipeline.
    pub pos: Pos,
    /// Whether the declarations are assignments (`=`) rather than declarations (`:=`).
    pub is_assign: bool,
    /// Declared variables.
    pub decl: Vec<Rc<str>>,
    /// Commands.
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: an operand followed by arguments.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// Position of the command.
    pub pos: Pos,
    /// Operands.
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.` itself.
    Dot(Pos),
    /// `.A.B`.
    Field(Pos, Vec<Rc<str>>),
    /// `$x.A.B`.
    Var(Pos, Rc<str>, Vec<Rc<str>>),
    /// A function name.
    Func(Pos, Rc<str>),
    /// `(pipe).A.B` or a term followed by fields.
    Chain(Pos, Box<Arg>, Vec<Rc<str>>),
    /// `(pipe)`.
    Pipe(Pos, Box<Pipe>),
    /// A string constant.
    Str(Pos, Rc<str>),
    /// An integer constant.
    Int(Pos, i64),
    /// A float constant.
    Float(Pos, f64),
    /// `true`/`false`.
    Bool(Pos, bool),
    /// `nil`.
    Nil(Pos),
}

impl Arg {
    /// Position of the operand.
    pub fn pos(&self) -> Pos {
        match self {
            Arg::Dot(p)
            | Arg::Field(p, _)
            | Arg::Var(p, _, _)
            | Arg::Func(p, _)
            | Arg::Chain(p, _, _)
            | Arg::Pipe(p, _)
            | Arg::Str(p, _)
            | Arg::Int(p, _)
            | Arg::Float(p, _)
            | Arg::Bool(p, _)
            | Arg::Nil(p) => *p,
        }
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Dot(_) => f.write_str("."),
            Arg::Field(_, fs) => {
                for x in fs {
                    write!(f, ".{x}")?;
                }
                Ok(())
            }
            Arg::Var(_, v, fs) => {
                f.write_str(v)?;
                for x in fs {
                    write!(f, ".{x}")?;
                }
                Ok(())
            }
            Arg::Func(_, n) => f.write_str(n),
            Arg::Chain(_, a, fs) => {
                write!(f, "{a}")?;
                for x in fs {
                    write!(f, ".{x}")?;
                }
                Ok(())
            }
            Arg::Pipe(_, p) => write!(f, "({p})"),
            Arg::Str(_, s) => write!(f, "{s:?}"),
            Arg::Int(_, i) => write!(f, "{i}"),
            Arg::Float(_, x) => write!(f, "{}", crate::value::format_float_g(*x)),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Nil(_) => f.write_str("nil"),
        }
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// A parse error: message and the line it was found on.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The message, as Go words it.
    pub message: String,
}

/// The result of parsing one source: its body and the templates it defines.
pub struct Parsed {
    /// The main body.
    pub body: List,
    /// `{{ define }}`d and `{{ block }}` templates.
    pub defines: Vec<(String, List)>,
}

/// How a list ended: the keyword (`end` or `else`) and where, or `None` at the end of input.
type ListEnd = Option<(&'static str, Pos)>;

struct Parser<'a> {
    src: &'a str,
    shared: std::sync::Arc<str>,
    toks: Vec<Token<'a>>,
    escaped: Vec<String>,
    i: usize,
    vars: Vec<&'a str>,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: Vec<(String, List)>,
    range_depth: usize,
    depth: usize,
}

/// Parses a template source. `is_func` says which function names exist.
pub fn parse(src: &str, is_func: &dyn Fn(&str) -> bool) -> Result<Parsed, ParseError> {
    parse_shared(&std::sync::Arc::from(src), is_func)
}

/// Parses a shared template source; text nodes refer to it without copying.
pub fn parse_shared(
    shared: &std::sync::Arc<str>,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Parsed, ParseError> {
    let src: &str = shared;
    let Lexed { toks, escaped } = lex(src)?;
    let mut p = Parser {
        src,
        shared: shared.clone(),
        toks,
        escaped,
        i: 0,
        vars: vec!["$"],
        is_func,
        defines: Vec::new(),
        range_depth: 0,
        depth: 0,
    };
    let (body, end) = p.list(true)?;
    if let Some((e, pos)) = end {
        return Err(p.err(pos, format!("unexpected {{{{{e}}}}}")));
    }
    Ok(Parsed {
        body,
        defines: p.defines,
    })
}

impl<'a> Parser<'a> {
    fn err(&self, pos: Pos, m: String) -> ParseError {
        ParseError {
            line: line_of(self.src, pos),
            message: m,
        }
    }
    fn peek(&self) -> Token<'a> {
        // the lexer always ends with Eof, so the last token stands for everything past it
        match self.toks.get(self.i) {
            Some(t) => *t,
            None => self.toks.last().copied().unwrap_or(Token {
                tok: Tok::Eof,
                pos: self.src.len(),
            }),
        }
    }
    fn next(&mut self) -> Token<'a> {
        let t = self.peek();
        self.i += 1;
        t
    }
    fn peek_non_space(&mut self) -> Token<'a> {
        while matches!(
            self.toks.get(self.i),
            Some(Token {
                tok: Tok::Space,
                ..
            })
        ) {
            self.i += 1;
        }
        self.peek()
    }
    /// A name (field, function, variable) for the tree. (Interning them in a table per parse
    /// was measured slower than copying each.)
    fn name(&self, s: &'a str) -> Rc<str> {
        Rc::from(s)
    }
    /// The value of a string literal.
    fn lit(&self, l: Lit<'a>) -> &str {
        match l {
            Lit::Raw(s) => s,
            Lit::Escaped(i) => self.escaped.get(i).map_or("", String::as_str),
        }
    }
    fn next_non_space(&mut self) -> Token<'a> {
        self.peek_non_space();
        self.next()
    }

    /// Parses a list until `{{end}}`/`{{else}}` (returned) or EOF (top only).
    fn list(&mut self, top: bool) -> Result<(List, ListEnd), ParseError> {
        self.depth += 1;
        if self.depth > 5000 {
            return Err(self.err(self.peek().pos, "template nesting too deep".into()));
        }
        let mut out = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => {
                    self.depth -= 1;
                    if top {
                        return Ok((out, None));
                    }
                    return Err(self.err(t.pos, "unexpected EOF".into()));
                }
                Tok::Text(a, b) => out.push(Node::Text(TextRef {
                    src: self.shared.clone(),
                    start: a,
                    end: b,
                })),
                Tok::Left => {
                    let k = self.peek_non_space();
                    if let Tok::Ident(word) = k.tok {
                        match word {
                            "end" | "else" => {
                                self.next_non_space();
                                if top {
                                    return Err(
                                        self.err(k.pos, format!("unexpected {{{{{word}}}}}"))
                                    );
                                }
                                self.depth -= 1;
                                return Ok((
                                    out,
                                    Some((if word == "end" { "end" } else { "else" }, k.pos)),
                                ));
                            }
                            "if" | "range" | "with" => {
                                self.next_non_space();
                                let kind = match word {
                                    "if" => BranchKind::If,
                                    "range" => BranchKind::Range,
                                    _ => BranchKind::With,
                                };
                                out.push(self.branch(kind, k.pos)?);
                                continue;
                            }
                            "define" | "block" => {
                                self.next_non_space();
                                let name_tok = self.next_non_space();
                                let Tok::Str(name) = name_tok.tok else {
                                    return Err(self.err(
                                        name_tok.pos,
                                        format!(
                                            "unexpected {} in {word} clause",
                                            tok_desc(&name_tok.tok)
                                        ),
                                    ));
                                };
                                let name = self.lit(name).to_string();
                                if word == "define" {
                                    if !top || self.depth > 1 {
                                        return Err(self
                                            .err(k.pos, "unexpected <define> in command".into()));
                                    }
                                    let r = self.next_non_space();
                                    if r.tok != Tok::Right {
                                        return Err(self.err(
                                            r.pos,
                                            "unexpected token in define clause".into(),
                                        ));
                                    }
                                    let saved = std::mem::replace(&mut self.vars, vec!["$"]);
                                    let (body, end) = self.list(false)?;
                                    self.vars = saved;
                                    match end {
                                        Some(("end", _)) => {
                                            self.expect_right()?;
                                        }
                                        _ => {
                                            return Err(self.err(
                                                k.pos,
                                                "unexpected {{else}} in define".into(),
                                            ))
                                        }
                                    }
                                    self.defines.push((name, body));
                                } else {
                                    let pipe = self.pipeline("block", false)?;
                                    let saved = std::mem::replace(&mut self.vars, vec!["$"]);
                                    let (body, end) = self.list(false)?;
                                    self.vars = saved;
                                    match end {
                                        Some(("end", _)) => self.expect_right()?,
                                        _ => {
                                            return Err(self
                                                .err(k.pos, "unexpected {{else}} in block".into()))
                                        }
                                    }
                                    self.defines.push((name.clone(), body));
                                    out.push(Node::Template {
                                        pos: k.pos,
                                        name,
                                        pipe: Some(pipe),
                                    });
                                }
                                continue;
                            }
                            "template" => {
                                self.next_non_space();
                                let name_tok = self.next_non_space();
                                let Tok::Str(name) = name_tok.tok else {
                                    return Err(self.err(
                                        name_tok.pos,
                                        "unexpected token in template clause".into(),
                                    ));
                                };
                                let name = self.lit(name).to_string();
                                let r = self.peek_non_space();
                                let pipe = if r.tok == Tok::Right {
                                    self.next();
                                    None
                                } else {
                                    Some(self.pipeline("template clause", false)?)
                                };
                                out.push(Node::Template {
                                    pos: k.pos,
                                    name,
                                    pipe,
                                });
                                continue;
                            }
                            "break" | "continue" => {
                                self.next_non_space();
                                if self.range_depth == 0 {
                                    return Err(self.err(
                                        k.pos,
                                        format!("{{{{{word}}}}} outside {{{{range}}}}"),
                                    ));
                                }
                                self.expect_right()?;
                                out.push(if word == "break" {
                                    Node::Break
                                } else {
                                    Node::Continue
                                });
                                continue;
                            }
                            _ => {}
                        }
                    }
                    let pipe = self.pipeline("command", false)?;
                    out.push(Node::Action(pipe));
                }
                other => {
                    return Err(self.err(t.pos, format!("unexpected {other:?}")));
                }
            }
        }
    }

    fn expect_right(&mut self) -> Result<(), ParseError> {
        let r = self.next_non_space();
        if r.tok != Tok::Right {
            return Err(self.err(r.pos, format!("unexpected {:?} in end", r.tok)));
        }
        Ok(())
    }

    fn branch(&mut self, kind: BranchKind, pos: Pos) -> Result<Node, ParseError> {
        let mark = self.vars.len();
        let ctx = match kind {
            BranchKind::If => "if",
            BranchKind::Range => "range",
            BranchKind::With => "with",
        };
        let pipe = self.pipeline(ctx, false)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let (list, end) = self.list(false)?;
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        match end {
            Some(("end", _)) => self.expect_right()?,
            Some((_, epos)) => {
                // else: maybe `else if` / `else with`
                let k = self.peek_non_space();
                let chained = match &k.tok {
                    Tok::Ident(w) if &**w == "if" && kind == BranchKind::If => Some(BranchKind::If),
                    Tok::Ident(w) if &**w == "with" && kind == BranchKind::With => {
                        Some(BranchKind::With)
                    }
                    _ => None,
                };
                if let Some(ck) = chained {
                    self.next_non_space();
                    self.vars.truncate(mark);
                    let inner = self.branch(ck, epos)?;
                    else_list = Some(vec![inner]);
                    self.vars.truncate(mark);
                    return Ok(Node::Branch {
                        kind,
                        pipe,
                        list,
                        else_list,
                    });
                }
                self.expect_right()?;
                let (el, end2) = self.list(false)?;
                match end2 {
                    Some(("end", _)) => self.expect_right()?,
                    _ => return Err(self.err(pos, "expected end; found {{else}}".into())),
                }
                else_list = Some(el);
            }
            None => return Err(self.err(pos, "unexpected EOF".into())),
        }
        self.vars.truncate(mark);
        Ok(Node::Branch {
            kind,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, in_paren: bool) -> Result<Pipe, ParseError> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // declarations
        loop {
            let v = self.peek_non_space();
            let Tok::Var(name) = v.tok else { break };
            let save = self.i;
            self.next();
            let n = self.peek_non_space();
            match n.tok {
                Tok::Declare | Tok::Assign => {
                    pipe.is_assign = n.tok == Tok::Assign;
                    self.next_non_space();
                    if pipe.is_assign && !self.vars.contains(&name) {
                        return Err(self.err(v.pos, format!("undefined variable \"{name}\"")));
                    }
                    pipe.decl.push(self.name(name));
                    self.vars.push(name);
                    break;
                }
                Tok::Comma => {
                    self.next_non_space();
                    pipe.decl.push(self.name(name));
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        continue;
                    }
                    return Err(self.err(v.pos, format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        let end = if in_paren { Tok::RParen } else { Tok::Right };
        loop {
            let t = self.peek_non_space();
            if t.tok == end {
                self.next();
                if pipe.cmds.is_empty() {
                    return Err(self.err(t.pos, format!("missing value for {context}")));
                }
                return Ok(pipe);
            }
            match t.tok {
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Var(_)
                | Tok::LParen => {
                    let c = self.command(in_paren)?;
                    pipe.cmds.push(c);
                }
                Tok::Pipe if !pipe.cmds.is_empty() => {
                    self.next();
                }
                Tok::Eof => return Err(self.err(t.pos, "unclosed action".into())),
                _ => {
                    return Err(self.err(
                        t.pos,
                        format!("unexpected {} in {context}", tok_desc(&t.tok)),
                    ));
                }
            }
        }
    }

    fn command(&mut self, in_paren: bool) -> Result<Cmd, ParseError> {
        let start = self.peek_non_space();
        let mut cmd = Cmd {
            pos: start.pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::Right | Tok::RParen => {
                    self.i -= 1;
                }
                Tok::Pipe => {
                    self.i -= 1;
                }
                _ => {
                    return Err(
                        self.err(t.pos, format!("unexpected {} in operand", tok_desc(&t.tok)))
                    )
                }
            }
            break;
        }
        let _ = in_paren;
        if cmd.args.is_empty() {
            return Err(self.err(cmd.pos, "empty command".into()));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        if let Tok::Field(_) = self.peek().tok {
            // Go reports a chain at the position of its first appended field
            let chain_pos = self.peek().pos;
            let mut fields = match &term {
                Arg::Field(_, fs) | Arg::Var(_, _, fs) => {
                    let mut v = Vec::with_capacity(fs.len() + 3);
                    v.extend(fs.iter().cloned());
                    v
                }
                _ => Vec::with_capacity(3),
            };
            while let Tok::Field(f) = self.peek().tok {
                fields.push(self.name(f));
                self.next();
            }
            return Ok(Some(match term {
                Arg::Field(..) => Arg::Field(chain_pos, fields),
                Arg::Var(_, v, _) => Arg::Var(chain_pos, v, fields),
                Arg::Bool(p, _)
                | Arg::Str(p, _)
                | Arg::Int(p, _)
                | Arg::Float(p, _)
                | Arg::Nil(p)
                | Arg::Dot(p) => {
                    return Err(
                        self.err(p, format!("unexpected . after term {:?}", term.to_string()))
                    );
                }
                other => Arg::Chain(other.pos(), Box::new(other), fields),
            }));
        }
        Ok(Some(term))
    }

    fn term(&mut self) -> Result<Option<Arg>, ParseError> {
        let t = self.next_non_space();
        let pos = t.pos;
        Ok(Some(match t.tok {
            Tok::Ident(name) => {
                if matches!(
                    name,
                    "if" | "else"
                        | "end"
                        | "range"
                        | "with"
                        | "define"
                        | "template"
                        | "block"
                        | "break"
                        | "continue"
                ) {
                    return Err(self.err(pos, format!("unexpected <{name}> in command")));
                }
                if !(self.is_func)(name) {
                    return Err(self.err(pos, format!("function {name:?} not defined")));
                }
                Arg::Func(pos, self.name(name))
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return Err(self.err(pos, format!("undefined variable {v:?}")));
                }
                Arg::Var(pos, self.name(v), Vec::new())
            }
            Tok::Field(f) => Arg::Field(pos, vec![self.name(f)]),
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Char(c) => Arg::Int(pos, c),
            Tok::Number(n) => self.number(pos, n)?,
            Tok::LParen => {
                let p = self.pipeline("parenthesized pipeline", true)?;
                Arg::Pipe(pos, Box::new(p))
            }
            Tok::Str(s) => Arg::Str(pos, Rc::from(self.lit(s))),
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }

    fn number(&self, pos: Pos, n: &str) -> Result<Arg, ParseError> {
        match super::number::parse_number(n) {
            Ok(super::number::Number::Int(i)) => Ok(Arg::Int(pos, i)),
            Ok(super::number::Number::Float(f)) => Ok(Arg::Float(pos, f)),
            Err(message) => Err(self.err(pos, message)),
        }
    }
}

fn tok_desc(t: &Tok) -> String {
    match t {
        Tok::Right => "<}}>".into(),
        Tok::RParen => "<)>".into(),
        Tok::LParen => "<(>".into(),
        Tok::Ident(s) | Tok::Field(s) | Tok::Var(s) | Tok::Number(s) => format!("<{s}>"),
        Tok::Str(Lit::Raw(s)) => format!("{s:?}"),
        Tok::Str(Lit::Escaped(_)) => "<string>".into(),
        Tok::Eof => "EOF".into(),
        Tok::Pipe => "<|>".into(),
        Tok::Comma => "<,>".into(),
        Tok::Declare => "<:=>".into(),
        Tok::Assign => "<=>".into(),
        other => format!("{other:?}"),
    }
}

/// Converts a byte offset into `line:col` (col 0-based, as Go prints it).
pub fn line_col(src: &str, pos: Pos) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let col = match before.iter().rposition(|b| *b == b'\n') {
        Some(i) => pos - i - 1,
        None => pos,
    };
    (line, col)
}
