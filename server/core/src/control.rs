//! The operator's half of [`EngineCore`]: abort by id or all, pause and resume
//! (vLLM's modes), weight swaps and prefix-cache resets. Each runs between two steps.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::command::{PauseMode, WeightUpdate};
use crate::core::EngineCore;
use crate::event::EngineEvent;
use crate::executor::NewWeights;

impl EngineCore {
    /// Aborts the live and held requests whose external id is in `external_ids` (all of
    /// them for `None`); each hears `Aborted` once the status no longer counts it.
    /// Returns how many were aborted.
    pub fn abort_requests(&mut self, external_ids: Option<&[String]>) -> usize {
        let wanted = |id: &str| external_ids.is_none_or(|ids| ids.iter().any(|x| x == id));
        let ids: Vec<_> = self.requests.iter().filter(|(_, l)| wanted(&l.external_id)).map(|(&id, _)| id).collect();
        for id in &ids {
            if let Some(live) = self.requests.remove(id) {
                self.outbox.push((live.events, EngineEvent::Aborted));
            }
            self.scheduler.abort_request(*id);
        }
        let (aborted, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held).into_iter().partition(|h| wanted(&h.live.external_id));
        self.held = kept;
        let n = ids.len() + aborted.len();
        self.outbox.extend(aborted.into_iter().map(|h| (h.live.events, EngineEvent::Aborted)));
        self.after_change();
        n
    }

    /// Pauses generation as `mode` says and replies on `reply` once paused: at once for
    /// `Abort` (after aborting everything in flight) and `Keep` (requests frozen in
    /// place), after the requests in flight ended for `Wait`. Requests arriving while
    /// paused or draining are held until [`Self::resume`]. `clear_cache` resets the
    /// prefix cache once paused.
    pub fn pause(&mut self, mode: PauseMode, clear_cache: bool, reply: oneshot::Sender<()>) {
        if self.paused.is_some() {
            // Already paused: a second pause changes nothing but may clear the cache.
            if clear_cache {
                self.scheduler.reset_prefix_cache();
            }
            let _ = reply.send(());
            return;
        }
        match mode {
            PauseMode::Abort => {
                self.abort_requests(None);
                self.paused = Some(mode);
            }
            PauseMode::Keep => self.paused = Some(mode),
            PauseMode::Wait => {
                self.clear_cache_when_drained |= clear_cache;
                self.draining.push(reply);
                self.after_change();
                return;
            }
        }
        if clear_cache {
            self.scheduler.reset_prefix_cache();
        }
        self.refresh_status();
        let _ = reply.send(());
    }

    /// Resumes generation: frozen requests go on, held ones enter the scheduler in
    /// arrival order, pending `mode=wait` pauses are answered. Returns whether the engine
    /// was paused or draining.
    pub fn resume(&mut self) -> bool {
        let was = self.paused.is_some() || !self.draining.is_empty();
        self.paused = None;
        self.clear_cache_when_drained = false;
        for held in std::mem::take(&mut self.held) {
            self.admit(held.request, held.live);
        }
        self.refresh_status();
        for reply in self.draining.drain(..) {
            let _ = reply.send(());
        }
        was
    }

    /// Swaps in `weights` between two steps, then resets the prefix cache (K/V of the old
    /// weights never serves a request that starts after the swap) and tells every live
    /// request the new version. With `abort_all_requests`, everything in flight is
    /// aborted first; otherwise requests in flight go on with the new weights.
    ///
    /// Errors: the executor refused the weights (another KV layout or vocabulary); the
    /// old weights keep serving and nothing in flight is touched.
    pub fn update_weights(
        &mut self,
        weights: NewWeights,
        weight_version: Arc<str>,
        abort_all_requests: bool,
        received: Instant,
    ) -> Result<WeightUpdate, String> {
        self.executor.swap_weights(weights).map_err(|e| format!("{e:#}"))?;
        let num_aborted = if abort_all_requests { self.abort_requests(None) } else { 0 };
        self.scheduler.reset_prefix_cache();
        self.status.weight_version = weight_version.clone();
        self.status.weight_updates += 1;
        for live in self.requests.values().chain(self.held.iter().map(|h| &h.live)) {
            let _ = live.events.send(EngineEvent::WeightsUpdated { weight_version: weight_version.clone() });
        }
        self.refresh_status();
        tracing::info!(%weight_version, num_aborted, "weights updated");
        Ok(WeightUpdate { weight_version, swap_time: received.elapsed(), num_aborted })
    }

    /// Forgets every cached prefix.
    pub fn reset_prefix_cache(&mut self) {
        self.scheduler.reset_prefix_cache();
        self.refresh_status();
    }
}
