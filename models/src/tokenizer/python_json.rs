//! JSON written as Python's `json.dumps(value, ensure_ascii=False, indent=...,
//! sort_keys=...)` writes it, the format chat templates were trained on via
//! `transformers`' `tojson` filter: `", "` and `": "` separators without indent,
//! `","` plus a newline and `indent` spaces per level with it.

use serde_json::Value;

/// Python's `json.dumps` of `value`.
pub fn dumps(value: &Value, indent: Option<usize>, sort_keys: bool) -> String {
    let mut out = String::new();
    write_value(&mut out, value, indent, sort_keys, 0);
    out
}

fn write_value(out: &mut String, value: &Value, indent: Option<usize>, sort: bool, depth: usize) {
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separator(out, i, indent, depth + 1);
                write_value(out, item, indent, sort, depth + 1);
            }
            close(out, ']', indent, depth);
        }
        Value::Object(map) if !map.is_empty() => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if sort {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                separator(out, i, indent, depth + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                write_value(out, item, indent, sort, depth + 1);
            }
            close(out, '}', indent, depth);
        }
        // Scalars and empty containers: serde_json's form equals Python's
        // (same string escapes, lowercase \u00xx, "[]" and "{}").
        other => out.push_str(&other.to_string()),
    }
}

/// Before item `i`: `", "` (or `","` + newline + indent) between items, only the
/// newline + indent before the first one when indenting.
fn separator(out: &mut String, i: usize, indent: Option<usize>, depth: usize) {
    match indent {
        Some(width) => {
            if i > 0 {
                out.push(',');
            }
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
        None if i > 0 => out.push_str(", "),
        None => {}
    }
}

fn close(out: &mut String, bracket: char, indent: Option<usize>, depth: usize) {
    if let Some(width) = indent {
        out.push('\n');
        out.push_str(&" ".repeat(width * depth));
    }
    out.push(bracket);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_output_matches_python_json_dumps() {
        let v = json!({"b": [1, 2.5, null, true], "a": {"x": "é\n\"q\""}, "e": []});
        // json.dumps(v, ensure_ascii=False, sort_keys=True)
        assert_eq!(
            dumps(&v, None, true),
            r#"{"a": {"x": "é\n\"q\""}, "b": [1, 2.5, null, true], "e": []}"#
        );
    }

    #[test]
    fn indented_output_matches_python_json_dumps() {
        let v = json!({"a": [1, {}], "b": "c"});
        // json.dumps(v, ensure_ascii=False, indent=2, sort_keys=True)
        assert_eq!(
            dumps(&v, Some(2), true),
            "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": \"c\"\n}"
        );
    }

    #[test]
    fn control_characters_are_escaped_like_python() {
        assert_eq!(dumps(&json!("\u{1b}\t"), None, false), r#""\u001b\t""#);
    }
}
