//! ponder-bench: load generator for any OpenAI-compatible server. Speaks HTTP only.
//!
//! `ponder-bench load` sends streaming chat completions and reports TTFT, TPOT, ITL
//! and throughput with the definitions of vLLM's `vllm bench serve`, so numbers
//! are comparable.

mod load;
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Load(args) => load::run(args).await,
    }
}
