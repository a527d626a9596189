"""keras_bert_zoo.batch: prediction over many inputs, from an exported model.

* :mod:`.lines` -- the input lines (text or JSON lines) and output lines (one JSON object per input line) that
  `bert-zoo predict` and the Beam pipeline share;
* :mod:`.exported` -- :class:`~.exported.ExportedModel`: a SavedModel export used like its task
  (``predict_records``, decoded by the task class's own ``decode``);
* :mod:`.beam` -- :func:`~.beam.predict_on_beam`: RunInference with that SavedModel over sharded files on a Beam
  runner (Direct, Dataflow, Flink, Spark); needs the ``beam`` extra (``pip install 'keras_bert_zoo[beam]'``).

Nothing here imports TensorFlow or Beam at import time.
"""
