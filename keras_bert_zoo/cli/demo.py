"""`bert-zoo demo`: fine-tune the real pretrained MiniLM on the real tweet sentiment corpus, offline, on CPU;
`bert-zoo demo --lang zh`: the Chinese path (pretrain a small BERT, fine-tune sentiment and NER, baselines,
exports) within one time budget.

    bert-zoo demo                      # ~1,050 CPU-seconds: about 10-15 minutes on 2 idle CPU cores
    bert-zoo demo --train_examples 2000 --epochs 1   # a quicker look
    bert-zoo demo --lang zh            # --time_budget_min 40 (2 CPU cores); writes runs/demo_zh/

This command only reads its flags, once, into the app's config and runs the app:
:mod:`keras_bert_zoo.apps.demo_en` (``EnDemoConfig`` -> ``run_en_demo``: the corpus split, fine-tuning with the
recipe, the test report, the TF-IDF baselines, plots, the SavedModel export) or :mod:`keras_bert_zoo.apps.demo_zh`
(``ZhDemoConfig`` -> ``run_zh_demo``).
"""

import sys

from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError

flags.DEFINE_enum("lang", "en", ["en", "zh"], "en: MiniLM on English tweets; zh: the Chinese path (below).")
options.define("out", "sequence_length", "mixed_precision", "seed", "batch_size", sequence_length=None,
               out_help="Output directory (default: runs/demo_tweet_sentiment; --lang zh: runs/demo_zh).",
               sequence_length_help="Packed sequence length (default: 64, tweets are short; --lang zh: 128, longer "
                                    "texts are covered by sliding windows).",
               mixed_precision_help="Compute dtype policy of the fine-tuning, as in `bert-zoo finetune` (bf16 pays "
                                    "off on CPUs with AVX512-BF16 or AMX).",
               seed_help="Seed of the training (initialisation, dropout, batch order); --lang zh: also of the "
                         "splits.")
