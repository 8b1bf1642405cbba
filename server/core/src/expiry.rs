//! The deadlines [`EngineCore`] keeps on the requests it accepted: the queue deadline
//! (`max_queue_time`, from acceptance to the first step) and the reader stall deadline
//! (`stream_stall_timeout`, once a reader is `stream_buffer_events` behind). Both end
//! the request in the engine, free its blocks and tell its stream why.

use std::time::Instant;

use crate::core::EngineCore;
use crate::event::{EngineEvent, Expiry};

impl EngineCore {
    /// Ends every request past a deadline at `now`. Runs before each step, and while
    /// idle or paused whenever [`Self::next_expiry`] comes.
    pub fn expire(&mut self, now: Instant) {
        let cfg = &self.cfg;
        let paused = self.paused.is_some();
        let mut ended = Vec::new();
        for (&id, live) in &mut self.requests {
            if !live.scheduled {
                if let Some(limit) = cfg.max_queue_time.filter(|&l| now.duration_since(live.arrived) >= l) {
                    ended.push((id, Expiry::QueueTime { limit, paused }));
                    continue;
                }
            }
            let unread = live.events.unread();
            if unread <= cfg.stream_buffer_events {
                live.stalled_since = None;
            } else if now.duration_since(*live.stalled_since.get_or_insert(now)) >= cfg.stream_stall_timeout {
                ended.push((id, Expiry::SlowReader { unread, limit: cfg.stream_stall_timeout }));
            }
        }
        // Each request is told through the outbox, once the status no longer counts it.
        let mut notices = Vec::new();
        for (id, why) in ended {
            if let Some(live) = self.requests.remove(&id) {
                tracing::warn!(request = %live.external_id, "{why}");
                notices.push((live.events, why));
            }
            self.scheduler.abort_request(id);
        }
        if let Some(limit) = self.cfg.max_queue_time {
            let (expired, kept): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.held).into_iter().partition(|h| now.duration_since(h.live.arrived) >= limit);
            self.held = kept;
            notices.extend(expired.into_iter().map(|h| (h.live.events, Expiry::QueueTime { limit, paused: true })));
        }
        if notices.is_empty() {
            return;
        }
        for (events, why) in notices {
            self.count(why);
            self.outbox.push((events, EngineEvent::Expired(why)));
        }
        self.after_change();
    }

    /// When the next queue deadline falls (`None`: no request has one), so an idle or
    /// paused engine wakes to expire it.
    pub fn next_expiry(&self) -> Option<Instant> {
        let limit = self.cfg.max_queue_time?;
        let waiting = self.requests.values().filter(|l| !l.scheduled);
        waiting.chain(self.held.iter().map(|h| &h.live)).map(|l| l.arrived + limit).min()
    }

    fn count(&mut self, why: Expiry) {
        match why {
            Expiry::QueueTime { .. } => self.status.expired_queue_time += 1,
            Expiry::SlowReader { .. } => self.status.expired_slow_reader += 1,
        }
    }
}
