"""REST bodies and gRPC PredictRequests, built from and validated against an exported signature."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.export import serving_requests as sr
from tests.export.conftest import SAMPLE_TEXTS, keras_outputs


@pytest.fixture(scope="module")
def exported(tiny_export):
    return tiny_export.path


def test_signature_spec(exported):
    spec = sr.signature_spec(exported, "serving_default")
    assert spec.inputs == {"text": (np.dtype(object), (None,))}
    assert spec.outputs["probabilities"] == (np.dtype("float32"), (None, 3))
    assert spec.outputs["label_ids"][0] == np.dtype("int32")
    packed = sr.signature_spec(exported, "serving_packed")
    assert packed.inputs["token_ids"] == (np.dtype("int32"), (None, None))
    with pytest.raises(sr.RequestError, match="no signature"):
        sr.signature_spec(exported, "nope")


@pytest.mark.parametrize("row_format", [True, False])
def test_rest_body_runs_on_the_model(exported, tiny_task, row_format):
    spec = sr.signature_spec(exported, "serving_default")
    texts = ["the quick fox", "中文 测试", "über"]
    body = sr.rest_body(spec, {"text": texts}, row_format=row_format)
    wire = json.dumps(body, ensure_ascii=False)          # what a client sends
    if row_format:
        assert json.loads(wire)["instances"][1] == {"text": "中文 测试"}
    else:
        assert json.loads(wire)["inputs"] == {"text": texts}
    arrays = sr.rest_body_to_tensors(spec, wire)
    loaded = tf.saved_model.load(str(exported))
    out = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in arrays.items()})
    assert keras_outputs(tiny_task, texts)["label_ids"].tolist() == out["label_ids"].numpy().tolist()


def test_grpc_request_runs_on_the_model(exported, tiny_task):
    from tensorflow_serving.apis import predict_pb2

    spec = sr.signature_spec(exported, "serving_default")
    req = sr.predict_request(spec, {"text": ["the dog", "hello world"]}, model_name="tiny", version=3)
    req = predict_pb2.PredictRequest.FromString(req.SerializeToString())   # over the wire
    assert req.model_spec.signature_name == "serving_default"
    assert req.inputs["text"].dtype == tf.string.as_datatype_enum
    arrays = sr.request_to_tensors(spec, req)
    loaded = tf.saved_model.load(str(exported))
    out = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in arrays.items()})
    np.testing.assert_allclose(out["probabilities"].numpy(),
                               keras_outputs(tiny_task, ["the dog", "hello world"])["probabilities"],
                               atol=1e-5)
    packed_spec = sr.signature_spec(exported, "serving_packed")
    ids = tiny_task.preprocess({"text": tf.constant(["the dog"])})
    preq = sr.predict_request(packed_spec, {k: v.numpy() for k, v in ids.items()}, model_name="tiny")
    assert preq.inputs["token_ids"].dtype == tf.int32.as_datatype_enum


def test_bad_requests_are_rejected(exported):
    spec = sr.signature_spec(exported, "serving_default")
    packed = sr.signature_spec(exported, "serving_packed")
    with pytest.raises(sr.RequestError, match="no input 'sentence'"):
        sr.rest_body(spec, {"sentence": ["x"]})
    with pytest.raises(sr.RequestError, match="single string"):
        sr.predict_request(spec, {"text": "x"}, model_name="m")
    with pytest.raises(sr.RequestError, match="expected a string"):
        sr.rest_body(spec, {"text": [1, 2]})
    with pytest.raises(sr.RequestError, match="rank 2"):
        sr.predict_request(packed, {"token_ids": [1, 2], "segment_ids": [0, 0], "padding_mask": [1, 1]}, "m")
    with pytest.raises(sr.RequestError, match="expected int32 values, got float"):
        sr.rest_body(packed, {"token_ids": [[1.5]], "segment_ids": [[0]], "padding_mask": [[1]]})
    with pytest.raises(sr.RequestError, match="missing \\['padding_mask'\\]"):
        sr.rest_body(packed, {"token_ids": [[1]], "segment_ids": [[0]]})
    with pytest.raises(sr.RequestError, match="batch"):
        sr.rest_body(packed, {"token_ids": [[1], [2]], "segment_ids": [[0]], "padding_mask": [[1]]})
    with pytest.raises(sr.RequestError, match="exactly one of"):
        sr.validate_rest_body(spec, {"instances": [{"text": "a"}], "inputs": {"text": ["a"]}})
    with pytest.raises(sr.RequestError, match="expected dtype int32, got string"):
        bad = sr.predict_request(packed, {"token_ids": [[1]], "segment_ids": [[0]], "padding_mask": [[1]]}, "m")
        bad.inputs["token_ids"].CopyFrom(tf.make_tensor_proto([["a"]]))
        sr.validate_predict_request(packed, bad)
    with pytest.raises(sr.RequestError, match="names signature 'serving_packed'"):
        sr.validate_predict_request(spec, bad)
    assert sr.rest_url("tiny", 2) == "http://localhost:8501/v1/models/tiny/versions/2:predict"
