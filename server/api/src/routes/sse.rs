//! Server-sent events: `data: <chunk JSON>` per delta, an optional usage chunk, then
//! `data: [DONE]`. The stream owns the `Generation`: a client that goes away drops
//! it, which aborts the request in the engine.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream;

use crate::generation::Generation;
use crate::protocol::response::{chat_chunk, completion_chunk, usage_chunk};
use crate::protocol::{ChunkDelta, ReasoningField, ResponseMeta};

/// Which chunk object to send.
#[derive(Debug, Clone, Copy)]
pub enum ChunkKind {
    /// `chat.completion.chunk`, reasoning under the configured field name(s).
    Chat(ReasoningField),
    /// `text_completion`.
    Completion,
}

enum Phase {
    Running,
    Usage,
    Done,
    Ended,
}

struct StreamState {
    generation: Generation,
    meta: ResponseMeta,
    kind: ChunkKind,
    include_usage: bool,
    phase: Phase,
    queue: VecDeque<Event>,
}

/// The SSE response for a running generation.
pub fn sse_response(generation: Generation, kind: ChunkKind, include_usage: bool) -> Response {
    let meta = generation.meta().clone();
    let mut queue = VecDeque::new();
    if let ChunkKind::Chat(field) = kind {
        // The first chunk of every choice carries only the role, sent at once.
        for choice in generation.choices() {
            let role = ChunkDelta { index: choice.index, role: true, ..Default::default() };
            queue.push_back(json_event(&chat_chunk(&meta, &role, field)));
        }
    }
    let state = StreamState { generation, meta, kind, include_usage, phase: Phase::Running, queue };
    let events = stream::unfold(state, |mut s| async move {
        let event = s.next_event().await?;
        Some((Ok::<_, Infallible>(event), s))
    });
    Sse::new(events).into_response()
}

fn json_event(value: &serde_json::Value) -> Event {
    Event::default().data(value.to_string())
}

impl StreamState {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            match self.phase {
                Phase::Running => self.pull().await,
                Phase::Usage => {
                    let object = match self.kind {
                        ChunkKind::Chat(_) => "chat.completion.chunk",
                        ChunkKind::Completion => "text_completion",
                    };
                    self.queue.push_back(json_event(&usage_chunk(&self.meta, object, &self.generation.usage())));
                    self.phase = Phase::Done;
                }
                Phase::Done => {
                    self.phase = Phase::Ended;
                    return Some(Event::default().data("[DONE]"));
                }
                Phase::Ended => return None,
            }
        }
    }

    /// Waits for the next engine events and queues their chunks.
    async fn pull(&mut self) {
        match self.generation.next().await {
            Some(Ok(deltas)) => {
                self.meta.weight_version = self.generation.meta().weight_version.clone();
                for d in deltas.iter().filter(|d| has_payload(d)) {
                    let chunk = match self.kind {
                        ChunkKind::Chat(field) => chat_chunk(&self.meta, d, field),
                        ChunkKind::Completion => completion_chunk(&self.meta, d),
                    };
                    self.queue.push_back(json_event(&chunk));
                }
            }
            Some(Err(e)) => {
                self.generation.metrics().count_rejection(e.reason());
                self.queue.push_back(json_event(&e.to_json()));
                self.phase = Phase::Done;
            }
            None => self.phase = if self.include_usage { Phase::Usage } else { Phase::Done },
        }
    }
}

/// A chunk is sent only when it carries text or a finish reason (never an empty delta).
fn has_payload(d: &ChunkDelta) -> bool {
    d.reasoning.is_some() || d.content.is_some() || d.finish.is_some()
}
