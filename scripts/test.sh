#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need (scripts/setup.sh --dev), then
# formatting, clippy (warnings denied), every test (unit, integration, doc), and builds examples and benches,
# with the default features (CUDA code compiled, used only when a GPU is present) and without them.
#
# Every step runs even when an earlier one fails (and cargo runs every test binary: --no-fail-fast); the
# script ends with a summary and exits non-zero if any step failed. The first run compiles everything (about
# 10 minutes on 2 cores); cargo shows its progress.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev || exit 1
failed=()
start=$SECONDS
step() {
  local name=$1
  shift
  printf '\n== %s\n' "$name" >&2
  local t0=$SECONDS
  if "$@"; then
    printf '== ok: %s (%ds)\n' "$name" $((SECONDS - t0)) >&2
  else
    printf '== FAILED: %s (%ds)\n' "$name" $((SECONDS - t0)) >&2
    failed+=("$name")
  fi
}
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy (default features, all targets)" cargo clippy --all-targets -- -D warnings
step "cargo clippy (no default features)" cargo clippy --all-targets --no-default-features -- -D warnings
step "cargo test (default features): unit and integration tests; examples and benches built" \
  cargo test --all-targets --no-fail-fast
step "cargo test --doc" cargo test --doc --no-fail-fast
step "cargo test (no default features: the CPU-only build; clippy above already checked every target)" \
  cargo test --no-default-features --no-fail-fast --lib --test device
step "cargo test (no default features: golden, load errors, kernels on the CPU)" \
  cargo test --no-default-features --no-fail-fast --test library --test kernels -- pipeline_golden:: load_errors:: \
  kernels_cpu_shim::
step "cargo doc (warnings denied)" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -q
step "the README's commands, as written (scripts/readme_commands.py)" .local/venv/bin/python scripts/readme_commands.py
printf '\n== %d s in all\n' $((SECONDS - start)) >&2
if [ ${#failed[@]} -gt 0 ]; then
  printf '== %d step(s) FAILED:\n' ${#failed[@]} >&2
  printf '   %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '== every step passed\n' >&2
