"""Text classification (single texts or pairs; multi-class or multi-label) and regression, as Keras models.

:class:`TextClassifier` (task_type ``"classify"``; HF ``BertForSequenceClassification``)
    graph: dropout + dense (layer ``"classifier"``) on the pooled output -> float32 logits ``[B, K]``.
    raw inputs: ``text`` (and ``text_pair`` with ``pairs=True``), strings.
    targets: class ids or label names (multi-class); 0/1 rows ``[N, K]`` or lists / separator-joined strings of
    label names (multi-label).
    serving outputs: ``logits``, ``probabilities`` [B, K] (softmax, or sigmoid when multi-label); multi-class:
    ``label_ids`` int32 [B], ``label_names`` string [B], ``score`` [B]; multi-label: ``predictions`` int32
    [B, K] (probability >= threshold) and ``label_names`` (the predicted names joined with ``label_separator``).

:class:`TextRegressor` (task_type ``"regress"``): one float per text or pair (``score`` [B]); MSE loss.

Long texts (single texts): with ``window_stride`` > 0 a text longer than the sequence length is cut into
sliding windows (``sequence_length - 2`` tokens each, starts ``window_stride`` apart;
:mod:`~keras_bert_zoo.tasks.preprocessing.windows`), each window packed ``[CLS] window [SEP]`` and classified, and
the text's ``logits`` are the **mean of its window logits** (``probabilities`` etc. follow from them as for one
window). The mean of logits, not of probabilities: it keeps ``logits`` a true pre-softmax/sigmoid value of
which ``probabilities`` is the softmax (so multi-label thresholds and ``score`` read as without windows), and
for softmax it is the renormalised geometric mean of the window probabilities (the windows vote as a product of
experts). The same graph serves ``predict``, the SavedModel and the TFLite model, with TFLite builtins only
(segment sums). Training (``fit`` / ``evaluate`` on raw data) expands each text into its windows, each with the
text's label (and sample weight): Keras's loss and metrics there count windows, while ``predict`` and the
evaluation reports count texts. ``max_windows`` caps the windows per text (its tokens past
:attr:`TextClassifier.max_text_tokens` are cut, and the reports count such texts as truncated); None: no cap.
Text pairs are refused with windows (one line): they are truncated by the preprocessor's rule.

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig, TextClassifier
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> clf = TextClassifier(BertBackbone(config), preprocessor=preprocessor,
    ...                      labels=["negative", "neutral", "positive"])
    >>> texts, label_names = ["a great day", "it rained", "an awful film"], ["positive", "neutral", "negative"]
    >>> history = clf.fit(x=texts, y=label_names, validation_data=(["what fun"], ["positive"]), epochs=1,
    ...                   batch_size=4, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    >>> out = clf.predict(["what a great day", "meh"], verbose=0)
    >>> names = {b"negative", b"neutral", b"positive"}
    >>> out["probabilities"].shape, out["label_names"].shape, set(out["label_names"]) <= names
    ((2, 3), (2,), True)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.labelled import split_labels
from keras_bert_zoo.tasks.base import Task, TaskError, classifier_head, packed_inputs

__all__ = ["TextClassifier", "TextRegressor"]


def _pooled_head(backbone, units, dropout, inputs=None):
    """packed inputs -> float32 ``dense(dropout(pooled))`` [B, units]; the shared head of the classifiers."""
    inputs = inputs if inputs is not None else packed_inputs()
    logits, head = classifier_head(backbone, backbone(inputs)["pooled_output"], units, dropout)
    return inputs, logits, head


def _class_id(value, row: int, num_classes: int) -> int:
    """A target given as a number -> its class id; a float with a fraction (0.7) or a bool is an error, not
    silently truncated to a class."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TaskError(f"target {row}: {value!r} is not a class id or a label name") from None
    if isinstance(value, (bool, np.bool_)) or not number.is_integer():
        raise TaskError(f"target {row}: {value!r} is not a class id (an integer in [0, {num_classes})) or a label "
                        f"name")
    return int(number)


