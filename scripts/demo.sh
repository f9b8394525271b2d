#!/usr/bin/env bash
# The main job on the bundled demo: sets up ONNX Runtime (scripts/setup.sh), builds the example binaries the
# README's next steps use (infer, batch, serve: one build, the same profile as `cargo run --example ...`), then
# runs the CLO pipeline on the bundled model repository and photograph and prints the result.
#
# Arguments go to examples/infer.rs (`scripts/demo.sh --help` lists them): --json, --stage-mode model,
# --save-crop crop.png, --repository DIR, another image path. Without an image it runs on the bundled photo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
say() { printf 'demo: %s\n' "$*" >&2; }
bin=${CARGO_TARGET_DIR:-target}/debug/examples/infer
if [ ! -x "$bin" ]; then
  say "first build: about 200 crates, roughly 3 to 5 minutes on 2 cores (later runs take seconds); cargo shows its progress"
fi
t0=$SECONDS
cargo build --example infer --example batch --example serve
[ $((SECONDS - t0)) -gt 5 ] && say "built in $((SECONDS - t0)) s"
export CLO_INFER_IMAGE=${CLO_INFER_IMAGE:-tests/fixtures/images/coffee.png}
status=0
"$bin" "$@" || status=$?
case " $* " in *" --help "* | *" -h "* | *" --version "* | *" -V "*) exit $status ;; esac
if [ $status -eq 0 ] && ! printf '%s\n' "$@" | grep -q -e '^--repository' -e '^--model-repository'; then
  say "the bundled repository (tests/fixtures/model_repository) holds small seeded STAND-IN networks, not a"
  say "trained detector and oil regressor: the oil % above shows that the pipeline runs, not a real reading."
  say "Point it at your own Triton model repository and a camera frame:"
  say "  scripts/demo.sh --repository /path/to/model_repository /path/to/frame.jpg"
fi
exit $status
