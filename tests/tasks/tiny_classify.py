"""Helpers for the classification / regression / fine-tuning CLI tests: a tiny keyword-sentiment data set, a
vocabulary that covers it (plus sub-word pieces), and a tiny pretrained-format (Hugging Face) checkpoint
directory written with our own exporter, so `--preset DIR` goes through the real loading path."""

import csv
import json
import random
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE = ["good", "great", "love", "fine", "wonderful"]
NEGATIVE = ["bad", "awful", "hate", "terrible"]
NEUTRAL = ["ok", "meh", "average"]
FILLER = ["the", "movie", "was", "plot", "acting", "and", "really", "a", "is", "not", "very", "film", "cars",
          "self", "-", "driving", ".", "!", ","]


def vocabulary(size=99):
    words = SPECIALS + POSITIVE + NEGATIVE + NEUTRAL + FILLER
    letters = "abcdefghijklmnopqrstuvwxyz"
    words += [c for c in letters if c not in words] + ["##" + c for c in letters]
    if len(words) > size:
        raise ValueError(len(words))
    words += [f"[unused{i}]" for i in range(size - len(words))]
    return words


def sentence(rng, label):
    src = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}[label]
    return f"the {rng.choice(['movie', 'film', 'plot'])} was {rng.choice(src)} and {rng.choice(src)}"


def write_csv(path, n, seed=0, labels=("positive", "negative", "neutral"), pair=False):
    rng = random.Random(seed)
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "text_b", "label"] if pair else ["text", "label"])
        for i in range(n):
            label = labels[i % len(labels)]
            row = [sentence(rng, label)] + (["cars driving"] if pair else []) + [label]
            w.writerow(row)
    return path


def make_preset(directory, seed=0):
    """Write a tiny random BERT (vocab 99, hidden 32, 4 heads, intermediate 37) as a HF checkpoint dir."""
    import keras

    from keras_bert_zoo import BertBackbone
    from keras_bert_zoo.convert import export_hf
    from tests.conftest import TINY_LONG

    keras.utils.set_random_seed(seed)
    export_hf(BertBackbone(TINY_LONG), directory, vocabulary=vocabulary(), lowercase=True)
    return Path(directory)


def tiny_backbone_and_tokenizer(seed=0, dropout=0.1):
    import keras

    from keras_bert_zoo import BertBackbone
    from keras_bert_zoo.text import WordPieceTokenizer
    from tests.conftest import TINY_LONG

    keras.utils.set_random_seed(seed)
    config = TINY_LONG.replace(hidden_dropout=dropout, attention_dropout=dropout)
    return BertBackbone(config), WordPieceTokenizer(vocabulary(), lowercase=True)


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return Path(path)
