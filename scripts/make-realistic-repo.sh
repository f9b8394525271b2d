#!/usr/bin/env bash
# Builds the realistic model repository (real YOLOv8n and EfficientNetV2-S architectures, seeded random
# weights, the guide's names and shapes) into .local/realistic_repository (ignored; CI does not run this).
#
# It owns its virtualenv, .local/venv-models, and installs into it from PyPI: torch, torchvision, ultralytics,
# onnx, onnxruntime (the crate's ONNX Runtime version, for the self-check), pillow. torch from PyPI is the
# CUDA build (about 0.5 GB, plus several GB of CUDA libraries); it runs on the CPU. Needs ~8 GB of disk.
#
# Usage: scripts/make-realistic-repo.sh [OUT_DIR]     (default .local/realistic_repository)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.local/venv-models
out=${1:-$root/.local/realistic_repository}
py=${PYTHON:-python3}
pkgs=("torch==2.15.0" "torchvision==0.29.2" "ultralytics==8.4.190" "onnx==1.23.2" "onnxruntime==1.31.1"
      "numpy<3" "pillow==13.0.0" "scikit-image==0.25.2")
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
missing=0
for p in "${pkgs[@]}"; do
  "$venv/bin/python" -m pip show -q "${p%%[=<>]*}" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
  avail=$(df -Pk "$root" | awk 'NR==2 {print int($4/1024/1024)}')
  if [ "$avail" -lt 10 ]; then
    echo "make-realistic-repo: only ${avail} GiB free under $root; torch and its CUDA libraries need ~8 GiB" >&2
    exit 1
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pkgs[@]}"
fi
# Ultralytics must never reach the network: no settings sync, no hub, no asset downloads.
export YOLO_OFFLINE=1 ULTRALYTICS_OFFLINE=1 YOLO_CONFIG_DIR=$root/.local/ultralytics-config
exec "$venv/bin/python" "$root/scripts/make_realistic_repo.py" --out "$out"
