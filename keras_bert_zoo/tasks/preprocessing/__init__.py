"""Task preprocessing in the graph: sliding windows over long texts and the saved preprocessor layers of the tasks
whose examples become several packed windows.

* :mod:`~keras_bert_zoo.tasks.preprocessing.windows` — window layout, packing and aggregation helpers (pure TF,
  TFLite builtins), shared by the layers below, the decoders and the text classifier's long-text path;
* :class:`TokenWindowPreprocessor` — NER: words + tag ids -> windows + labels aligned to each word's first
  sub-word (:mod:`~keras_bert_zoo.tasks.preprocessing.token_windows`);
* :class:`QAWindowPreprocessor` — QA: question / context (/ answer) -> windows + start / end span labels
  (:mod:`~keras_bert_zoo.tasks.preprocessing.qa_windows`).
"""

from keras_bert_zoo.tasks.preprocessing.qa_windows import QAWindowPreprocessor
from keras_bert_zoo.tasks.preprocessing.token_windows import TokenWindowPreprocessor

__all__ = ["TokenWindowPreprocessor", "QAWindowPreprocessor"]
