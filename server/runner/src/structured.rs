//! Structured outputs (`response_format`) with llguidance, the constrained-decoding
//! engine of llama.cpp and mistral.rs (Microsoft's Guidance project).
//!
//! [`GrammarCompiler`] is built once per model from the vocabulary's bytes (our own
//! token table: no second `tokenizers` crate) and compiles a request's
//! [`StructuredOutput`] into a per-sequence llguidance `Matcher`. [`Grammars`] (owned by
//! the `ModelRunner`) holds the live matchers: before a constrained sample it computes
//! the allowed-token mask, after it consumes the sampled token.
//!
//! JSON grammars are compiled with `whitespace_flexible: false`: compact JSON, so a
//! small model cannot wander into endless whitespace.

use std::collections::HashMap;
use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{SimpleVob, TokRxInfo, TokTrie, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use ponder_engine::{SeqId, StructuredOutput};

/// The vocabulary as llguidance sees it: one byte string per token id; special tokens
/// are prefixed with `0xFF` so no grammar ever produces them.
struct Vocab {
    trie: TokTrie,
}

impl TokenizerEnv for Vocab {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<u32> {
        self.trie.greedy_tokenize(s)
    }

    fn tokenize_is_canonical(&self) -> bool {
        false
    }
}

/// Compiles structured-output requests for one vocabulary.
pub struct GrammarCompiler {
    factory: ParserFactory,
    vocab_size: usize,
}

impl std::fmt::Debug for GrammarCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarCompiler").field("vocab_size", &self.vocab_size).finish()
    }
}

impl GrammarCompiler {
    /// `token_bytes[id]` is token `id`'s bytes (`None` or special: never produced by a
    /// grammar); `vocab_size` is the logits row length (may exceed the tokenizer's);
    /// `eos` ends a finished grammar.
    ///
    /// Errors: llguidance cannot build its token tables.
    pub fn new(token_bytes: &[Option<&[u8]>], vocab_size: usize, eos: u32) -> anyhow::Result<Self> {
        let words: Vec<Vec<u8>> = (0..vocab_size)
            .map(|id| match token_bytes.get(id).copied().flatten() {
                Some(bytes) if !bytes.is_empty() => bytes.to_vec(),
                // Specials and ids without text: 0xFF + a name no grammar can spell.
                _ => [&[TokTrie::SPECIAL_TOKEN_MARKER][..], format!("<ponder_special_{id}>").as_bytes()].concat(),
            })
            .collect();
        let info = TokRxInfo::new(u32::try_from(vocab_size)?, eos);
        let trie = TokTrie::from(&info, &words);
        let env: llguidance::toktrie::TokEnv = Arc::new(Vocab { trie });
        let mut factory = ParserFactory::new_simple(&env)?;
        factory.quiet();
        Ok(Self { factory, vocab_size })
    }

    /// A fresh matcher for `output`.
    ///
    /// Errors: the schema is not valid JSON or not a schema llguidance supports.
    pub fn matcher(&self, output: &StructuredOutput) -> anyhow::Result<Matcher> {
        let schema = match output {
            StructuredOutput::JsonObject => serde_json::json!({"type": "object"}),
            StructuredOutput::JsonSchema(text) => serde_json::from_str(text)?,
        };
        let schema = with_compact_whitespace(schema);
        let parser = self.factory.create_parser(TopLevelGrammar::from_json_schema(schema))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            anyhow::bail!("{e}");
        }
        Ok(matcher)
    }

    /// Compiles `output` and computes its first mask, so a grammar that can never
    /// produce a token (e.g. a schema whose `$ref`s only point at each other) is caught
    /// before the request is admitted.
    ///
    /// Errors: as [`Self::matcher`], or the first mask fails.
    pub fn check(&self, output: &StructuredOutput) -> anyhow::Result<()> {
        let mut matcher = self.matcher(output)?;
        let mask = matcher.compute_mask()?;
        if mask.is_zero() && !matcher.is_accepting()? {
            anyhow::bail!("the grammar allows no token");
        }
        Ok(())
    }
}

/// Adds llguidance's `x-guidance` option for compact JSON to an object schema.
fn with_compact_whitespace(mut schema: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("x-guidance").or_insert_with(|| serde_json::json!({"whitespace_flexible": false}));
    }
    schema
}

/// Live matchers by sequence, owned by the runner.
#[derive(Default)]
pub struct Grammars {
    compiler: Option<Arc<GrammarCompiler>>,
    matchers: HashMap<SeqId, Matcher>,
}

impl std::fmt::Debug for Grammars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grammars").field("live", &self.matchers.len()).finish()
    }
}

impl Grammars {
    /// Matchers compiled by `compiler`; without one, constrained requests are errors.
    pub fn new(compiler: Option<Arc<GrammarCompiler>>) -> Self {
        Self { compiler, matchers: HashMap::new() }
    }

    /// The allowed-token mask of `seq_id`'s next token, creating its matcher on first
    /// use; `allow_think_start` is added to the grammar's tokens.
    ///
    /// Errors: no compiler, a grammar that does not compile, or a matcher in error.
    pub fn mask(&mut self, seq_id: SeqId, output: &StructuredOutput, allow_think_start: Option<u32>) -> anyhow::Result<SimpleVob> {
        if !self.matchers.contains_key(&seq_id) {
            let compiler = self.compiler.as_ref().ok_or_else(|| anyhow::anyhow!("structured output is not available"))?;
            self.matchers.insert(seq_id, compiler.matcher(output)?);
        }
        let matcher = self.matchers.get_mut(&seq_id).expect("inserted above");
        let mut mask = matcher.compute_mask_or_eos()?;
        if let Some(id) = allow_think_start {
            mask.allow_token(id);
        }
        Ok(mask)
    }

    /// Advances `seq_id`'s matcher by its sampled token. A `<think>` that was allowed
    /// outside the grammar drops the matcher instead: the answer's grammar starts
    /// afresh after `</think>`.
    ///
    /// Errors: the token was not allowed (a bug: the mask said so).
    pub fn consume(&mut self, seq_id: SeqId, token: u32, think_start: Option<u32>) -> anyhow::Result<()> {
        if think_start == Some(token) {
            self.matchers.remove(&seq_id);
            return Ok(());
        }
        if let Some(matcher) = self.matchers.get_mut(&seq_id) {
            if !matcher.is_stopped() {
                matcher.consume_token(token)?;
            }
        }
        Ok(())
    }

    /// Forgets finished or aborted sequences.
    pub fn release(&mut self, seq_ids: &[SeqId]) {
        for id in seq_ids {
            self.matchers.remove(id);
        }
    }

    /// Sequences with a live matcher.
    pub fn len(&self) -> usize {
        self.matchers.len()
    }

    /// Whether no matcher is live.
    pub fn is_empty(&self) -> bool {
        self.matchers.is_empty()
    }
}
