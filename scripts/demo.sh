#!/usr/bin/env bash
# The main job on the bundled demo: sets up ONNX Runtime (scripts/setup.sh), then runs the CLO pipeline on
# the bundled model repository and photograph and prints the result. Extra arguments go to the example
# (e.g. --json, --stage-mode model, --save-crop crop.png, another image path).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
image=tests/fixtures/images/coffee.png
args=("$@")
for a in "$@"; do case "$a" in -*) ;; *) image="";; esac; done
exec cargo run -q --example infer -- --repository tests/fixtures/model_repository "${args[@]}" ${image:+"$image"}
