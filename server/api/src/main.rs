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
    // A busy port fails at once, before the model loads: the address is bound first,
    // and only listened on (so /health answers) once the model is ready.
    let socket = bind(&args.host, args.port)?;
    let server = ponder::load(&args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = socket.listen(1024).map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
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

/// Binds (without listening) the first address `host:port` resolves to.
///
/// Errors: the host does not resolve, or the address is in use.
fn bind(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpSocket> {
    use std::net::ToSocketAddrs;
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("cannot resolve --host {host}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("--host {host} resolves to no address"))?;
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (is another server on port {port}?)"))?;
    Ok(socket)
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
