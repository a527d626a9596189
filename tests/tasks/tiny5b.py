"""Helpers for the tagging / QA / choice / fill-mask / embedding tests: a small in-test vocabulary built from the
fixture texts (so WordPiece splits really happen) and a tiny backbone (odd sizes)."""

import re
import unicodedata
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# pieces that force multi-sub-word words (e.g. "muller" -> "mul ##ler", "zurich" -> "zu ##rich")
PIECES = ["mul", "##ler", "zu", "##rich", "lu", "##den", "##scheid", "##t", "gen", "##eve", "pa", "##ulo",
          "black", "##burn", "bron", "##cos"]
SPLIT_WORDS = {"muller", "zurich", "ludenscheidt", "geneve", "paulo", "blackburn", "broncos"}


def _normalize(text):
    text = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def _words(text):
    out = []
    for chunk in _normalize(text).split():
        for w in re.findall(r"[\u4e00-\u9fff]|[^\W_]+|[^\w\s]|_", chunk):
            out.append(w)
    return out


def make_vocab(texts, extra=()):
    words, chars = set(), set()
    for t in texts:
        for w in _words(t):
            chars.update(w)
            if w not in SPLIT_WORDS:
                words.add(w)
    vocab = list(SPECIALS) + PIECES + sorted(words - set(PIECES))
    vocab += sorted(c for c in chars if c not in words)
    vocab += sorted("##" + c for c in chars)
    vocab += [t for t in extra if t not in vocab]
    seen, out = set(), []
    for t in vocab:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def fixture_texts():
    texts = []
    for name in ("ner_train.conll", "ner_eval.conll"):
        texts += [line.split()[0] for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    import json

    for name in ("squad_v1.json", "squad_v2.json"):
        doc = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        for a in doc["data"]:
            for p in a["paragraphs"]:
                texts.append(p["context"])
                texts += [q["question"] for q in p["qas"]]
    texts += (FIXTURES / "swag_train.csv").read_text(encoding="utf-8").splitlines()
    texts += (FIXTURES / "mlm.txt").read_text(encoding="utf-8").splitlines()
    texts += (FIXTURES / "pairs.csv").read_text(encoding="utf-8").splitlines()
    texts += ["José Müller-Lüdenscheidt vit à Zürich. 李明住在北京。 Peter Blackburn visited São Paulo ."]
    return texts


def tokenizer():
    from keras_bert_zoo.text import WordPieceTokenizer

    return WordPieceTokenizer(make_vocab(fixture_texts()))


def backbone(vocab_size, seed=0, max_positions=64, num_layers=2):
    import keras

    from keras_bert_zoo import BertBackbone
    from tests.conftest import TINY_LONG

    keras.utils.set_random_seed(seed)
    return BertBackbone(TINY_LONG.replace(vocab_size=vocab_size, num_layers=num_layers,
                                          max_position_embeddings=max_positions))
