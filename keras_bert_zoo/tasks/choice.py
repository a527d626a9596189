"""Multiple choice (SWAG style): a context and K candidate continuations, pick the right one.

Each (context, choice_k) pair is packed ``[CLS] context [SEP] choice_k [SEP]`` by the task's
:class:`~keras_bert_zoo.text.BertPreprocessor` and the K packed rows form the ``[B, K, T]`` input of
:class:`~keras_bert_zoo.models.tasks.BertMultipleChoice`, which scores each row with a dense layer on its pooled
output; softmax over the K scores. SWAG CSVs are read by :mod:`keras_bert_zoo.data.swag`.

Serving inputs are string tensors ``context`` [B] and ``choice_0`` ... ``choice_{K-1}`` [B]; outputs
``logits`` / ``probabilities`` [B, K] and ``label_id`` [B].
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.swag import read_swag
from keras_bert_zoo.tasks import register_task
from keras_bert_zoo.tasks.base import BertTask, TaskError

__all__ = ["MultipleChoice"]


@register_task
class MultipleChoice(BertTask):
    """Multiple-choice task. Args (beyond :class:`BertTask`'s): ``num_choices`` (K)."""

    task_type = "choice"

    def __init__(self, model, tokenizer, sequence_length=128, labels=None, truncate="longest_first",
                 preprocessor=None, num_choices=None):
        num_choices = int(num_choices or getattr(model, "num_choices", 0))
        if num_choices < 2:
            raise TaskError(f"a multiple-choice task needs at least 2 choices, got {num_choices}")
        super().__init__(model, tokenizer, sequence_length, None, truncate, preprocessor)
        self.num_choices = num_choices
        self.text_inputs = ("context",) + tuple(f"choice_{k}" for k in range(num_choices))

    def get_config(self):
        return {"num_choices": self.num_choices}

    @classmethod
    def build(cls, backbone, tokenizer, num_choices, sequence_length=128, dropout=0.1):
        from keras_bert_zoo.models.tasks import BertMultipleChoice

        model = BertMultipleChoice(backbone, num_choices=num_choices, dropout=dropout)
        return cls(model, tokenizer, sequence_length=sequence_length, num_choices=num_choices)

    @classmethod
    def from_train_file(cls, path, backbone, tokenizer, *, sequence_length=128, num_choices=None, dropout=0.1,
                        **options):
        examples = read_swag(path, num_choices=num_choices)
        return cls.build(backbone, tokenizer, len(examples[0].choices), sequence_length=sequence_length,
                         dropout=dropout)

    def compile(self, optimizer="adam", **kwargs):
        import keras

        kwargs.setdefault("loss", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        kwargs.setdefault("metrics", [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        self.model.compile(optimizer=optimizer, **kwargs)
        return self.model

    # ------------------------------------------------------------------ graph pieces
    def preprocess(self, inputs):
        missing = [n for n in self.text_inputs if n not in inputs]
        if missing:
            raise TaskError(f"choice: missing inputs {missing}; expected {list(self.text_inputs)}")
        context = tf.convert_to_tensor(inputs["context"], tf.string)
        choices = tf.stack([tf.convert_to_tensor(inputs[n], tf.string) for n in self.text_inputs[1:]], axis=1)
        k = self.num_choices
        flat_ctx = tf.repeat(context, k)                                              # [B*K]
        packed = self.preprocessor((flat_ctx, tf.reshape(choices, [-1])))
        return {name: tf.reshape(v, [-1, k, self.sequence_length]) for name, v in packed.items()}

    def packed_input_spec(self):
        return {k: tf.TensorSpec([None, self.num_choices, None], tf.int32, name=k)
                for k in ("token_ids", "segment_ids", "padding_mask")}

    def postprocess(self, outputs):
        return {"logits": outputs, "probabilities": tf.nn.softmax(outputs, axis=-1),
                "label_id": tf.argmax(outputs, axis=-1, output_type=tf.int32)}

    def decode(self, outputs):
        return [{"label": int(outputs["label_id"][i]),
                 "probabilities": [float(p) for p in outputs["probabilities"][i]]}
                for i in range(len(outputs["label_id"]))]

    def predict_choices(self, contexts, choices, batch_size=32):
        """``contexts`` list of strings, ``choices`` list of K-string lists -> list of {label, probabilities}."""
        records = []
        for i, (c, ch) in enumerate(zip(contexts, choices)):
            if len(ch) != self.num_choices:
                raise TaskError(f"example {i}: {len(ch)} choices, the model takes {self.num_choices}")
            rec = {"context": c}
            rec.update({f"choice_{k}": t for k, t in enumerate(ch)})
            records.append(rec)
        return self.predict_records(records, batch_size=batch_size)

    # ------------------------------------------------------------------ data
    def _inputs(self, examples, path):
        for e in examples:
            if len(e.choices) != self.num_choices:
                raise TaskError(f"{path}:{e.line}: {len(e.choices)} choices, the model takes {self.num_choices}")
        inputs = {"context": [e.context for e in examples]}
        for k in range(self.num_choices):
            inputs[f"choice_{k}"] = [e.choices[k] for e in examples]
        return inputs

    def dataset_from_file(self, path, *, batch_size=16, training=False, **options):
        examples = read_swag(path, num_choices=self.num_choices)
        return self.make_dataset(self._inputs(examples, path), np.array([e.label for e in examples], np.int32),
                                 batch_size=batch_size, shuffle=training)

    def evaluate_file(self, path, *, out_dir=None, batch_size=16, **options):
        examples = read_swag(path, num_choices=self.num_choices)
        inputs = self._inputs(examples, path)
        records = [{k: v[i] for k, v in inputs.items()} for i in range(len(examples))]
        preds = self.predict_records(records, batch_size=batch_size)
        labels = np.array([e.label for e in examples])
        guess = np.array([p["label"] for p in preds])
        if out_dir is not None:
            out_dir = Path(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = out_dir / ".predictions.csv.part"
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                wr = csv.writer(f)
                wr.writerow(["line", "label", "predicted"] + [f"p{k}" for k in range(self.num_choices)])
                for e, p in zip(examples, preds):
                    wr.writerow([e.line, e.label, p["label"]] + [f"{q:.6f}" for q in p["probabilities"]])
            os.replace(tmp, out_dir / "predictions.csv")
        return {"accuracy": float((labels == guess).mean()), "num_examples": len(examples)}
