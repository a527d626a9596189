"""The steps of `bert-zoo demo --lang zh` in order (:func:`run_zh_demo`); each phase is timed by one
:class:`~keras_bert_zoo.train.clocks.RunClock` and recorded in summary.json."""

from __future__ import annotations

import collections
import dataclasses
import random
from pathlib import Path

from keras_bert_zoo.apps import baselines
from keras_bert_zoo.apps.common import pick, write_json, write_text
from keras_bert_zoo.apps.demo_zh import outputs
from keras_bert_zoo.apps.demo_zh.config import ARMS, PROBE_FRACTION, ZhDemoConfig, budget_fractions, budget_split
from keras_bert_zoo.apps.demo_zh.finetune import finetune_splits, finetune_task, ner_sentences, sample
from keras_bert_zoo.apps.demo_zh.pretrain import pretrain
from keras_bert_zoo.apps.demo_zh.vocab import chinese_vocabulary

__all__ = ["run_zh_demo"]


def _json(path, obj):
    write_json(path, obj, ensure_ascii=False)


def _corpora(cfg: ZhDemoConfig):
    """The corpora, splits and pretraining documents -> (data, summary["corpora"])."""
    from keras_bert_zoo.data import chinese

    corpus = chinese.load_sentiment()
    sent = chinese.sentiment_splits(seed=cfg.seed)
    ner = chinese.peoples_daily_ner_splits(seed=cfg.seed)
    news_lines = len(chinese.read_peoples_daily())
    docs = chinese.pretraining_documents(seed=cfg.seed)
    heldout_docs = chinese.pretraining_documents(splits=("val",), seed=cfg.seed)
    pretrain_chars = sum(len(s.replace(" ", "")) for d in docs for s in d)
    all_docs = len(docs)
    docs = sample(docs, cfg.max_pretrain_documents, cfg.seed)
    random.Random(cfg.seed).shuffle(docs)
    used = finetune_splits(cfg, sent, ner)
    (s_train, s_val, s_test), (n_train, n_val, n_test) = used["sentiment"], used["ner"]
    entity_counts = collections.Counter(t[2:] for _, tags in ner["train"] for t in tags if t.startswith("B-"))
    info = {
        "sentiment": {"lines": corpus.lines, "duplicate_lines_dropped": corpus.duplicates,
                      "contradictory_texts_dropped": corpus.contradictory, "unique_texts": len(corpus.texts),
                      "labels": dict(collections.Counter(corpus.labels)),
                      "splits": {k: len(v[0]) for k, v in sent.items()},
                      "used": {"train": len(s_train[0]), "val": len(s_val[0]), "test": len(s_test[0])}},
        "ner": {"lines": news_lines, "unique_paragraphs": sum(len(v) for v in ner.values()),
                "splits": {k: len(v) for k, v in ner.items()}, "training_entities": dict(entity_counts),
                "longest_paragraph_chars": max(len(t) for v in ner.values() for t, _ in v),
                "used": {"train": len(n_train), "val": len(n_val), "test": len(n_test)}},
        "pretraining": {"documents": all_docs, "documents_used": len(docs), "sentences": sum(len(d) for d in docs),
                        "characters": pretrain_chars, "heldout_documents": len(heldout_docs),
                        "note": "training-split texts only (news + reviews); held-out = validation split"}}
    print(f"sentiment: {info['sentiment']['lines']} lines -> {info['sentiment']['unique_texts']} unique texts "
          f"(splits {info['sentiment']['splits']}); news: {news_lines} lines -> "
          f"{info['ner']['unique_paragraphs']} paragraphs (splits {info['ner']['splits']}); pretraining: "
          f"{all_docs} documents, {pretrain_chars:,} characters", flush=True)
    data = {"sent": sent, "ner": ner, "docs": docs, "heldout_docs": heldout_docs, "sentiment": used["sentiment"],
            "ner_used": used["ner"]}
    return data, info


