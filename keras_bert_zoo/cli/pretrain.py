"""`bert-zoo pretrain`: MLM + NSP pretraining from scratch, or continued pretraining of a checkpoint.

From TFRecord shards (static masking, `bert-zoo make-pretraining-data`):

    bert-zoo pretrain --data=data/pretrain --config=bert_uncased_L-4_H-256_A-4 --vocab=vocab.txt \\
        --out=runs/pretrain --batch_size=64 --sequence_length=128 --steps_per_epoch=1000 --epochs=10

From raw text with dynamic masking (new masks every epoch):

    bert-zoo pretrain --corpus=corpus.txt --corpus_format=plain --vocab=vocab.txt --config=config.json ...

Continued pretraining of a checkpoint (a preset name, a checkpoint directory the converters read, or a
``.keras`` backbone/pretrainer): ``--init_from=NAME_OR_PATH`` (its vocabulary is used unless --vocab).

Writes ``out/backbone.keras``, ``pretrainer.keras``, ``summary.json`` (throughput, final metrics), the same
weights as a Hugging Face checkpoint (``config.json``, ``model.safetensors``, ``vocab.txt``,
``tokenizer_config.json`` with the casing) — so ``out`` is a ``--preset`` for ``bert-zoo finetune`` /
``demo`` / ``convert`` and an ``--init_from`` for the next pretraining run — and, per epoch,
``out/checkpoints/`` (re-running the same command resumes there).

Continued pretraining, then fine-tuning on the same domain:

    bert-zoo pretrain --init_from=minilm_l6_h384_uncased --corpus=tweets.txt --corpus_format=plain \\
        --sequence_length=64 --out=runs/cpt --steps_per_epoch=100 --epochs=4
    bert-zoo finetune --preset=runs/cpt --train=train.csv --eval=val.csv --out=runs/clf
"""

import dataclasses
import json
import os

from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError

flags.DEFINE_string("data", None, "TFRecord shards: a directory or a glob (static mode).")
flags.DEFINE_list("corpus", None, "Raw corpus files (dynamic mode).")
flags.DEFINE_enum("corpus_format", "bert", ["bert", "plain"], "Format of --corpus.")
flags.DEFINE_string("vocab", None, "vocab.txt (required unless --init_from brings one).")
flags.DEFINE_bool("lowercase", True, "Lower-case (dynamic mode tokenization).")
flags.DEFINE_string("config", None, "Named size (bert-zoo info) or a config JSON (HF or Google).")
flags.DEFINE_string("init_from", None, "Continue pretraining this preset / checkpoint dir / .keras file.")
options.define("out", "batch_size", "sequence_length", "mixed_precision", "seed", seed=12345,
               sequence_length_help="Padded sequence length.",
               seed_help="Seed for dynamic pairs/masks and shuffling.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Padded number of predictions.")
flags.DEFINE_bool("whole_word_masking", False, "Dynamic mode: mask whole words.")
flags.DEFINE_integer("steps_per_epoch", 1000, "Steps per epoch (checkpoint interval).")
flags.DEFINE_integer("epochs", 10, "Epochs.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
flags.DEFINE_integer("warmup_steps", None, "Warm-up steps (default 1% of all steps).")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "Optimizer.")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm / bias).")
flags.DEFINE_bool("jit_compile", True, "Compile the train step with XLA.")
flags.DEFINE_float("time_budget_s", None, "Stop after this many seconds.")
options.define_alias("output_dir", "out")
options.define_alias("max_seq_length", "sequence_length")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """One `bert-zoo pretrain` run (the flags of the same names)."""

    out: str
    data: str | None = None
    corpus: tuple | None = None
    corpus_format: str = "bert"
    vocab: str | None = None
    lowercase: bool = True
    config: str | None = None
    init_from: str | None = None
    batch_size: int = 32
    sequence_length: int = 128
    max_predictions_per_seq: int = 20
    whole_word_masking: bool = False
    steps_per_epoch: int = 1000
    epochs: int = 10
    learning_rate: float = 1e-4
    warmup_steps: int | None = None
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    mixed_precision: str = "auto"
    jit_compile: bool = True
    time_budget_s: float | None = None
    seed: int = 12345


def _config(value):
    from keras_bert_zoo.config import BertConfig

    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            raw = json.load(f)
        if "model_type" in raw or "architectures" in raw:
            return BertConfig.from_hf_dict(raw)
        return BertConfig.from_google_dict(raw) if "num_hidden_layers" in raw else BertConfig.from_dict(raw)
    return BertConfig.from_name(value)


def _continued(init_from):
    """(pretrainer, vocabulary or None) of --init_from: a .keras file, a preset or a checkpoint directory."""
    import keras

    from keras_bert_zoo import presets
    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks.pretrainer import Pretrainer, build_pretrainer

    if init_from.endswith(".keras"):
        loaded = keras.saving.load_model(init_from, safe_mode=True)
        if isinstance(loaded, Pretrainer):
            return loaded, None
        return build_pretrainer(loaded if isinstance(loaded, BertBackbone) else loaded.backbone), None
    model, tokenizer = presets.from_preset(init_from)
    if isinstance(model, Pretrainer):
        return model, getattr(tokenizer, "vocabulary", None)
    backbone = model if isinstance(model, BertBackbone) else model.backbone
    return build_pretrainer(backbone), getattr(tokenizer, "vocabulary", None)


