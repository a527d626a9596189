"""`bert-zoo pretrain`: MLM + NSP pretraining from scratch, or continued pretraining of a checkpoint.

From TFRecord shards (static masking, `bert-zoo make-pretraining-data`):

    bert-zoo pretrain --data=data/pretrain --config=bert_uncased_L-4_H-256_A-4 --vocab=vocab.txt \\
        --output_dir=runs/pretrain --batch_size=64 --max_seq_length=128 --steps_per_epoch=1000 --epochs=10

From raw text with dynamic masking (new masks every epoch):

    bert-zoo pretrain --corpus=corpus.txt --corpus_format=plain --vocab=vocab.txt --config=config.json ...

Continued pretraining of a checkpoint (a preset name, a checkpoint directory the converters read, or a
``.keras`` backbone/pretrainer): ``--init_from=NAME_OR_PATH`` (its vocabulary is used unless --vocab).

Writes ``output_dir/backbone.keras``, ``pretrainer.keras``, ``summary.json`` (throughput, final metrics), the same
weights as a Hugging Face checkpoint (``config.json``, ``model.safetensors``, ``vocab.txt``,
``tokenizer_config.json`` with the casing) — so ``output_dir`` is a ``--preset`` for ``bert-zoo finetune`` /
``demo`` / ``convert`` and an ``--init_from`` for the next pretraining run — and, per epoch,
``output_dir/checkpoints/`` (re-running the same command resumes there).

Continued pretraining, then fine-tuning on the same domain:

    bert-zoo pretrain --init_from=minilm_l6_h384_uncased --corpus=tweets.txt --corpus_format=plain \\
        --max_seq_length=64 --output_dir=runs/cpt --steps_per_epoch=100 --epochs=4
    bert-zoo finetune --preset=runs/cpt --train=train.csv --eval=val.csv --out=runs/clf
"""

import json
import os

from absl import flags

_DATA = flags.DEFINE_string("data", None, "TFRecord shards: a directory or a glob (static mode).")
_CORPUS = flags.DEFINE_list("corpus", None, "Raw corpus files (dynamic mode).")
_CORPUS_FORMAT = flags.DEFINE_enum("corpus_format", "bert", ["bert", "plain"], "Format of --corpus.")
_VOCAB = flags.DEFINE_string("vocab", None, "vocab.txt (required unless --init_from brings one).")
_LOWERCASE = flags.DEFINE_bool("lowercase", True, "Lower-case (dynamic mode tokenization).")
_CONFIG = flags.DEFINE_string("config", None, "Named size (bert-zoo info) or a config JSON (HF or Google).")
_INIT = flags.DEFINE_string("init_from", None, "Continue pretraining this preset / checkpoint dir / .keras file.")
_OUTPUT = flags.DEFINE_string("output_dir", None, "Output directory.", required=True)
_BATCH = flags.DEFINE_integer("batch_size", 32, "Global batch size.")
_MAX_SEQ = flags.DEFINE_integer("max_seq_length", 128, "Padded sequence length.")
_MAX_PRED = flags.DEFINE_integer("max_predictions_per_seq", 20, "Padded number of predictions.")
_WWM = flags.DEFINE_bool("whole_word_masking", False, "Dynamic mode: mask whole words.")
_STEPS = flags.DEFINE_integer("steps_per_epoch", 1000, "Steps per epoch (checkpoint interval).")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Epochs.")
_LR = flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
_WARMUP = flags.DEFINE_integer("warmup_steps", None, "Warm-up steps (default 1% of all steps).")
_OPT = flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "Optimizer.")
_WD = flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm / bias).")
_PRECISION = flags.DEFINE_enum("mixed_precision", "none", ["none", "bfloat16", "float16"], "Mixed precision.")
_JIT = flags.DEFINE_bool("jit_compile", True, "Compile the train step with XLA.")
_BUDGET = flags.DEFINE_float("time_budget_s", None, "Stop after this many seconds.")
_SEED = flags.DEFINE_integer("seed", 12345, "Seed for dynamic pairs/masks and shuffling.")


def _config(value):
    from keras_bert_zoo.config import BertConfig

    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            raw = json.load(f)
        if "model_type" in raw or "architectures" in raw:
            return BertConfig.from_hf_dict(raw)
        return BertConfig.from_google_dict(raw) if "num_hidden_layers" in raw else BertConfig.from_dict(raw)
    return BertConfig.from_name(value)


