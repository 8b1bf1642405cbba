//! The `ponder` binary: `ponder serve [MODEL] [flags]`.

use std::process::ExitCode;

use clap::Parser;
use ponder::cli::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let Cli { command: Command::Serve(args) } = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        // One JSON object per line (fields flattened), for log pipelines.
        LogFormat::Json => tracing_subscriber::fmt().json().flatten_event(true).with_env_filter(filter).init(),
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: ponder::cli::ServeArgs) -> anyhow::Result<()> {
    // Load before binding: the listener opens (and /health answers) once the model is ready.
    let server = ponder::load(&args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
        let shutdown = async {
            first_signal().await;
            // A second SIGTERM/SIGINT while draining exits at once.
            tokio::spawn(async {
                first_signal().await;
                tracing::warn!("second signal: exiting without draining");
                std::process::exit(130);
            });
        };
        ponder::serve(server, listener, shutdown).await
    })
}

/// SIGTERM (what Kubernetes and systemd send) or SIGINT.
async fn first_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
                _ = term.recv() => tracing::info!("SIGTERM"),
            },
            Err(e) => {
                tracing::warn!("cannot handle SIGTERM ({e}); only SIGINT drains");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
