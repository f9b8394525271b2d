#!/usr/bin/env python3
"""How much ONNX Runtime's outputs move between CPU kinds, on the fixture repositories (the data behind the
golden tests' tolerances, docs/tolerances.md).

ONNX Runtime (MLAS) picks its kernels from the CPU's instruction sets at run time (SSE, AVX, AVX2/FMA, AVX-512,
and vendor-specific paths), so the same library and models round differently on different CPUs. The goldens in
tests/fixtures/expected were made on one machine; this script reruns the networks of a fixture repository on the
same inputs under other CPU models (scripts/cpu-variance.sh runs it natively and under `qemu-x86_64 -cpu X`,
which makes ONNX Runtime see that CPU's CPUID and take its code paths) and compares every output with the
goldens.

Only ONNX Runtime runs per CPU: the inputs (the Model-mode frame tensors, the Native-mode letterboxes and crops,
made with numpy from the fixture PNGs and the golden boxes) are prepared once, natively, so that numpy's own
SIMD dispatch does not enter the comparison; the crate computes those inputs in Rust without FMA contraction,
which gives the same bits on every x86-64 and aarch64 CPU.

    cpu_variance.py prepare DIR [--repository R --expected E]   # natively: inputs -> DIR/inputs.npz
    cpu_variance.py run DIR TAG [--threads N]                    # ORT on DIR/inputs.npz -> DIR/out-TAG.npz
    cpu_variance.py report DIR [--markdown FILE]                 # every out-*.npz against the goldens
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parent.parent
STEMS = ["coffee", "chelsea", "astronaut", "flat_grey"]
S = 384


def load_golden(expected: Path, stem: str):
    g = json.loads((expected / f"{stem}.json").read_text())
    crop = np.frombuffer((expected / g["crop_file"]).read_bytes(), dtype="<f4").reshape(1, 3, S, S)
    return g, crop


def prepare(args) -> int:
    import make_fixtures as mf  # numpy reference of docs/geometry.md

    repo, expected = Path(args.repository), Path(args.expected)
    arrays = {}
    for stem in STEMS:
        rgb = mf.load_rgb(ROOT / "tests" / "fixtures" / "images" / f"{stem}.png")
        arrays[f"{stem}.frame"] = mf.to_model_input(rgb)
        native = mf.native_frame(rgb)
        arrays[f"{stem}.native_lb"] = mf.ref_letterbox(native)
        g, _ = load_golden(expected, stem)
        box = [np.float32(v) for v in g["native"]["crop_box"]]
        arrays[f"{stem}.native_crop"] = mf.ref_crop_resize(native, box)
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "inputs.npz", **arrays)
    (out / "inputs.json").write_text(json.dumps({"repository": str(repo.resolve()), "expected": str(expected.resolve())}))
    print(f"cpu_variance: inputs for {len(STEMS)} images in {out / 'inputs.npz'}")
    return 0


def cpu_description() -> str:
    """The CPU as ONNX Runtime sees it: CPU_VARIANCE_LABEL when the driver emulates one (under qemu-user,
    /proc/cpuinfo still describes the host), else the host's instruction sets from /proc/cpuinfo."""
    import os

    if os.environ.get("CPU_VARIANCE_LABEL"):
        return os.environ["CPU_VARIANCE_LABEL"]
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{platform.machine()} ({', '.join(isa) or 'no /proc flags'})"


