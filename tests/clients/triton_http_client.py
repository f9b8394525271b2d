"""Talks to a running `examples/serve` with the stock `tritonclient[http]` package, as a Triton user would.

Usage: triton_http_client.py HOST:PORT TOKEN DIR

DIR (written by tests/binaries/serve_tritonclient.rs) holds:
  metadata.json        the models' metadata as the repository configs declare them
  input.f32le          the ensemble's input frame, FP32 little-endian, shape in metadata.json
  expected.<name>.f32le  the library's outputs for that frame (Pipeline::run_ensemble, in-process)

Checks metadata, health and readiness, a binary infer, a JSON infer and an infer with default outputs (all
equal to the library's outputs, bit for bit), and the v2 errors: unknown model 404, wrong shape, datatype or
input name 400, missing or wrong token 401. Prints one JSON line per check; exits non-zero on the first
failure.
"""

import json
import sys
import urllib.error
import urllib.request

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, token, folder = sys.argv[1:4]


def auth_headers():
    """A fresh dict per call: tritonclient writes Inference-Header-Content-Length into the headers dict it is
    given, which would then go out, stale, with the next (JSON-only) request."""
    return {"Authorization": f"Bearer {token}"}

client = httpclient.InferenceServerClient(url=url, connection_timeout=120.0, network_timeout=300.0)
meta_expected = json.load(open(f"{folder}/metadata.json"))
ensemble = meta_expected["ensemble"]


def report(check, **kw):
    print(json.dumps({"check": check, **kw}), flush=True)


def expect_error(check, status, fn, contains=None):
    try:
        fn()
    except InferenceServerException as e:
        assert e.status() == str(status), f"{check}: status {e.status()} ({e.message()}), wanted {status}"
        assert e.message(), f"{check}: empty error message"
        if contains:
            assert contains in e.message(), f"{check}: {e.message()!r} lacks {contains!r}"
        report(check, status=int(e.status()), error=e.message())
        return
    raise AssertionError(f"{check}: no error, wanted {status}")


def raw_error(check, method, path, status, headers=None, body=None):
    """The same errors without tritonclient: the body must be exactly {"error": "..."}."""
    req = urllib.request.Request(f"http://{url}{path}", method=method, data=body, headers=headers or {})
    try:
        urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        assert e.code == status, f"{check}: {e.code} {body}, wanted {status}"
        assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"], body
        report(check + " (raw)", status=e.code, error=body["error"])
        return
    raise AssertionError(f"{check}: no error, wanted {status}")


# Health, server and model metadata.
assert client.is_server_live(headers=auth_headers()) and client.is_server_ready(headers=auth_headers())
assert client.is_model_ready(ensemble, headers=auth_headers())
assert client.is_model_ready(ensemble, model_version="1", headers=auth_headers())
server = client.get_server_metadata(headers=auth_headers())
assert "binary_tensor_data" in server["extensions"], server
for name, want in meta_expected["models"].items():
    got = client.get_model_metadata(name, headers=auth_headers())
    for key in ("name", "versions", "platform", "inputs", "outputs"):
        assert got[key] == want[key], f"{name}.{key}: {got[key]} != {want[key]}"
    assert client.get_model_metadata(name, model_version=want["versions"][-1], headers=auth_headers())["name"] == name
report("metadata", models=sorted(meta_expected["models"]))
index = client.get_model_repository_index(headers=auth_headers())
assert {m["name"] for m in index} == set(meta_expected["models"]), index
assert [m["state"] for m in index if m["name"] == ensemble] == ["READY"], index
report("repository index", rows=len(index))

inp_meta = meta_expected["models"][ensemble]["inputs"][0]
outs_meta = meta_expected["models"][ensemble]["outputs"]
frame = np.fromfile(f"{folder}/input.f32le", dtype="<f4").reshape(inp_meta["shape"])
expected = {
    o["name"]: np.fromfile(f"{folder}/expected.{o['name']}.f32le", dtype="<f4").reshape(o["shape"]) for o in outs_meta
}


