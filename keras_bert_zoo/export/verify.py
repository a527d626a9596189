"""Verification before success: every exported output against the Keras task on the same raw strings.

Rules (stated once, used by the SavedModel and TFLite exporters):

* the ``preprocess`` signature (token_ids / segment_ids / padding_mask) must match **exactly**;
* float outputs of ``serving_default`` / ``packed`` must be within ``Tolerance.float_atol`` (max abs diff);
* non-float outputs derived from the model (label ids, label names, answer spans) must agree on at least
  ``Tolerance.min_agreement`` of the rows (1.0 = every row, the rule for unquantized exports).

``TOLERANCES`` holds the per-format values; a failed check raises :class:`VerificationError` naming every
output that failed, with its max abs diff / agreement.

Example (what ``export_saved_model`` runs before it renames the version directory into place)::

    from keras_bert_zoo.export.verify import verify_saved_model
    diffs = verify_saved_model("saved_models/sentiment/1", classifier, {"text": ["great", "awful"]})
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["VerificationError", "Tolerance", "TOLERANCES", "compare_outputs", "reference_outputs",
           "verify_saved_model", "verify_in_fresh_process", "run_in_fresh_process", "PREPROCESS_SIGNATURE",
           "PACKED_SIGNATURE", "SERVING_SIGNATURE"]

SERVING_SIGNATURE = "serving_default"
PACKED_SIGNATURE = "serving_packed"
PREPROCESS_SIGNATURE = "preprocess"


class VerificationError(AssertionError):
    """The exported artifact disagrees with the Keras task beyond the stated tolerance."""


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """A float output passes when ``max |exported - Keras| <= float_atol + float_rtol * max |Keras|`` (the max
    over the whole output tensor); a non-float output when at least ``min_agreement`` of its rows are equal.
    The relative term is for quantized activations, whose error scales with the tensor's range (an int8 step is
    range / 255): it lets logits (range ~ +-5) move more than probabilities (range 1)."""
    float_atol: float
    min_agreement: float = 1.0
    float_rtol: float = 0.0


#: Per export format / quantization. fp32 SavedModel runs the same kernels as Keras (TF backend);
#: TFLite fp32 runs XNNPACK kernels (different summation order); fp16 weights lose ~3 decimal digits;
#: int8 quantizes weights (dynamic range) or weights and activations (full int8) — probabilities can move
#: by a few hundredths, and near-ties can flip a label, hence the agreement rate.
TOLERANCES = {
    "saved_model": Tolerance(1e-5, 1.0),
    "none": Tolerance(1e-4, 1.0),
    "fp16": Tolerance(2e-2, 0.9),
    "int8": Tolerance(0.15, 0.8),
    "full_int8": Tolerance(0.3, 0.8, float_rtol=0.1),
}


def _np(x):
    x = np.asarray(x)
    return x


def compare_outputs(reference: Mapping, got: Mapping, tol: Tolerance, *, exact: bool = False,
                    what: str = "outputs") -> dict:
    """Compare every key; returns {key: {"max_abs_diff" | "agreement": value}}; raises on failure.

    ``exact`` requires every output (floats included) to be identical — used for the preprocess signature.
    """
    ref_keys, got_keys = set(reference), set(got)
    if ref_keys != got_keys:
        raise VerificationError(f"{what}: output names differ: Keras {sorted(ref_keys)}, "
                                f"exported {sorted(got_keys)}")
    report, failures = {}, []
    for key in sorted(ref_keys):
        r, g = _np(reference[key]), _np(got[key])
        if r.shape != g.shape:
            failures.append(f"{key}: shape {g.shape}, Keras {r.shape}")
            continue
        if r.dtype.kind == "f" and not exact:
            diff = float(np.max(np.abs(r.astype(np.float64) - g.astype(np.float64)))) if r.size else 0.0
            bound = tol.float_atol + (tol.float_rtol * float(np.max(np.abs(r))) if r.size else 0.0)
            report[key] = {"max_abs_diff": diff}
            if tol.float_rtol:
                report[key]["allowed"] = bound
            if not diff <= bound:
                failures.append(f"{key}: max abs diff {diff:.3g} > {bound:.3g}" + (
                    f" ({tol.float_atol:g} + {tol.float_rtol:g} x max |Keras| {float(np.max(np.abs(r))):.3g})"
                    if tol.float_rtol else ""))
        else:
            if r.dtype.kind in "SUO":
                r, g = r.astype(object), g.astype(object)
            eq = (r == g)
            rows = eq.reshape(eq.shape[0], -1).all(axis=1) if eq.ndim else np.array([bool(eq)])
            agreement = float(rows.mean()) if rows.size else 1.0
            report[key] = {"agreement": agreement}
            need = 1.0 if exact else tol.min_agreement
            if agreement < need:
                bad = int(np.argmin(rows))
                failures.append(f"{key}: {agreement:.0%} of rows identical (need {need:.0%}); "
                                f"first differing row {bad}: exported {g[bad]!r} vs Keras {r[bad]!r}")
    if failures:
        raise VerificationError(f"{what} disagree with the Keras task:\n  " + "\n  ".join(failures))
    return report


def reference_outputs(task, inputs: Mapping) -> dict:
    """The Keras task's outputs for each signature, run eagerly: {signature: {output: numpy}}."""
    import tensorflow as tf

    tensors = {k: tf.constant(v, dtype=tf.string) for k, v in inputs.items()}
    packed = task.preprocess(tensors)
    return {
        PREPROCESS_SIGNATURE: {k: np.asarray(v) for k, v in packed.items()},
        SERVING_SIGNATURE: {k: np.asarray(v) for k, v in task.serving_fn(tensors).items()},
        PACKED_SIGNATURE: {k: np.asarray(v) for k, v in task.packed_serving_fn(packed).items()},
    }