def run(args) -> int:
    import onnxruntime as ort

    d = Path(args.dir)
    meta = json.loads((d / "inputs.json").read_text())
    repo = Path(meta["repository"])
    inputs = np.load(d / "inputs.npz")

    def session(model: str):
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(repo / model / "1" / "model.onnx"), so, providers=["CPUExecutionProvider"])

    pre, yolo, post, eff = (session(m) for m in ("preprocessing", "yolov8", "postprocessing", "efficientnet_v2"))
    outs = {}
    for stem in STEMS:
        frame = inputs[f"{stem}.frame"]
        (lb,) = pre.run(None, {"original_image_3840_2160": frame})
        (dets,) = yolo.run(None, {"preprocessed_640_640_image": lb})
        (crop,) = post.run(None, {"original_image_3840_2160": frame, "yolo_detections": dets})
        (oil,) = eff.run(None, {"processed_image_384_384": crop})
        outs[f"{stem}.model.yolo_detections"] = dets
        outs[f"{stem}.model.processed_image_384_384"] = crop
        outs[f"{stem}.model.estimated_oil_pct"] = oil
        (ndets,) = yolo.run(None, {"preprocessed_640_640_image": inputs[f"{stem}.native_lb"]})
        (noil,) = eff.run(None, {"processed_image_384_384": inputs[f"{stem}.native_crop"]})
        outs[f"{stem}.native.yolo_detections"] = ndets
        outs[f"{stem}.native.estimated_oil_pct"] = noil
    np.savez(d / f"out-{args.tag}.npz", **outs)
    (d / f"out-{args.tag}.json").write_text(
        json.dumps({"tag": args.tag, "cpu": cpu_description(), "threads": args.threads, "ort": ort.__version__})
    )
    print(f"cpu_variance: {args.tag}: {cpu_description()}, {args.threads} thread(s), onnxruntime {ort.__version__}")
    return 0


def diffs(got: np.ndarray, want: np.ndarray):
    """Max absolute difference, and max relative difference |got-want| / max(|want|, floor) with the floor at
    1e-3 of the tensor's largest magnitude (so that values near zero do not dominate)."""
    got = got.astype(np.float64).reshape(-1)
    want = want.astype(np.float64).reshape(-1)
    a = np.abs(got - want)
    floor = max(1e-3 * float(np.abs(want).max(initial=0.0)), 1e-30)
    r = a / np.maximum(np.abs(want), floor)
    return float(a.max(initial=0.0)), float(r.max(initial=0.0))


def report(args) -> int:
    d = Path(args.dir)
    meta = json.loads((d / "inputs.json").read_text())
    expected = Path(meta["expected"])
    rows = []
    worst: dict[str, tuple[float, float]] = {}
    for out in sorted(d.glob("out-*.npz")):
        info = json.loads(out.with_suffix(".json").read_text())
        o = np.load(out)
        for stem in STEMS:
            g, crop = load_golden(expected, stem)
            n = g["native"]
            pairs = {
                "model: yolo_detections": (o[f"{stem}.model.yolo_detections"], np.array(g["yolo_detections"], np.float32)),
                "model: processed_image_384_384": (o[f"{stem}.model.processed_image_384_384"], crop),
                "model: estimated_oil_pct": (o[f"{stem}.model.estimated_oil_pct"], np.float32(g["estimated_oil_pct"])),
                "native: yolo_detections": (o[f"{stem}.native.yolo_detections"], np.array(n["yolo_detections"], np.float32)),
                "native: estimated_oil_pct": (o[f"{stem}.native.estimated_oil_pct"], np.float32(n["estimated_oil_pct"])),
            }
            for what, (got, want) in pairs.items():
                a, r = diffs(got, want)
                rows.append((info["tag"], info["cpu"], info["threads"], stem, what, a, r))
                wa, wr = worst.get(what, (0.0, 0.0))
                worst[what] = (max(wa, a), max(wr, r))
    lines = ["| run | CPU seen by ONNX Runtime | threads | image | output | max abs diff | max rel diff |", "|---|---|---|---|---|---|---|"]
    for tag, cpu, th, stem, what, a, r in rows:
        lines.append(f"| {tag} | {cpu} | {th} | {stem} | {what} | {a:.3g} | {r:.3g} |")
    lines += ["", "Worst over every run and image:", "", "| output | max abs diff | max rel diff |", "|---|---|---|"]
    for what, (a, r) in worst.items():
        lines.append(f"| {what} | {a:.3g} | {r:.3g} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("dir")
    p.add_argument("--repository", default=str(ROOT / "tests/fixtures/model_repository"))
    p.add_argument("--expected", default=str(ROOT / "tests/fixtures/expected"))
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("tag")
    r.add_argument("--threads", type=int, default=1)
    q = sub.add_parser("report")
    q.add_argument("dir")
    q.add_argument("--markdown")
    args = ap.parse_args()
    return {"prepare": prepare, "run": run, "report": report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
