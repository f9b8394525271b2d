//! What every example binary shares: the `tracing` subscriber that makes the library's warnings visible.
//! (A folder without `main.rs`, so cargo does not take it for an example; each binary includes it with
//! `#[path = "support/mod.rs"] mod support;`.)
#![allow(dead_code)]

/// Installs a `tracing` subscriber writing to stderr: `RUST_LOG` filters (e.g. `RUST_LOG=clo_pipeline=debug`),
/// and by default warnings and errors are shown, so that the library's fallbacks reach the person running it.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// `text` with every line but the first prefixed by `prefix` (a multi-line report under a label).
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i == 0 { l.to_string() } else { format!("{prefix}{l}") })
        .collect::<Vec<_>>()
        .join("\n")
}
