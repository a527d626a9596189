"""Child process of tests/reliability/test_serving.py: feed exported signatures malformed requests.

    python serving_worker.py CASES.json RESULTS.jsonl

Imports only numpy, tensorflow, tensorflow_text and ai_edge_litert (what a server or an app has), runs every
case of CASES.json and appends one JSON line per case to RESULTS.jsonl *before* running the next one, so
that when a case kills the process the parent knows which one did.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

WORDS = ["the dog", "hello world", "", "über café", "中文 测试", "the quick brown fox", "a", "x y z"]


def make_array(spec):
    """{"dtype": str|unicode|bytes|int32|float32, "shape": [...]} -> numpy array (strings from WORDS)."""
    shape = tuple(spec["shape"])
    n = int(np.prod(shape)) if shape else 1
    dtype = spec["dtype"]
    offset = spec.get("offset", 0)
    if dtype in ("str", "unicode", "bytes"):
        values = [WORDS[(i + offset) % len(WORDS)] for i in range(n)]
        if dtype == "unicode":
            return np.array(values, dtype=str).reshape(shape)
        if dtype == "bytes":
            return np.array([v.encode() for v in values], dtype=bytes).reshape(shape)
        return np.array([v.encode() for v in values], dtype=object).reshape(shape)
    if dtype == "int32":
        values = spec.get("values")
        return (np.array(values, np.int32) if values is not None
                else np.full(shape, spec.get("fill", 1), np.int32))
    if dtype == "float32":
        return np.full(shape, 0.5, np.float32)
    raise ValueError(dtype)


def main(cases_path, results_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    cases = json.loads(open(cases_path, encoding="utf-8").read())
    models, interpreters = {}, {}
    with open(results_path, "a", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps({"id": case["id"], "started": True}) + "\n")
            out.flush()
            feed = {name: make_array(spec) for name, spec in case["inputs"].items()}
            result = {"id": case["id"]}
            try:
                if case["runtime"] == "saved_model":
                    if case["model"] not in models:
                        models[case["model"]] = tf.saved_model.load(case["path"])
                    fn = models[case["model"]].signatures[case["signature"]]
                    got = fn(**{k: tf.constant(v) for k, v in feed.items()})
                    got = {k: v.numpy() for k, v in got.items()}
                else:
                    key = (case["path"], case["runtime"])
                    if key not in interpreters:
                        if case["runtime"] == "tflite_runner":
                            sys.path.insert(0, case["repo"])
                            from keras_bert_zoo.export.tflite import TFLiteRunner

                            interpreters[key] = TFLiteRunner(case["path"])
                        else:
                            from ai_edge_litert.interpreter import InterpreterWithCustomOps
                            from tensorflow_text.core.pybinds import tflite_registrar

                            interpreters[key] = InterpreterWithCustomOps(
                                model_path=case["path"], custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS)
                    runner = interpreters[key]
                    if case["runtime"] == "tflite_runner":
                        got = runner(case["signature"], **feed)
                    else:
                        got = runner.get_signature_runner(case["signature"])(**feed)
                result.update(ok=True, batch={k: (list(np.shape(v))[:1] or [None])[0] for k, v in got.items()})
            except Exception as err:  # noqa: BLE001 - every error is recorded, the parent judges it
                result.update(ok=False, error=type(err).__name__, message=str(err)[:2000])
            out.write(json.dumps(result) + "\n")
            out.flush()


if __name__ == "__main__":
    main(*sys.argv[1:3])
