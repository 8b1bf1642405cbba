//! Turning validated prompts into one engine `Request` (`n` sequences per prompt) and
//! a `Generation` that tracks its choices.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ponder_engine::{Request, SchedulingPolicy, SeqSpec, ThinkingBudget};

use crate::error::ApiError;
use crate::generation::{Choice, ChoiceConfig, Generation};
use crate::protocol::{GenerationParams, ResponseMeta};
use crate::state::AppState;

/// One tokenized prompt with its generation budget.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub ids: Arc<[u32]>,
    /// Resolved `max_tokens` (fits the context window).
    pub max_tokens: usize,
    /// Resolved thinking budget (`None`: reasoning is not limited).
    pub thinking_budget: Option<ThinkingBudget>,
    /// The prompt ends inside an open think block (the output starts in reasoning).
    pub starts_in_reasoning: bool,
    /// Completions' `echo`: the prompt text to return before the output.
    pub echo: Option<Arc<str>>,
}

/// Submits `n` samples of every prompt as one request; choice `p * n + j` is sample `j`
/// of prompt `p`, seeded `seed + p * n + j` (OpenAI/vLLM: the same seed reproduces).
///
/// `id_prefix` starts the response id (`chatcmpl`, `cmpl`), which `/abort_requests`
/// names; a client's own id replaces it (`client_id`: the body's `request_id` or `rid`;
/// else the `X-Request-Id` header).
/// Returns once the engine accepted the request (so a refusal is the response's status,
/// streaming or not).
///
/// Errors: 429 when the waiting queue is full, 400 when the engine can never run the
/// request, 503 when the engine has stopped.
pub async fn submit(
    state: &AppState,
    prompts: &[Prompt],
    params: &GenerationParams,
    choice: &ChoiceConfig,
    started: Instant,
    id_prefix: &str,
    client_id: Option<&str>,
) -> Result<Generation, ApiError> {
    if params.priority != 0 && state.scheduling_policy != SchedulingPolicy::Priority {
        return Err(ApiError::invalid(
            "priority",
            "`priority` needs the server to run with `--scheduling-policy priority`.",
        ));
    }
    let base_seed = rand::random::<u64>();
    let mut seqs = Vec::with_capacity(prompts.len() * params.n);
    let mut choices = Vec::with_capacity(prompts.len() * params.n);
    for (p, prompt) in prompts.iter().enumerate() {
        for j in 0..params.n {
            let index = p * params.n + j;
            let seq_id = state.engine.next_seq_id();
            let seed = state.sample_seed(params.seed, base_seed, index);
            // `max_tokens: 0` scores the prompt: the engine makes one token the choice drops.
            let sampling = params.sampling_params(&state.defaults, prompt.max_tokens.max(1), seed, prompt.thinking_budget.clone());
            seqs.push(SeqSpec { seq_id, prompt_token_ids: prompt.ids.clone(), params: Arc::new(sampling) });
            let mut config = choice.clone();
            config.prompt_ids = Some(prompt.ids.clone());
            config.echo = prompt.echo.clone();
            config.discard_output = prompt.max_tokens == 0;
            if let Some(reasoning) = config.pipeline.reasoning.as_mut() {
                reasoning.starts_in_reasoning = prompt.starts_in_reasoning;
            }
            choices.push((seq_id, Choice::new(index, state.tokenizer.clone(), config)));
        }
    }
    let prompt_tokens = prompts.iter().map(|p| p.ids.len()).sum();
    let request = Request { id: state.engine.next_request_id(), seqs, priority: params.priority };
    let mut meta = response_meta(state, id_prefix);
    if let Some(id) = client_id.map(str::to_owned).or_else(super::request_id::current) {
        meta.id = id;
    }
    let (guard, events) = state
        .engine
        .submit(request, meta.id.as_str())
        .map_err(|_| ApiError::unavailable("The engine has stopped."))?;
    let mut generation = Generation::new(guard, events, choices, prompt_tokens, state.metrics.clone(), started, meta);
    generation.set_deadline(super::deadline::current());
    generation.accepted().await?;
    Ok(generation)
}

/// `id`, `created`, `model` and the current `weight_version` of a response.
fn response_meta(state: &AppState, prefix: &str) -> ResponseMeta {
    ResponseMeta {
        id: format!("{prefix}-{:032x}", rand::random::<u128>()),
        created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        model: state.model_name.clone(),
        weight_version: state.engine.status().weight_version,
    }
}
