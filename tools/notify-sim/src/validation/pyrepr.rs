//! Python's `repr()` and `str()` of JSON values, because Notify's messages embed them
//! (jsonschema writes `'abc' is not of type 'string'`, and Notify then deletes every `'`).

use serde_json::Value;

/// `repr(value)` of the value Python's `json.loads` would produce.
pub fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                float_repr(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => str_repr(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", str_repr(k), repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `str(value or "")` as Notify builds address lines: falsy values become empty.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::Null | Value::Bool(false) => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.as_f64() == Some(0.0) => String::new(),
        Value::Array(a) if a.is_empty() => String::new(),
        Value::Object(o) if o.is_empty() => String::new(),
        other => repr(other),
    }
}

/// Python's float repr: shortest round-trip digits, exponent as `e+16` / `e-05`.
fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let debug = format!("{f:?}");
    match debug.split_once('e') {
        Some((mantissa, exp)) => {
            let exp: i32 = exp.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exp.abs())
        }
        None => debug,
    }
}

/// Python's `repr(str)`: single quotes unless the text holds a `'` and no `"`.
fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reprs_match_python() {
        assert_eq!(repr(&json!(null)), "None");
        assert_eq!(repr(&json!([])), "[]");
        assert_eq!(repr(&json!({})), "{}");
        assert_eq!(repr(&json!(7700900001_u64)), "7700900001");
        assert_eq!(repr(&json!(1.5)), "1.5");
        assert_eq!(repr(&json!(1e16)), "1e+16");
        assert_eq!(repr(&json!(["a", 1, true])), "['a', 1, True]");
        assert_eq!(repr(&json!("it's")), "\"it's\"");
    }

    #[test]
    fn str_of_falsy_values_is_empty() {
        assert_eq!(py_str(&json!(null)), "");
        assert_eq!(py_str(&json!(0)), "");
        assert_eq!(py_str(&json!(12)), "12");
        assert_eq!(py_str(&json!("x")), "x");
    }
}
