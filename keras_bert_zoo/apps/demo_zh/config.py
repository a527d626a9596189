"""The options of one `bert-zoo demo --lang zh` run (:class:`ZhDemoConfig`) and how its time budget is split."""

from __future__ import annotations

import dataclasses

from keras_bert_zoo.apps.from_scratch import ARMS

__all__ = ["ZhDemoConfig", "BUDGET_FRACTIONS", "budget_split", "SENTIMENT_LABELS", "NER_LABELS", "ARMS",
           "ATTENTION_SENTENCE"]

#: shares of the time budget. Fine-tuning gets more than half of what is enforced: with less, neither arm
#: is trained enough for the comparison to say anything (a 25-minute run that gave pretraining 45 % left NER at
#: ~0.5 epoch and entity F1 ~0.1 for both arms); NER (long paragraphs, 7 tags) gets twice sentiment's share.
#: "other" (corpora, vocabulary, tokenization, evaluation, the TF-IDF and CRF baselines, the attention map,
#: exports) is measured, not enforced: 576 s on 2 cores in the first 40-minute run (the CRF alone 357 s), so
#: 25 % of the default 40 minutes.
BUDGET_FRACTIONS = {"pretrain": 0.30, "finetune_sentiment": 0.15, "finetune_ner": 0.30, "other": 0.25}
SENTIMENT_LABELS = ["negative", "positive"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
ATTENTION_SENTENCE = "这家酒店的服务很好，但是房间太小了。"


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
