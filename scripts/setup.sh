#!/usr/bin/env bash
# Installs what the project needs into folders it owns, idempotently:
#   .local/venv            a Python virtualenv with onnxruntime==1.31.1
#   .local/onnxruntime/    libonnxruntime.so (the wheel's library), where the crate looks for it
# Usage: scripts/setup.sh [--dev] [--fixtures]
#   --dev       what the tests need besides: NVRTC (nvidia-cuda-nvrtc 13.0.x gives
#               .local/venv/.../nvidia/cu13/lib/libnvrtc.so.13, which src/cuda/nvrtc.rs finds there; 13.0
#               matches the GPU machines' driver 580, CUDA 13.0), the Triton HTTP client that
#               tests/binaries/serve_tritonclient.rs drives examples/serve.rs with (tritonclient[http], numpy), and
#               onnx + pillow for scripts/make_hostile.py (the corpus tests/library/hostile_inputs.rs generates)
#   --fixtures  what scripts/make_fixtures.py needs (onnx, pillow, scikit-image)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.local/venv
ortdir=$root/.local/onnxruntime
ORT_VERSION=1.31.1
py=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
pkgs=("onnxruntime==$ORT_VERSION" "numpy<3")
for arg in "$@"; do
  case "$arg" in
    --dev) pkgs+=("nvidia-cuda-nvrtc==13.0.88" "tritonclient[http]==2.73.0" "onnx==1.23.2" "pillow==13.0.0") ;;
    --fixtures) pkgs+=("onnx==1.23.2" "pillow==13.0.0" "scikit-image==0.25.2") ;;
    *) echo "setup: unknown option $arg (use --dev, --fixtures)" >&2; exit 2 ;;
  esac
done
missing=0
for p in "${pkgs[@]}"; do
  name=${p%%[=<>]*}
  "$venv/bin/python" -m pip show -q "${name%%\[*}" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pkgs[@]}"
fi
lib=$("$venv/bin/python" -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))')/libonnxruntime.so.$ORT_VERSION
[ -f "$lib" ] || { echo "setup: $lib not found after installing onnxruntime==$ORT_VERSION" >&2; exit 1; }
mkdir -p "$ortdir"
ln -sf "$lib" "$ortdir/libonnxruntime.so.$ORT_VERSION"
ln -sf "libonnxruntime.so.$ORT_VERSION" "$ortdir/libonnxruntime.so"
echo "setup: ONNX Runtime $ORT_VERSION at $ortdir/libonnxruntime.so" >&2
