"""Exported signatures under malformed requests, run in a child process that must survive them all.

A tiny classifier, tagger (TokenClassifier) and QA model (QuestionAnswerer) are exported once (SavedModel, as
the exporter saves it) and the classifier converted to TFLite; one child process (serving_worker.py, which
imports only numpy / tensorflow / tensorflow_text / ai_edge_litert) then feeds every signature each case of
CASES below. The child must exit 0 (a signal exit, e.g. -11 for the segmentation fault a scalar string used
to cause, fails every case it did not reach); each bad case must raise an error naming the input, each good
one return the right batch size. One test per case, so the issue-14 table lists them.

Also here: ``bert-zoo export --serving_version`` checks op names against an older TF Serving release.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "serving_worker.py"

# ------------------------------------------------------------------------------------------------ the catalogue
TEXT_INPUTS = {"clf": ("text",), "tag": ("text",), "qa": ("question", "context")}
#: (case id suffix, shape, expected batch or None for an error)
SHAPES = [("scalar", [], None), ("empty_batch", [0], 0), ("batch_1", [1], 1), ("batch_3", [3], 3),
          ("matrix_2x2", [2, 2], None), ("rank3_1x1x1", [1, 1, 1], None)]
STRING_SHAPE_MESSAGE = r"expected a 1-D string tensor \[batch\].*got shape"


def _strings(shape, dtype="str", offset=0):
    return {"dtype": dtype, "shape": shape, "offset": offset}


def _case(id, model, signature, inputs, expect, runtime="saved_model", names=(), message=None):
    return {"id": id, "model": model, "signature": signature, "inputs": inputs, "runtime": runtime,
            "expect": expect, "names": list(names), "message": message}


def _catalogue():
    cases = []
    for model, names in TEXT_INPUTS.items():
        sigs = ("serving_default", "preprocess")
        for sig in sigs:
            for suffix, shape, batch in SHAPES:
                inputs = {n: _strings(shape, offset=i) for i, n in enumerate(names)}
                cases.append(_case(f"{model}-{sig}-{suffix}", model, sig, inputs, batch,
                                   names=names[:1], message=None if batch is not None else STRING_SHAPE_MESSAGE))
        first = names[0]
        other = {n: _strings([2], offset=i) for i, n in enumerate(names[1:], 1)}
        cases += [
            _case(f"{model}-int_instead_of_string", model, "serving_default",
                  {first: {"dtype": "int32", "shape": [2]}, **other}, None, message=r"string"),
            _case(f"{model}-float_instead_of_string", model, "serving_default",
                  {first: {"dtype": "float32", "shape": [2]}, **other}, None, message=r"string"),
            _case(f"{model}-numpy_unicode_strings", model, "serving_default",
                  {first: _strings([2], "unicode"), **other}, 2),
            _case(f"{model}-numpy_bytes_strings", model, "serving_default",
                  {first: _strings([2], "bytes"), **other}, 2),
            _case(f"{model}-missing_input", model, "serving_default", other if other else {}, None,
                  names=[first], message="missing"),
            _case(f"{model}-unknown_extra_input", model, "serving_default",
                  {first: _strings([2]), **other, "labels": _strings([2])}, None, names=["labels"]),
        ]
    qa = ("question", "context")
    cases += [
        _case("qa-pair_batch_3_vs_1", "qa", "serving_default", {"question": _strings([3]), "context": _strings([1])},
              None, names=qa, message="must have the same batch size"),
        _case("qa-pair_batch_1_vs_3", "qa", "serving_default", {"question": _strings([1]), "context": _strings([3])},
              None, names=qa, message="must have the same batch size"),
        _case("qa-pair_scalar_vs_batch_1", "qa", "serving_default",
              {"question": _strings([]), "context": _strings([1])}, None, names=["question"],
              message=STRING_SHAPE_MESSAGE),
        _case("qa-preprocess_pair_batch_2_vs_0", "qa", "preprocess",
              {"question": _strings([2]), "context": _strings([0])}, None, names=qa,
              message="must have the same batch size"),
    ]

    def packed(ids=None, seg=None, mask=None, shape=(2, 7)):
        out = {}
        for name, values, default in (("token_ids", ids, 5), ("segment_ids", seg, 0), ("padding_mask", mask, 1)):
            spec = {"dtype": "int32", "shape": list(shape), "fill": default}
            if isinstance(values, dict):
                spec.update(values)
            elif values is not None:
                spec["values"] = values
            out[name] = spec
        return out

    cases += [
        _case("clf-packed-valid_batch_2", "clf", "serving_packed", packed(), 2),
        _case("clf-packed-empty_batch", "clf", "serving_packed", packed(shape=(0, 7)), 0),
        _case("clf-packed-rank_1", "clf", "serving_packed", packed(shape=(7,)), None, names=["token_ids"],
              message=r"expected a 2-D int32 tensor \[batch, length\], got shape"),
        _case("clf-packed-mask_batch_differs", "clf", "serving_packed",
              packed(mask={"shape": [3, 7]}), None, names=["token_ids", "padding_mask"], message="same batch size"),
        _case("clf-packed-mask_length_differs", "clf", "serving_packed",
              packed(mask={"shape": [2, 5]}), None, names=["token_ids", "padding_mask"], message="same shape"),
        _case("clf-packed-length_0", "clf", "serving_packed", packed(shape=(2, 0)), None, names=["token_ids"],
              message="at least 1"),
        _case("clf-packed-token_id_outside_vocab", "clf", "serving_packed", packed(ids=[[2, 5, 300]], shape=(1, 3)),
              None, names=["token_ids"], message=r"values must lie in \[0, 99\)"),
        _case("clf-packed-negative_token_id", "clf", "serving_packed", packed(ids=[[2, -1, 3]], shape=(1, 3)), None,
              names=["token_ids"], message=r"values must lie in \[0, 99\)"),
        _case("clf-packed-segment_id_2", "clf", "serving_packed", packed(seg=[[0, 0, 2]], shape=(1, 3)), None,
              names=["segment_ids"], message=r"values must lie in \[0, 2\)"),
    ]
    # TFLite: our runner (Python-side check naming the input) and LiteRT's own signature runner (never crashes)
    for runtime in ("tflite_runner", "litert_signature_runner"):
        for sig in ("serving_default", "preprocess"):
            for suffix, shape, batch in SHAPES:
                if runtime == "litert_signature_runner" and suffix == "empty_batch" and sig == "serving_default":
                    continue    # listed below: LiteRT's UNPACK kernel refuses 0 elements (a Python error)
                # LiteRT's own runner: the tf-text kernel refuses the shape (a RuntimeError, the process lives)
                msg = STRING_SHAPE_MESSAGE if runtime == "tflite_runner" else "rank|shape|dimension"
                cases.append(_case(f"tflite-{runtime}-{sig}-{suffix}", "clf", sig, {"text": _strings(shape)}, batch,
                                   runtime=runtime, names=["text"] if runtime == "tflite_runner" else (),
                                   message=None if batch is not None else msg))
        cases += [
            _case(f"tflite-{runtime}-int_instead_of_string", "clf", "serving_default",
                  {"text": {"dtype": "int32", "shape": [2]}}, None, runtime=runtime, names=["text"]),
            _case(f"tflite-{runtime}-float_instead_of_string", "clf", "serving_default",
                  {"text": {"dtype": "float32", "shape": [2]}}, None, runtime=runtime, names=["text"]),
            _case(f"tflite-{runtime}-numpy_unicode_strings", "clf", "serving_default", {"text": _strings([2], "unicode")},
                  2, runtime=runtime),
            _case(f"tflite-{runtime}-numpy_bytes_strings", "clf", "serving_default", {"text": _strings([2], "bytes")},
                  2, runtime=runtime),
            _case(f"tflite-{runtime}-missing_input", "clf", "serving_default", {}, None, runtime=runtime,
                  message="text|missing|input"),
            _case(f"tflite-{runtime}-unknown_extra_input", "clf", "serving_default",
                  {"text": _strings([2]), "labels": _strings([2])}, None, runtime=runtime,
                  # LiteRT's own runner counts the inputs and does not name the extra one
                  names=["labels"] if runtime == "tflite_runner" else (),
                  message=None if runtime == "tflite_runner" else "number of inputs"),
        ]
    cases.append(_case("tflite-litert_signature_runner-serving_default-empty_batch", "clf", "serving_default",
                       {"text": _strings([0])}, None, runtime="litert_signature_runner",
                       message="UNPACK|NumElements"))
    return cases


CASES = _catalogue()
assert len({c["id"] for c in CASES}) == len(CASES)


# ------------------------------------------------------------------------------------------------ fixtures
def _vocab_tasks():
    import keras

    from tests.conftest import TINY
    from tests.export.conftest import _vocab, make_task
    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import QuestionAnswerer, TokenClassifier
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer

    vocab = _vocab()
    config = TINY.replace(max_position_embeddings=64, num_layers=1)
    keras.utils.set_random_seed(0)
    tag = TokenClassifier(BertBackbone(config), labels=["O", "B-PER", "I-PER"], stride=3,
                          preprocessor=BertPreprocessor(WordPieceTokenizer(vocab, lowercase=True), sequence_length=9))
    qa = QuestionAnswerer(BertBackbone(config),
                          preprocessor=BertPreprocessor(WordPieceTokenizer(vocab, lowercase=True), sequence_length=16))
    return {"clf": make_task(vocab), "tag": tag, "qa": qa}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{model: SavedModel dir} (written exactly as export_saved_model saves them) + the classifier's .tflite."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from keras_bert_zoo.export.saved_model import ServingModule
    from keras_bert_zoo.export.tflite import convert_saved_model

    root = tmp_path_factory.mktemp("serving")
    paths = {}
    tasks = _vocab_tasks()
    for name, task in tasks.items():
        module = ServingModule(task)
        tf.saved_model.save(module, str(root / name), signatures=module.signatures)
        paths[name] = root / name
    # the .tflite as export_tflite makes it: from signatures without the in-graph checks (see export_tflite)
    module = ServingModule(tasks["clf"], check_inputs=False)
    tf.saved_model.save(module, str(root / "clf_for_tflite"), signatures=module.signatures)
    paths["tflite"] = root / "clf.tflite"
    paths["tflite"].write_bytes(convert_saved_model(root / "clf_for_tflite"))
    return paths


@pytest.fixture(scope="module")
def child_results(exported, tmp_path_factory):
    """Run every case in ONE child process; {case id: result} plus the child's exit status."""
    work = tmp_path_factory.mktemp("serving_child")
    cases = []
    for c in CASES:
        path = exported["tflite"] if c["runtime"] != "saved_model" else exported[c["model"]]
        cases.append({**c, "path": str(path), "repo": str(REPO)})
    (work / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    results = work / "results.jsonl"
    proc = subprocess.run([sys.executable, str(WORKER), str(work / "cases.json"), str(results)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""})
    by_id, started = {}, []
    for line in results.read_text(encoding="utf-8").splitlines() if results.exists() else []:
        rec = json.loads(line)
        if rec.get("started"):
            started.append(rec["id"])
        else:
            by_id[rec["id"]] = rec
    return {"returncode": proc.returncode, "stderr": proc.stderr[-3000:], "results": by_id,
            "last_started": started[-1] if started else None}


def test_child_process_survives_every_case(child_results):
    rc = child_results["returncode"]
    assert rc == 0, (f"the child exited with {rc} (negative: killed by signal {-rc}) during case "
                     f"{child_results['last_started']}: {child_results['stderr']}")
    assert set(child_results["results"]) == {c["id"] for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_serving_case(child_results, case):
    result = child_results["results"].get(case["id"])
    assert result is not None, (f"no result: the child died (exit {child_results['returncode']}) at case "
                                f"{child_results['last_started']}")
    assert result["id"] == case["id"] and isinstance(result["ok"], bool), result   # a complete record
    if case["expect"] is not None:
        assert result["ok"], f"{result.get('error')}: {result.get('message')}"
        assert result["batch"], "the signature returned no outputs"
        assert set(result["batch"].values()) == {case["expect"]}, result["batch"]
        return
    assert not result["ok"], f"a bad request returned outputs {result['batch']}"
    for name in case["names"]:
        assert re.search(rf"(?<![A-Za-z]){name}(?![A-Za-z])", result["message"]), (name, result["message"])
    if case["message"]:
        assert re.search(case["message"], result["message"]), result["message"]


def test_shape_errors_are_invalid_argument_errors(child_results):
    """Every shape / batch / range case of the SavedModel signatures is an InvalidArgumentError (what TF
    Serving turns into a 400 INVALID_ARGUMENT answer), not a crash and not another error class."""
    bad = [c for c in CASES if c["runtime"] == "saved_model" and c["expect"] is None
           and ("shape" in (c["message"] or "") or "batch" in (c["message"] or "") or "values" in (c["message"] or "")
                or "least" in (c["message"] or ""))]
    assert len(bad) >= 20
    for c in bad:
        r = child_results["results"][c["id"]]
        assert r["error"] == "InvalidArgumentError", (c["id"], r)


def test_valid_outputs_unchanged_by_the_checks(exported):
    """The checked signatures return exactly what the task's own serving graph does for valid input."""
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(str(exported["qa"]))
    task = _vocab_tasks()["qa"]
    q = tf.constant(["who is here", "the dog", ""])
    c = tf.constant(["the dog is here", "the quick brown fox jumps over the lazy dog", "x"])
    got = loaded.signatures["serving_default"](question=q, context=c)
    ref = task.serving_fn({"question": q, "context": c})
    for k, v in ref.items():
        np.testing.assert_array_equal(np.asarray(v), got[k].numpy(), err_msg=k)


# ------------------------------------------------------------------------------------------------ op names
def test_serving_version_2_19_names_a_tftext_op_it_lacks():
    """tensorflow/serving 2.12-2.19 bundle tf-text 2.12.1: a graph with tf-text's RoundRobinTrimmer (what
    users hit as "Op type not registered 'TFText>RoundRobinTrim'") is refused, naming the op."""
    import tensorflow as tf
    import tensorflow_text as tft

    from keras_bert_zoo.export import ops as ops_lib

    trimmer = tft.RoundRobinTrimmer(max_seq_length=5)

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.int32, ragged_rank=1)] * 2)
    def trim(a, b):
        x, y = trimmer.trim([a, b])
        return x.flat_values, y.flat_values

    graph_ops = ops_lib.graph_ops(trim.get_concrete_function().graph.as_graph_def())
    assert "TFText>RoundRobinTrim" in graph_ops
    with pytest.raises(ops_lib.OpCompatibilityError) as err:
        ops_lib.check_ops(graph_ops, ops_lib.tf_serving_target("2.19"))
    msg = str(err.value)
    assert "TFText>RoundRobinTrim (tf-text op" in msg and "tensorflow/serving:2.19" in msg
    assert "tf-text 2.12.1" in msg and "Only op names are checked" in msg
    ops_lib.check_ops(graph_ops, ops_lib.tf_serving_target())          # the exporting release has it


