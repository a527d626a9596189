"""The Chinese demo's pretraining step: MLM + NSP with whole-word masking over the corpora's word boundaries, for
the pretraining share of the budget (:func:`keras_bert_zoo.apps.from_scratch.pretrain_within_budget`)."""

from __future__ import annotations

import time
from pathlib import Path

from keras_bert_zoo.apps.demo_zh.config import ZhDemoConfig

__all__ = ["pretrain"]


def _tokenized(cfg: ZhDemoConfig, vocab, train_docs, heldout_docs):
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.text import WordPieceTokenizer

    tokenizer = WordPieceTokenizer(vocab, lowercase=True)
    ids = P.TokenIds.from_vocabulary(vocab)
    t0 = time.perf_counter()
    docs = list(P.tokenize_documents(train_docs, tokenizer, ids, word_boundaries="whitespace"))
    held = list(P.tokenize_documents(heldout_docs, tokenizer, ids, word_boundaries="whitespace"))
    tokenize_end = time.perf_counter()
    data_cfg = P.PretrainingDataConfig(max_seq_length=cfg.sequence_length, max_predictions_per_seq=20,
                                       whole_word_masking=True)
    tokenize_s = tokenize_end - t0
    heldout = list(P.dynamic_dataset(held, ids, data_cfg, cfg.batch_size, seed=cfg.seed + 7919, epochs=1,
                                     drop_remainder=False).take(cfg.heldout_batches))

    def dataset():       # made after the first curve point, as the demo always did
        return P.dynamic_dataset(docs, ids, data_cfg, cfg.batch_size, seed=cfg.seed, epochs=None)

    return docs, held, heldout, dataset, tokenize_s


def pretrain(cfg: ZhDemoConfig, vocab, train_docs, heldout_docs, budget_s, out: Path):
    """MLM + NSP with whole-word masking for ``budget_s`` seconds (tokenization included) -> (backbone, info)."""
    import keras

    from keras_bert_zoo.apps.from_scratch import BudgetLinearDecay, heldout_evaluator, pretrain_within_budget
    from keras_bert_zoo.config import BertConfig
    from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer
    from keras_bert_zoo.train.optimizers import BertAdamW

    docs, held, heldout, dataset, tokenize_s = _tokenized(cfg, vocab, train_docs, heldout_docs)
    config = BertConfig.from_name(cfg.pretrain_size).replace(vocab_size=len(vocab))
    keras.utils.set_random_seed(cfg.seed)
    model = build_pretrainer(config)
    schedule = BudgetLinearDecay(cfg.pretrain_learning_rate)
    optimizer = BertAdamW(learning_rate=schedule, weight_decay=0.01, beta_2=0.999, epsilon=1e-6,
                          global_clipnorm=1.0)
    compile_pretrainer(model, optimizer, jit_compile=True)
    tokens_per_step = cfg.batch_size * cfg.sequence_length
    budget_s = max(budget_s - tokenize_s, 1.0)      # the phase's budget covers the tokenization too
    curve, fit_info = pretrain_within_budget(model, dataset, schedule, budget_s, heldout_evaluator(model, heldout),
                                             cfg.curve_points, tokens_per_step, out / "snapshots")
    model.backbone.save(str(out / "pretrained_backbone.keras"))
    info = {"config": cfg.pretrain_size, "hidden_size": config.hidden_size, "num_layers": config.num_layers,
            "num_heads": config.num_heads, "parameters": int(model.backbone.count_params()),
            "sequence_length": cfg.sequence_length, "batch_size": cfg.batch_size,
            "peak_learning_rate": cfg.pretrain_learning_rate, "whole_word_masking": True,
            "documents": len(docs), "heldout_documents": len(held),
            "heldout_sequences": sum(int(b[0]["token_ids"].shape[0]) for b in heldout),
            "tokenize_seconds": round(tokenize_s, 1), "budget_seconds": round(budget_s, 1),
            "train_seconds": round(curve.seconds, 1), "steps": curve.steps,
            "tokens_per_second": round(curve.tokens_per_second, 1),
            "fit_wall_seconds": round(fit_info["seconds"], 1), "curve": curve.curve,
            "final_heldout_mlm_accuracy": curve.curve[-1]["heldout_mlm_accuracy"]}
    return model.backbone, info
