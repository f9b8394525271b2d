#!/usr/bin/env python3
"""Writes the hostile-input corpus that tests/library/hostile_inputs.rs feeds to the crate.

Usage: make_hostile.py OUT_DIR

OUT_DIR/images/     truncated, corrupt and empty JPEG/PNG files, odd sizes (1x1, 1xN, Nx1), 16-bit, grayscale,
                    RGBA, palette and CMYK images, decompression bombs (tiny files whose header claims a huge
                    image), a frame larger than 8K, a file that is not an image, a PNG named .jpg
OUT_DIR/onnx/       stand-in detectors for the fixture repository's `yolov8` (input preprocessed_640_640_image
                    f32 [1,3,640,640]) that output a constant crafted `yolo_detections` tensor: NaN/inf
                    coordinates and scores, negative, inverted and out-of-frame boxes, huge coordinates; and
                    detectors whose real output shape differs from the config (dynamic dims in the file)
OUT_DIR/manifest.json   what each file is and what the test expects of it

Deterministic (fixed seeds, no timestamps). Needs numpy, pillow and onnx (scripts/setup.sh --dev).
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from PIL import Image
except ImportError as e:  # exit status 3: "cannot run here", which the Rust test tells from a failure
    print(f"make_hostile: missing Python package ({e}); run scripts/setup.sh --dev", file=sys.stderr)
    sys.exit(3)

OPSET = 18
IR_VERSION = 8
ROWS = 300
THRESHOLD = 0.25


def gradient(w: int, h: int, seed: int) -> np.ndarray:
    """An RGB u8 image of smooth gradients (so lossy encodings stay close to it) with a seed-dependent phase."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    b = ((x + y + seed * 17) * 255 // (w + h + seed * 17)).astype(np.uint8)
    return np.stack([r, g, b], axis=-1)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(w: int, h: int, bit_depth: int, color_type: int) -> bytes:
    """A valid-looking PNG whose IHDR claims w x h, with a few bytes of compressed zeros as its data."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_with_size(jpeg: bytes, w: int, h: int) -> bytes:
    """The JPEG with its SOF0/SOF2 frame header patched to claim w x h."""
    b = bytearray(jpeg)
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            raise ValueError("not at a marker")
        marker, length = b[i + 1], struct.unpack(">H", b[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            b[i + 5 : i + 9] = struct.pack(">HH", h, w)
            return bytes(b)
        i += 2 + length
    raise ValueError("no SOF marker")


def write_images(out: Path) -> list[dict]:
    d = out / "images"
    d.mkdir(parents=True, exist_ok=True)
    cases: list[dict] = []

    def ok(name: str, w: int, h: int, note: str, like: str | None = None):
        """`like`: the file holds ok.png's pixels in another layout; as RGB8 it must stay close to them."""
        c = {"file": f"images/{name}", "expect": "ok", "width": w, "height": h, "note": note}
        if like:
            c["like"] = f"images/{like}"
        cases.append(c)

    def err(name: str, kind: str, note: str):
        cases.append({"file": f"images/{name}", "expect": "error", "kind": kind, "note": note})

    rgb = Image.fromarray(gradient(160, 90, 1))
    rgb.save(d / "ok.png")
    ok("ok.png", 160, 90, "ordinary RGB PNG")
    rgb.save(d / "ok.jpg", quality=90)
    ok("ok.jpg", 160, 90, "ordinary RGB JPEG", like="ok.png")

    png = (d / "ok.png").read_bytes()
    jpg = (d / "ok.jpg").read_bytes()
    (d / "truncated.png").write_bytes(png[: len(png) // 2])
    err("truncated.png", "decode", "PNG cut in the middle of its data")
    (d / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    # zune-jpeg fills a truncated scan with grey rather than failing (like libjpeg's warning): a defined
    # fallback, the image keeps its header's size.
    ok("truncated.jpg", 160, 90, "JPEG cut in the middle of its scan: decoded, missing part filled")
    (d / "header_only.jpg").write_bytes(jpg[:20])
    err("header_only.jpg", "decode", "JPEG with only its first 20 bytes")
    corrupt = bytearray(png)
    for k in range(60, len(corrupt) - 20, 7):
        corrupt[k] ^= 0x5A
    (d / "corrupt.png").write_bytes(bytes(corrupt))
    err("corrupt.png", "decode", "PNG with every 7th byte after the header flipped (CRC and zlib errors)")
    corrupt = bytearray(jpg)
    # Overwrite the quantisation/Huffman tables region with garbage, keeping the SOI marker.
    for k in range(4, min(len(corrupt), 400)):
        corrupt[k] = (k * 37) & 0xFF
    (d / "corrupt.jpg").write_bytes(bytes(corrupt))
    err("corrupt.jpg", "decode", "JPEG whose marker segments are garbage after SOI")
    for name in ["empty.png", "empty.jpg"]:
        (d / name).write_bytes(b"")
        err(name, "format", "zero-byte file")
    (d / "not_an_image.jpg").write_bytes(b"this is a text file, not a JPEG\n" * 4)
    err("not_an_image.jpg", "format", "text file named .jpg")
    (d / "png_named.jpg").write_bytes(png)
    ok("png_named.jpg", 160, 90, "PNG content under a .jpg name (format comes from the content)", like="ok.png")

    Image.fromarray(gradient(1, 1, 2)).save(d / "1x1.png")
    ok("1x1.png", 1, 1, "1x1 pixel")
    Image.fromarray(gradient(1, 97, 3)).save(d / "1x97.png")
    ok("1x97.png", 1, 97, "one column")
    Image.fromarray(gradient(97, 1, 4)).save(d / "97x1.jpg", quality=90)
    ok("97x1.jpg", 97, 1, "one row, JPEG")

    g16 = (np.linspace(0, 65535, 120 * 80).reshape(80, 120)).astype(np.uint16)
    Image.fromarray(g16).save(d / "gray16.png")
    ok("gray16.png", 120, 80, "16-bit grayscale PNG")
    rgb16 = gradient(120, 80, 5).astype(np.uint16) * 257
    # Pillow cannot write 16-bit RGB; write it by hand (colour type 2, depth 16).
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rgb16)
    ihdr = struct.pack(">IIBBBBB", 120, 80, 16, 2, 0, 0, 0)
    (d / "rgb16.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    )
    ok("rgb16.png", 120, 80, "16-bit RGB PNG")
    rgb.convert("L").save(d / "gray.png")
    ok("gray.png", 160, 90, "8-bit grayscale PNG")
    rgb.convert("L").save(d / "gray.jpg", quality=90)
    ok("gray.jpg", 160, 90, "grayscale JPEG")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(gradient(160, 90, 6)[:, :, 2]))
    rgba.save(d / "rgba.png")
    ok("rgba.png", 160, 90, "RGBA PNG with varying alpha", like="ok.png")
    rgb.convert("LA").save(d / "gray_alpha.png")
    ok("gray_alpha.png", 160, 90, "grayscale + alpha PNG")
    rgb.convert("P", palette=Image.Palette.ADAPTIVE).save(d / "palette.png")
    ok("palette.png", 160, 90, "palette PNG", like="ok.png")
    rgb.convert("CMYK").save(d / "cmyk.jpg", quality=90)
    ok("cmyk.jpg", 160, 90, "CMYK JPEG (Adobe)", like="ok.png")

    (d / "bomb_dims.png").write_bytes(png_bomb(100_000, 100_000, 8, 2))
    err("bomb_dims.png", "limits", "tiny PNG claiming 100000x100000 RGB")
    (d / "bomb_alloc.png").write_bytes(png_bomb(16_000, 16_000, 16, 6))
    err("bomb_alloc.png", "limits", "tiny PNG claiming 16000x16000 RGBA16 (within the size limit, 2 GB of pixels)")
    (d / "bomb_dims.jpg").write_bytes(jpeg_with_size(jpg, 60_000, 60_000))
    err("bomb_dims.jpg", "limits", "small JPEG whose frame header claims 60000x60000")

    big = Image.fromarray(gradient(8192, 4608, 7))
    big.save(d / "8192x4608.jpg", quality=75)
    ok("8192x4608.jpg", 8192, 4608, "a frame larger than 8K UHD (7680x4320)")
    return cases


def constant_detector(rows: np.ndarray, out_dims, doc: str) -> onnx.ModelProto:
    """A `yolov8` stand-in: input preprocessed_640_640_image f32 [1,3,640,640] (unused), output
    yolo_detections = the constant `rows`."""
    const = helper.make_node("Constant", [], ["rows"], value=numpy_helper.from_array(rows.astype(np.float32), "rows"))
    nodes = [
        const,
        helper.make_node("Identity", ["rows"], ["yolo_detections"]),
    ]
    graph = helper.make_graph(
        nodes,
        "hostile_detector",
        [helper.make_tensor_value_info("preprocessed_640_640_image", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("yolo_detections", TensorProto.FLOAT, out_dims)],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_hostile.py", doc_string=doc)
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    return m


def sliced_detector(rows: np.ndarray, axis: int, n: int, doc: str) -> onnx.ModelProto:
    """A `yolov8` stand-in whose output is `rows[..., :n, ...]` along `axis`, with `n` computed at run time
    (min(input) * 0 + n), so the output's length on `axis` is unknown until it runs."""
    c = lambda name, v: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(v), name))
    nodes = [
        c("rows", rows.astype(np.float32)),
        helper.make_node("ReduceMin", ["preprocessed_640_640_image"], ["m"], keepdims=0),
        c("zero", np.float32(0)),
        c("n", np.float32(n)),
        helper.make_node("Mul", ["m", "zero"], ["m0"]),
        helper.make_node("Add", ["m0", "n"], ["nf"]),
        helper.make_node("Cast", ["nf"], ["ni"], to=TensorProto.INT64),
        c("one", np.array([1], dtype=np.int64)),
        helper.make_node("Reshape", ["ni", "one"], ["end"]),
        c("start", np.array([0], dtype=np.int64)),
        c("axes", np.array([axis], dtype=np.int64)),
        helper.make_node("Slice", ["rows", "start", "end", "axes"], ["yolo_detections"]),
    ]
    dims = [1, ROWS, 6]
    dims[axis] = "n"
    graph = helper.make_graph(
        nodes,
        "hostile_detector_sliced",
        [helper.make_tensor_value_info("preprocessed_640_640_image", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("yolo_detections", TensorProto.FLOAT, dims)],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_hostile.py", doc_string=doc)
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    return m


def dets(rows) -> np.ndarray:
    d = np.zeros((1, ROWS, 6), dtype=np.float32)
    for i, r in rows:
        d[0, i] = r
    return d


def best_row(d: np.ndarray):
    best = None
    for i, r in enumerate(d[0]):
        if not np.all(np.isfinite(r[:5])) or not r[4] >= THRESHOLD:
            continue
        if best is None or r[4] > d[0, best, 4]:
            best = i
    return best


def write_detectors(out: Path) -> list[dict]:
    d = out / "onnx"
    d.mkdir(parents=True, exist_ok=True)
    nan, inf, big = float("nan"), float("inf"), 3e38
    poison = [
        (0, [nan, nan, nan, nan, nan, nan]),
        (1, [10, 150, 200, 300, nan, 0]),
        (2, [nan, 150, 200, 300, 0.99, 0]),
        (3, [10, inf, 200, 300, 0.98, 0]),
        (4, [10, 150, -inf, 300, 0.97, 0]),
        (5, [10, 150, 200, 300, inf, 0]),
        (6, [10, 150, 200, 300, -inf, 0]),
    ]
    cases = {
        "nan_inf_only": (poison, "only NaN/inf rows: no candidate, the whole frame is cropped"),
        "inverted_partly_outside": (poison + [(7, [700, 600, -50, 100, 0.8, 1])], "best box inverted and over the borders"),
        "negative_box": (poison + [(9, [-300, -200, -10, -5, 0.7, 0])], "best box entirely at negative coordinates"),
        "outside_far": (poison + [(9, [5000, 6000, 9000, 9999, 0.7, 0])], "best box entirely beyond the frame"),
        "huge_coordinates": (poison + [(299, [-big, -big, big, big, 0.6, 0])], "coordinates near f32::MAX (overflow to inf when mapped)"),
        "zero_area": (poison + [(150, [320, 320, 320, 320, 0.9, 0])], "zero-area best box"),
        "mixed": (
            poison + [(7, [700, 600, -50, 100, 0.5, 1]), (8, [100, 200, 300, 400, 0.8, 0]), (9, [1, 2, 3, 4, 0.8, 0])],
            "a tie (lowest row wins) behind poisoned rows",
        ),
    }
    out_cases = []
    for name, (rows, note) in cases.items():
        t = dets(rows)
        onnx.save(constant_detector(t, [1, ROWS, 6], note), d / f"{name}.onnx")
        b = best_row(t)
        out_cases.append({"file": f"onnx/{name}.onnx", "best_row": b, "note": note})
    # Real output shapes that differ from the config's [1,300,6] and that no tool can see before running: the
    # detector slices its constant to a length computed from its input, so the file's output dim is
    # dynamic, the strict config check (where -1 matches anything) accepts it, and the shape shows at run time.
    short = dets([(0, [100, 200, 300, 400, 0.9, 0])])
    onnx.save(sliced_detector(short, 1, 5, "5 rows instead of 300"), d / "shape_5_rows.onnx")
    wide = np.zeros((1, ROWS, 7), dtype=np.float32)
    onnx.save(sliced_detector(wide, 2, 7, "rows of 7 values instead of 6"), d / "shape_7_cols.onnx")
    (d / "not_onnx.onnx").write_bytes(b"this is not a protobuf\n" * 8)
    (d / "empty.onnx").write_bytes(b"")
    return out_cases


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"images": write_images(out), "detectors": write_detectors(out)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"make_hostile: wrote {len(manifest['images'])} images and {len(manifest['detectors'])} detectors to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