def _whole_number(value, name: str, minimum: int, meaning: str) -> int:
    """``value`` as an int >= ``minimum``; anything else (a bool, a fraction, a string) is one TaskError line."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, (bool, np.bool_, str, bytes)) or not number.is_integer() or number < minimum:
        raise TaskError(f"{name} must be a whole number >= {minimum} ({meaning}), got {value!r}")
    return int(number)


def _window_args(window_stride, max_windows, pairs) -> tuple:
    """(window_stride, max_windows) checked: a stride >= 0, a cap >= 1 that needs windows; pairs take none."""
    window_stride = _whole_number(window_stride or 0, "window_stride", 0, "tokens between windows; 0: none")
    if window_stride and pairs:
        raise TaskError("window_stride: sliding windows are for single texts; a pair classifier (pairs=True) "
                        "truncates its pairs to the sequence length")
    if max_windows is None:
        return window_stride, None
    max_windows = _whole_number(max_windows, "max_windows", 1, "windows per text; None: no cap")
    if not window_stride:
        raise TaskError(f"max_windows={max_windows} needs sliding windows (window_stride > 0)")
    return window_stride, max_windows


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TextClassifier(Task):
    """Sequence classification (see the module docstring).

    Args:
        backbone: a :class:`~keras_bert_zoo.models.BertBackbone`.
        num_classes: number of classes (default: ``len(labels)``).
        preprocessor: a :class:`~keras_bert_zoo.text.BertPreprocessor` (None: packed inputs only).
        labels: class names, index = class id (default ``["0", "1", ...]``).
        pairs: the task takes two texts (``text``, ``text_pair``).
        multi_label: independent sigmoid per class (binary cross-entropy).
        threshold: multi-label decision threshold on the probability.
        label_separator: joins multi-label names in ``label_names`` and splits them in string targets.
        window_stride: tokens between the starts of the sliding windows over a long single text, at training and
            prediction (0: no windows; the text is truncated to the sequence length).
        max_windows: most windows per text (None: as many as the text needs); needs ``window_stride``.
        dropout: dropout before the dense head.
    """

    hf_architecture = "BertForSequenceClassification"
    task_type = "classify"
    _config_args = ("num_classes", "labels", "pairs", "multi_label", "threshold", "label_separator",
                    "window_stride", "max_windows", "dropout")

    def __init__(self, backbone, num_classes=None, *, preprocessor=None, labels=None, pairs=False,
                 multi_label=False, threshold=0.5, label_separator=",", window_stride=0, max_windows=None,
                 dropout=0.1, name=None, trainable=True):
        if labels is not None:
            labels = [str(v) for v in labels]
            seen = set()
            dupes = sorted({v for v in labels if v in seen or seen.add(v)})   # O(K): 10,000 labels are fine
            if dupes:
                raise TaskError(f"duplicate label names {dupes}: each class needs its own name")
            if num_classes is not None and int(num_classes) != len(labels):
                raise TaskError(f"num_classes={num_classes} but {len(labels)} labels were given")
        if num_classes is None:
            if labels is None:
                raise TaskError("a classifier needs num_classes or labels")
            num_classes = len(labels)
        num_classes = int(num_classes)
        if num_classes < (1 if multi_label else 2):
            raise TaskError(f"classification needs at least {1 if multi_label else 2} classes, got {num_classes}")
        window_stride, max_windows = _window_args(window_stride, max_windows, pairs)
        inputs, logits, head = _pooled_head(backbone, num_classes, dropout)
        super().__init__(inputs=inputs, outputs=logits, name=name or "text_classifier", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.head = head
        self.num_classes = num_classes
        self.labels = labels if labels is not None else [str(i) for i in range(num_classes)]
        self.pairs = bool(pairs)
        self.multi_label = bool(multi_label)
        self.threshold = float(threshold)
        self.label_separator = label_separator
        self.window_stride = window_stride
        self.max_windows = max_windows
        self.dropout = float(dropout)
        self.text_inputs = ("text", "text_pair") if self.pairs else ("text",)

    # -------------------------------------------------------------- recipe hooks
    def default_loss(self):
        if self.multi_label:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        if self.multi_label:
            return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def encode_targets(self, y):
        """Class ids or label names (multi-label: 0/1 rows, name lists or joined names) -> numpy targets."""
        index = {name: i for i, name in enumerate(self.labels)}
        values = list(y) if not isinstance(y, np.ndarray) else y
        if self.multi_label:
            arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
            if arr.ndim == 2 and arr.dtype.kind in "biuf":
                if arr.shape[1] != self.num_classes:
                    raise TaskError(f"multi-label targets have {arr.shape[1]} columns, the model {self.num_classes}")
                bad = np.argwhere((arr != 0) & (arr != 1))
                if bad.size:
                    row, col = (int(v) for v in bad[0])
                    raise TaskError(f"multi-label target {row}, column {col}: {float(arr[row, col])}; "
                                    f"expected 0 or 1")
                return arr.astype("float32")
            out = np.zeros((len(values), self.num_classes), "float32")
            for row, value in enumerate(values):
                names = split_labels(value, self.label_separator)
                for name in names:
                    if name not in index:
                        raise TaskError(f"target {row}: unknown label {name!r}; the model's labels are {self.labels}")
                    out[row, index[name]] = 1.0
            return out
        out = np.zeros((len(values),), "int32")
        for row, value in enumerate(values):
            if isinstance(value, (bytes, np.bytes_)):
                value = value.decode("utf-8")
            if isinstance(value, (str, np.str_)):
                name = str(value).strip()
                if name not in index:
                    raise TaskError(f"target {row}: unknown label {name!r}; the model's labels are {self.labels}")
                out[row] = index[name]
            else:
                k = _class_id(value, row, self.num_classes)
                if not 0 <= k < self.num_classes:
                    raise TaskError(f"target {row}: class id {k} outside [0, {self.num_classes})")
                out[row] = k
        return out

    # -------------------------------------------------------------- long texts: windows
    @property
    def expands_samples(self) -> bool:
        """With windows, :meth:`preprocess_samples` gives a row per window (the pipeline re-batches them)."""
        return bool(self.window_stride)

    @property
    def max_text_tokens(self) -> int | None:
        """The most tokens of a single text the model reads (without [CLS]/[SEP]): ``sequence_length - 2``
        without windows; with windows what ``max_windows`` windows cover, None (any length) without a cap."""
        budget = self._require_preprocessor().sequence_length - 2
        if not self.window_stride:
            return budget
        from keras_bert_zoo.tasks.preprocessing.windows import covered_tokens

        return covered_tokens(budget, self.window_stride, self.max_windows)

    def text_windows(self, texts):
        """Raw strings [B] -> (packed windows int32 [W, T], :class:`~keras_bert_zoo.tasks.preprocessing.windows.
        Windows` layout): one window or more per text (pure TF, TFLite builtins)."""
        from keras_bert_zoo.tasks.preprocessing.windows import windowed_pack

        packed, windows, _ = windowed_pack(self._require_preprocessor(), tf.convert_to_tensor(texts, tf.string),
                                           self.window_stride, max_windows=self.max_windows)
        return packed, windows

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Without windows as every task; with windows each text becomes its windows, each carrying the text's
        target and sample weight (``(packed [W, T], y [W, ...], weight [W])``)."""
        if not self.window_stride:
            return super().preprocess_samples(x, y, sample_weight)
        packed, windows = self.text_windows(x["text"])

        def per_window(t):
            return None if t is None else tf.gather(t, windows.example_index)

        # full sequence length, not trimmed: the pipeline re-batches these rows with rows of other source
        # batches and cuts each new batch to its own longest row (pipeline._trim_rows)
        return keras.utils.pack_x_y_sample_weight(packed, per_window(y), per_window(sample_weight))

    # -------------------------------------------------------------- serving graph
    def serving_fn(self, inputs):
        if not self.window_stride:
            return super().serving_fn(inputs)
        from keras_bert_zoo.tasks.preprocessing.windows import mean_over_windows

        packed, windows = self.text_windows(inputs["text"])
        logits = self(self.trim(packed), training=False)                       # [W, K]
        return self.postprocess(mean_over_windows(logits, windows))           # [B, K]

    def postprocess(self, logits):
        logits = tf.cast(logits, tf.float32)
        names = tf.constant(self.labels, dtype=tf.string)
        if self.multi_label:
            probs = tf.sigmoid(logits)
            predictions = tf.cast(probs >= self.threshold, tf.int32)
            picked = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(probs)), predictions > 0)
            joined = tf.strings.reduce_join(picked, axis=-1, separator=self.label_separator)
            return {"logits": logits, "probabilities": probs, "predictions": predictions, "label_names": joined}
        probs = tf.nn.softmax(logits, axis=-1)
        ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"logits": logits, "probabilities": probs, "label_ids": ids, "label_names": tf.gather(names, ids),
                "score": tf.reduce_max(probs, axis=-1)}

    def decode(self, outputs):
        results = []
        for i in range(len(outputs["probabilities"])):
            probs = outputs["probabilities"][i]
            row = {"probabilities": {name: round(float(p), 6) for name, p in zip(self.labels, probs)}}
            if self.multi_label:
                row["labels"] = [n for n, v in zip(self.labels, outputs["predictions"][i]) if v]
            else:
                row["label"] = self.labels[int(outputs["label_ids"][i])]
                row["score"] = round(float(outputs["score"][i]), 6)
            results.append(row)
        return results


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TextRegressor(Task):
    """Regression on raw strings: one score per text or pair (e.g. STS-B similarity); MSE loss.

    Args: ``backbone``, ``preprocessor``, ``pairs``, ``dropout`` (as :class:`TextClassifier`).
    """

    task_type = "regress"
    _config_args = ("pairs", "dropout")

    def __init__(self, backbone, *, preprocessor=None, pairs=False, dropout=0.1, name=None, trainable=True):
        inputs, logits, head = _pooled_head(backbone, 1, dropout)
        super().__init__(inputs=inputs, outputs=logits, name=name or "text_regressor", trainable=trainable)
        self._set_parts(backbone, preprocessor)
        self.head = head
        self.pairs = bool(pairs)
        self.dropout = float(dropout)
        self.labels = None
        self.text_inputs = ("text", "text_pair") if self.pairs else ("text",)

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def default_metrics(self):
        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def encode_targets(self, y):
        try:
            out = np.asarray(y, dtype="float32").reshape(-1, 1)
        except (TypeError, ValueError):
            raise TaskError("regression targets must be numbers") from None
        if not np.isfinite(out).all():
            raise TaskError(f"regression target {int(np.argmin(np.isfinite(out[:, 0])))} is not finite")
        return out

    def postprocess(self, outputs):
        return {"score": tf.cast(outputs, tf.float32)[:, 0]}

    def decode(self, outputs):
        return [{"score": round(float(s), 6)} for s in outputs["score"]]


