"""``report.html``: one self-contained page per run directory (inline CSS, script and SVG; nothing fetched).

The page shows the metrics beside any baselines, the training curves by step (hover for values), each
evaluation's confusion matrix, per-class precision / recall / F1 and most confidently wrong examples (taggers: the
entity table and example sentences with gold and predicted spans), and an attention explorer (layer and head
selectors, a head view of token-to-token weights, a model view of every head) over the few inputs stored in the
run's ``attention.json``. Everything it shows comes from the files the run already wrote
(:func:`keras_bert_zoo.viz.run_data.gather`), so ``bert-zoo report RUN_DIR`` rebuilds it at any time.

    from keras_bert_zoo.viz.html_report import build_report, write_run_report
    write_run_report("runs/sentiment", task=classifier)     # attention.json from the task, then report.html
    build_report("runs/sentiment")                          # report.html from the files alone
    IPython.display.HTML(notebook_html("runs/sentiment"))   # inline in a notebook (an iframe of the page)
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from keras_bert_zoo import cache
from keras_bert_zoo.viz.report_assets import CSS, JS
from keras_bert_zoo.viz.run_data import attention_texts, gather

__all__ = ["render_html", "build_report", "write_run_report", "notebook_html", "REPORT_NAME", "ATTENTION_NAME"]

REPORT_NAME = "report.html"
ATTENTION_NAME = "attention.json"


def _script_json(data) -> str:
    """JSON that cannot end its <script> element early (``</`` and ``<!--`` escaped)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_html(data: dict) -> str:
    """The page of :func:`~keras_bert_zoo.viz.run_data.gather`'s ``data``."""
    title = html.escape(f"bert-zoo report: {data['title']}")
    nav = "".join(f'<a href="#{p}">{p}</a>' for p in ("metrics", "curves", "evaluation", "attention"))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{CSS}</style></head><body><header><h1>{title}</h1><p>keras_bert_zoo run report: "
            f"self-contained (no network), rebuilt with <code>bert-zoo report RUN_DIR</code></p></header>"
            f'<nav>{nav}</nav><main id="main"></main>'
            f'<script type="application/json" id="report-data">{_script_json(data)}</script>'
            f"<script>{JS}</script></body></html>\n")


def build_report(run_dir, path=None) -> Path:
    """Gather ``run_dir`` and write its report (default ``run_dir/report.html``) atomically; returns the path."""
    path = Path(path) if path is not None else Path(run_dir) / REPORT_NAME
    page = render_html(gather(run_dir))
    with cache.atomic_write(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


def write_run_report(run_dir, task=None, texts=(), notes=None, k=4, pick_from=None) -> Path:
    """``attention.json`` of ``task`` (when given: ``texts`` first, with ``notes``, then inputs picked by
    :func:`~keras_bert_zoo.viz.run_data.attention_texts` from the first evaluation under ``pick_from``, default
    ``run_dir``; ``k`` in all) and then ``report.html``. ``task`` must take a ``text`` input (classify / regress /
    tag; a pair classifier's picked inputs bring their second text, the given ``texts`` get an empty one)."""
    from keras_bert_zoo.viz.attention_data import write_attention_json

    if task is not None:
        texts = list(texts)
        notes = list(notes) if notes is not None else [None] * len(texts)
        picked, picked_notes, picked_pairs = attention_texts(pick_from or run_dir, k=max(0, k - len(texts)))
        pairs = None
        if getattr(task, "pairs", False):
            pairs = [""] * len(texts) + (picked_pairs or [""] * len(picked))
        texts, notes = texts + picked, notes + picked_notes
        if texts:
            write_attention_json(task, texts, Path(run_dir) / ATTENTION_NAME, notes=notes, pairs=pairs)
    return build_report(run_dir)


def notebook_html(report, height=900) -> str:
    """The report (a run directory or its ``report.html``) as an ``<iframe srcdoc>`` for a notebook cell
    (``IPython.display.HTML(notebook_html("runs/x"))``, Jupyter and Colab): the page keeps its own document, so its
    element ids and script do not meet the notebook's."""
    path = Path(report)
    if path.is_dir():
        path = path / REPORT_NAME
    page = path.read_text(encoding="utf-8")
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{int(height)}px;'
            f'border:1px solid #ccc"></iframe>')
