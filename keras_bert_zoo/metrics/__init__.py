"""Evaluation metrics, one module per kind of prediction (on predictions already computed):

* :mod:`~keras_bert_zoo.metrics.classification` — accuracy, F1 (macro / micro / weighted), MCC, multi-label
  and regression reports, class weights and resampling for imbalanced data (NumPy);
* :mod:`~keras_bert_zoo.metrics.entities` — seqeval's entity chunking of IOB1/IOB2/IOE/IOBES tags and
  entity-level precision / recall / F1 (the chunker is TensorFlow with TFLite builtins only: the tagger's
  serving graph runs the same code, :mod:`keras_bert_zoo.tasks.decoding.entities`);
* :mod:`~keras_bert_zoo.metrics.squad` — the official SQuAD v1.1 / v2.0 exact match and F1;
* :mod:`~keras_bert_zoo.metrics.retrieval` — top-1 accuracy and MRR of embedding pairs (NumPy).

The package sits low in the import order (above ``data``), so training, tasks, reports and the CLI can all use
it. Import the submodule you need (this module imports none of them, so it loads no TensorFlow).
"""

__all__ = ["MetricError"]


class MetricError(ValueError):
    """Bad metric input: sequences of different lengths, a prediction missing, a malformed tag name."""
