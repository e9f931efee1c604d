//! Sprig's math functions.

use super::*;

/// Registers sprig's math functions.
pub(super) fn register(m: &mut HashMap<&'static str, Func>) {
    // math
    m.insert("add", |_, a| {
        Ok(Value::Int64(
            a.iter().map(Value::to_i64).fold(0i64, i64::wrapping_add),
        ))
    });
    m.insert("add1", |_, a| {
        Ok(Value::Int64(arg(&a, 0).to_i64().wrapping_add(1)))
    });
    m.insert("sub", |_, a| {
        want(&a, 2, "sub")?;
        Ok(Value::Int64(a[0].to_i64().wrapping_sub(a[1].to_i64())))
    });
    m.insert("mul", |_, a| {
        Ok(Value::Int64(
            a.iter().map(Value::to_i64).fold(1i64, i64::wrapping_mul),
        ))
    });
    m.insert("div", |_, a| {
        want(&a, 2, "div")?;
        let d = a[1].to_i64();
        if d == 0 {
            return Err(ExecError::new("runtime error: integer divide by zero"));
        }
        Ok(Value::Int64(a[0].to_i64().wrapping_div(d)))
    });
    m.insert("mod", |_, a| {
        want(&a, 2, "mod")?;
        let d = a[1].to_i64();
        if d == 0 {
            return Err(ExecError::new("runtime error: integer divide by zero"));
        }
        Ok(Value::Int64(a[0].to_i64().wrapping_rem(d)))
    });
    m.insert("max", |_, a| {
        Ok(Value::Int64(a.iter().map(Value::to_i64).max().unwrap_or(0)))
    });
    m.insert("min", |_, a| {
        Ok(Value::Int64(a.iter().map(Value::to_i64).min().unwrap_or(0)))
    });
    m.insert("biggest", |_, a| {
        Ok(Value::Int64(a.iter().map(Value::to_i64).max().unwrap_or(0)))
    });
    m.insert("addf", |_, a| {
        Ok(Value::Float(a.iter().map(Value::to_f64).sum()))
    });
    m.insert("add1f", |_, a| Ok(Value::Float(arg(&a, 0).to_f64() + 1.0)));
    m.insert("subf", |_, a| {
        want_min(&a, 1, "subf")?;
        Ok(Value::Float(
            a[1..].iter().fold(a[0].to_f64(), |x, y| x - y.to_f64()),
        ))
    });
    m.insert("mulf", |_, a| {
        Ok(Value::Float(a.iter().map(Value::to_f64).product()))
    });
    m.insert("divf", |_, a| {
        want_min(&a, 1, "divf")?;
        Ok(Value::Float(
            a[1..].iter().fold(a[0].to_f64(), |x, y| x / y.to_f64()),
        ))
    });
    m.insert("maxf", |_, a| {
        Ok(Value::Float(
            a.iter().map(Value::to_f64).fold(f64::MIN, f64::max),
        ))
    });
    m.insert("minf", |_, a| {
        Ok(Value::Float(
            a.iter().map(Value::to_f64).fold(f64::MAX, f64::min),
        ))
    });
    m.insert("floor", |_, a| {
        Ok(Value::Float(arg(&a, 0).to_f64().floor()))
    });
    m.insert("ceil", |_, a| Ok(Value::Float(arg(&a, 0).to_f64().ceil())));
    m.insert("round", |_, a| {
        want_min(&a, 2, "round")?;
        let p = 10f64.powi(a[1].to_i64() as i32);
        let x = a[0].to_f64() * p;
        let r = if x >= 0.0 {
            (x + 0.5).floor()
        } else {
            (x - 0.5).ceil()
        };
        Ok(Value::Float(r / p))
    });
    m.insert("int", |_, a| Ok(Value::Int(arg(&a, 0).to_i64())));
    m.insert("int64", |_, a| Ok(Value::Int64(arg(&a, 0).to_i64())));
    m.insert("float64", |_, a| Ok(Value::Float(arg(&a, 0).to_f64())));
    m.insert("atoi", |_, a| {
        Ok(Value::Int(s(arg(&a, 0)).parse::<i64>().unwrap_or(0)))
    });
    m.insert("seq", |e, a| {
        let n: Vec<i64> = a.iter().map(Value::to_i64).collect();
        let (start, step, end) = match n.len() {
            1 => (1, 1, n[0]),
            2 => (n[0], if n[1] >= n[0] { 1 } else { -1 }, n[1]),
            3 => (n[0], n[1], n[2]),
            _ => return Ok(Value::from("")),
        };
        let mut out = Vec::new();
        let mut i = start;
        let count = if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
            0
        } else {
            (i128::from(end) - i128::from(start)) / i128::from(step) + 1
        };
        super::super::within_items(e, "seq", count.unsigned_abs())?;
        while step != 0 && ((step > 0 && i <= end) || (step < 0 && i >= end)) {
            out.push(i.to_string());
            i += step;
        }
        Ok(Value::from(out.join(" ")))
    });
    m.insert("until", |e, a| {
        let n = arg(&a, 0).to_i64();
        let step = if n < 0 { -1 } else { 1 };
        Ok(Value::from(until_step(e, "until", 0, n, step)?))
    });
    m.insert("untilStep", |e, a| {
        want(&a, 3, "untilStep")?;
        Ok(Value::from(until_step(
            e,
            "untilStep",
            a[0].to_i64(),
            a[1].to_i64(),
            a[2].to_i64(),
        )?))
    });
}
