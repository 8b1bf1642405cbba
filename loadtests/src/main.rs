//! ponder-bench: load generator and evaluation tool for any OpenAI-compatible server.
//! Speaks HTTP only.
//!
//! `ponder-bench load` sends streaming chat completions and reports TTFT, TPOT, ITL
//! and throughput with the definitions of vLLM's `vllm bench serve`, so numbers
//! are comparable.
//!
//! `ponder-bench eval` samples k answers per `{prompt, answer}` problem and reports
//! pass@1 and cons@k as DeepSeek-R1's paper does, with reasoning and answer lengths.
//!
//! `ponder-bench soak` starts `ponder serve` and soaks it with faults (issue 11's proof).

mod eval;
mod http;
mod load;
#[cfg(test)]
mod mock_server;
mod progress;
mod soak;
mod sse;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ponder-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Closed-loop load at a fixed concurrency: streaming chat completions.
    Load(load::LoadArgs),
    /// Accuracy on a JSONL of `{prompt, answer}`: pass@1, cons@k, reasoning lengths.
    Eval(eval::EvalArgs),
    /// Fault soak of a `ponder serve` started on loopback: mixed requests, faulty
    /// clients, a burst, a weight update and a SIGTERM; fails on any lost request.
    Soak(soak::SoakArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Load(args) => load::run(args).await,
        Command::Eval(args) => eval::run(args).await,
        Command::Soak(args) => soak::run(args).await,
    }
}
