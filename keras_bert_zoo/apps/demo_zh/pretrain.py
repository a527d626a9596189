"""The Chinese demo's pretraining step: MLM (+ NSP when ``cfg.pretrain_nsp``) for the pretraining share of the
budget (:func:`keras_bert_zoo.apps.from_scratch.pretrain_within_budget`), with the recipe of ``cfg``'s
``pretrain_*`` fields (masking rate, whole-word or per-character masking, NSP, batch size, peak learning rate and
warm-up).

The held-out curve does not depend on the recipe: the same validation-split documents are masked the same way for
every recipe (:data:`HELDOUT_MASKINGS`: 15 % whole-word masking, what the demo always reported as
``heldout_mlm_accuracy``, and 15 % per-character masking, BERT's task, as ``heldout_char_mlm_accuracy``), so the
curves of two recipes compare (``benchmarks/zh_curve.py --pretrain_recipes``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from keras_bert_zoo.apps.demo_zh.config import ZhDemoConfig

__all__ = ["pretrain", "HELDOUT_MASKINGS", "data_config", "tokenized", "heldout_batches", "build_model"]

#: the fixed held-out yardsticks: {metric prefix: whole-word masking?}, both at 15 % (BERT's rate)
HELDOUT_MASKINGS = {"heldout": True, "heldout_char": False}


def data_config(cfg: ZhDemoConfig, masked_lm_prob=None, whole_word_masking=None):
    """The pairs and masking of the recipe (or of a held-out yardstick when the two are given): room for every
    prediction the rate asks for (``ceil(T x rate)``; 20 at BERT's 15 % of 128)."""
    from keras_bert_zoo.data import pretraining as P

    rate = cfg.pretrain_masked_lm_prob if masked_lm_prob is None else masked_lm_prob
    wwm = cfg.pretrain_whole_word_masking if whole_word_masking is None else whole_word_masking
    return P.PretrainingDataConfig(max_seq_length=cfg.sequence_length,
                                   max_predictions_per_seq=max(1, math.ceil(cfg.sequence_length * rate)),
                                   masked_lm_prob=rate, whole_word_masking=wwm)


def tokenized(vocab, train_docs, heldout_docs):
    """(token ids, train documents, held-out documents, seconds): the documents tokenized with their word
    boundaries (the corpora's own segmentation, so whole-word masking has real words)."""
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.text import WordPieceTokenizer

    tokenizer = WordPieceTokenizer(vocab, lowercase=True)
    ids = P.TokenIds.from_vocabulary(vocab)
    t0 = time.perf_counter()
    docs = list(P.tokenize_documents(train_docs, tokenizer, ids, word_boundaries="whitespace"))
    held = list(P.tokenize_documents(heldout_docs, tokenizer, ids, word_boundaries="whitespace"))
    return ids, docs, held, time.perf_counter() - t0


def heldout_batches(cfg: ZhDemoConfig, ids, held):
    """{metric prefix: fixed (x, y, sample_weight) batches} of the held-out documents, one per yardstick of
    :data:`HELDOUT_MASKINGS` (the same pairs, batch size and seed whatever the recipe)."""
    from keras_bert_zoo.data import pretraining as P

    return {prefix: list(P.dynamic_dataset(held, ids, data_config(cfg, 0.15, wwm), 32, seed=cfg.seed + 7919,
                                           epochs=1, drop_remainder=False).take(cfg.heldout_batches))
            for prefix, wwm in HELDOUT_MASKINGS.items()}


def heldout_evaluation(model, batches):
    """() -> {"<prefix>_mlm_accuracy", "<prefix>_nsp_accuracy"} over every yardstick of :func:`heldout_batches`."""
    from keras_bert_zoo.apps.from_scratch import heldout_evaluator

    evaluators = {prefix: heldout_evaluator(model, b) for prefix, b in batches.items()}

    def evaluate():
        row = {}
        for prefix, evaluate_one in evaluators.items():
            row.update({k.replace("heldout", prefix, 1): v for k, v in evaluate_one().items()})
        return row

    return evaluate


def build_model(cfg: ZhDemoConfig, vocab_size, schedule):
    """The compiled pretrainer of the recipe (AdamW on ``schedule``, XLA; NSP weight 0 without NSP)."""
    import keras

    from keras_bert_zoo.config import BertConfig
    from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer
    from keras_bert_zoo.train.optimizers import BertAdamW

    config = BertConfig.from_name(cfg.pretrain_size).replace(vocab_size=vocab_size)
    keras.utils.set_random_seed(cfg.seed)
    model = build_pretrainer(config)
    optimizer = BertAdamW(learning_rate=schedule, weight_decay=0.01, beta_2=0.999, epsilon=1e-6,
                          global_clipnorm=1.0)
    return compile_pretrainer(model, optimizer, nsp_weight=1.0 if cfg.pretrain_nsp else 0.0, jit_compile=True)


def recipe_info(cfg: ZhDemoConfig) -> dict:
    d = data_config(cfg)
    return {"sequence_length": cfg.sequence_length, "batch_size": cfg.pretrain_batch_size,
            "peak_learning_rate": cfg.pretrain_learning_rate, "warmup_fraction": cfg.pretrain_warmup_fraction,
            "masked_lm_prob": cfg.pretrain_masked_lm_prob, "max_predictions_per_seq": d.max_predictions_per_seq,
            "whole_word_masking": cfg.pretrain_whole_word_masking, "nsp": cfg.pretrain_nsp}


def pretrain(cfg: ZhDemoConfig, vocab, train_docs, heldout_docs, budget_s, out: Path):
    """The recipe of ``cfg`` for ``budget_s`` seconds (tokenization included) -> (backbone, info)."""
    from keras_bert_zoo.apps.from_scratch import BudgetLinearDecay, pretrain_within_budget
    from keras_bert_zoo.data import pretraining as P

    ids, docs, held, tokenize_s = tokenized(vocab, train_docs, heldout_docs)
    heldout = heldout_batches(cfg, ids, held)
    schedule = BudgetLinearDecay(cfg.pretrain_learning_rate, warmup_fraction=cfg.pretrain_warmup_fraction)
    model = build_model(cfg, len(vocab), schedule)
    bsz = cfg.pretrain_batch_size

    def dataset():       # made after the first curve point, as the demo always did
        return P.dynamic_dataset(docs, ids, data_config(cfg), bsz, seed=cfg.seed, epochs=None)

    budget_s = max(budget_s - tokenize_s, 1.0)      # the phase's budget covers the tokenization too
    curve, fit_info = pretrain_within_budget(model, dataset, schedule, budget_s, heldout_evaluation(model, heldout),
                                             cfg.curve_points, bsz * cfg.sequence_length, out / "snapshots")
    model.backbone.save(str(out / "pretrained_backbone.keras"))
    last = curve.curve[-1]
    info = {"config": cfg.pretrain_size, "hidden_size": model.backbone.config.hidden_size,
            "num_layers": model.backbone.config.num_layers, "num_heads": model.backbone.config.num_heads,
            "parameters": int(model.backbone.count_params()), **recipe_info(cfg),
            "heldout_maskings": {p: {"masked_lm_prob": 0.15, "whole_word_masking": w}
                                 for p, w in HELDOUT_MASKINGS.items()},
            "documents": len(docs), "heldout_documents": len(held),
            "heldout_sequences": sum(int(b[0]["token_ids"].shape[0]) for b in heldout["heldout"]),
            "tokenize_seconds": round(tokenize_s, 1), "budget_seconds": round(budget_s, 1),
            "train_seconds": round(curve.seconds, 1), "steps": curve.steps,
            "tokens_per_second": round(curve.tokens_per_second, 1),
            "fit_wall_seconds": round(fit_info["seconds"], 1), "curve": curve.curve,
            "final_heldout_mlm_accuracy": last["heldout_mlm_accuracy"],
            "final_heldout_char_mlm_accuracy": last["heldout_char_mlm_accuracy"]}
    return model.backbone, info
