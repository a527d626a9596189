"""Does the CRF head help at a tiny budget? Entity F1 of ``TokenClassifier(crf=False)`` vs ``crf=True`` on a slice
of the People's Daily NER corpus (character tags, as the zh demo uses it), the same randomly initialised small
BERT (same seed), the same recipe, steps and data; the test slice scored with seqeval's entity F1.

    python benchmarks/crf_ner.py --train 1500 --test 300 --epochs 3 --out benchmarks/results/crf_ner.json

A from-scratch model on a few hundred sentences learns little; the point is the difference between the heads at
the same budget (the CRF's gain is in the B/I chains a per-character softmax breaks).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import machine, write_json  # noqa: E402  (benchmarks/ is the script's directory)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=1500, help="training paragraphs (the shortest first)")
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--max_chars", type=int, default=60, help="paragraphs up to this many characters")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def data(args):
    from keras_bert_zoo.data.chinese import peoples_daily_ner_splits

    splits = peoples_daily_ner_splits()

    def pick(rows, n):
        rows = [(list(text), tags) for text, tags in rows if 0 < len(text) <= args.max_chars]
        return rows[:n]

    return pick(splits["train"], args.train), pick(splits["test"], args.test)


def run_arm(crf: bool, train, test, args) -> dict:
    import keras

    from keras_bert_zoo import BertBackbone, BertConfig, TokenClassifier
    from keras_bert_zoo.metrics.entities import entity_scores
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer

    chars = sorted({c for words, _ in train + test for c in words})
    tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars, lowercase=False)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    keras.utils.set_random_seed(args.seed)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128,
                        max_position_embeddings=64)
    task = TokenClassifier(BertBackbone(config), labels=labels, crf=crf,
                           preprocessor=BertPreprocessor(tok, sequence_length=args.max_chars + 2))
    task.compile(learning_rate=args.learning_rate)
    start = time.perf_counter()
    history = task.fit([w for w, _ in train], [t for _, t in train], epochs=args.epochs,
                       batch_size=args.batch_size, verbose=0)
    fit_s = time.perf_counter() - start
    pred = task.predict_word_tags([w for w, _ in test])
    scores = entity_scores([t for _, t in test], pred)
    return {"crf": crf, "entity_f1": round(scores["f1"], 4), "precision": round(scores["precision"], 4),
            "recall": round(scores["recall"], 4), "fit_seconds": round(fit_s, 1),
            "final_loss": round(history.history["loss"][-1], 4)}


def main(argv=None):
    args = parse(argv)
    train, test = data(args)
    results = [run_arm(crf, train, test, args) for crf in (False, True)]
    out = {"args": vars(args), "train_paragraphs": len(train), "test_paragraphs": len(test),
           "results": results, "machine": machine()}
    for r in results:
        print(r)
    if args.out:
        write_json(args.out, out)


if __name__ == "__main__":
    main()
