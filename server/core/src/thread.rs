//! The engine thread: feeds commands to an [`EngineCore`] and steps it while it has
//! work, blocking on the command channel while idle or paused.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::command::Command;
use crate::core::EngineCore;
use crate::handle::EngineHandle;

/// Starts `core` on a thread named `ponder-engine`. It stops when every
/// `EngineHandle` is dropped and nothing is left in flight; the status then reads
/// `alive: false`.
///
/// Errors: the thread could not be spawned.
pub fn spawn_engine(core: EngineCore) -> std::io::Result<(EngineHandle, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel();
    let status = core.subscribe();
    let thread = std::thread::Builder::new().name("ponder-engine".into()).spawn(move || run(core, rx))?;
    Ok((EngineHandle::new(tx, status), thread))
}

fn run(mut core: EngineCore, rx: Receiver<Command>) {
    while wait_for_work(&mut core, &rx) {
        let batch = core.step();
        if batch.is_empty() && core.has_work() {
            // Unfinished work but nothing schedulable: wait for a command instead of spinning.
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(cmd) => apply(&mut core, cmd),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
        }
    }
    core.publish_stopped();
    tracing::info!("engine thread stopped");
}

/// Blocks while there is nothing to step (waking for queue deadlines while paused), then
/// applies every queued command.
/// `false`: every handle is gone and nothing is in flight.
fn wait_for_work(core: &mut EngineCore, rx: &Receiver<Command>) -> bool {
    while !core.has_work() {
        let Some(at) = core.next_expiry() else {
            match rx.recv() {
                Ok(cmd) => apply(core, cmd),
                Err(_) => return false,
            }
            continue;
        };
        match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
            Ok(cmd) => apply(core, cmd),
            Err(RecvTimeoutError::Timeout) => core.expire(Instant::now()),
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
    loop {
        match rx.try_recv() {
            Ok(cmd) => apply(core, cmd),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return core.has_work(),
        }
    }
}

fn apply(core: &mut EngineCore, cmd: Command) {
    match cmd {
        Command::Add { request, external_id, events } => core.add(request, external_id, events),
        Command::Abort(id) => core.abort(id),
        Command::AbortRequests { external_ids, reply } => {
            let _ = reply.send(core.abort_requests(external_ids.as_deref()));
        }
        Command::Pause { mode, clear_cache, reply } => core.pause(mode, clear_cache, reply),
        Command::Resume { reply } => {
            let _ = reply.send(core.resume());
        }
        Command::UpdateWeights { weights, weight_version, abort_all_requests, reply } => {
            let received = Instant::now();
            let _ = reply.send(core.update_weights(weights, weight_version, abort_all_requests, received));
        }
        Command::ResetPrefixCache { reply } => {
            core.reset_prefix_cache();
            let _ = reply.send(());
        }
    }
}
