#!/usr/bin/env python3
"""The CLO ensemble run the way a user would without clo-pipeline: Python onnxruntime, four sessions in order.

decode (PIL) -> f32 [1, 3, 2160, 3840] tensor from the u8 frame (numpy) -> preprocessing -> yolov8 ->
postprocessing -> efficientnet_v2. Prints one JSON object: per-stage and end-to-end medians in milliseconds over
--runs runs after --warmup runs, the settings, and the process's peak RSS (VmHWM).

Usage: python_baseline.py --repo REPO --frame FRAME.png [--intra N] [--inter N] [--runs N] [--warmup N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

STEPS = ("preprocessing", "yolov8", "postprocessing", "efficientnet_v2")


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, required=True)
    ap.add_argument("--frame", type=Path, required=True)
    ap.add_argument("--intra", type=int, default=0, help="intra-op threads (0 = onnxruntime's default)")
    ap.add_argument("--inter", type=int, default=0, help="inter-op threads (0 = onnxruntime's default)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.intra
    so.inter_op_num_threads = a.inter
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = {n: ort.InferenceSession(str(a.repo / n / "1" / "model.onnx"), so, providers=["CPUExecutionProvider"])
         for n in STEPS}
    w, h = 3840, 2160

    times: dict[str, list[float]] = {k: [] for k in ("decode", "to_tensor", *STEPS, "end_to_end_from_u8")}
    oil = None
    for i in range(a.warmup + a.runs):
        t = time.perf_counter()
        img = Image.open(a.frame)
        rgb = np.asarray(img.convert("RGB"))  # u8 HWC
        t_dec = time.perf_counter() - t
        if rgb.shape != (h, w, 3):
            raise SystemExit(f"the frame must be {w}x{h}, got {rgb.shape[1]}x{rgb.shape[0]}")
        t0 = time.perf_counter()
        frame = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None].astype(np.float32))  # [1,3,2160,3840] 0..255
        t1 = time.perf_counter()
        (lb,) = s["preprocessing"].run(None, {"original_image_3840_2160": frame})
        t2 = time.perf_counter()
        (dets,) = s["yolov8"].run(None, {"preprocessed_640_640_image": lb})
        t3 = time.perf_counter()
        (crop,) = s["postprocessing"].run(None, {"original_image_3840_2160": frame, "yolo_detections": dets})
        t4 = time.perf_counter()
        (out,) = s["efficientnet_v2"].run(None, {"processed_image_384_384": crop})
        t5 = time.perf_counter()
        oil = float(out.reshape(-1)[0])
        if i >= a.warmup:
            for k, v in zip(("decode", "to_tensor", *STEPS, "end_to_end_from_u8"),
                            (t_dec, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)):
                times[k].append(v * 1e3)
    print(json.dumps({
        "onnxruntime": ort.__version__,
        "intra_threads": a.intra,
        "inter_threads": a.inter,
        "runs": a.runs,
        "warmup": a.warmup,
        "median_ms": {k: statistics.median(v) for k, v in times.items()},
        "oil_pct": oil,
        "peak_rss_mb": vm_hwm_mb(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
