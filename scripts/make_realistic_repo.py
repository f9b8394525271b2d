#!/usr/bin/env python3
"""Writes a realistic CLO model repository: the guide's names, shapes and configs, real network architectures.

  preprocessing     the fixtures' letterbox model (scripts/make_fixtures.py build_preprocessing, identical)
  yolov8            YOLOv8n built from its model definition (ultralytics DetectionModel('yolov8n.yaml'), no
                    weight download), seeded random weights, exported end to end: box decoding (inside the
                    Detect head), class max, top 300 by score, class-aware Fast NMS (IoU 0.7) on them, rows
                    below score 0.25 or suppressed set to zero and moved after the kept rows -> [1, 300, 6]
                    (x1, y1, x2, y2, score, class) in letterbox pixels.
  postprocessing    the fixtures' crop model (build_postprocessing, identical)
  efficientnet_v2   torchvision EfficientNetV2-S (weights=None, seeded) with a one-unit head, sigmoid x 100,
                    input [1, 3, 384, 384] -> [1, 1]
  ensemble          the fixtures' ensemble config (identical)

The weights are random: the numbers it produces mean nothing; the repository exists to measure speed and memory
on the real architectures. Nothing is downloaded at run time.

Usage: scripts/make-realistic-repo.sh [OUT_DIR]   (makes the virtualenv, then runs this with --out OUT_DIR)
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as fx  # noqa: E402  (the fixtures' builders and configs: identical geometry)

SEED = 20250614
TOPK = 300
IOU = 0.7
OPSET = 18


class YoloEndToEnd(torch.nn.Module):
    """YOLOv8n + the end-to-end tail: fixed-shape [1, 300, 6] output."""

    def __init__(self, det: torch.nn.Module):
        super().__init__()
        self.det = det

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.det(x)
        if isinstance(y, (list, tuple)):
            y = y[0]
        # y: [1, 4 + nc, 8400]; boxes are (cx, cy, w, h) in input pixels, classes already sigmoid-ed.
        y = y[0].transpose(0, 1)  # [8400, 4 + nc]
        cxcywh, cls = y[:, :4], y[:, 4:]
        score, label = cls.max(dim=1)
        top_score, idx = torch.topk(score, TOPK)  # sorted, descending
        b = cxcywh[idx]
        half = b[:, 2:4] * 0.5
        boxes = torch.cat([b[:, :2] - half, b[:, :2] + half], dim=1)  # [300, 4] x1 y1 x2 y2
        lab = label[idx].to(torch.float32)
        # Fast NMS: drop a box when any higher-scoring box of the same class overlaps it by more than IOU.
        area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
        lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
        rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[..., 0] * wh[..., 1]
        iou = inter / (area[:, None] + area[None, :] - inter + 1e-7)
        same = (lab[:, None] == lab[None, :]).to(torch.float32)
        iou = torch.triu(iou * same, diagonal=1)  # row i (higher score) vs column j (lower)
        keep = (iou.max(dim=0).values <= IOU) & (top_score >= float(fx.SCORE_THRESHOLD))
        kept_score = torch.where(keep, top_score, torch.zeros_like(top_score))
        _, order = torch.topk(kept_score, TOPK)  # kept rows first, by score
        rows = torch.cat([boxes, top_score[:, None], lab[:, None]], dim=1)[order]
        rows = rows * keep[order].to(torch.float32)[:, None]
        return rows[None]  # [1, 300, 6]


class OilHead(torch.nn.Module):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x)) * 100.0  # [1, 1]


def build_yolov8() -> torch.nn.Module:
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(SEED)
    det = DetectionModel("yolov8n.yaml", ch=3, nc=80, verbose=False)
    # The random init leaves every class logit near its prior bias (scores ~1e-4: nothing is ever detected);
    # zero those biases so that seeded random features give scores around 0.5 and a realistic number of rows
    # pass the threshold, the postprocessing crops a box, and the estimator sees a crop of the frame.
    head = det.model[-1]
    for seq in head.cv3:
        torch.nn.init.zeros_(seq[-1].bias)
    det.eval()
    for m in det.modules():
        if hasattr(m, "export"):
            m.export = False
    return YoloEndToEnd(det).eval()


def build_efficientnet_v2() -> torch.nn.Module:
    torch.manual_seed(SEED + 1)
    net = torchvision.models.efficientnet_v2_s(weights=None)
    last = net.classifier[-1]
    net.classifier[-1] = torch.nn.Linear(last.in_features, 1)
    return OilHead(net).eval()


def export(module: torch.nn.Module, example: torch.Tensor, in_name: str, out_name: str) -> onnx.ModelProto:
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            buf,
            input_names=[in_name],
            output_names=[out_name],
            opset_version=OPSET,
            dynamo=False,
        )
    m = onnx.load_from_string(buf.getvalue())
    m.producer_name = "clo-pipeline scripts/make_realistic_repo.py"
    onnx.checker.check_model(m)
    return m


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    out: Path = args.out
    print(f"make_realistic_repo: torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    if out.exists():
        shutil.rmtree(out)
    t = time.time()
    models = {
        "preprocessing": fx.build_preprocessing(),
        "yolov8": export(build_yolov8(), torch.rand(1, 3, fx.T, fx.T), "preprocessed_640_640_image",
                         "yolo_detections"),
        "postprocessing": fx.build_postprocessing(),
        "efficientnet_v2": export(build_efficientnet_v2(), torch.rand(1, 3, fx.S, fx.S), "processed_image_384_384",
                                  "estimated_oil_pct"),
    }
    print(f"built and exported in {time.time() - t:.1f} s")
    for name, text in fx.CONFIGS.items():
        (out / name / "1").mkdir(parents=True, exist_ok=True)
        (out / name / "config.pbtxt").write_text(text)
    for name, m in models.items():
        onnx.save(m, str(out / name / "1" / "model.onnx"))
    (out / "ensemble" / "1" / ".gitkeep").write_text("")
    for name in models:
        size = (out / name / "1" / "model.onnx").stat().st_size
        print(f"  {name}: {size / 1e6:.1f} MB")

    # Self-check: the ensemble runs in onnxruntime with the shapes the configs declare.
    sessions = [fx.session(onnx.load(str(out / n / "1" / "model.onnx")))
                for n in ("preprocessing", "yolov8", "postprocessing", "efficientnet_v2")]
    rng = np.random.default_rng(SEED)
    frame = rng.integers(0, 256, (1, 3, fx.H, fx.W)).astype(np.float32)
    lb, dets, crop, oil = fx.run_ensemble(sessions, frame)
    assert lb.shape == (1, 3, fx.T, fx.T), lb.shape
    assert dets.shape == (1, TOPK, 6), dets.shape
    assert crop.shape == (1, 3, fx.S, fx.S), crop.shape
    assert oil.shape == (1, 1), oil.shape
    kept = int((dets[0, :, 4] >= fx.SCORE_THRESHOLD).sum())
    print(f"self-check: ensemble ran; {kept} rows kept, oil {float(oil[0, 0]):.3f} %")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