def _vocabulary(cfg: ZhDemoConfig, data, out: Path):
    """The vocabulary learned on the training texts of both corpora, written to vocab.txt -> (tokens, info)."""
    from keras_bert_zoo.text.vocab import write_vocabulary

    vocab_texts = list(data["sent"]["train"][0]) + [t for t, _ in data["ner"]["train"]]
    vocab, info = chinese_vocabulary(vocab_texts, cfg.min_char_count, cfg.wordpiece_tokens)
    write_vocabulary(vocab, out / "vocab.txt")
    print(f"vocabulary: {info['vocab_size']} tokens ({info['cjk_tokens']} CJK characters of "
          f"{info['distinct_cjk_characters']} seen; character coverage {info['character_coverage']:.5f})",
          flush=True)
    return vocab, info


def _test_evaluation(cfg, s_arms, n_arms, s_test, n_test, steps, out: Path):
    """Each arm's kept task scored once on the test splits -> (table, NER examples, summary["finetuning"])."""
    table, finetune = {"sentiment": {}, "ner": {}}, {}
    ner_test_s = ner_sentences(n_test)
    for arm in ARMS:
        rep = outputs.sentiment_test_report(s_arms[arm]["task"], s_test, out / "sentiment" / arm / "test")
        table["sentiment"][arm] = {**pick(rep, ("accuracy", "macro_f1", "mcc", "num_examples",
                                                "truncated_examples")),
                                   "learning_rate": s_arms[arm]["learning_rate"]}
        rep = outputs.ner_test_report(n_arms[arm]["task"], ner_test_s, out / "ner" / arm / "test")
        table["ner"][arm] = {**rep, "learning_rate": n_arms[arm]["learning_rate"]}
    for kind, arms in (("sentiment", s_arms), ("ner", n_arms)):
        finetune[kind] = {**steps[kind], "batch_size": cfg.batch_size,
                          **{arm: {"learning_rate": a["learning_rate"], "validation": a["validation"],
                                   "grid": a["grid"], "long_run": a["long_run"]} for arm, a in arms.items()}}
    examples = outputs.ner_examples(n_arms["pretrained"]["task"], n_test)
    _json(out / "ner_examples.json", examples)
    write_text(out / "ner_examples.txt", outputs.format_ner_examples(examples))
    return table, examples, finetune


def _baselines(table, s_train, s_test, n_train, n_test):
    from keras_bert_zoo.train.clocks import RunClock

    rep = baselines.tfidf_char_baseline(s_train, s_test)
    table["sentiment"]["tfidf_char_lr"] = pick(rep, ("accuracy", "macro_f1", "mcc", "num_examples"))
    clock = RunClock(include_startup=False)
    with clock.phase("crf"):
        crf = baselines.crf_char_baseline(n_train, n_test)
    if crf is None:
        table["ner"]["char_crf"] = {"status": "not installed (pip install sklearn-crfsuite: the test extra)"}
        return
    scores = crf[0]
    table["ner"]["char_crf"] = {"entity_precision": scores["precision"], "entity_recall": scores["recall"],
                                "entity_f1": scores["f1"],
                                **{f"f1_{ty}": m["f1"] for ty, m in scores["per_type"].items()},
                                "fit_seconds": round(clock.phases["crf"], 1)}


def _exports(cfg, s_task, n_task, s_test, n_test):
    # the verification samples include the longest test review, so the windowed path is checked in every export
    samples = s_test[0][:7] + [max(s_test[0], key=len)]
    exports = {"zh_sentiment": outputs.export(s_task, cfg.export, "zh_sentiment", samples, cfg.tflite),
               "zh_ner": outputs.export(n_task, cfg.export, "zh_ner", [t for t, _ in n_test[:8]], cfg.tflite)}
    for name, res in exports.items():
        for key, value in res.items():
            print(f"  {name} {key}: {value}", flush=True)
    return exports


