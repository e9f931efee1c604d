//! The dynamic values templates work on, with Go's printing rules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// A shared, mutable map (Go maps are reference types: `set` mutates in place).
pub type MapRef = Rc<RefCell<BTreeMap<String, Value>>>;

/// An object with Go-style fields and methods (`.Files.Get "x"`, `.Capabilities.APIVersions.Has`).
pub trait Object {
    /// The Go type name, for `typeOf` and error messages.
    fn type_name(&self) -> &'static str;
    /// A field or a method called without arguments.
    fn field(&self, name: &str) -> Option<Value>;
    /// A method called with arguments; `None` when there is no such method.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, ExecError>>;
    /// What `{{ . }}` prints.
    fn display(&self) -> String;
    /// The JSON string `encoding/json` marshals the object to (what `toJson`/`toYaml` print for
    /// it); by default what `{{ . }}` prints.
    fn marshal_text(&self) -> String {
        self.display()
    }
    /// The object as `Any`, for functions that take one concrete Go type (`time.Time`).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
    /// The entries when ranged over (Go maps such as `.Files`); `None` when not rangeable.
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
}

/// A template value: what Go's `interface{}` holds in Helm.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's untyped nil (also a missing map key).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A Go `int`: template literals and what `len`, `int`, `atoi`, `until`, `randInt` return.
    Int(i64),
    /// A Go `int64`: what Sprig's arithmetic (`add`, `sub`, `mul`, `max`, ...), `int64` and
    /// `toDecimal` return, and integers given with `--set`.
    Int64(i64),
    /// A float64 (every number read from YAML or JSON values).
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// A Go string whose bytes are not UTF-8 (`.Files.Get` of a binary file): Go strings are
    /// bytes, and `b64enc`, the hashes, `len` and `toString` see them unchanged. Printed
    /// into a template's output, invalid sequences become U+FFFD.
    BinStr(Rc<[u8]>),
    /// A list (Go `[]interface{}`).
    List(Rc<Vec<Value>>),
    /// A map (Go `map[string]interface{}`), shared by reference.
    Map(MapRef),
    /// A byte slice (`.Files.GetBytes`).
    Bytes(Rc<Vec<u8>>),
    /// An object with fields and methods.
    Object(Rc<dyn Object>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.go_string())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Rc::from(s))
    }
}
impl From<std::borrow::Cow<'_, str>> for Value {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        Value::Str(Rc::from(&*s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Rc::from(s))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(Rc::new(v))
    }
}
impl From<BTreeMap<String, Value>> for Value {
    fn from(m: BTreeMap<String, Value>) -> Self {
        Value::Map(Rc::new(RefCell::new(m)))
    }
}

impl Value {
    /// An empty map.
    pub fn new_map() -> Value {
        Value::Map(Rc::new(RefCell::new(BTreeMap::new())))
    }

