"""Token classification (NER) as a Keras model: word lists + tags in, entity spans of the original text out.

:class:`TokenClassifier` (task_type ``"tag"``; HF ``BertForTokenClassification``)
    graph: dropout (layer ``"classifier_dropout"``) + dense (layer ``"classifier"``) on the sequence output ->
    float32 logits ``[B, T, C]``; with ``crf=True`` they pass through a :class:`~keras_bert_zoo.layers.crf.CRF`
    (layer ``"crf"``: learned transition / start / end scores), trained by its negative log-likelihood over each
    window's tagged positions and decoded by Viterbi over each text's words
    (:mod:`~keras_bert_zoo.tasks.decoding.crf`).
    raw training data: ``fit(x, y)`` with ``x`` a list of word lists (CoNLL style) and ``y`` a list of tag lists,
    or ``x`` a list of :class:`~keras_bert_zoo.data.conll.Sentence` (``y=None``).
    raw prediction: ``predict(["raw text", ...])`` returns the serving outputs; :meth:`decode` gives
    ``{"entities": [{"type", "start", "end", "text", "score"}, ...]}`` per text.

Its preprocessor is a :class:`~keras_bert_zoo.tasks.preprocessing.TokenWindowPreprocessor` (a plain
``BertPreprocessor`` given to the constructor is wrapped in one; ``stride`` is its window stride), saved with the
task. Training data stays in ``tf.data``: the sentence text is the words joined by single spaces, and
:meth:`preprocess_samples` turns each batch into windows whose labels sit on each word's first sub-word (weight
0 elsewhere). At prediction each token takes the logits of its max-context window.

Serving (``serving_fn``, the SavedModel's and the TFLite model's ``serving_default``): the one decoder
:func:`keras_bert_zoo.tasks.decoding.entities.decode_entities` (outputs documented there and in
saved_models/README.md); the TFLite export leaves out ``entity_texts``, the one output sliced from the strings.

Example::

    >>> from keras_bert_zoo import BertBackbone, BertConfig, TokenClassifier
    >>> from keras_bert_zoo.data.conll import label_list, read_conll
    >>> from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
    >>> sentences = read_conll("train.txt")
    >>> config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=37)
    >>> preprocessor = BertPreprocessor(WordPieceTokenizer("vocab.txt", lowercase=True), sequence_length=16)
    >>> ner = TokenClassifier(BertBackbone(config), preprocessor=preprocessor, labels=label_list(sentences))
    >>> history = ner.fit(sentences, epochs=1, batch_size=32, verbose=0)   # or ner.fit(word_lists, tag_lists)
    >>> out = ner.predict(["Peter Blackburn visited São Paulo."], verbose=0)
    >>> out["num_entities"].shape, out["entity_starts"].shape[0]          # entities: [B], [B, E]
    ((1,), 1)
    >>> [result] = ner.decode(out)                 # {"entities": [{"type", "start", "end", "text", "score"}]}
    >>> all(sorted(e) == ["end", "score", "start", "text", "type"] for e in result["entities"])
    True
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_bert_zoo.data.conll import Sentence, join_words
from keras_bert_zoo.layers.crf import CRF, CrfLoss
from keras_bert_zoo.metrics import MetricError
from keras_bert_zoo.metrics.entities import LabelScheme
from keras_bert_zoo.tasks.decoding import crf as crf_decoding
from keras_bert_zoo.tasks.decoding import entities as decoding
from keras_bert_zoo.tasks.preprocessing import TokenWindowPreprocessor
from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.tasks.base import Task, TaskError, classifier_head, packed_inputs
from keras_bert_zoo.text import BertPreprocessor
from keras_bert_zoo.text.tokenizer import continuation_mask

__all__ = ["TokenClassifier"]


def _is_sentences(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(s, Sentence) for s in x)


def _is_word_lists(x) -> bool:
    return (isinstance(x, (list, tuple)) and len(x) > 0 and any(len(v) for v in x if isinstance(v, (list, tuple)))
            and all(isinstance(v, (list, tuple)) and all(isinstance(w, str) for w in v) for v in x))


def _ragged(rows, dtype):
    flat = [v for r in rows for v in r]
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, dtype, shape=[len(flat)]),
                                            tf.constant([len(r) for r in rows], tf.int64))


def _s(v):
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class TokenClassifier(Task):
    """NER / token classification (see the module docstring).

    Args:
        backbone: a :class:`~keras_bert_zoo.models.BertBackbone`.
        num_classes: number of tags (default: ``len(labels)``).
        preprocessor: a :class:`~keras_bert_zoo.tasks.preprocessing.TokenWindowPreprocessor` or a
            ``BertPreprocessor`` to wrap in one (None: packed inputs only).
        labels: tag names (``O`` / ``B-``/``I-``/``E-``/``S-TYPE``), index = class id. May be None only with
            ``num_classes`` (packed inputs, e.g. a converted checkpoint); raw-string decoding and tag targets
            then raise :class:`TaskError`.
        stride: step (in tokens) between window starts for texts longer than ``sequence_length - 2`` tokens
            (None: the preprocessor's, by default half the window).
        dropout: dropout before the dense head.
        crf: put a CRF on the logits (the loss becomes its negative log-likelihood; entities come from its
            Viterbi path over the words; see :mod:`~keras_bert_zoo.tasks.decoding.crf`).
        crf_rules: with ``crf`` and tag names, decoding never takes an ``I-X`` / ``E-X`` tag first or after
            anything but ``B-X`` / ``I-X`` (:func:`~keras_bert_zoo.tasks.decoding.crf.bio_rules`).
    """

    hf_architecture = "BertForTokenClassification"
    task_type = "tag"
    text_inputs = ("text",)
    output_padding = {"entity_types": b"", "entity_texts": b"", "entity_starts": -1, "entity_ends": -1,
                      "entity_scores": 0.0, "entity_type_ids": -1, "entity_starts_utf16": -1,
                      "entity_ends_utf16": -1}
    #: serving outputs sliced from the input strings: the TFLite export leaves them out
    sliced_text_outputs = decoding.SLICED_TEXT_OUTPUTS
    #: serving_packed returns logits per position: not cut (see Task.trim_packed_serving)
    trim_packed_serving = False
    #: preprocess_samples gives a row per window
    expands_samples = True
    _config_args = ("num_classes", "labels", "stride", "dropout", "crf", "crf_rules")

    def __init__(self, backbone, num_classes=None, *, preprocessor=None, labels=None, stride=None, dropout=0.1,
                 crf=False, crf_rules=True, name=None, trainable=True):
        scheme = None
        if labels is not None:
            labels = [str(v) for v in labels]
            dupes = sorted({v for v in labels if labels.count(v) > 1})
            if dupes:
                raise TaskError(f"duplicate tags {dupes}: each class needs its own name")
            if num_classes is not None and int(num_classes) != len(labels):
                raise TaskError(f"num_classes={num_classes} but {len(labels)} labels were given")
            try:
                scheme = LabelScheme(labels)
            except MetricError as err:
                raise TaskError(str(err)) from None
            num_classes = len(labels)
        if num_classes is None:
            raise TaskError("a token classifier needs labels (its tags) or num_classes")
        if int(num_classes) < 1:
            raise TaskError(f"a token classifier needs at least one class, got {num_classes}")
        if stride is not None and int(stride) < 1:
            raise TaskError(f"stride must be a positive number of tokens, got {stride}")
        inputs = packed_inputs()
        logits, head = classifier_head(backbone, backbone(inputs)["sequence_output"], int(num_classes),
                                       dropout)                                  # [B, T, C]
        crf_layer = None
        if crf:
            rules = crf_decoding.bio_rules(scheme) if crf_rules and scheme is not None else {}
            crf_layer = CRF(int(num_classes), **rules, name="crf")
            logits = crf_layer(logits)                                           # the emissions, float32
        super().__init__(inputs=inputs, outputs=logits, name=name or "token_classifier", trainable=trainable)
        self._stride = None if stride is None else int(stride)
        if isinstance(preprocessor, TokenWindowPreprocessor) and stride is None:
            self._stride = preprocessor.stride
        elif isinstance(preprocessor, TokenWindowPreprocessor) and preprocessor.stride != self._stride:
            preprocessor = TokenWindowPreprocessor.from_preprocessor(preprocessor, self._stride)
        self._set_parts(backbone, preprocessor)
        self.head = head
        self.num_classes = int(num_classes)
        self.labels = labels
        self.scheme = scheme
        self.dropout = float(dropout)
        self.crf, self.crf_rules, self.crf_layer = bool(crf), bool(crf_rules), crf_layer
        self._continuation_cache = None        # (vocab size, bool [V]) computed on first use

    @Task.preprocessor.setter
    def preprocessor(self, value):
        if isinstance(value, BertPreprocessor) and not isinstance(value, TokenWindowPreprocessor):
            value = TokenWindowPreprocessor.from_preprocessor(value, self._stride)
        Task.preprocessor.fset(self, value)

    @property
    def stride(self):
        """The window stride as configured (None: derived from the sequence length, see :attr:`window_stride`)."""
        return self._stride if self.preprocessor is None else self.preprocessor.stride

    @property
    def window_stride(self) -> int:
        """The stride in use: ``stride`` or half the window (``sequence_length - 2`` tokens)."""
        return self._require_preprocessor().window_stride

    def _require_labels(self) -> LabelScheme:
        if self.scheme is None:
            raise TaskError(f"{type(self).__name__} {self.name!r} has no tag names (built with num_classes="
                            f"{self.num_classes} only): pass labels=[...] ('O', 'B-PER', ...) to decode entities "
                            f"or train on tags")
        return self.scheme

    def _continuation(self):
        """bool [V] constant: is the token a ``##`` continuation piece (read from the tokenizer on first use,
        so a model loaded from a .keras file reads the vocabulary restored from its assets)."""
        tok = self._require_preprocessor().tokenizer
        if self._continuation_cache is None or self._continuation_cache[0] != tok.vocab_size:
            self._continuation_cache = (tok.vocab_size, continuation_mask(tok.vocabulary))
        return tf.constant(self._continuation_cache[1])

    # -------------------------------------------------------------- recipe hooks
    def compile(self, *args, jit_compile="auto", **kwargs):
        if self.crf_layer is not None and jit_compile is True:
            raise TaskError("crf=True does not train under XLA (its loops over positions have no fixed length): "
                            "use jit_compile=False or 'auto'")
        super().compile(*args, jit_compile=jit_compile, **kwargs)

    def default_loss(self):
        if self.crf_layer is not None:
            return CrfLoss(self.crf_layer)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")

    def default_metrics(self):
        return []

    def default_weighted_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")]

    def default_samples(self):
        return ["Peter Blackburn visited São Paulo.", "José Müller-Lüdenscheidt vit à Zürich.", "李明住在北京。",
                "", "a much longer text " * 12]

    # -------------------------------------------------------------- raw data
    def word_examples(self, x, y=None):
        """Sentences, or word lists (+ tag lists) -> (texts: the words joined by single spaces, words, tag ids or
        None); a TaskError names the sentence (file:line for Sentences) and word of a bad tag."""
        if _is_sentences(x):
            if y is not None:
                raise TaskError("Sentences carry their tags: pass y=None")
            words, tags, where = [list(s.words) for s in x], [list(s.tags) for s in x], lambda i, j: x[i].where(j)
        elif _is_word_lists(x):
            words, where = [list(v) for v in x], lambda i, j: f"sentence {i} word {j}"
            tags = None if y is None else [list(t) if isinstance(t, (list, tuple, np.ndarray)) else t for t in y]
            if tags is not None and len(tags) != len(words):
                raise TaskError(f"{len(words)} word lists but {len(tags)} tag lists")
        else:
            raise TaskError("token classification trains on word lists + tag lists, or on a list of "
                            "keras_bert_zoo.data.conll.Sentence (raw strings have no word tags); got "
                            f"{type(x).__name__}")
        texts = [join_words(w)[0] for w in words]
        if tags is None:
            return texts, words, None
        index = {t: i for i, t in enumerate(self._require_labels().labels)}
        for i, (ws, ts) in enumerate(zip(words, tags)):
            if not isinstance(ts, list) or len(ts) != len(ws):
                raise TaskError(f"{where(i, 0)}: {len(ws)} words but "
                                f"{len(ts) if isinstance(ts, list) else type(ts).__name__} tags")
            bad = next((j for j, t in enumerate(ts) if t not in index), None)
            if bad is not None:
                raise TaskError(f"{where(i, bad)}: unknown tag {ts[bad]!r} (word {ws[bad]!r}); the model's tags "
                                f"are {self.scheme.labels}")
        return texts, words, [[index[t] for t in ts] for ts in tags]

    def from_records(self, x):
        """Sentences or word lists -> ({"text": the words joined by single spaces}, None) (``predict`` on them)."""
        return ({"text": self.word_examples(x)[0]}, None) if _is_sentences(x) or _is_word_lists(x) else None

    def encode_targets(self, y):
        """The targets :meth:`make_dataset` encodes ({"words", "tag_ids"}, ragged) pass as they are."""
        return y

    def make_dataset(self, x, y=None, sample_weight=None, **kwargs):
        """Word lists + tag lists, or Sentences -> the pipeline's ``tf.data.Dataset`` of ``(packed, labels,
        weights)`` batches of windows (labels / weights ``[b, t]``: each word's first sub-word carries its tag,
        weight 0 elsewhere). The tags are checked here (errors name the sentence and word); a dataset passes
        as it is (elements ``({"text"}, {"words", "tag_ids"})``). ``kwargs``: ``batch_size``, ``training``,
        ``seed``."""
        if not isinstance(x, tf.data.Dataset):
            texts, words, tag_ids = self.word_examples(x, y)
            if tag_ids is None:
                raise TaskError("training / evaluating a token classifier needs tags: pass y (one tag list per "
                                "word list) or Sentences")
            x, y = {"text": texts}, {"words": _ragged(words, tf.string), "tag_ids": _ragged(tag_ids, tf.int32)}
        return super().make_dataset(x, y, sample_weight, **kwargs)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """The raw-data hook: ``x`` {"text": string [b]} and ``y`` {"words": ragged string [b, (M)], "tag_ids":
        ragged int [b, (M)]} -> windows ``(packed [W, T], labels [W, T], weights [W, T])`` (see the module
        docstring); without ``y``: the packed windows only."""
        pre = self._require_preprocessor()
        if y is None:
            return self.trim(pre.windows(x["text"]).packed)
        _, starts = pre.join_words(y["words"])
        return pre.samples(x["text"], starts, y["tag_ids"], sample_weight)

    # -------------------------------------------------------------- serving (pure TF)
    def token_logits(self, texts):
        """Raw strings [B] -> (ids, byte starts, byte ends, logits), all ragged [B, (N)(, C)]."""
        view = self._require_preprocessor().windows(tf.convert_to_tensor(texts, tf.string))
        logits = self(self.trim(view.packed), training=False)
        return view.ids, view.starts, view.ends, W.tokens_from_windows(logits, view.windows, view.b_offset)

    def serving_fn(self, inputs):
        texts = tf.convert_to_tensor(inputs["text"] if isinstance(inputs, dict) else inputs, tf.string)
        scheme = self._require_labels()
        ids, starts, ends, logits = self.token_logits(texts)
        return decoding.decode_entities(texts, ids, starts, ends, logits, scheme, self._continuation(),
                                        self.crf_layer)

    def packed_serving_fn(self, packed):
        out = super().packed_serving_fn(packed)
        if self.crf_layer is not None:      # label_ids: the Viterbi path over the words (decoding/crf.py)
            cont = None if self.preprocessor is None else self._continuation()
            out["label_ids"] = crf_decoding.packed_tags(self.crf_layer, out["logits"], packed, cont)
        return out

    def postprocess(self, outputs):
        """Packed inputs (one window each) -> per-position ``logits``, ``probabilities``, ``label_ids``."""
        outputs = tf.cast(outputs, tf.float32)
        return {"logits": outputs, "probabilities": tf.nn.softmax(outputs, axis=-1),
                "label_ids": tf.argmax(outputs, axis=-1, output_type=tf.int32)}

    @property
    def entity_type_names(self) -> list:
        """Entity type names, index = ``entity_type_ids`` of the outputs (seqeval's types, sorted)."""
        return list(self._require_labels().types)

    # -------------------------------------------------------------- Python-side results
    def decode(self, outputs):
        out = []
        for i, n in enumerate(outputs["num_entities"]):
            out.append({"entities": [
                {"type": _s(outputs["entity_types"][i][j]), "start": int(outputs["entity_starts"][i][j]),
                 "end": int(outputs["entity_ends"][i][j]), "text": _s(outputs["entity_texts"][i][j]),
                 "score": float(outputs["entity_scores"][i][j])} for j in range(int(n))]})
        return out

    def _word_tag_ids(self, words):
        texts, starts = self._require_preprocessor().join_words(words)
        _, tok_starts, _, logits = self.token_logits(texts)
        return decoding.word_tag_ids(starts, tok_starts, logits, self._require_labels().o_id, self.crf_layer)

    def predict_word_tags(self, sentences_or_word_lists: Sequence, batch_size: int = 32) -> list[list[str]]:
        """Predicted tag strings for each sentence's words (Sentences or word lists; CoNLL evaluation)."""
        scheme = self._require_labels()
        items = [list(s.words) if isinstance(s, Sentence) else list(s) for s in sentences_or_word_lists]
        # a graph pays for its tracing only over several batches; tiny inputs run eagerly
        fn = (tf.function(self._word_tag_ids, reduce_retracing=True, autograph=False)
              if len(items) > 4 * batch_size else self._word_tag_ids)
        out = []
        for i in range(0, len(items), batch_size):
            ids = fn(_ragged(items[i:i + batch_size], tf.string))
            out.extend([[scheme.labels[k] for k in row] for row in ids.to_list()])
        return out


# ------------------------------------------------------------------ the task table (keras_bert_zoo.tasks.registry)
from keras_bert_zoo.data import task_files as _files  # noqa: E402
from keras_bert_zoo.tasks.registry import LegacyFormat, TaskSpec, register_task  # noqa: E402

_EVAL = "keras_bert_zoo.tasks.evaluation:"   # the built-in evaluators


def _tagger_args(train, args):
    """labels (the tags of the file, B-/I- pairs complete) unless given."""
    from keras_bert_zoo.data.conll import label_list

    return {} if args.get("labels") is not None else {"labels": label_list(train.records)}


register_task(TaskSpec(
    name="tag", task_class=TokenClassifier, hf_architecture="BertForTokenClassification",
    reader=_files.conll_reader, file_options=("word_column", "tag_column"), evaluator=_EVAL + "evaluate_tagger",
    task_flags=("dropout", "labels", "crf"), cli_flags=("attention_text", "attention_layer", "attention_head"),
    args_from_data=_tagger_args,
    legacy=LegacyFormat("BertTokenClassifier", ("stride",),
                        lambda meta, cfg: {"labels": meta["labels"], "dropout": cfg.get("dropout", 0.1)})))