def _initial_model(vocab_size):
    """(pretrainer, vocabulary or None) for --init_from or --config."""
    import keras


    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks.pretrainer import Pretrainer
    from keras_bert_zoo.tasks.pretrainer import build_pretrainer

    dtype = None if _PRECISION.value == "none" else f"mixed_{_PRECISION.value}"
    if _INIT.value:
        if _INIT.value.endswith(".keras"):
            loaded = keras.saving.load_model(_INIT.value, safe_mode=True)
            if isinstance(loaded, Pretrainer):
                return loaded, None
            if not isinstance(loaded, BertBackbone):
                loaded = loaded.backbone
            return build_pretrainer(loaded), None
        from keras_bert_zoo import presets

        from keras_bert_zoo.tasks import task_models

        model, tokenizer = presets.from_preset(_INIT.value, model_classes=task_models())
        if isinstance(model, Pretrainer):
            return model, getattr(tokenizer, "vocabulary", None)
        backbone = model if isinstance(model, BertBackbone) else model.backbone
        return build_pretrainer(backbone), getattr(tokenizer, "vocabulary", None)
    if not _CONFIG.value:
        raise SystemExit("pretrain: give --config (from scratch) or --init_from (continued pretraining)")
    config = _config(_CONFIG.value)
    if vocab_size is not None and config.vocab_size != vocab_size:
        config = config.replace(vocab_size=vocab_size)
    if config.max_position_embeddings < _MAX_SEQ.value:
        raise SystemExit(f"pretrain: max_seq_length {_MAX_SEQ.value} > max_position_embeddings "
                         f"{config.max_position_embeddings}")
    return build_pretrainer(config, dtype=dtype), None


def _save(model, path):
    """Atomic: save next to ``path`` under a unique temporary name (same suffix: Keras checks it), then rename."""
    from keras_bert_zoo import cache

    with cache.atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        model.save(str(tmp))


def main(argv):
    del argv

    from keras_bert_zoo.convert.hf import export_hf
    from keras_bert_zoo.data import corpus
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.tasks.pretrainer import compile_pretrainer
    from keras_bert_zoo.text import WordPieceTokenizer, load_vocabulary
    from keras_bert_zoo.train import pretraining as TP

    if bool(_DATA.value) == bool(_CORPUS.value):
        raise SystemExit("pretrain: give exactly one of --data (TFRecord shards) or --corpus (raw text)")
    os.makedirs(_OUTPUT.value, exist_ok=True)
    vocabulary = load_vocabulary(_VOCAB.value) if _VOCAB.value else None
    model, init_vocab = _initial_model(len(vocabulary) if vocabulary else None)
    vocabulary = vocabulary or (list(init_vocab) if init_vocab is not None else None)
    if vocabulary is None:
        raise SystemExit("pretrain: no vocabulary: give --vocab")
    if len(vocabulary) != model.backbone.config.vocab_size:
        raise SystemExit(f"pretrain: the vocabulary has {len(vocabulary)} tokens, the model "
                         f"{model.backbone.config.vocab_size}")
    config = P.PretrainingDataConfig(max_seq_length=_MAX_SEQ.value, max_predictions_per_seq=_MAX_PRED.value,
                                     whole_word_masking=_WWM.value)
    ids = P.TokenIds.from_vocabulary(vocabulary)
    if _DATA.value:
        dataset = P.tfrecord_dataset(_DATA.value, config, _BATCH.value, pad_id=ids.pad_id, seed=_SEED.value)
    else:
        tokenizer = WordPieceTokenizer(vocabulary, lowercase=_LOWERCASE.value)
        docs = list(P.tokenize_documents(corpus.iter_documents(_CORPUS.value, _CORPUS_FORMAT.value), tokenizer,
                                         ids))
        dataset = P.dynamic_dataset(docs, ids, config, _BATCH.value, seed=_SEED.value)
    total = _STEPS.value * _EPOCHS.value
    optimizer = TP.make_pretraining_optimizer(_OPT.value, learning_rate=_LR.value, total_steps=total,
                                              warmup_steps=_WARMUP.value, weight_decay=_WD.value)
    compile_pretrainer(model, optimizer, jit_compile=_JIT.value)
    history, info = TP.fit_pretrainer(model, dataset, _STEPS.value, _EPOCHS.value,
                                      checkpoint_dir=os.path.join(_OUTPUT.value, "checkpoints"),
                                      time_budget_s=_BUDGET.value,
                                      tokens_per_step=_BATCH.value * _MAX_SEQ.value)
    _save(model, os.path.join(_OUTPUT.value, "pretrainer.keras"))
    _save(model.backbone, os.path.join(_OUTPUT.value, "backbone.keras"))
    # the directory is also a checkpoint every command reads (--preset / --init_from DIR): Hugging Face files
    export_hf(model, _OUTPUT.value, vocabulary=vocabulary, lowercase=_LOWERCASE.value)
    summary = {"final": {k: v[-1] for k, v in history.history.items()}, **info,
               "config": model.backbone.config.to_dict(), "batch_size": _BATCH.value,
               "max_seq_length": _MAX_SEQ.value}
    with open(os.path.join(_OUTPUT.value, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, default=float)
    print(json.dumps(summary, indent=1, default=float))
