//! Chat templates: the model's Jinja template rendered with minijinja, set up to
//! behave like Hugging Face `transformers`' `apply_chat_template`.
//!
//! As in `transformers` (`ImmutableSandboxedEnvironment(trim_blocks=True,
//! lstrip_blocks=True)` plus `raise_exception` and a `tojson` filter):
//! - blocks trim the newline after them and strip leading whitespace before them;
//! - Python string methods (`.strip()`, `.split()`, `.startswith()`, ...) work through
//!   minijinja-contrib's pycompat callback;
//! - `raise_exception(msg)` fails the render with `msg`;
//! - `tojson` writes JSON as Python's `json.dumps(ensure_ascii=False)` does
//!   (`", "` and `": "` separators, optional `indent`, `sort_keys`), not minijinja's
//!   HTML-safe variant.
//!
//! The template is compiled once when the tokenizer is built.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};

use super::error::{Result, TokenizerError};
use super::python_json::dumps;

/// The template used when a model ships none: ChatML (`<|im_start|>role\ncontent
/// <|im_end|>\n` per message, then `<|im_start|>assistant\n` as the generation
/// prompt), the format of Qwen and SmolLM. Documented in the README; a model with
/// its own template never uses it.
pub const DEFAULT_CHATML_TEMPLATE: &str = "{%- for message in messages %}\
{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\
{%- endfor %}\
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/// The template's name inside the environment.
const NAME: &str = "chat";

/// A compiled chat template.
pub struct ChatTemplate {
    /// Holds exactly one template, [`NAME`], compiled at construction.
    env: Environment<'static>,
    /// The template source, as given.
    source: String,
    /// Whether the model shipped this template (false: [`DEFAULT_CHATML_TEMPLATE`]).
    from_model: bool,
}

impl ChatTemplate {
    /// Compiles `source`, or the default ChatML template when `None`.
    ///
    /// Errors with [`TokenizerError::Template`] on a syntax error.
    pub fn new(source: Option<String>) -> Result<Self> {
        let from_model = source.is_some();
        let source = source.unwrap_or_else(|| DEFAULT_CHATML_TEMPLATE.to_owned());
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.clone())
            .map_err(|e| TokenizerError::template(&e))?;
        Ok(Self {
            env,
            source,
            from_model,
        })
    }

    /// Renders the template with `context` (an object: messages,
    /// add_generation_prompt, bos_token, ...).
    ///
    /// Errors with [`TokenizerError::Template`] naming the template error.
    pub fn render(&self, context: Value) -> Result<String> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TokenizerError::template(&e))?;
        template
            .render(context)
            .map_err(|e| TokenizerError::template(&e))
    }

    /// The template source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the model shipped this template (false: the default ChatML one).
    pub fn is_from_model(&self) -> bool {
        self.from_model
    }
}

/// `raise_exception(message)`: the template's own way to reject a conversation.
fn raise_exception(message: String) -> std::result::Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `value | tojson(indent=None, sort_keys=False)` with Python's formatting.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    // Accepted for compatibility; output is never ASCII-escaped (ensure_ascii=False).
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value).map_err(|e| {
        Error::new(ErrorKind::InvalidOperation, "tojson: value is not JSON").with_source(e)
    })?;
    Ok(Value::from_safe_string(dumps(
        &json,
        indent,
        sort_keys.unwrap_or(false),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn python_string_methods_and_trimmed_blocks_render_like_jinja2() {
        let t = ChatTemplate::new(Some(
            "{% for m in messages %}\n  {{ m.content.strip().split(' ')[-1] }}|{% endfor %}"
                .into(),
        ));
        let out = t.and_then(|t| {
            t.render(context! { messages => vec![context!{content => " a b "}] })
        });
        assert_eq!(out.ok().as_deref(), Some("  b|"));
    }

    #[test]
    fn raise_exception_fails_the_render_with_its_message() {
        let t = ChatTemplate::new(Some("{{ raise_exception('no system role') }}".into()));
        let err = t.and_then(|t| t.render(context! {})).err();
        assert!(err.is_some_and(|e| e.to_string().contains("no system role")));
    }

    #[test]
    fn a_syntax_error_is_an_error_not_a_panic() {
        assert!(ChatTemplate::new(Some("{% for %}".into())).is_err());
    }

    #[test]
    fn tojson_uses_python_separators_and_keeps_non_ascii() {
        let t = ChatTemplate::new(Some("{{ x | tojson }}".into()));
        let out = t.and_then(|t| t.render(context! { x => vec!["é<", "b"] }));
        assert_eq!(out.ok().as_deref(), Some("[\"é<\", \"b\"]"));
    }
}