def _initial_model(run: PretrainConfig, vocab_size):
    """(pretrainer, vocabulary or None) for --init_from or --config."""
    from keras_bert_zoo.tasks.pretrainer import build_pretrainer

    if run.init_from:
        return _continued(run.init_from)
    if not run.config:
        raise UsageError("give --config (from scratch) or --init_from (continued pretraining)")
    config = _config(run.config)
    if vocab_size is not None and config.vocab_size != vocab_size:
        config = config.replace(vocab_size=vocab_size)
    if config.max_position_embeddings < run.sequence_length:
        raise UsageError(f"--sequence_length {run.sequence_length} > max_position_embeddings "
                         f"{config.max_position_embeddings} of --config {run.config}")
    from keras_bert_zoo.train.distribute import resolve_precision

    policy = resolve_precision(run.mixed_precision)
    dtype = None if policy == "float32" else policy
    return build_pretrainer(config, dtype=dtype), None


def _save(model, path):
    """Atomic: save next to ``path`` under a unique temporary name (same suffix: Keras checks it), then rename."""
    from keras_bert_zoo import cache

    with cache.atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        model.save(str(tmp))


def _dataset(run: PretrainConfig, vocabulary):
    """The MLM + NSP batches: TFRecord shards (--data) or dynamic masking of a raw corpus (--corpus)."""
    from keras_bert_zoo.data import corpus
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.text import WordPieceTokenizer

    config = P.PretrainingDataConfig(max_seq_length=run.sequence_length,
                                     max_predictions_per_seq=run.max_predictions_per_seq,
                                     whole_word_masking=run.whole_word_masking)
    ids = P.TokenIds.from_vocabulary(vocabulary)
    if run.data:
        return P.tfrecord_dataset(run.data, config, run.batch_size, pad_id=ids.pad_id, seed=run.seed)
    tokenizer = WordPieceTokenizer(vocabulary, lowercase=run.lowercase)
    docs = list(P.tokenize_documents(corpus.iter_documents(list(run.corpus), run.corpus_format), tokenizer, ids))
    return P.dynamic_dataset(docs, ids, config, run.batch_size, seed=run.seed)


def run_pretrain(run: PretrainConfig) -> dict:
    """Pretrain, save (Keras files, a Hugging Face checkpoint, summary.json); returns the summary. One run per
    --out at a time (:func:`~keras_bert_zoo.train.run_dir.claim_run_dir`)."""
    from keras_bert_zoo.train.run_dir import claim_run_dir

    if not run.out:
        raise UsageError("--out is required")
    with claim_run_dir(run.out, owner="bert-zoo pretrain", flag="--out"):
        return _pretrain(run)


def _pretrain(run: PretrainConfig) -> dict:
    from keras_bert_zoo import cache
    from keras_bert_zoo.convert.hf import export_hf
    from keras_bert_zoo.tasks.pretrainer import compile_pretrainer
    from keras_bert_zoo.text import load_vocabulary
    from keras_bert_zoo.train import pretraining as TP

    if not run.out:
        raise UsageError("--out is required")
    if bool(run.data) == bool(run.corpus):
        raise UsageError("give exactly one of --data (TFRecord shards) or --corpus (raw text)")
    os.makedirs(run.out, exist_ok=True)
    vocabulary = load_vocabulary(run.vocab) if run.vocab else None
    model, init_vocab = _initial_model(run, len(vocabulary) if vocabulary else None)
    vocabulary = vocabulary or (list(init_vocab) if init_vocab is not None else None)
    if vocabulary is None:
        raise UsageError("no vocabulary: give --vocab")
    if len(vocabulary) != model.backbone.config.vocab_size:
        raise UsageError(f"--vocab: the vocabulary has {len(vocabulary)} tokens, the model "
                         f"{model.backbone.config.vocab_size}")
    dataset = _dataset(run, vocabulary)
    optimizer = TP.make_pretraining_optimizer(run.optimizer, learning_rate=run.learning_rate,
                                              total_steps=run.steps_per_epoch * run.epochs,
                                              warmup_steps=run.warmup_steps, weight_decay=run.weight_decay)
    compile_pretrainer(model, optimizer, jit_compile=run.jit_compile)
    history, info = TP.fit_pretrainer(model, dataset, run.steps_per_epoch, run.epochs,
                                      checkpoint_dir=os.path.join(run.out, "checkpoints"),
                                      time_budget_s=run.time_budget_s,
                                      tokens_per_step=run.batch_size * run.sequence_length)
    _save(model, os.path.join(run.out, "pretrainer.keras"))
    _save(model.backbone, os.path.join(run.out, "backbone.keras"))
    # the directory is also a checkpoint every command reads (--preset / --init_from DIR): Hugging Face files
    export_hf(model, run.out, vocabulary=vocabulary, lowercase=run.lowercase)
    summary = {"final": {k: v[-1] for k, v in history.history.items()}, **info,
               "config": model.backbone.config.to_dict(), "batch_size": run.batch_size,
               "max_seq_length": run.sequence_length}
    with cache.atomic_write(os.path.join(run.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, default=float)
    print(json.dumps(summary, indent=1, default=float))
    return summary


def main(argv):
    del argv
    options.resolve_aliases()
    names = [f.name for f in dataclasses.fields(PretrainConfig)]
    values = {name: FLAGS[name].value for name in names}
    values["corpus"] = tuple(values["corpus"]) if values["corpus"] else None
    run_pretrain(PretrainConfig(**values))
