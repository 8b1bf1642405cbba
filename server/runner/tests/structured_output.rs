//! Structured outputs through llguidance over a tiny byte-level vocabulary: the mask
//! admits exactly the tokens that keep the output valid, the matcher follows sampled
//! tokens, and a finished grammar allows only EOS.

use std::sync::Arc;

use ponder_engine::{SeqId, StructuredOutput};
use ponder_runner::{GrammarCompiler, Grammars};

/// Ids 0..=255: single bytes; 256: "{\"" ; 257: EOS (special); 258: `<think>` (special).
fn compiler() -> Arc<GrammarCompiler> {
    let bytes: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b]).chain([b"{\"".to_vec()]).collect();
    let mut table: Vec<Option<&[u8]>> = bytes.iter().map(|b| Some(b.as_slice())).collect();
    table.extend([None, None]);
    Arc::new(GrammarCompiler::new(&table, 259, 257).unwrap())
}

fn allowed(mask: &llguidance::toktrie::SimpleVob) -> Vec<u32> {
    (0..259).filter(|&id| mask.is_allowed(id)).collect()
}

#[test]
fn a_json_schema_mask_follows_the_output_and_ends_with_eos() {
    let schema = r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}"#;
    let output = StructuredOutput::JsonSchema(schema.into());
    let mut grammars = Grammars::new(Some(compiler()));
    let seq = SeqId(1);
    let first = allowed(&grammars.mask(seq, &output, None).unwrap());
    assert_eq!(first, [b'{' as u32, 256], "compact JSON must open the object");
    for &t in br#"{"a":4"#.iter() {
        let mask = grammars.mask(seq, &output, None).unwrap();
        assert!(mask.is_allowed(t as u32), "byte {:?} should be allowed", t as char);
        grammars.consume(seq, t as u32, None).unwrap();
    }
    let mask = allowed(&grammars.mask(seq, &output, None).unwrap());
    assert!(mask.contains(&(b'}' as u32)) && mask.contains(&(b'7' as u32)));
    assert!(!mask.contains(&(b'"' as u32)) && !mask.contains(&257));
    grammars.consume(seq, b'}' as u32, None).unwrap();
    assert_eq!(allowed(&grammars.mask(seq, &output, None).unwrap()), [257], "only EOS after the object");
    assert_eq!(grammars.len(), 1);
    grammars.release(&[seq]);
    assert!(grammars.is_empty());
}

#[test]
fn think_may_open_reasoning_first_and_restarts_the_grammar() {
    let mut grammars = Grammars::new(Some(compiler()));
    let seq = SeqId(2);
    let mask = grammars.mask(seq, &StructuredOutput::JsonObject, Some(258)).unwrap();
    assert!(mask.is_allowed(258) && mask.is_allowed(b'{' as u32) && !mask.is_allowed(b'x' as u32));
    grammars.consume(seq, 258, Some(258)).unwrap();
    assert!(grammars.is_empty(), "the matcher is dropped while the model reasons");
}

#[test]
fn an_invalid_schema_is_an_error_and_no_compiler_is_an_error() {
    assert!(compiler().matcher(&StructuredOutput::JsonSchema(r#"{"type":"nonsense"}"#.into())).is_err());
    assert!(compiler().matcher(&StructuredOutput::JsonSchema("{not json".into())).is_err());
    assert!(Grammars::new(None).mask(SeqId(3), &StructuredOutput::JsonObject, None).is_err());
}
