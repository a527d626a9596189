"""Every task type that has a SavedModel, tiny (tests/tasks/tiny_classify.py's backbone and vocabulary), with input
shards for `bert-zoo predict` and the Beam pipeline: text lines (a blank line, accents, CJK) and JSON lines with an
``id`` and the task's input fields.

    task = make_task("qa")
    shards = INPUTS["qa"]            # [[line, ...], [line, ...]]: the lines of two input files
"""

import json

TEXTS = ["the movie was good and great", "the film was bad", "", "ok", "awful awful plot", "über café naïve",
         "中文 text", "the acting was fine !", "meh", "love the cars"]
MASKED = ["the movie was [MASK] .", "[MASK] [MASK] film", "no mask", "", "中文 [MASK]", "the [MASK] was bad"]


def _jsonl(rows):
    return [json.dumps({**row, "id": i}, ensure_ascii=False) for i, row in enumerate(rows)]


def _shards(lines):
    """Two input files: the first half, and the rest."""
    half = len(lines) // 2
    return [lines[:half], lines[half:]]


#: task type -> the lines of two input files
INPUTS = {
    "classify": [TEXTS[:5], _jsonl([{"text": t} for t in TEXTS[5:]])],
    "classify_pairs": _shards(_jsonl([{"text": a, "text_pair": b} for a, b in zip(TEXTS, TEXTS[::-1])])),
    "classify_multi_label": _shards(TEXTS),
    "regress": _shards(TEXTS),
    "tag": _shards(["peter lives in the film", "", "中文 text and cars", "the the the the the the the the a b c"]),
    "qa": _shards(_jsonl([{"question": "what was it ?", "context": "the movie was good and great"},
                          {"question": "who ?", "context": "love the cars , the acting was fine"},
                          {"question": "", "context": ""},
                          {"question": "中文 ?", "context": "中文 text über alles"}])),
    "choice": _shards(_jsonl([{"context": c, "choice_0": a, "choice_1": b, "choice_2": "ok"}
                              for c, a, b in zip(TEXTS, TEXTS[::-1], TEXTS[1:] + TEXTS[:1])])),
    "embed": _shards(TEXTS),
    "fill_mask": _shards(MASKED),
}


def make_task(kind: str):
    """The tiny task of ``kind`` (a key of :data:`INPUTS`)."""
    from keras_bert_zoo import tasks
    from keras_bert_zoo.text import BertPreprocessor
    from tests.tasks.tiny_classify import tiny_backbone_and_tokenizer

    backbone, tokenizer = tiny_backbone_and_tokenizer(seed=3)
    pre = BertPreprocessor(tokenizer, sequence_length=16)
    labels = ["negative", "neutral", "positive"]
    build = {
        "classify": lambda: tasks.TextClassifier(backbone, preprocessor=pre, labels=labels),
        "classify_pairs": lambda: tasks.TextClassifier(backbone, preprocessor=pre, num_classes=2, pairs=True),
        "classify_multi_label": lambda: tasks.TextClassifier(backbone, preprocessor=pre, labels=labels,
                                                             multi_label=True, threshold=0.4),
        "regress": lambda: tasks.TextRegressor(backbone, preprocessor=pre),
        "tag": lambda: tasks.TokenClassifier(backbone, preprocessor=BertPreprocessor(tokenizer, sequence_length=9),
                                             labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], stride=3),
        "qa": lambda: tasks.QuestionAnswerer(backbone, preprocessor=pre, n_best=3),
        "choice": lambda: tasks.MultipleChoice(backbone, preprocessor=pre, num_choices=3),
        "embed": lambda: tasks.TextEmbedder(backbone, preprocessor=pre),
        "fill_mask": lambda: tasks.MaskedLM(backbone, preprocessor=pre, top_k=3),
    }
    return build[kind]()


def write_shards(directory, kind: str, suffix: str = ".txt") -> list:
    """The input files of ``kind`` in ``directory`` (part-0, part-1); -> their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, lines in enumerate(INPUTS[kind]):
        path = directory / f"part-{i}{suffix}"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        paths.append(path)
    return paths
