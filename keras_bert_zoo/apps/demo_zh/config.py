"""The options of one `bert-zoo demo --lang zh` run (:class:`ZhDemoConfig`) and how its time budget is split."""

from __future__ import annotations

import dataclasses

from keras_bert_zoo.apps.from_scratch import ARMS

__all__ = ["ZhDemoConfig", "BUDGET_FRACTIONS", "BUDGET_FRACTIONS_NO_CRF", "budget_fractions", "PROBE_FRACTION",
           "budget_split", "SENTIMENT_LABELS", "NER_LABELS", "ARMS", "ATTENTION_SENTENCE"]

#: shares of the time budget. Fine-tuning gets more than half of what is enforced: with less, neither arm
#: is trained enough for the comparison to say anything (a 25-minute run that gave pretraining 45 % left NER at
#: ~0.5 epoch and entity F1 ~0.1 for both arms); NER (long paragraphs, 7 tags) gets twice sentiment's share.
#: "other" (corpora, vocabulary, tokenization, evaluation, the TF-IDF and CRF baselines, the attention map,
#: exports) is measured, not enforced: 576 s on 2 cores in the first 40-minute run (the CRF alone 357 s), so
#: 25 % of the default 40 minutes.
BUDGET_FRACTIONS = {"pretrain": 0.30, "finetune_sentiment": 0.15, "finetune_ner": 0.30, "other": 0.25}
#: the same without the character CRF baseline (sklearn-crfsuite is a test extra: `pip install '.[demo]'` has
#: none): "other" took 201 s of 2,400 in the 40-minute fresh-venv run without it (exports 114 s, test evaluation
#: 51 s), so its CRF share goes to fine-tuning, where both tasks were still improving when their runs ended
BUDGET_FRACTIONS_NO_CRF = {"pretrain": 0.30, "finetune_sentiment": 0.20, "finetune_ner": 0.40, "other": 0.10}


def budget_fractions(crf_baseline: bool | None = None) -> dict:
    """:data:`BUDGET_FRACTIONS` when the CRF baseline will run (``None``: when sklearn-crfsuite is installed),
    else :data:`BUDGET_FRACTIONS_NO_CRF`."""
    if crf_baseline is None:
        import importlib.util

        crf_baseline = importlib.util.find_spec("sklearn_crfsuite") is not None
    return dict(BUDGET_FRACTIONS if crf_baseline else BUDGET_FRACTIONS_NO_CRF)


#: of a task's fine-tuning share, what the learning-rate probes get (short runs, one per arm x learning rate of
#: the grid); the rest is one long run per arm at the learning rate its probes chose (issue 28: 2 arms x 2
#: learning rates x ~1.2 epochs left every run under-trained)
PROBE_FRACTION = 0.2
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
    # the pretraining recipe (apps/demo_zh/pretrain.py). Measured (docs/notes/issue-28-pretrain.md): 40 %
    # per-character masking without NSP leaves the frequency plateau sooner than BERT's 15 % whole-word + NSP
    pretrain_masked_lm_prob: float = 0.4
    pretrain_whole_word_masking: bool = False
    pretrain_nsp: bool = False
    pretrain_batch_size: int = 32
    pretrain_warmup_fraction: float = 0.05
    lr_grid: tuple = (1e-4, 3e-4)                # sentiment fine-tuning LRs tried per arm
    ner_lr_grid: tuple = (3e-4, 1e-3)            # NER fine-tuning LRs tried per arm
    max_pretrain_documents: int = 0              # 0: all
    max_train_examples: int = 0                  # per task; 0: the whole training split
    max_eval_examples: int = 0                   # val and test, per task; 0: the whole split
    selection_examples: int = 600                # validation examples that choose the LR, stop early (0: all)
    evaluations_per_run: int = 8                 # validation scores along an arm's long run (early stopping)
    early_stopping_patience: int = 3             # evaluations without a better score before a long run stops
    ner_crf: bool = True                         # the NER tagger with a CRF head (TokenClassifier(crf=True))
    sentiment_windows: bool = True               # reviews longer than a window: sliding windows, mean logits
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
        if not 0.0 < self.pretrain_masked_lm_prob <= 0.8:
            raise ValueError(f"--pretrain_masked_lm_prob must be in (0, 0.8], got {self.pretrain_masked_lm_prob}")
        if not 0.0 <= self.pretrain_warmup_fraction < 1.0:
            raise ValueError(f"--pretrain_warmup_fraction must be in [0, 1), got {self.pretrain_warmup_fraction}")
        if self.pretrain_batch_size < 1 or self.pretrain_learning_rate <= 0:
            raise ValueError("--pretrain_batch_size and --pretrain_learning_rate must be positive, got "
                             f"{self.pretrain_batch_size}, {self.pretrain_learning_rate}")
        if self.evaluations_per_run < 1 or self.early_stopping_patience < 1:
            raise ValueError(f"--evaluations_per_run and --early_stopping_patience must be >= 1, got "
                             f"{self.evaluations_per_run}, {self.early_stopping_patience}")
        if self.heldout_batches < 1 or self.curve_points < 1:
            raise ValueError("--heldout_batches and --curve_points must be >= 1")


def budget_split(total_seconds: float, lr_grid_size: int, ner_lr_grid_size: int | None = None,
                 fractions=None, probe_fraction: float = PROBE_FRACTION) -> dict:
    """Seconds per phase: ``pretrain``; per task (``sentiment`` / ``ner``) ``<task>_probe`` (one learning-rate
    probe: one arm at one learning rate of the grid; ``<task>_probes`` of them, 2 arms x the grid's size) and
    ``<task>_run`` (one arm's long run at its chosen learning rate; ``<task>_runs`` = 2); ``other``. A grid of one
    learning rate needs no probe: its task's share goes to the long runs."""
    f = dict(BUDGET_FRACTIONS if fractions is None else fractions)
    if abs(sum(f.values()) - 1.0) > 1e-6:
        raise ValueError(f"budget fractions must sum to 1, got {sum(f.values())}")
    if not 0.0 < probe_fraction < 1.0:
        raise ValueError(f"probe_fraction must be in (0, 1), got {probe_fraction}")
    out = {"pretrain": total_seconds * f["pretrain"]}
    sizes = {"sentiment": lr_grid_size, "ner": lr_grid_size if ner_lr_grid_size is None else ner_lr_grid_size}
    for task, size in sizes.items():
        share = total_seconds * f[f"finetune_{task}"]
        probes = len(ARMS) * int(size) if int(size) > 1 else 0
        probing = probe_fraction if probes else 0.0
        out.update({f"{task}_probe": share * probing / probes if probes else 0.0, f"{task}_probes": probes,
                    f"{task}_run": share * (1.0 - probing) / len(ARMS), f"{task}_runs": len(ARMS)})
    out.update({"other": total_seconds * f["other"], "total": float(total_seconds)})
    return out
