"""Fine-tune pretrained MiniLM on the tweet sentiment corpus with plain Keras (what `bert-zoo demo` does).

    python examples/finetune_sentiment.py --train_examples 2000 --epochs 1 --out /tmp/sentiment

The task is a keras.Model: fit / evaluate / predict take raw strings (the in-graph tokenizer is mapped into
tf.data), compile() with no arguments is the recipe (AdamW, warm-up + linear decay, clipping), save() writes one
.keras file with the vocabulary inside, and export() writes a verified SavedModel.
"""

import argparse

import keras
import numpy as np

import keras_bert_zoo as kbz
from keras_bert_zoo.apps.common import stratified_subset as subset   # what `bert-zoo demo` subsets with
from keras_bert_zoo.data.corpora import tweet_sentiment_splits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/sentiment")
    parser.add_argument("--train_examples", type=int, default=2000)
    parser.add_argument("--test_examples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    splits = tweet_sentiment_splits()                         # pip-fetched once, then cached
    train_x, train_y = subset(splits["train"], args.train_examples)
    val_x, val_y = subset(splits["val"], 400)
    test_x, test_y = subset(splits["test"], args.test_examples)

    clf = kbz.TextClassifier.from_preset("minilm_l6_h384_uncased", labels=["negative", "neutral", "positive"],
                                         sequence_length=64)
    clf.compile(learning_rate=8e-5)
    clf.fit(train_x, train_y, validation_data=(val_x, val_y), epochs=args.epochs, batch_size=32)
    print(clf.evaluate(test_x, test_y, batch_size=64, return_dict=True, verbose=0))

    clf.save(f"{args.out}/sentiment.keras")                   # one file, vocabulary inside
    reloaded = keras.saving.load_model(f"{args.out}/sentiment.keras")
    out = reloaded.predict(["I love my new self-driving car", "stuck in traffic again, awful"])
    print(out["label_names"], np.round(out["probabilities"], 3))
    reloaded.export(f"{args.out}/saved_models/sentiment/1")  # SavedModel directory, raw strings in, verified
    reloaded.export(f"{args.out}/sentiment.tflite", format="litert", quantize="int8")  # one .tflite file


if __name__ == "__main__":
    main()
