"""TF Serving warm-up records: ``assets.extra/tf_serving_warmup_requests``, a TFRecord of PredictionLog.

TF Serving replays these requests when it loads a version, before marking it available, so the first real
request does not pay for graph optimisation and kernel initialisation (tokenizer model included).

    requests = [serving_requests.predict_request(spec, {"text": ["hello"]}, model_name="tiny")]
    write_warmup_requests(saved_model_dir, requests)
    assert len(read_warmup_requests(saved_model_dir)) == 1
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from keras_bert_zoo import cache

__all__ = ["WARMUP_FILE", "write_warmup_requests", "read_warmup_requests"]

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def write_warmup_requests(saved_model_dir: str | os.PathLike, requests: Sequence) -> Path:
    """Write PredictRequests as PredictionLog records to ``<saved_model_dir>/assets.extra/...``.

    The file is written under a temporary name and renamed into place.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    if not requests:
        raise ValueError("write_warmup_requests: no requests given")
    path = Path(saved_model_dir) / WARMUP_FILE
    with cache.atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(saved_model_dir: str | os.PathLike) -> list:
    """The PredictRequests stored in a SavedModel's warm-up file (PredictionLog records)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(saved_model_dir) / WARMUP_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{saved_model_dir}: no {WARMUP_FILE}")
    out = []
    for i, record in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{path}: record {i}: expected a predict_log, got {log.WhichOneof('log_type')}")
        out.append(log.predict_log.request)
    return out