def _run_signatures(loaded, inputs: Mapping, packed: Mapping) -> dict:
    import tensorflow as tf

    out = {}
    for name, feed in ((PREPROCESS_SIGNATURE, inputs), (SERVING_SIGNATURE, inputs), (PACKED_SIGNATURE, packed)):
        fn = loaded.signatures[name]
        dtype = tf.string if name != PACKED_SIGNATURE else tf.int32
        out[name] = {k: v.numpy() for k, v in fn(**{k: tf.constant(v, dtype=dtype) for k, v in feed.items()}).items()}
    return out


def compare_signatures(reference: Mapping, got: Mapping, tol: Tolerance, what: str) -> dict:
    report = {}
    for sig in reference:
        if sig not in got:
            continue
        report[sig] = compare_outputs(reference[sig], got[sig], tol, exact=(sig == PREPROCESS_SIGNATURE),
                                      what=f"{what} signature {sig!r}")
    return report


def verify_saved_model(path: str | os.PathLike, task, inputs: Mapping, tol: Tolerance = TOLERANCES["saved_model"],
                       reference: Mapping | None = None) -> dict:
    """Load the SavedModel in this process and compare all three signatures with the Keras task."""
    import tensorflow as tf

    reference = reference or reference_outputs(task, inputs)
    loaded = tf.saved_model.load(str(path))
    got = _run_signatures(loaded, inputs, reference[PREPROCESS_SIGNATURE])
    return compare_signatures(reference, got, tol, f"SavedModel {path}")


_FRESH_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the tf-text ops the graph uses
path, feed_file, out_file = sys.argv[1:4]
feed = json.load(open(feed_file, encoding="utf-8"))
m = tf.saved_model.load(path)
out = {}
for sig, inputs in feed.items():
    fn = m.signatures[sig]
    dtype = tf.int32 if sig == "serving_packed" else tf.string
    res = fn(**{k: tf.constant(v, dtype=dtype) for k, v in inputs.items()})
    for k, v in res.items():
        out[sig + "/" + k] = v.numpy()
bad = sorted(n for n in sys.modules if n.split(".")[0] == "keras_bert_zoo")
if bad:
    raise SystemExit("keras_bert_zoo was imported: " + ", ".join(bad))
def enc(v):
    if v.dtype.kind in "SO":
        return {"dtype": "string", "shape": list(v.shape),
                "data": [x.decode("utf-8", "surrogateescape") for x in v.reshape(-1).tolist()]}
    return {"dtype": v.dtype.name, "shape": list(v.shape), "data": v.reshape(-1).tolist()}
json.dump({k: enc(v) for k, v in out.items()}, open(out_file, "w", encoding="utf-8"))
print("signatures:", ",".join(sorted(m.signatures.keys())))
"""


def run_in_fresh_process(path: str | os.PathLike, feed: Mapping[str, Mapping], timeout: float = 300) -> dict:
    """Load ``path`` in a new Python process that imports only tensorflow and tensorflow_text (it fails if
    keras_bert_zoo gets imported), run each signature in ``feed`` ({signature: {input: list}}), and return
    {signature: {output: numpy}}."""
    with tempfile.TemporaryDirectory(prefix="kbz-fresh-") as tmp:
        feed_file, out_file = os.path.join(tmp, "feed.json"), os.path.join(tmp, "out.json")
        with open(feed_file, "w", encoding="utf-8") as f:
            json.dump({s: {k: np.asarray(v).tolist() for k, v in inp.items()} for s, inp in feed.items()}, f,
                      ensure_ascii=False)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # absolute: the child runs in the temporary directory (so nothing in our cwd can be imported)
        proc = subprocess.run([sys.executable, "-c", _FRESH_SCRIPT, os.path.abspath(path), feed_file, out_file],
                              capture_output=True, text=True, timeout=timeout, cwd=tmp, env=env)
        if proc.returncode != 0:
            raise VerificationError(f"loading {path} in a fresh process (tensorflow + tensorflow_text only) "
                                    f"failed:\n{proc.stderr[-3000:]}")
        with open(out_file, encoding="utf-8") as f:
            data = json.load(f)
        out: dict = {}
        for key, enc in data.items():
            sig, name = key.split("/", 1)
            if enc["dtype"] == "string":
                arr = np.array([s.encode("utf-8", "surrogateescape") for s in enc["data"]], dtype=object)
            else:
                arr = np.array(enc["data"], dtype=enc["dtype"])
            out.setdefault(sig, {})[name] = arr.reshape(enc["shape"])
        return out


def verify_in_fresh_process(path: str | os.PathLike, task, inputs: Mapping,
                            tol: Tolerance = TOLERANCES["saved_model"], reference: Mapping | None = None) -> dict:
    """As :func:`verify_saved_model`, but the SavedModel runs in a fresh process without keras_bert_zoo."""
    reference = reference or reference_outputs(task, inputs)
    feed = {PREPROCESS_SIGNATURE: inputs, SERVING_SIGNATURE: inputs,
            PACKED_SIGNATURE: reference[PREPROCESS_SIGNATURE]}
    got = run_in_fresh_process(path, feed)
    return compare_signatures(reference, got, tol, f"SavedModel {path} (fresh process)")