def _finetune_both(cfg, clock, backbone, tokenizer, data, budget, out):
    (s_train, s_val, _), (n_train, n_val, _) = data["sentiment"], data["ner_used"]
    with clock.phase("fine-tuning sentiment"):
        s_arms, s_steps = finetune_task("sentiment", cfg, backbone, tokenizer, s_train, s_val,
                                        {"probe": budget["sentiment_probe"], "run": budget["sentiment_run"]}, out)
    with clock.phase("fine-tuning ner"):
        n_arms, n_steps = finetune_task("ner", cfg, backbone, tokenizer, ner_sentences(n_train),
                                        ner_sentences(n_val), {"probe": budget["ner_probe"], "run": budget["ner_run"]},
                                        out)
    return s_arms, n_arms, {"sentiment": s_steps, "ner": n_steps}


def run_zh_demo(cfg: ZhDemoConfig) -> dict:
    """Run the Chinese demo; returns (and writes to ``cfg.out``/summary.json) the summary. Failed exports are
    recorded in ``summary["exports"]`` (see :func:`~keras_bert_zoo.apps.demo_zh.outputs.failed_exports`)."""
    import keras

    from keras_bert_zoo.text import WordPieceTokenizer
    from keras_bert_zoo.train.clocks import RunClock

    clock = RunClock(include_startup=False, announce=True)
    keras.utils.set_random_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    fractions = budget_fractions(None if cfg.baseline else False)      # no baselines: as without the CRF
    budget = budget_split(cfg.time_budget_min * 60.0, len(cfg.lr_grid), len(cfg.ner_lr_grid), fractions=fractions)
    summary = {"config": dataclasses.asdict(cfg), "budget_seconds": {k: round(v, 1) if isinstance(v, float) else v
                                                                     for k, v in budget.items()},
               "budget_fractions": fractions, "probe_fraction": PROBE_FRACTION}
    with clock.phase("corpora"):
        data, summary["corpora"] = _corpora(cfg)
    with clock.phase("vocabulary"):
        vocab, summary["vocabulary"] = _vocabulary(cfg, data, out)
    tokenizer = WordPieceTokenizer(vocab, lowercase=True)
    with clock.phase("pretraining"):
        backbone, pinfo = pretrain(cfg, vocab, data["docs"], data["heldout_docs"], budget["pretrain"], out)
        summary["pretraining"] = pinfo
        print(f"pretraining: {pinfo['steps']} steps in {pinfo['train_seconds']:.0f} s, "
              f"{pinfo['tokens_per_second']:.0f} tokens/s, held-out MLM accuracy "
              f"{pinfo['final_heldout_mlm_accuracy']:.4f} (whole-word masking; per character "
              f"{pinfo['final_heldout_char_mlm_accuracy']:.4f})", flush=True)
    _json(out / "summary.json", summary)       # partial: a crash later keeps what was measured
    s_arms, n_arms, steps = _finetune_both(cfg, clock, backbone, tokenizer, data, budget, out)
    (s_train, _, s_test), (n_train, _, n_test) = data["sentiment"], data["ner_used"]
    with clock.phase("test evaluation"):
        table, summary["ner_examples"], summary["finetuning"] = _test_evaluation(cfg, s_arms, n_arms, s_test,
                                                                                 n_test, steps, out)
    with clock.phase("baselines"):
        if cfg.baseline:
            _baselines(table, s_train, s_test, n_train, n_test)
    summary["table"] = table
    with clock.phase("attention map"):
        summary["attention"] = outputs.attention_map(s_arms["pretrained"]["task"], out)
    summary["exports"] = {}
    if cfg.export:
        with clock.phase("exports"):
            summary["exports"] = _exports(cfg, s_arms["pretrained"]["task"], n_arms["pretrained"]["task"], s_test,
                                          n_test)
    summary["phase_seconds"] = clock.rounded()
    summary["wall_seconds"] = round(clock.elapsed(), 1)
    _json(out / "summary.json", summary)
    outputs.write_report(out)                  # report.html with the summary's tables
    print("\n" + outputs.format_table(table))
    print(f"\nsummary.json, vocab.txt, sentiment/ and ner/ reports, ner_examples.txt, attention.png in {out}/; "
          f"wall time {summary['wall_seconds']:.0f} s (budget {cfg.time_budget_min:g} min)")
    return summary
