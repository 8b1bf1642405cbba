//! Progress where people wait: indicatif's bar on a terminal, and a plain line every
//! 5 s otherwise (CI logs, pipes), where indicatif would show nothing.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over `total` `unit`s with `template` on a terminal; elsewhere a line
/// `what: pos/total unit, rate/s` every 5 s until the bar is finished.
pub fn bar(total: usize, unit: &'static str, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        let ticker = bar.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                if ticker.is_finished() {
                    break;
                }
                eprintln!("{}/{} {unit}, {:.1}/s", ticker.position(), total, ticker.per_sec());
            }
        });
    }
    bar
}

/// Creates the folder `path` goes in, if it has one.
///
/// Errors: the folder cannot be created.
pub fn make_parent(path: &std::path::Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir),
        None => Ok(()),
    }
}

/// Says where an output file went.
pub fn wrote(path: &std::path::Path) {
    eprintln!("wrote {}", path.display());
}
