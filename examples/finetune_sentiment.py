"""Fine-tune pretrained MiniLM on the tweet sentiment corpus with the Python API (what `bert-zoo demo` does).

    python examples/finetune_sentiment.py --train_examples 2000 --epochs 1 --out /tmp/sentiment

Everything is plain Keras: the task's datasets map the in-graph tokenizer inside tf.data and yield packed
inputs, `fit_task` compiles the recipe (AdamW, warm-up + linear decay, clipping) and calls `model.fit`.
"""

import argparse

import keras

from keras_bert_zoo import from_preset
from keras_bert_zoo.data.corpora import stratified_split, tweet_sentiment_splits
from keras_bert_zoo.tasks import BertTask
from keras_bert_zoo.tasks.classification import LabelledData, TextClassifier
from keras_bert_zoo.train.loop import FitConfig, fit_task


def as_data(split, name, limit=None, seed=0):
    texts, labels = split
    if limit and limit < len(texts):
        (idx,) = stratified_split(labels, (1.0,), seed=seed, subset=limit)
        texts, labels = [texts[i] for i in idx], [labels[i] for i in idx]
    return LabelledData(path=name, texts=texts, labels=labels, lines=list(range(1, len(texts) + 1)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/sentiment")
    parser.add_argument("--train_examples", type=int, default=2000)
    parser.add_argument("--test_examples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    splits = tweet_sentiment_splits()                         # pip-fetched once, then cached
    train = as_data(splits["train"], "train", args.train_examples)
    val = as_data(splits["val"], "val", 400)
    test = as_data(splits["test"], "test", args.test_examples)

    backbone, tokenizer = from_preset("minilm_l6_h384_uncased", backbone_only=True)
    task = TextClassifier.from_backbone(backbone, tokenizer, ["negative", "neutral", "positive"],
                                        sequence_length=64)
    fit_task(task,
             task.dataset_from_data(train, batch_size=32, training=True, class_weight="balanced"),
             task.dataset_from_data(val, batch_size=64),
             args.out, FitConfig(epochs=args.epochs, learning_rate=8e-5), train_size=len(train))
    report = task.evaluate_data(test, out_dir=f"{args.out}/test")
    print(f"test accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}")

    task.save(f"{args.out}/model")                            # model.keras + vocab.txt + task.json
    reloaded = BertTask.load(f"{args.out}/model")
    for row in reloaded.predict(["I love my new self-driving car", "stuck in traffic again, awful"]):
        print(row["label"], row["probabilities"])


if __name__ == "__main__":
    main()
