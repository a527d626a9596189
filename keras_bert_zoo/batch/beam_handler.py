"""The RunInference model handler of an exported SavedModel (imports apache_beam: :mod:`.beam` imports this module
only once it has checked that Beam is installed).

Beam's own TensorFlow handler (``apache_beam.ml.inference.tensorflow_inference``) does not fit our exports: it
loads models with ``tf.keras.models.load_model`` (Keras 3 loads ``.keras`` files only, not SavedModels), imports
``tensorflow_hub`` to resolve the path, and calls the model on one stacked numeric tensor, where our signature
takes named string columns (``text``/``text_pair``, ``question``/``context``, ...). This handler loads the
SavedModel once per worker process (:class:`~keras_bert_zoo.batch.exported.ExportedModel`) and calls its
``serving_default`` signature on each batch of records.
"""

from __future__ import annotations

from typing import Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from keras_bert_zoo.batch.exported import ExportedModel

__all__ = ["SavedModelHandler"]


class SavedModelHandler(ModelHandler):
    """Records ``{input name: str, ...}`` in, ``PredictionResult(record, decoded dict)`` out: the dict
    ``Task.predict_records`` gives for the record. Batches of at most ``batch_size`` records (Beam's
    BatchElements sizes them between 1 and that, as the pipeline's throughput allows)."""

    def __init__(self, saved_model_dir: str, batch_size: int = 32, task_modules: Sequence[str] = ()):
        super().__init__(min_batch_size=1, max_batch_size=int(batch_size))
        self.saved_model_dir = str(saved_model_dir)
        self.batch_size = int(batch_size)
        self.task_modules = tuple(task_modules)

    def load_model(self) -> ExportedModel:
        return ExportedModel(self.saved_model_dir, self.task_modules)

    def run_inference(self, batch, model: ExportedModel, inference_args=None):
        records = list(batch)
        results = model.predict_records(records, batch_size=self.batch_size)
        return [PredictionResult(record, result) for record, result in zip(records, results)]

    def get_metrics_namespace(self) -> str:
        return "keras_bert_zoo"
