#!/usr/bin/env bash
# Measures how much ONNX Runtime 1.31.1's outputs on the fixture repository move between CPU kinds, and
# writes the table to docs/cpu-variance.md (docs/tolerances.md derives the golden tests' tolerances from it).
#
# The networks run natively (1 and 2 intra-op threads) and under qemu-user with other CPU models, which makes
# ONNX Runtime's kernel dispatch (MLAS, by CPUID) take their code paths: x86-64 with AVX only, AVX2+FMA
# (Intel and AMD), and aarch64 (NEON; Debian's arm64 Python with the PyPI aarch64 wheels). qemu's TCG has no
# AVX-512, so the AVX-512 paths are measured only natively, on an AVX-512 host.
#
# Usage: scripts/cpu-variance.sh          (root needed for apt-get and debootstrap; takes a few minutes)
# Installs: Debian's qemu-user and debootstrap; an arm64 Debian rootfs and the aarch64 wheels under
# .local/cpu-variance/ (about 400 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
py=.local/venv/bin/python
work=.local/cpu-variance
mkdir -p "$work"
say() { printf 'cpu-variance: %s\n' "$*" >&2; }

need=()
command -v qemu-x86_64 >/dev/null || need+=(qemu-user)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt-get)"
  apt-get install -y -q "${need[@]}" >/dev/null
fi

# An arm64 Python 3.11 (Debian bookworm's) with numpy and onnxruntime 1.31.1 from their aarch64 wheels. The
# first debootstrap stage only downloads and unpacks; the packages' files are enough to run Python under
# qemu-aarch64 -L (no chroot, no binfmt needed).
root=$work/arm64-root
site=$work/arm64-site
if [ ! -x "$root/usr/bin/python3.11" ]; then
  say "debootstrap: an arm64 Debian rootfs with python3 in $root"
  debootstrap --arch=arm64 --foreign --variant=minbase --include=python3 bookworm "$root" \
    http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1
  for d in "$root"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$d" "$root"; done
fi
# qemu-user shows the guest the host's /proc/cpuinfo, which ONNX Runtime's cpuinfo cannot parse on aarch64
# (it crashes on import); a file under the -L prefix takes its place.
mkdir -p "$root/proc"
cat >"$root/proc/cpuinfo" <<'EOF'
processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x3
CPU part	: 0xd0c
CPU revision	: 1

EOF
if [ ! -d "$site/onnxruntime" ]; then
  say "pip: onnxruntime==1.31.1 and numpy aarch64 wheels into $site"
  "$py" -m pip install -q --disable-pip-version-check --target "$site" --python-version 3.11 --implementation cp \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
    --only-binary=:all: onnxruntime==1.31.1 "numpy<3"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
say "preparing the inputs (natively, numpy)"
"$py" scripts/cpu_variance.py prepare "$out"
quiet() { grep -v "TCG doesn't support requested feature" >&2 || true; }
"$py" scripts/cpu_variance.py run "$out" host-1-thread --threads 1
"$py" scripts/cpu_variance.py run "$out" host-2-threads --threads 2
for cpu in SandyBridge-v1:"AVX, no FMA" Haswell-v4:"AVX2, FMA" EPYC-Rome-v1:"AMD, AVX2, FMA"; do
  model=${cpu%%:*}
  CPU_VARIANCE_LABEL="x86_64 under qemu -cpu $model (${cpu#*:})" \
    qemu-x86_64 -cpu "$model" "$py" scripts/cpu_variance.py run "$out" "qemu-$model" 2>&1 | quiet
done
for cpu in cortex-a72:"NEON" neoverse-n1:"NEON, dotprod"; do
  model=${cpu%%:*}
  CPU_VARIANCE_LABEL="aarch64 under qemu -cpu $model (${cpu#*:})" PYTHONPATH=$site \
    qemu-aarch64 -cpu "$model" -L "$root" "$root/usr/bin/python3.11" scripts/cpu_variance.py run "$out" \
    "qemu-$model" 2>&1 | quiet
done
{
  echo "# ONNX Runtime's outputs across CPU kinds (generated)"
  echo
  echo "Written by \`scripts/cpu-variance.sh\` on $(date -u +%Y-%m-%d): each run feeds the same inputs to the"
  echo "fixture repository's networks (tests/fixtures/model_repository, ONNX Runtime 1.31.1, CPU provider) and"
  echo "compares the outputs with the goldens of tests/fixtures/expected. Relative differences use a floor of"
  echo "1e-3 of the tensor's largest magnitude. docs/tolerances.md turns this into the tests' tolerances."
  echo
  "$py" scripts/cpu_variance.py report "$out"
} >docs/cpu-variance.md
# The crate's own golden tests under the emulated x86-64 CPUs (the aarch64 runs above need an aarch64 build of
# the crate, which this machine's toolchain cannot make).
say "building the golden test binaries"
bins=$(cargo test --no-run --message-format=json --test library 2>/dev/null |
  "$py" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])')
{
  echo
  echo "## The crate's golden tests under other CPUs"
  echo
  echo "| CPU | test binary | result |"
  echo "|---|---|---|"
  for cpu in host SandyBridge-v1 Haswell-v4 EPYC-Rome-v1; do
    for bin in $bins; do
      if [ "$cpu" = host ]; then run=("$bin"); else run=(qemu-x86_64 -cpu "$cpu" "$bin"); fi
      run+=(pipeline_golden:: roles_by_wiring::)
      say "$(basename "$bin") on $cpu"
      result=$("${run[@]}" 2>&1 | grep -v "TCG doesn't support" | grep '^test result' || echo "test result: FAILED (no summary)")
      echo "| $cpu | $(basename "$bin" | sed 's/-[0-9a-f]*$//') | ${result#test result: } |"
    done
  done
} >>docs/cpu-variance.md
say "wrote docs/cpu-variance.md"