def test_serving_version_names_tensorflow_ops_newer_than_its_list():
    from keras_bert_zoo.export import ops as ops_lib

    target = ops_lib.tf_serving_target("2.12")
    with pytest.raises(ops_lib.OpCompatibilityError) as err:
        ops_lib.check_ops(["FastBertNormalize", "MatMul", "RaggedFillEmptyRows"], target)
    assert "RaggedFillEmptyRows (TensorFlow op newer than the target's op list" in str(err.value)
    assert "MatMul" not in str(err.value) and "FastBertNormalize" not in str(err.value)


def test_current_export_passes_for_serving_2_12_and_2_20(exported):
    """Today's exports use only ops tf-text 2.12.1 and TensorFlow 2.12.1 have (the tokenizer and packer were
    written for that): checked by name, they pass for 2.12 and, exactly, for the exporting release."""
    from keras_bert_zoo.export import ops as ops_lib

    for name in ("clf", "tag", "qa"):
        for version in ("2.12", "2.19", None):
            ops_lib.check_saved_model(exported[name], ops_lib.tf_serving_target(version))


def test_serving_version_without_an_op_list_is_refused_by_name():
    from keras_bert_zoo.export import ops as ops_lib

    with pytest.raises(ops_lib.OpCompatibilityError, match=r"no op list for TF Serving 2\.11.*2\.12-2\.19"):
        ops_lib.tf_serving_target("2.11")


def test_op_list_resources_are_packaged_and_plausible():
    from keras_bert_zoo.export import ops as ops_lib

    tftext = ops_lib.resource_op_names("tensorflow_text-2.12.1.txt")
    core = ops_lib.resource_op_names("tensorflow-2.12.1.txt")
    assert {"FastBertNormalize", "FastWordpieceTokenizeWithOffsets", "TFText>ByteSplitWithOffsets"} <= tftext
    assert "TFText>RoundRobinTrim" not in tftext and not tftext & core
    assert {"MatMul", "StatefulPartitionedCall", "RaggedTensorToTensor"} <= core and len(core) > 1500
