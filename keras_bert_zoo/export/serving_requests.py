"""TF Serving requests for an exported SavedModel: REST JSON bodies and gRPC PredictRequests.

Both are built from, and validated against, the signature stored in the SavedModel (input names, dtypes,
shapes), so a client finds out about a renamed input or a wrong dtype before the server does.

    signature_spec(path, signature_name)         -> SignatureSpec (inputs/outputs: name -> (dtype, shape))
    rest_body(spec, inputs, row_format=True)     -> dict for POST /v1/models/<name>[/versions/<v>]:predict
    predict_request(spec, inputs, model_name)    -> tensorflow_serving.apis.predict_pb2.PredictRequest
    validate_rest_body(spec, body) / validate_predict_request(spec, request)  raise RequestError
    rest_body_to_tensors / request_to_tensors    decode a body/request the way the server does

``inputs`` is ``{input name: list of Python strings}`` (raw-string signatures) or
``{input name: nested list / numpy array of ints}`` (the packed signature).

    spec = signature_spec("saved_models/tiny/1", "serving_default")
    body = rest_body(spec, {"text": ["hello world"]})          # POST to rest_url("tiny", 1)
    request = predict_request(spec, {"text": ["hello world"]}, model_name="tiny", version=1)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Mapping

import numpy as np

__all__ = ["RequestError", "SignatureSpec", "signature_spec", "rest_body", "predict_request",
           "validate_rest_body", "validate_predict_request", "rest_body_to_tensors", "request_to_tensors",
           "rest_url"]


class RequestError(ValueError):
    """A request that does not match the exported signature."""


@dataclasses.dataclass(frozen=True)
class SignatureSpec:
    """One signature of a SavedModel: ``inputs`` / ``outputs`` map names to (numpy dtype, shape with None
    for unknown dims)."""

    name: str
    inputs: dict
    outputs: dict


def _tensor_info(info):
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(info.dtype).as_numpy_dtype
    if info.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return np.dtype(dtype) if dtype is not object else np.dtype(object), shape


def signature_spec(path: str | os.PathLike, signature_name: str = "serving_default") -> SignatureSpec:
    """Read a signature from saved_model.pb (no model loading, no custom-op libraries needed)."""
    from pathlib import Path

    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel.FromString((Path(path) / "saved_model.pb").read_bytes())
    for mg in sm.meta_graphs:
        if "serve" in mg.meta_info_def.tags and signature_name in mg.signature_def:
            sig = mg.signature_def[signature_name]
            return SignatureSpec(signature_name, {k: _tensor_info(v) for k, v in sig.inputs.items()},
                                 {k: _tensor_info(v) for k, v in sig.outputs.items()})
    raise RequestError(f"{path}: no signature {signature_name!r} in the 'serve' meta graph")


def _as_array(name, values, dtype):
    if dtype == np.dtype(object):      # tf.string
        if isinstance(values, (str, bytes)):
            raise RequestError(f"input {name!r}: expected a list of strings, got a single string")
        arr = np.array([v.encode("utf-8") if isinstance(v, str) else v for v in values], dtype=object)
        for i, v in enumerate(arr.flat):
            if not isinstance(v, bytes):
                raise RequestError(f"input {name!r}[{i}]: expected a string, got {type(v).__name__}")
        return arr
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu" and dtype.kind in "iu":
        raise RequestError(f"input {name!r}: expected {dtype.name} values, got {arr.dtype.name}")
    if arr.dtype.kind == "f" and dtype.kind != "f":
        raise RequestError(f"input {name!r}: expected {dtype.name} values, got floats")
    return arr.astype(dtype)


def _check_arrays(spec: SignatureSpec, arrays: Mapping[str, np.ndarray], what: str):
    missing = sorted(set(spec.inputs) - set(arrays))
    extra = sorted(set(arrays) - set(spec.inputs))
    if missing or extra:
        raise RequestError(f"{what}: signature {spec.name!r} takes inputs {sorted(spec.inputs)}; "
                           f"missing {missing}, unexpected {extra}")
    batch = None
    for name, arr in arrays.items():
        dtype, shape = spec.inputs[name]
        got_kind = "string" if arr.dtype == object or arr.dtype.kind in "SU" else arr.dtype.name
        want_kind = "string" if dtype == np.dtype(object) else dtype.name
        if got_kind != want_kind:
            raise RequestError(f"{what}: input {name!r}: expected dtype {want_kind}, got {got_kind}")
        if shape is not None:
            if arr.ndim != len(shape):
                raise RequestError(f"{what}: input {name!r}: expected shape {shape} (rank {len(shape)}), "
                                   f"got {arr.shape}")
            for i, (want, got) in enumerate(zip(shape, arr.shape)):
                if want is not None and want != got:
                    raise RequestError(f"{what}: input {name!r}: dimension {i} must be {want}, got {got}")
        if arr.ndim and batch is not None and arr.shape[0] != batch:
            raise RequestError(f"{what}: input {name!r} has batch {arr.shape[0]}, other inputs {batch}")
        batch = arr.shape[0] if arr.ndim else batch
    if batch == 0:
        raise RequestError(f"{what}: empty batch")


def _known(spec: SignatureSpec, name: str, what: str) -> np.dtype:
    """The dtype of input ``name``; an input the signature does not have is an error."""
    if name not in spec.inputs:
        raise RequestError(f"{what}: signature {spec.name!r} has no input {name!r}; inputs: {sorted(spec.inputs)}")
    return spec.inputs[name][0]


def _arrays(spec: SignatureSpec, columns: Mapping, what: str = "request") -> dict:
    """``{input: values}`` -> checked numpy arrays: the one conversion every builder and decoder uses."""
    arrays = {name: _as_array(name, values, _known(spec, name, what)) for name, values in columns.items()}
    _check_arrays(spec, arrays, what)
    return arrays


def _jsonable(arr: np.ndarray):
    if arr.dtype == object:
        return [v.decode("utf-8") for v in arr.tolist()] if arr.ndim == 1 else \
            [_jsonable(np.asarray(r, dtype=object)) for r in arr]
    return arr.tolist()


def rest_body(spec: SignatureSpec, inputs: Mapping, row_format: bool = True) -> dict:
    """JSON body for TF Serving's REST predict API.

    ``row_format=True`` gives ``{"signature_name", "instances": [{input: value}, ...]}`` (one object per
    example); ``False`` gives the columnar ``{"signature_name", "inputs": {input: [values]}}``. Strings are
    sent as UTF-8 JSON strings (TF Serving decodes them to DT_STRING; only binary data needs {"b64": ...}).
    """
    arrays = _arrays(spec, inputs)
    cols = {k: _jsonable(v) for k, v in arrays.items()}
    if row_format:
        n = len(next(iter(cols.values())))
        body = {"signature_name": spec.name, "instances": [{k: v[i] for k, v in cols.items()} for i in range(n)]}
    else:
        body = {"signature_name": spec.name, "inputs": cols}
    validate_rest_body(spec, body)
    return body


def rest_url(model_name: str, version: int | None = None, host: str = "localhost", port: int = 8501) -> str:
    v = f"/versions/{int(version)}" if version is not None else ""
    return f"http://{host}:{port}/v1/models/{model_name}{v}:predict"


def rest_body_to_tensors(spec: SignatureSpec, body: Mapping | str) -> dict:
    """Decode a REST body into numpy arrays per input (row or columnar format), as the server would."""
    if isinstance(body, str):
        body = json.loads(body)
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("REST body must have exactly one of 'instances' (row format) or 'inputs' (columnar)")
    if body.get("signature_name", "serving_default") != spec.name:
        raise RequestError(f"REST body names signature {body.get('signature_name')!r}, expected {spec.name!r}")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise RequestError("'instances' must be a non-empty list")
        if len(spec.inputs) == 1 and not isinstance(rows[0], dict):
            cols = {next(iter(spec.inputs)): rows}
        else:
            for i, r in enumerate(rows):
                if not isinstance(r, dict):
                    raise RequestError(f"instances[{i}]: expected an object with keys {sorted(spec.inputs)}")
                if set(r) != set(rows[0]):
                    raise RequestError(f"instances[{i}]: keys {sorted(r)} differ from instances[0] "
                                       f"{sorted(rows[0])}")
            cols = {k: [r[k] for r in rows] for k in rows[0]}
    else:
        cols = body["inputs"]
        if not isinstance(cols, dict):
            cols = {next(iter(spec.inputs)): cols}
    return _arrays(spec, cols, "REST body")


def validate_rest_body(spec: SignatureSpec, body) -> None:
    rest_body_to_tensors(spec, body)


def predict_request(spec: SignatureSpec, inputs: Mapping, model_name: str, version: int | None = None):
    """A gRPC ``PredictRequest`` (tensorflow_serving.apis.predict_pb2) for ``spec``'s signature."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    arrays = _arrays(spec, inputs)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = spec.name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, arr in arrays.items():
        dtype = tf.string if arr.dtype == object else tf.as_dtype(arr.dtype)
        request.inputs[name].CopyFrom(tf.make_tensor_proto(arr, dtype=dtype))
    validate_predict_request(spec, request)
    return request


def request_to_tensors(spec: SignatureSpec, request) -> dict:
    """Decode a PredictRequest's TensorProtos into numpy arrays, checking them against the signature."""
    import tensorflow as tf

    if request.model_spec.signature_name not in ("", spec.name):
        raise RequestError(f"request names signature {request.model_spec.signature_name!r}, "
                           f"expected {spec.name!r}")
    arrays = {}
    for name, proto in request.inputs.items():
        want = _known(spec, name, "PredictRequest")
        got = tf.dtypes.as_dtype(proto.dtype)
        want_tf = tf.string if want == np.dtype(object) else tf.as_dtype(want)
        if got != want_tf:
            raise RequestError(f"PredictRequest: input {name!r}: expected dtype {want_tf.name}, got {got.name}")
        arrays[name] = tf.make_ndarray(proto)
    _check_arrays(spec, arrays, "PredictRequest")
    return arrays


def validate_predict_request(spec: SignatureSpec, request) -> None:
    request_to_tensors(spec, request)
