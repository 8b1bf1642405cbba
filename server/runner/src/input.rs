//! Turning a `ScheduledBatch` into the host-side inputs of one forward pass.
//!
//! All sequences' new tokens are laid out back to back, in batch order, as the rows of
//! the forward pass (prefill chunks and decode tokens alike):
//!
//! ```text
//! rows:      | seq 0: prefill chunk (positions 5..9) | seq 1: decode (pos 12) | ...
//!            ^ query_start_loc[0] = 0                 ^ [1] = 4                ^ [2] = 5
//! slot(pos) = block_table[pos / block_size] * block_size + pos % block_size
//! seq_lens[i] = num_computed_tokens + new tokens
//! logits_indices: per sequence, its prompt-logprob rows (the first
//!                 `prompt_logprobs.target_ids.len()` rows of its chunk), then its
//!                 last row when its `sample` is `Some`
//! ```

use std::ops::Range;

use candle_core::{Device, Tensor};
use ponder_engine::{ScheduledBatch, ScheduledSeq};
use ponder_kernels::AttentionMetadata;
use ponder_models::ModelInput;

use crate::error::RunnerError;

/// Host-side inputs of one forward pass, before they are copied to the device.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepInputs {
    /// Token id of every row, `len == num_tokens`.
    pub input_ids: Vec<u32>,
    /// Absolute position of every row, `len == num_tokens`.
    pub positions: Vec<u32>,
    /// Slot mapping, query start offsets, context lengths and block tables.
    pub attn: AttentionMetadata,
    /// Rows whose logits the model returns, in batch order: prompt-logprob rows and
    /// sampled rows (see the module docs).
    pub logits_indices: Vec<u32>,
    /// For each sequence of the batch (same order), where its rows sit in
    /// `logits_indices`, i.e. in the model's logits.
    pub logits_rows: Vec<SeqLogitsRows>,
}

/// One sequence's rows of the step's logits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeqLogitsRows {
    /// Logits rows scoring prompt tokens (`ScheduledSeq::prompt_logprobs`); empty if none.
    pub prompt: Range<usize>,
    /// The logits row to sample, when the sequence has a `SampleSpec`.
    pub sample: Option<usize>,
}

impl StepInputs {
    /// Lays out `batch` as described in the module docs.
    ///
    /// Errors: a zero block size, a sequence with no tokens, a slot id beyond `u32`, a context length beyond `u32`, a block table
    /// that does not cover the new positions, a block id `>= num_blocks`, or more
    /// prompt-logprob rows than the chunk has (its sampled row excluded).
    pub fn from_batch(batch: &ScheduledBatch, num_blocks: usize) -> Result<Self, RunnerError> {
        if batch.block_size == 0 {
            return Err(RunnerError::InvalidConfig("the batch's block_size is 0".into()));
        }
        let num_tokens = batch.num_tokens();
        let mut inputs = StepInputs {
            input_ids: Vec::with_capacity(num_tokens),
            positions: Vec::with_capacity(num_tokens),
            attn: AttentionMetadata {
                block_size: batch.block_size,
                slot_mapping: Vec::with_capacity(num_tokens),
                query_start_loc: vec![0],
                seq_lens: Vec::with_capacity(batch.seqs.len()),
                block_tables: Vec::with_capacity(batch.seqs.len()),
            },
            logits_indices: Vec::new(),
            logits_rows: Vec::with_capacity(batch.seqs.len()),
        };
        for seq in &batch.seqs {
            inputs.push_seq(seq, batch.block_size, num_blocks)?;
        }
        Ok(inputs)
    }

    /// Appends one sequence's rows and metadata.
    fn push_seq(&mut self, seq: &ScheduledSeq, block_size: usize, num_blocks: usize) -> Result<(), RunnerError> {
        let seq_id = seq.seq_id;
        if seq.token_ids.is_empty() {
            return Err(RunnerError::NoTokens { seq_id });
        }
        let seq_len = seq.num_computed_tokens + seq.token_ids.len();
        if u32::try_from(seq_len).is_err() || u32::try_from(self.input_ids.len() + seq.token_ids.len()).is_err() {
            return Err(RunnerError::ContextTooLong { seq_id, len: seq_len });
        }
        let table = block_table_u32(seq, num_blocks)?;
        for (pos, &token) in (seq.num_computed_tokens..seq_len).zip(&seq.token_ids) {
            let block = *table.get(pos / block_size).ok_or(RunnerError::BlockTableTooShort {
                seq_id,
                position: pos,
                num_blocks: table.len(),
            })?;
            self.input_ids.push(token);
            self.positions.push(pos as u32);
            let slot = block as usize * block_size + pos % block_size;
            let slot = u32::try_from(slot).map_err(|_| RunnerError::SlotOverflow { seq_id, slot })?;
            self.attn.slot_mapping.push(slot);
        }
        let rows_end = self.input_ids.len() as u32;
        self.attn.query_start_loc.push(rows_end);
        self.attn.seq_lens.push(seq_len as u32);
        self.attn.block_tables.push(table);
        let rows_start = rows_end - seq.token_ids.len() as u32;
        let num_prompt_rows = seq.prompt_logprobs.as_ref().map_or(0, |r| r.target_ids.len());
        if num_prompt_rows + usize::from(seq.sample.is_some()) > seq.token_ids.len() {
            return Err(RunnerError::PromptLogprobRows { seq_id, rows: num_prompt_rows, tokens: seq.token_ids.len() });
        }
        let first = self.logits_indices.len();
        self.logits_indices.extend(rows_start..rows_start + num_prompt_rows as u32);
        let mut rows = SeqLogitsRows { prompt: first..self.logits_indices.len(), sample: None };
        if seq.sample.is_some() {
            rows.sample = Some(self.logits_indices.len());
            self.logits_indices.push(rows_end - 1);
        }
        self.logits_rows.push(rows);
        Ok(())
    }

    /// Copies the ids, positions and logits indices to `device` as u32 tensors
    /// (`[num_tokens]`, `[num_tokens]`, `[num_logits_rows]`); the metadata stays on the host.
    /// `batch_invariant` goes to [`ModelInput::batch_invariant`].
    pub fn into_model_input(self, device: &Device, batch_invariant: bool) -> candle_core::Result<ModelInput> {
        let n = self.input_ids.len();
        let num_sampled = self.logits_indices.len();
        Ok(ModelInput {
            input_ids: Tensor::from_vec(self.input_ids, n, device)?,
            positions: Tensor::from_vec(self.positions, n, device)?,
            attn: self.attn,
            logits_indices: Tensor::from_vec(self.logits_indices, num_sampled, device)?,
            batch_invariant,
        })
    }
}

/// The sequence's block table as `u32`, every id checked against the cache size
/// (the kernels read the table without bounds checks on the device).
fn block_table_u32(seq: &ScheduledSeq, num_blocks: usize) -> Result<Vec<u32>, RunnerError> {
    seq.block_table
        .iter()
        .map(|b| {
            if b.index() < num_blocks {
                Ok(b.0)
            } else {
                Err(RunnerError::BlockOutOfRange { seq_id: seq.seq_id, block: b.0, num_blocks })
            }
        })
        .collect()
}