def check_outputs(check, result):
    for name, want in expected.items():
        got = result.as_numpy(name)
        assert got is not None, f"{check}: no output {name}"
        assert got.dtype == np.float32 and got.shape == want.shape, f"{check}: {name} {got.dtype} {got.shape}"
        assert np.array_equal(got, want), f"{check}: {name} differs, max |diff| {np.abs(got - want).max()}"
    report(check, outputs={k: list(v.shape) for k, v in expected.items()}, oil=float(expected["estimated_oil_pct"].ravel()[0]))


# Binary infer: the 99.5 MB frame as raw bytes, outputs asked for as binary.
inp = httpclient.InferInput(inp_meta["name"], inp_meta["shape"], "FP32")
inp.set_data_from_numpy(frame, binary_data=True)
outs = [httpclient.InferRequestedOutput(o["name"], binary_data=True) for o in outs_meta]
r = client.infer(ensemble, [inp], outputs=outs, request_id="binary-1", headers=auth_headers())
assert r.get_response()["id"] == "binary-1"
assert all("binary_data_size" in o.get("parameters", {}) for o in r.get_response()["outputs"])
check_outputs("binary infer", r)

# Default outputs: tritonclient then asks for every output in binary (binary_data_output).
r = client.infer(ensemble, [inp], headers=auth_headers())
check_outputs("binary infer, default outputs", r)

# JSON infer: the frame as a JSON array (integer-valued floats keep the text ~200 MB), JSON outputs,
# through the versioned route.
inp.set_data_from_numpy(frame, binary_data=False)
outs = [httpclient.InferRequestedOutput(o["name"], binary_data=False) for o in outs_meta]
r = client.infer(ensemble, [inp], outputs=outs, model_version="1", headers=auth_headers())
assert all("data" in o for o in r.get_response()["outputs"])
check_outputs("json infer", r)
del inp

# Errors, each a v2 JSON error body.
small = np.zeros((1, 3, 4, 4), dtype=np.float32)


def small_input(name=inp_meta["name"], dtype="FP32", arr=small):
    i = httpclient.InferInput(name, list(arr.shape), dtype)
    i.set_data_from_numpy(arr, binary_data=True)
    return i


expect_error("unknown model", 404, lambda: client.infer("no_such_model", [small_input()], headers=auth_headers()))
expect_error("unknown model metadata", 404, lambda: client.get_model_metadata("no_such_model", headers=auth_headers()))
expect_error("unknown version", 404, lambda: client.get_model_metadata(ensemble, model_version="7", headers=auth_headers()))
expect_error("wrong shape", 400, lambda: client.infer(ensemble, [small_input()], headers=auth_headers()), contains="shape")
expect_error(
    "wrong datatype",
    400,
    lambda: client.infer(ensemble, [small_input(dtype="INT32", arr=small.astype(np.int32))], headers=auth_headers()),
    contains="datatype",
)
expect_error("wrong input name", 400, lambda: client.infer(ensemble, [small_input(name="pixels")], headers=auth_headers()), contains="pixels")
expect_error("missing token", 401, lambda: client.get_model_metadata(ensemble))
expect_error("wrong token", 401, lambda: client.get_model_metadata(ensemble, headers={"Authorization": "Bearer nope"}))
expect_error(
    "step model not served individually",
    400,
    lambda: client.infer(meta_expected["step"], [small_input()], headers=auth_headers()),
    contains="not served individually",
)
raw_error("unknown model", "POST", "/v2/models/no_such_model/infer", 404, auth_headers(), b"{}")
raw_error("missing token", "GET", f"/v2/models/{ensemble}", 401)
raw_error("bad json", "POST", f"/v2/models/{ensemble}/infer", 400, auth_headers(), b"{not json")
report("done")
