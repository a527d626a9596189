"""Text classification (single texts or pairs; multi-class or multi-label) and regression (STS-B style).

:class:`TextClassifier` (task_type ``"classify"``)
    model: :class:`~keras_bert_zoo.models.tasks.BertClassifier` (logits [B, K]).
    serving inputs: ``text`` (and ``text_pair`` when ``pairs=True``), tf.string [B].
    outputs: ``logits`` [B, K]; ``probabilities`` [B, K] (softmax, or sigmoid when multi-label);
    multi-class: ``label_ids`` int32 [B], ``label_names`` string [B], ``score`` float [B];
    multi-label: ``predictions`` int32 [B, K] (probability >= threshold), ``label_names`` string [B]
    (the predicted names joined with ``label_separator``).
    loss: sparse categorical (multi-class) or binary (multi-label) cross-entropy on logits.

:class:`TextRegressor` (task_type ``"regress"``)
    model: BertClassifier with one output; outputs ``score`` [B]; MSE loss; Pearson/Spearman in reports.

Long texts: with ``window_stride`` > 0 (single texts), ``serving_fn`` / ``predict`` / evaluation cover a text
longer than the sequence length with sliding windows (``sequence_length - 2`` tokens each, starts ``stride``
apart; :mod:`keras_bert_zoo.tasks.windows`) and average the window logits; training uses the first window.

Files (CSV, TSV or JSON lines; by extension, or ``file_format``): a header row names the columns
(``text_column``, ``pair_column``, ``label_column``; defaults ``text``, none, ``label``). Invalid UTF-8 is
replaced (counted, not fatal). Empty files, missing columns, empty labels and labels unknown to the model are
errors that name the file, the line and the column. Texts longer than the sequence length are counted and a
warning says how many were truncated.

"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from keras_bert_zoo.tasks import register_task
from keras_bert_zoo.tasks.base import BertTask, TaskError

__all__ = ["TextClassifier", "TextRegressor", "LabelledData", "read_labelled_file", "count_truncated"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- file reading
@dataclass
class LabelledData:
    """Rows read from a file: texts, optional second segments, raw label strings and source line numbers."""

    path: str
    texts: list = field(default_factory=list)
    pairs: list | None = None
    labels: list | None = None
    lines: list = field(default_factory=list)
    replaced_utf8: int = 0

    def __len__(self):
        return len(self.texts)


def _detect_format(path: str, file_format: str | None) -> str:
    if file_format:
        return file_format
    lower = path.lower()
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if lower.endswith((".tsv", ".tab")):
        return "tsv"
    return "csv"


def read_labelled_file(path, text_column="text", pair_column=None, label_column="label",
                       file_format=None, require_labels=True) -> LabelledData:
    """Read a CSV / TSV / JSONL file of texts (+ pairs) (+ labels), with errors naming file, line and column."""
    path = str(path)
    if not os.path.isfile(path):
        raise TaskError(f"{path}: no such file")
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - raw.decode("utf-8", errors="ignore").count("\ufffd")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise TaskError(f"{path}: the file is empty")
    fmt = _detect_format(path, file_format)
    data = LabelledData(path=path, pairs=[] if pair_column else None, labels=[] if label_column else None,
                        replaced_utf8=replaced)
    wanted = [c for c in (text_column, pair_column, label_column if require_labels else None) if c]

    def add(row, line):
        for col in wanted:
            value = row.get(col)
            if value is None:
                raise TaskError(f"{path}:{line}: column {col!r} is missing in this row")
        data.texts.append(str(row[text_column]))
        if pair_column:
            data.pairs.append(str(row[pair_column]))
        if label_column:
            if label_column in row and row[label_column] is not None:
                value = row[label_column]
                if isinstance(value, str):
                    value = value.strip()
                    if not value and require_labels:
                        raise TaskError(f"{path}:{line}: empty value in column {label_column!r}")
                data.labels.append(value)
            elif require_labels:
                raise TaskError(f"{path}:{line}: column {label_column!r} is missing in this row")
            else:
                data.labels.append(None)
        data.lines.append(line)

    if fmt == "jsonl":
        for i, line_text in enumerate(text.splitlines(), start=1):
            if not line_text.strip():
                continue
            try:
                row = json.loads(line_text)
            except json.JSONDecodeError as err:
                raise TaskError(f"{path}:{i}: invalid JSON: {err.msg}") from err
            if not isinstance(row, dict):
                raise TaskError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
            add(row, i)
    elif fmt in ("csv", "tsv"):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "tsv" else ",")
        try:
            header = next(reader)
        except StopIteration:
            raise TaskError(f"{path}: the file is empty") from None
        header = [h.strip() for h in header]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise TaskError(f"{path}:1: missing column(s) {missing} in the header; found columns {header}")
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) < len(header):
                short = [h for h in header[len(row):] if h in wanted]
                if short:
                    raise TaskError(f"{path}:{line}: row has {len(row)} fields, expected {len(header)}; "
                                    f"column(s) {short} missing")
            add(dict(zip(header, row)), line)
    else:
        raise TaskError(f"{path}: unknown file format {fmt!r} (expected csv, tsv or jsonl)")
    if not data.texts:
        raise TaskError(f"{path}: no data rows (only a header or blank lines)")
    if replaced:
        logger.warning("%s: %d invalid UTF-8 byte sequence(s) replaced with U+FFFD", path, replaced)
    return data


def count_truncated(tokenizer, texts, pairs, sequence_length) -> int:
    """How many examples need more than ``sequence_length`` tokens (with [CLS]/[SEP]) and will be truncated."""
    import tensorflow as tf

    def lengths(values):
        out = []
        for start in range(0, len(values), 1024):
            ids = tokenizer(tf.constant(values[start:start + 1024], dtype=tf.string))
            out.append(ids.row_lengths().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    total = lengths(list(texts)) + 2
    if pairs is not None:
        total = total + lengths(list(pairs)) + 1
    return int((total > sequence_length).sum())


def _warn_truncation(task, data: LabelledData):
    n = count_truncated(task.tokenizer, data.texts, data.pairs, task.sequence_length)
    if n:
        logger.warning("%s: %d of %d examples are longer than sequence_length=%d tokens and will be truncated",
                       data.path, n, len(data), task.sequence_length)
    return n


# ----------------------------------------------------------------------------------------------- classifier
def _build_classifier_model(backbone, num_outputs, dropout):
    from keras_bert_zoo.models.tasks import BertClassifier

    return BertClassifier(backbone, num_classes=num_outputs, dropout=dropout)


@register_task
class TextClassifier(BertTask):
    """Sequence classification on raw strings (see the module docstring).

    Args (beyond :class:`BertTask`'s): ``pairs`` (two text inputs), ``multi_label``, ``threshold``
    (multi-label decision threshold), ``label_separator`` (multi-label names in files and outputs).
    """

    task_type = "classify"

    def __init__(self, model, tokenizer, sequence_length=128, labels=None, truncate="longest_first",
                 preprocessor=None, pairs=False, multi_label=False, threshold=0.5, label_separator=",",
                 window_stride=0):
        if not labels:
            raise TaskError("a classifier needs its list of labels")
        super().__init__(model, tokenizer, sequence_length, labels, truncate, preprocessor)
        self.pairs = bool(pairs)
        self.multi_label = bool(multi_label)
        self.threshold = float(threshold)
        self.label_separator = label_separator
        self.window_stride = int(window_stride or 0)
        if self.window_stride and self.pairs:
            raise TaskError("window_stride is supported for single texts only")
        self.text_inputs = ("text", "text_pair") if self.pairs else ("text",)
        out = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else len(self.labels)
        if out != len(self.labels):
            raise TaskError(f"model has {out} outputs but {len(self.labels)} labels were given")

    def get_config(self):
        return {"pairs": self.pairs, "multi_label": self.multi_label, "threshold": self.threshold,
                "label_separator": self.label_separator, "window_stride": self.window_stride}

    def serving_fn(self, inputs):
        if not self.window_stride:
            return super().serving_fn(inputs)
        from keras_bert_zoo.tasks.windows import mean_over_windows, windowed_pack

        packed, windows, _ = windowed_pack(self.preprocessor, inputs["text"], self.window_stride)
        logits = self.model(packed, training=False)                           # [W, K]
        return self.postprocess(mean_over_windows(logits, windows))           # [B, K]

    @classmethod
    def from_backbone(cls, backbone, tokenizer, labels, sequence_length=128, dropout=0.1, **kwargs):
        model = _build_classifier_model(backbone, len(labels), dropout)
        return cls(model, tokenizer, sequence_length=sequence_length, labels=labels, **kwargs)

    # -------------------------------------------------------------- graph
    def postprocess(self, logits):
        import tensorflow as tf

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

    # -------------------------------------------------------------- training
    def loss(self):
        import keras

        if self.multi_label:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        import keras

        if self.multi_label:
            return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def compile(self, optimizer="adam", **kwargs):
        kwargs.setdefault("loss", self.loss())
        kwargs.setdefault("metrics", self.metrics())
        self.model.compile(optimizer=optimizer, **kwargs)
        return self.model

    def encode_labels(self, data: LabelledData) -> np.ndarray:
        """Raw label strings -> int ids [N] (multi-class) or 0/1 [N, K] (multi-label); unknown labels are errors
        naming the file and line."""
        index = {name: i for i, name in enumerate(self.labels)}
        if self.multi_label:
            y = np.zeros((len(data), len(self.labels)), dtype="float32")
        else:
            y = np.zeros((len(data),), dtype="int32")
        for row, (value, line) in enumerate(zip(data.labels, data.lines)):
            names = _split_labels(value, self.label_separator) if self.multi_label else [str(value).strip()]
            for name in names:
                if name not in index:
                    raise TaskError(f"{data.path}:{line}: unknown label {name!r}; the model's labels are "
                                    f"{self.labels}")
                if self.multi_label:
                    y[row, index[name]] = 1.0
                else:
                    y[row] = index[name]
        return y

    @classmethod
    def labels_from_data(cls, data: LabelledData, multi_label=False, label_separator=","):
        names = set()
        for value in data.labels:
            names.update(_split_labels(value, label_separator) if multi_label else [str(value).strip()])
        return sorted(names)

    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=128, text_column="text",
                        pair_column=None, label_column="label", labels=None, multi_label=False,
                        label_separator=",", dropout=0.1, file_format=None, window_stride=0, **options):
        data = read_labelled_file(path, text_column, pair_column, label_column, file_format)
        if labels is None:
            labels = cls.labels_from_data(data, multi_label, label_separator)
        if len(labels) < 2 and not multi_label:
            raise TaskError(f"{path}: found only {len(labels)} distinct label(s) {labels} in column "
                            f"{label_column!r}; classification needs at least 2")
        return cls.from_backbone(backbone, tokenizer, list(labels), sequence_length=sequence_length,
                                 dropout=dropout, pairs=bool(pair_column), multi_label=multi_label,
                                 label_separator=label_separator, window_stride=window_stride)

    def read(self, path, text_column="text", pair_column=None, label_column="label", file_format=None,
             require_labels=True, **unused):
        if self.pairs and not pair_column:
            raise TaskError(f"{path}: this classifier takes text pairs; pass pair_column")
        return read_labelled_file(path, text_column, pair_column if self.pairs else None, label_column,
                                  file_format, require_labels=require_labels)

    def dataset_from_data(self, data: LabelledData, *, batch_size=32, training=False, class_weight=None,
                          resample=None, seed=0, warn=True):
        """(packed, y[, w]) dataset from rows read with :meth:`read`; ``class_weight="balanced"`` adds sample
        weights, ``resample`` in ``{"oversample", "undersample"}`` rebalances the rows (training only)."""
        from keras_bert_zoo.train.metrics import class_weights as balanced_weights
        from keras_bert_zoo.train.metrics import resample_indices

        if warn:
            _warn_truncation(self, data)
        y = self.encode_labels(data)
        idx = np.arange(len(data))
        if resample and training:
            if self.multi_label:
                raise TaskError("resampling is defined for single-label classification only")
            idx = resample_indices(y, resample, seed=seed)
        inputs = {"text": [data.texts[i] for i in idx]}
        if self.pairs:
            inputs["text_pair"] = [data.pairs[i] for i in idx]
        weights = None
        if class_weight:
            if self.multi_label:
                raise TaskError("class weights are defined for single-label classification only")
            table = balanced_weights(y, len(self.labels), class_weight) if isinstance(class_weight, str) \
                else {int(k): float(v) for k, v in class_weight.items()}
            weights = np.asarray([table[int(c)] for c in y[idx]], dtype="float32")
        return self.make_dataset(inputs, y[idx], weights, batch_size=batch_size, shuffle=training, seed=seed,
                                 bucket_by_length=training, trim_padding=True)

    def dataset_from_file(self, path, *, batch_size=32, training=False, class_weight=None, resample=None,
                          seed=0, **options):
        data = self.read(path, **options)
        return self.dataset_from_data(data, batch_size=batch_size, training=training, class_weight=class_weight,
                                      resample=resample, seed=seed)

    # -------------------------------------------------------------- evaluation
    def predict_data(self, data: LabelledData, batch_size=64):
        """Probabilities [N, K] for rows read with :meth:`read` (runs the packed model via tf.data)."""
        inputs = {"text": data.texts}
        if self.pairs:
            inputs["text_pair"] = data.pairs
        if self.window_stride:
            import tensorflow as tf

            probs = [self.serving_fn({"text": tf.constant(data.texts[i:i + batch_size])})["probabilities"]
                     for i in range(0, len(data), batch_size)]
            return np.concatenate([np.asarray(p) for p in probs])
        ds = self.make_dataset(inputs, batch_size=batch_size, trim_padding=True)
        logits = self.model.predict(ds, verbose=0)
        import tensorflow as tf

        return (tf.sigmoid(logits) if self.multi_label else tf.nn.softmax(logits, axis=-1)).numpy()

    def evaluate_data(self, data: LabelledData, out_dir=None, batch_size=64) -> dict:
        from keras_bert_zoo.train import metrics as M

        y = self.encode_labels(data)
        probs = self.predict_data(data, batch_size)
        if self.multi_label:
            pred = (probs >= self.threshold).astype(int)
            report = M.multilabel_report(y, pred, self.labels)
        else:
            pred = probs.argmax(-1)
            report = M.classification_report(y, pred, self.labels)
        report["truncated_examples"] = 0 if self.window_stride else count_truncated(self.tokenizer, data.texts, data.pairs, self.sequence_length)
        if out_dir is not None:
            write_classification_reports(out_dir, self, data, y, pred, probs, report)
        return report

    def evaluate_file(self, path, *, out_dir=None, batch_size=64, **options) -> dict:
        return self.evaluate_data(self.read(path, **options), out_dir=out_dir, batch_size=batch_size)


def _split_labels(value, separator):
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in str(value).split(separator) if p.strip()]


def _atomic_write_text(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def write_classification_reports(out_dir, task, data, y, pred, probs, report, prefix=""):
    """report.json, report.txt, predictions.csv (text, [pair], label, prediction, probabilities) and
    confusion_matrix.png (multi-class) into ``out_dir``."""
    from keras_bert_zoo.train.metrics import format_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(out / f"{prefix}report.json", json.dumps(report, indent=2, ensure_ascii=False))
    _atomic_write_text(out / f"{prefix}report.txt", format_report(report) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = ["line", "text"] + (["text_pair"] if task.pairs else []) + ["label", "prediction", "correct"] + \
        [f"p_{n}" for n in task.labels]
    w.writerow(cols)
    for i in range(len(data)):
        if task.multi_label:
            gold = task.label_separator.join(n for n, v in zip(task.labels, y[i]) if v)
            guess = task.label_separator.join(n for n, v in zip(task.labels, pred[i]) if v)
        else:
            gold, guess = task.labels[int(y[i])], task.labels[int(pred[i])]
        row = [data.lines[i], data.texts[i]] + ([data.pairs[i]] if task.pairs else []) + \
            [gold, guess, int(gold == guess)] + [f"{p:.6f}" for p in probs[i]]
        w.writerow(row)
    _atomic_write_text(out / f"{prefix}predictions.csv", buf.getvalue())
    if not task.multi_label:
        from keras_bert_zoo.viz import plot_confusion_matrix

        plot_confusion_matrix(np.asarray(report["confusion_matrix"]), task.labels,
                              out / f"{prefix}confusion_matrix.png")


# ----------------------------------------------------------------------------------------------- regressor
@register_task
class TextRegressor(BertTask):
    """Regression on raw strings (one score per text or pair), e.g. STS-B similarity."""

    task_type = "regress"

    def __init__(self, model, tokenizer, sequence_length=128, labels=None, truncate="longest_first",
                 preprocessor=None, pairs=False):
        super().__init__(model, tokenizer, sequence_length, None, truncate, preprocessor)
        self.pairs = bool(pairs)
        self.text_inputs = ("text", "text_pair") if self.pairs else ("text",)

    def get_config(self):
        return {"pairs": self.pairs}

    @classmethod
    def from_backbone(cls, backbone, tokenizer, sequence_length=128, dropout=0.1, pairs=False):
        return cls(_build_classifier_model(backbone, 1, dropout), tokenizer, sequence_length, pairs=pairs)

    def postprocess(self, outputs):
        import tensorflow as tf

        return {"score": tf.cast(outputs, tf.float32)[:, 0]}

    def decode(self, outputs):
        return [{"score": round(float(s), 6)} for s in outputs["score"]]

    def compile(self, optimizer="adam", **kwargs):
        import keras

        kwargs.setdefault("loss", keras.losses.MeanSquaredError())
        kwargs.setdefault("metrics", [keras.metrics.MeanAbsoluteError(name="mae")])
        self.model.compile(optimizer=optimizer, **kwargs)
        return self.model

    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=128, text_column="text",
                        pair_column=None, label_column="label", dropout=0.1, file_format=None, **options):
        read_labelled_file(path, text_column, pair_column, label_column, file_format)  # validate early
        return cls.from_backbone(backbone, tokenizer, sequence_length, dropout, pairs=bool(pair_column))

    def read(self, path, text_column="text", pair_column=None, label_column="label", file_format=None,
             require_labels=True, **unused):
        if self.pairs and not pair_column:
            raise TaskError(f"{path}: this regressor takes text pairs; pass pair_column")
        return read_labelled_file(path, text_column, pair_column if self.pairs else None, label_column,
                                  file_format, require_labels=require_labels)

    def encode_labels(self, data: LabelledData) -> np.ndarray:
        y = np.zeros((len(data), 1), dtype="float32")
        for i, (value, line) in enumerate(zip(data.labels, data.lines)):
            try:
                y[i, 0] = float(value)
            except (TypeError, ValueError):
                raise TaskError(f"{data.path}:{line}: label {value!r} is not a number") from None
            if not np.isfinite(y[i, 0]):
                raise TaskError(f"{data.path}:{line}: label {value!r} is not finite")
        return y

    def dataset_from_data(self, data, *, batch_size=32, training=False, seed=0, warn=True, **unused):
        if warn:
            _warn_truncation(self, data)
        inputs = {"text": data.texts}
        if self.pairs:
            inputs["text_pair"] = data.pairs
        return self.make_dataset(inputs, self.encode_labels(data), batch_size=batch_size, shuffle=training,
                                 seed=seed, bucket_by_length=training, trim_padding=True)

    def dataset_from_file(self, path, *, batch_size=32, training=False, seed=0, **options):
        return self.dataset_from_data(self.read(path, **options), batch_size=batch_size, training=training,
                                      seed=seed)

    def evaluate_data(self, data, out_dir=None, batch_size=64) -> dict:
        from keras_bert_zoo.train.metrics import format_report, regression_report

        y = self.encode_labels(data)[:, 0]
        inputs = {"text": data.texts}
        if self.pairs:
            inputs["text_pair"] = data.pairs
        pred = self.model.predict(self.make_dataset(inputs, batch_size=batch_size, trim_padding=True),
                                  verbose=0)[:, 0]
        report = regression_report(y, pred)
        if out_dir is not None:
            out = Path(out_dir)
            _atomic_write_text(out / "report.json", json.dumps(report, indent=2))
            _atomic_write_text(out / "report.txt", format_report(report) + "\n")
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["line", "text"] + (["text_pair"] if self.pairs else []) + ["label", "prediction"])
            for i in range(len(data)):
                w.writerow([data.lines[i], data.texts[i]] + ([data.pairs[i]] if self.pairs else []) +
                           [f"{y[i]:.6f}", f"{pred[i]:.6f}"])
            _atomic_write_text(out / "predictions.csv", buf.getvalue())
        return report

    def evaluate_file(self, path, *, out_dir=None, batch_size=64, **options) -> dict:
        return self.evaluate_data(self.read(path, **options), out_dir=out_dir, batch_size=batch_size)