# ------------------------------------------------------------------ the task table (keras_bert_zoo.tasks.registry)
from keras_bert_zoo.data import task_files as _files  # noqa: E402
from keras_bert_zoo.tasks.registry import LegacyFormat, TaskSpec, register_task  # noqa: E402

_EVAL = "keras_bert_zoo.tasks.evaluation:"   # the built-in evaluators


def _classifier_args(train, args):
    """pairs when the file has a second text; labels (the sorted names in the file) unless given."""
    out = {"pairs": "text_pair" in train.x}
    if args.get("labels") is None:
        names = set()
        for value in train.y:
            names.update(split_labels(value, args.get("label_separator", ",")) if args.get("multi_label")
                         else [str(value).strip()])
        out["labels"] = sorted(names)
    return out


register_task(TaskSpec(
    name="classify", task_class=TextClassifier, hf_architecture="BertForSequenceClassification",
    reader=_files.labelled_reader, file_options=_files.LABELLED_OPTIONS, evaluator=_EVAL + "evaluate_classifier",
    task_flags=("dropout", "labels", "multi_label", "label_separator", "window_stride", "max_windows"),
    cli_flags=("class_weight", "resample", "attention_text", "attention_layer", "attention_head"),
    args_from_data=_classifier_args,
    check_data=_EVAL + "labelled_data_warnings",
    legacy=LegacyFormat("BertClassifier", ("pairs", "multi_label", "threshold", "label_separator", "window_stride"),
                        lambda meta, cfg: {"labels": meta["labels"], "dropout": cfg.get("dropout", 0.1)})))
register_task(TaskSpec(
    name="regress", task_class=TextRegressor, reader=_files.regression_reader, file_options=_files.LABELLED_OPTIONS,
    evaluator=_EVAL + "evaluate_regressor", task_flags=("dropout",),
    cli_flags=("attention_text", "attention_layer", "attention_head"),
    args_from_data=lambda train, args: {"pairs": "text_pair" in train.x}, check_data=_EVAL + "labelled_data_warnings",
    legacy=LegacyFormat("BertClassifier", ("pairs",), lambda meta, cfg: {"dropout": cfg.get("dropout", 0.1)})))
