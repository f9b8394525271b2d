#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (scripts/setup.sh --dev), then
# formatting, clippy (warnings denied), every test (unit, integration, doc), and builds examples and benches,
# with the default features (CUDA code compiled, used only when a GPU is present) and without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
step() { printf '\n== %s\n' "$*" >&2; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (default features, all targets)"
cargo clippy --all-targets -- -D warnings
step "cargo clippy (no default features)"
cargo clippy --all-targets --no-default-features -- -D warnings
step "cargo test (default features): unit, integration, doc tests; examples and benches built"
cargo test --all-targets
cargo test --doc
step "cargo test (no default features: the CPU-only build; clippy above already checked every target)"
cargo test --no-default-features --lib --test pipeline_golden --test load_errors --test device --test kernels_cpu_shim
step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q