flags.DEFINE_string("preset", "minilm_l6_h384_uncased", "Preset name or checkpoint directory.")
flags.DEFINE_string("corpus", None, "Path of the corpus CSV (default: fetched through the preset cache).")
flags.DEFINE_integer("train_examples", 15000, "Stratified training subset (0: the whole training split).")
flags.DEFINE_integer("val_examples", 400, "Stratified validation subset (0: the whole validation split).")
flags.DEFINE_integer("test_examples", 0, "Stratified test subset (0: the whole test split, 3,816 tweets).")
flags.DEFINE_integer("epochs", 1, "Epochs.")
flags.DEFINE_float("learning_rate", 8e-5, "Peak learning rate.")
flags.DEFINE_float("layer_decay", 1.0, "Layer-wise learning-rate decay (1.0: off), as in `bert-zoo finetune`.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_string("class_weight", "balanced", "'balanced' or 'none'.")
flags.DEFINE_integer("split_seed", 0, "Seed of the train/val/test split and subsets (fixed by default, so runs "
                     "with different --seed values are scored on the same test tweets).")
flags.DEFINE_string("export", "saved_models", "SavedModel export root ('' to skip).")
flags.DEFINE_string("export_name", "tweet_sentiment", "Model name under the export root.")
flags.DEFINE_bool("baseline", True, "Also train the TF-IDF + logistic-regression baseline (scikit-learn); "
                  "--lang zh: the character TF-IDF + LR and (if installed) the character CRF.")
# --lang zh only (keras_bert_zoo.apps.demo_zh)
flags.DEFINE_float("time_budget_min", 40.0, "--lang zh: the whole run's time budget in minutes, split over the "
                   "phases by fixed fractions (demo_zh.BUDGET_FRACTIONS: pretraining 30%, sentiment 15%, NER 30%, "
                   "the rest 25%: corpora, vocabulary, evaluation, baselines, exports; without the CRF baseline "
                   "(sklearn-crfsuite not installed) sentiment 20%, NER 40%, the rest 10%).")
flags.DEFINE_string("pretrain_size", "bert_uncased_L-2_H-128", "--lang zh: named BERT size (bert-zoo info) to "
                    "pretrain from scratch (the vocabulary size is the learned vocabulary's).")
flags.DEFINE_float("pretrain_learning_rate", 1e-3, "--lang zh: peak pretraining learning rate.")
flags.DEFINE_list("lr_grid", ["1e-4", "3e-4"], "--lang zh: sentiment fine-tuning learning rates tried per "
                  "arm (the best on validation is kept).")
flags.DEFINE_list("ner_lr_grid", ["3e-4", "1e-3"], "--lang zh: NER fine-tuning learning rates tried per arm (the "
                  "best on validation is kept).")
flags.DEFINE_integer("max_pretrain_documents", 0, "--lang zh: cap on pretraining documents (0: all).")
flags.DEFINE_integer("max_train_examples", 0, "--lang zh: cap on fine-tuning examples per task (0: all).")
flags.DEFINE_integer("max_eval_examples", 0, "--lang zh: cap on validation and test examples per task (0: all).")
flags.DEFINE_integer("curve_points", 6, "--lang zh: held-out MLM accuracy measurements during pretraining.")
flags.DEFINE_bool("tflite", True, "--lang zh: also export TFLite models (a refusal is recorded, not fatal).")
flags.DEFINE_bool("ner_crf", True, "--lang zh: a CRF head on the NER tagger (--noner_crf: softmax per character).")
flags.DEFINE_bool("sentiment_windows", True, "--lang zh: long reviews as sliding windows with averaged logits "
                  "(--nosentiment_windows: truncated to one window).")

FLAGS = flags.FLAGS

#: flags of one language's path only (the others apply to both)
EN_FLAGS = ("preset", "corpus", "train_examples", "val_examples", "test_examples", "epochs", "learning_rate",
            "class_weight", "export_name", "layer_decay", "mixed_precision")
ZH_FLAGS = ("time_budget_min", "pretrain_size", "pretrain_learning_rate", "lr_grid", "ner_lr_grid",
            "max_pretrain_documents", "max_train_examples", "max_eval_examples", "curve_points", "tflite", "ner_crf",
            "sentiment_windows")


def check_lang_flags():
    """Flags of the other language's path are refused (one line naming them), as finetune does per task."""
    other = EN_FLAGS if FLAGS.lang == "zh" else ZH_FLAGS
    wrong = [name for name in other if FLAGS[name].present]
    if wrong:
        raise UsageError(f"flag(s) {', '.join('--' + w for w in wrong)} do not apply to --lang={FLAGS.lang}")


def en_config_from_flags():
    """The flags of `bert-zoo demo` as one apps.demo_en.EnDemoConfig."""
    from keras_bert_zoo.apps.demo_en import EnDemoConfig

    return EnDemoConfig(out=FLAGS.out or "runs/demo_tweet_sentiment", preset=FLAGS.preset, corpus=FLAGS.corpus,
                        train_examples=FLAGS.train_examples, val_examples=FLAGS.val_examples,
                        test_examples=FLAGS.test_examples, sequence_length=FLAGS.sequence_length or 64,
                        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, learning_rate=FLAGS.learning_rate,
                        layer_decay=FLAGS.layer_decay, mixed_precision=FLAGS.mixed_precision,
                        class_weight=None if FLAGS.class_weight in ("", "none") else FLAGS.class_weight,
                        seed=FLAGS.seed, split_seed=FLAGS.split_seed, export=FLAGS.export or "",
                        export_name=FLAGS.export_name, baseline=FLAGS.baseline)


def zh_learning_rate_grids() -> dict:
    """--lr_grid / --ner_lr_grid as tuples of floats (checked before anything imports TensorFlow)."""
    grids = {}
    for name in ("lr_grid", "ner_lr_grid"):
        try:
            grids[name] = tuple(float(v) for v in FLAGS[name].value)
        except ValueError:
            raise UsageError(f"--{name} must be numbers, got {','.join(FLAGS[name].value)}") from None
    return grids


def zh_config_from_flags():
    """The flags of `bert-zoo demo --lang zh` as one apps.demo_zh.ZhDemoConfig."""
    grids = zh_learning_rate_grids()
    from keras_bert_zoo.apps.demo_zh import ZhDemoConfig

    return ZhDemoConfig(out=FLAGS.out or "runs/demo_zh", export=FLAGS.export or "",
                        time_budget_min=FLAGS.time_budget_min, pretrain_size=FLAGS.pretrain_size,
                        sequence_length=FLAGS.sequence_length or 128, batch_size=FLAGS.batch_size,
                        pretrain_learning_rate=FLAGS.pretrain_learning_rate, **grids,
                        max_pretrain_documents=FLAGS.max_pretrain_documents,
                        max_train_examples=FLAGS.max_train_examples, max_eval_examples=FLAGS.max_eval_examples,
                        curve_points=FLAGS.curve_points, baseline=FLAGS.baseline, tflite=FLAGS.tflite,
                        ner_crf=FLAGS.ner_crf, sentiment_windows=FLAGS.sentiment_windows, seed=FLAGS.seed)


def main(argv):
    del argv
    check_lang_flags()
    if FLAGS.lang == "zh":
        config = zh_config_from_flags()
        from keras_bert_zoo.apps import demo_zh

        summary = demo_zh.run_zh_demo(config)
        failed = demo_zh.failed_exports(summary)
        if failed:
            print("bert-zoo demo --lang zh: training and reports are saved, but export(s) failed: "
                  + "; ".join(failed), file=sys.stderr)
            return 1
        return 0
    from keras_bert_zoo.apps.demo_en import run_en_demo

    summary = run_en_demo(en_config_from_flags())
    if summary.get("saved_model_error"):
        print("bert-zoo demo: training and reports are saved, but the SavedModel export failed (above)",
              file=sys.stderr)
        return 1
    return 0