    /// Go truthiness: false, 0, nil, empty string/list/map are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::BinStr(b) => !b.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::Object(_) => true,
        }
    }

    /// The Go kind name (`kindOf`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) | Value::BinStr(_) => "string",
            Value::List(_) | Value::Bytes(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(_) => "struct",
        }
    }

    /// The Go type name (`typeOf`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) | Value::BinStr(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Bytes(_) => "[]uint8",
            Value::Map(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    /// What `fmt.Sprint` prints (`%v`); nil prints `<nil>`.
    pub fn go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out, true);
        out
    }

    /// Writes `%v`; `top` is false inside containers.
    pub fn write_go(&self, out: &mut String, top: bool) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float_g(*f)),
            Value::Str(s) => out.push_str(s),
            Value::BinStr(b) => out.push_str(&String::from_utf8_lossy(b)),
            Value::Bytes(b) => {
                out.push('[');
                for (i, x) in b.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{x}");
                }
                out.push(']');
            }
            Value::List(l) => {
                out.push('[');
                for (i, x) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    x.write_go(out, false);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.borrow().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out, false);
                }
                out.push(']');
            }
            Value::Object(o) => {
                let _ = top;
                out.push_str(&o.display());
            }
        }
    }

    /// Sprig's `toString`/`strval`: strings as is, bytes as text, others as `%v`.
    pub fn to_str(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::BinStr(b) => String::from_utf8_lossy(b).into_owned(),
            _ => self.go_string(),
        }
    }

    /// A Go string from bytes: [`Value::Str`] when they are UTF-8, else [`Value::BinStr`].
    pub fn from_go_bytes(bytes: Vec<u8>) -> Value {
        match String::from_utf8(bytes) {
            Ok(text) => Value::from(text),
            Err(e) => Value::BinStr(Rc::from(e.into_bytes())),
        }
    }

    /// The bytes of a string value (`Str` or `BinStr`); `None` for other kinds.
    pub fn string_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s.as_bytes()),
            Value::BinStr(b) => Some(b),
            _ => None,
        }
    }

    /// As [`Value::to_str`], borrowing strings instead of copying them.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Str(s) => std::borrow::Cow::Borrowed(s),
            other => std::borrow::Cow::Owned(other.to_str()),
        }
    }

    /// A deep copy (maps are copied, not shared).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::Map(m) => {
                let c: BTreeMap<String, Value> = m
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect();
                Value::from(c)
            }
            Value::List(l) => Value::from(l.iter().map(Value::deep_copy).collect::<Vec<_>>()),
            other => other.clone(),
        }
    }

    /// Looks up a key in a map value.
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Map(m) => m.borrow().get(key).cloned(),
            _ => None,
        }
    }

    /// Converts to i64 as Sprig's `toInt64` does (0 on failure).
    pub fn to_i64(&self) -> i64 {
        match self {
            Value::Int(i) | Value::Int64(i) => *i,
            Value::Float(f) => *f as i64,
            Value::Bool(b) => i64::from(*b),
            Value::Str(s) => {
                let t = s.trim();
                t.parse::<i64>()
                    .ok()
                    .or_else(|| t.parse::<f64>().ok().map(|f| f as i64))
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Converts to f64 as Sprig's `toFloat64` does (0 on failure).
    pub fn to_f64(&self) -> f64 {
        match self {
            Value::Int(i) | Value::Int64(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// The list items of a list value (bytes become ints); `None` for others.
    pub fn as_list(&self) -> Option<Vec<Value>> {
        match self {
            Value::List(l) => Some(l.as_ref().clone()),
            Value::Bytes(b) => Some(b.iter().map(|x| Value::Int(i64::from(*x))).collect()),
            _ => None,
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` (what `%v` prints for float64).
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(f);
    let nd = digits.len() as i32;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    // strconv 'g' with shortest precision: %e when exp < -4 || exp >= 6
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        if exp < 0 {
            out.push('-');
        } else {
            out.push('+');
        }
        let a = exp.abs();
        if a < 10 {
            out.push('0');
        }
        let _ = write!(out, "{a}");
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let dp = (exp + 1) as usize;
        if digits.len() <= dp {
            out.push_str(&digits);
            for _ in 0..(dp - digits.len()) {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..dp]);
            out.push('.');
            out.push_str(&digits[dp..]);
        }
    }
    out
}

/// The shortest round-trip decimal digits of `f`: (negative, digits, exponent of first digit).
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() {
        "0".into()
    } else {
        digits
    };
    (f < 0.0, digits, exp)
}

/// An error while executing a template, worded as Go's text/template words it.
#[derive(Debug, Clone)]
pub struct ExecError {
    /// The message.
    pub message: String,
    /// Whether the message is already a full `template: ...` error (from a nested template).
    pub located: bool,
}

impl ExecError {
    /// A plain error message (a function's error).
    pub fn new(message: impl Into<String>) -> Self {
        ExecError {
            message: message.into(),
            located: false,
        }
    }
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
