//! Typed, validating access to the fields of a JSON request object.
//!
//! Requests are parsed into `serde_json::Value` first and read field by field, so that
//! a wrong type or value is a 400 naming the field (OpenAI's `param`), unknown fields
//! are ignored, and `null` counts as absent (clients often send `"stop": null`).

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object whose fields are read with validation.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

/// Result of reading one field.
pub type FieldResult<T> = Result<Option<T>, ApiError>;

impl<'a> Fields<'a> {
    /// Wraps a request body; anything but a JSON object is a 400.
    pub fn new(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(map) => Ok(Self { map }),
            _ => Err(ApiError::bad_request("The request body must be a JSON object.")),
        }
    }

    /// A 400 naming the first field not in `known`: for calls where a misspelt field
    /// must not fall back to a default (`/abort_requests` without ids aborts all).
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ApiError::invalid(k, format!("Unknown field `{k}`: this call takes {known:?}."))),
            None => Ok(()),
        }
    }

    /// The raw value of a field, `None` when absent or `null`.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A boolean field.
    pub fn bool(&self, name: &str) -> FieldResult<bool> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(name, format!("`{name}` must be a boolean."))),
        }
    }

    /// A string field.
    pub fn str(&self, name: &str) -> FieldResult<&'a str> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::invalid(name, format!("`{name}` must be a string."))),
        }
    }

    /// A string field restricted to `allowed` values.
    pub fn enumeration(&self, name: &str, allowed: &[&str]) -> FieldResult<&'a str> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) if allowed.contains(&s) => Ok(Some(s)),
            Some(s) => Err(ApiError::invalid(
                name,
                format!("`{name}` must be one of {allowed:?}, got {s:?}."),
            )),
        }
    }

    /// A number field within `[min, max]` (inclusive bounds).
    pub fn number_in(&self, name: &str, min: f64, max: f64) -> FieldResult<f64> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if x >= min && x <= max {
                    Ok(Some(x))
                } else {
                    Err(ApiError::invalid(name, format!("`{name}` must be between {min} and {max}, got {x}.")))
                }
            }
            Some(_) => Err(ApiError::invalid(name, format!("`{name}` must be a number."))),
        }
    }

    /// A number field in `(0, 1]`, such as `top_p`.
    pub fn unit_interval_open_below(&self, name: &str) -> FieldResult<f64> {
        match self.number_in(name, f64::NEG_INFINITY, f64::INFINITY)? {
            // Checked in f32, the sampler's precision: 1e-300 would round to 0.
            Some(x) if (x as f32) > 0.0 && x <= 1.0 => Ok(Some(x)),
            Some(x) => Err(ApiError::invalid(name, format!("`{name}` must be in (0, 1] (as a 32-bit float), got {x:?}."))),
            None => Ok(None),
        }
    }

    /// A number field that must be strictly greater than `min`.
    pub fn number_above(&self, name: &str, min: f64) -> FieldResult<f64> {
        match self.number_in(name, f64::NEG_INFINITY, f64::INFINITY)? {
            // Checked in f32, the sampler's precision: it must stay finite and above `min`.
            Some(x) if (x as f32) > min as f32 && (x as f32).is_finite() => Ok(Some(x)),
            Some(x) => Err(ApiError::invalid(name, format!("`{name}` must be a finite 32-bit float greater than {min}, got {x:?}."))),
            None => Ok(None),
        }
    }

    /// An integer field within `[min, max]`. `1.0` is accepted as `1`; `1.5` is not.
    pub fn int_in(&self, name: &str, min: i64, max: i64) -> FieldResult<i64> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                let n = as_integer(v).ok_or_else(|| match v {
                    // An integer, but past what a 64-bit signed integer holds.
                    Value::Number(_) => ApiError::invalid(name, format!("`{name}` must be an integer between {min} and {max}, got {v}.")),
                    _ => ApiError::invalid(name, format!("`{name}` must be an integer.")),
                })?;
                if n >= min && n <= max {
                    Ok(Some(n))
                } else if max == i64::MAX {
                    Err(ApiError::invalid(name, format!("`{name}` must be at least {min}, got {n}.")))
                } else {
                    Err(ApiError::invalid(name, format!("`{name}` must be between {min} and {max}, got {n}.")))
                }
            }
        }
    }

    /// A non-negative integer field as `usize` (at least `min`).
    pub fn count(&self, name: &str, min: usize) -> FieldResult<usize> {
        Ok(self.int_in(name, min as i64, i64::MAX)?.map(|n| n as usize))
    }

    /// An object field.
    pub fn object(&self, name: &str) -> FieldResult<&'a Map<String, Value>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(ApiError::invalid(name, format!("`{name}` must be an object."))),
        }
    }

    /// An array field.
    pub fn array(&self, name: &str) -> FieldResult<&'a Vec<Value>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ApiError::invalid(name, format!("`{name}` must be an array."))),
        }
    }

    /// A list of token ids (`u32`).
    pub fn token_ids(&self, name: &str) -> FieldResult<Vec<u32>> {
        match self.array(name)? {
            None => Ok(None),
            Some(items) => items
                .iter()
                .map(|v| as_token_id(v).ok_or_else(|| ApiError::invalid(name, format!("`{name}` must be a list of token ids."))))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
}

/// An integer JSON value (`3` or `3.0`), `None` for anything else.
pub fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        }),
        _ => None,
    }
}

/// A token id JSON value (an integer in `0..=u32::MAX`).
pub fn as_token_id(v: &Value) -> Option<u32> {
    as_integer(v).and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_fields_count_as_absent() {
        let body = json!({"stop": null, "temperature": null});
        let f = Fields::new(&body).unwrap();
        assert_eq!(f.get("stop"), None);
        assert_eq!(f.number_in("temperature", 0.0, 2.0).unwrap(), None);
    }

    #[test]
    fn a_string_where_a_number_belongs_is_an_error_naming_the_field() {
        let body = json!({"temperature": "hot"});
        let err = Fields::new(&body).unwrap().number_in("temperature", 0.0, 2.0).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("temperature"));
    }

    #[test]
    fn integers_accept_whole_floats_and_reject_fractions() {
        let body = json!({"a": 3.0, "b": 1.5, "c": -1});
        let f = Fields::new(&body).unwrap();
        assert_eq!(f.int_in("a", 0, 10).unwrap(), Some(3));
        assert!(f.int_in("b", 0, 10).is_err());
        assert!(f.count("c", 0).is_err());
    }

    #[test]
    fn an_integer_past_64_bits_is_refused_with_the_range() {
        let body = json!({"seed": 18_446_744_073_709_551_615_u64, "n": "2"});
        let f = Fields::new(&body).unwrap();
        let err = f.int_in("seed", i64::MIN, i64::MAX).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("seed"));
        assert!(err.message.contains("between -9223372036854775808 and 9223372036854775807, got 18446744073709551615"), "{}", err.message);
        assert_eq!(f.count("n", 1).unwrap_err().message, "`n` must be an integer.");
    }

    #[test]
    fn enumerations_reject_values_outside_the_list() {
        let body = json!({"reasoning_effort": "extreme"});
        let f = Fields::new(&body).unwrap();
        let err = f.enumeration("reasoning_effort", &["low", "medium", "high"]).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("reasoning_effort"));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_rejected() {
        assert!(Fields::new(&json!([1, 2])).is_err());
    }
}
