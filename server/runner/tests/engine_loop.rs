//! The engine step with the real scheduler and runner: every non-empty step is exactly
//! one forward pass over all scheduled tokens (prefill chunks and decodes together), and
//! a request that arrives mid-stream joins the very next batch. Outputs are checked
//! against HF transformers' greedy ids (models/tests/golden).

mod common;

use common::engine::{cases, scheduler_config, Engine};

/// Three short prompts are decoding when a 40-token prompt arrives under a 16-token
/// budget: the next step holds three decodes plus a 13-token prefill chunk, and is still
/// one forward pass, as is every later step.
fn check_mixed_step_is_one_forward_pass(arch: &str) {
    let cases = cases(arch);
    let (short, long) = (&cases[..3], &cases[5]);
    assert_eq!(short.iter().map(|c| c.input_ids.len()).sum::<usize>(), 16, "fixture prompt lengths changed");
    let mut engine = Engine::new(arch, scheduler_config(64, 16, true));
    let mut ids: Vec<_> = short.iter().map(|c| engine.add(&c.input_ids)).collect();

    let prefill = engine.step();
    assert_eq!(prefill.seqs.iter().map(|s| s.seq_id).collect::<Vec<_>>(), ids);
    assert!(prefill.seqs.iter().all(|s| s.num_computed_tokens == 0 && s.sample.is_some()));
    assert_eq!(prefill.num_tokens(), 16);
    let decode = engine.step();
    assert!(decode.seqs.iter().all(|s| s.token_ids.len() == 1 && s.num_computed_tokens > 0));

    ids.push(engine.add(&long.input_ids));
    let mixed = engine.step();
    assert_eq!(mixed.seqs.iter().map(|s| s.seq_id).collect::<Vec<_>>(), ids);
    for (s, case) in mixed.seqs[..3].iter().zip(short) {
        assert_eq!(s.token_ids.len(), 1, "{arch}: decode of {:?}", s.seq_id);
        assert_eq!(s.num_computed_tokens, case.input_ids.len() + 1);
        assert_eq!(s.sample.as_ref().map(|x| x.output_index), Some(2));
    }
    let chunk = &mixed.seqs[3];
    assert_eq!(chunk.num_computed_tokens, 0);
    assert_eq!(chunk.token_ids, long.input_ids[..13], "{arch}: first prefill chunk");
    assert!(chunk.sample.is_none(), "{arch}: a partial prefill chunk is not sampled");
    assert_eq!(engine.runner.forward_passes(), 3, "{arch}: one forward pass per step, the mixed one included");
    assert_eq!(engine.model_calls.load(std::sync::atomic::Ordering::SeqCst), 3);

    engine.run_to_completion(100);
    let steps = engine.batches.len() as u64;
    assert_eq!(engine.runner.forward_passes(), steps, "{arch}: forward passes == non-empty steps");
    let idle = engine.step();
    assert!(idle.is_empty());
    assert_eq!(engine.runner.forward_passes(), steps, "{arch}: an empty step runs no forward pass");
    for (&id, case) in ids.iter().zip(short.iter().chain([long])) {
        engine.assert_output(id, &case.greedy_ids, arch);
    }
}

/// A 13-token request decodes alone for 4 steps; a 32-token request added then is in
/// the batch of step 5, laid out after the first one's decode token, and both keep
/// decoding together.
fn check_mid_stream_request_joins_next_batch(arch: &str) {
    let cases = cases(arch);
    let (first, second) = (&cases[3], &cases[4]);
    let mut engine = Engine::new(arch, scheduler_config(64, 64, true));
    let a = engine.add(&first.input_ids);
    for _ in 0..4 {
        let batch = engine.step();
        assert_eq!(batch.seqs.len(), 1);
    }
    assert_eq!(engine.outputs[&a], first.greedy_ids[..4]);

    let b = engine.add(&second.input_ids);
    let joined = engine.step();
    assert_eq!(joined.seqs.iter().map(|s| s.seq_id).collect::<Vec<_>>(), [a, b], "{arch}: step 5");
    let (old, new) = (&joined.seqs[0], &joined.seqs[1]);
    assert_eq!(old.token_ids, [first.greedy_ids[3]], "{arch}: the old request decodes its last sampled token");
    assert_eq!(old.num_computed_tokens, first.input_ids.len() + 3);
    assert_eq!(old.sample.as_ref().map(|x| x.output_index), Some(4));
    assert_eq!(new.num_computed_tokens, 0);
    assert_eq!(new.token_ids, second.input_ids, "{arch}: the whole prompt fits the budget");
    assert_eq!(new.sample.as_ref().map(|x| x.output_index), Some(0));

    let both = engine.step();
    let shape: Vec<_> = both.seqs.iter().map(|s| (s.seq_id, s.num_computed_tokens, s.token_ids.len())).collect();
    assert_eq!(shape, [(a, first.input_ids.len() + 4, 1), (b, second.input_ids.len(), 1)], "{arch}: step 6");

    engine.run_to_completion(100);
    engine.assert_output(a, &first.greedy_ids, arch);
    engine.assert_output(b, &second.greedy_ids, arch);
}

crate::per_arch! {
    mixed_prefill_and_decode_step_is_one_forward_pass => check_mixed_step_is_one_forward_pass;
    request_added_mid_stream_joins_the_next_batch => check_mid_stream_request_joins_next_batch;
}
