"""QuestionAnswerer (extractive QA as a keras.Model): answer alignment
through offsets over windows, n-best decoding rules and the v2.0 null threshold, raw-data fit / evaluate / predict
on the three input forms, long contexts, save / load, config round trip with derived lengths, errors."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.data.squad import QAExample, read_squad
from keras_bert_zoo.tasks import TaskError, get_task_class
from keras_bert_zoo.tasks.preprocessing import windows as W
from keras_bert_zoo.metrics.squad import squad_scores
from keras_bert_zoo.tasks.question_answerer import QuestionAnswerer
from keras_bert_zoo.text import BertPreprocessor

V1 = tiny5b.FIXTURES / "squad_v1.json"
V2 = tiny5b.FIXTURES / "squad_v2.json"
OUTPUTS = {"answer_text", "answer_start", "answer_end", "score", "null_score_diff", "nbest_texts", "nbest_starts",
           "nbest_ends", "nbest_scores", "answer_start_utf16", "answer_end_utf16", "nbest_starts_utf16",
           "nbest_ends_utf16"}


@pytest.fixture(scope="module")
def tok():
    return tiny5b.tokenizer()


def _qa(tok, sequence_length=24, **kwargs):
    return QuestionAnswerer(tiny5b.backbone(tok.vocab_size, num_layers=1),
                            preprocessor=BertPreprocessor(tok, sequence_length=sequence_length), **kwargs)


def _records(examples):
    return [{"id": e.id, "question": e.question, "context": e.context,
             "answers": {"text": [t for t, _ in e.answers], "answer_start": [s for _, s in e.answers]}}
            for e in examples]


def test_registry():
    assert get_task_class("qa") is QuestionAnswerer


def test_answer_positions_through_offsets_over_windows(tok):
    qa = _qa(tok, sequence_length=24, stride=4, max_query_length=8)
    examples, _ = read_squad(V2)
    ex = [e for e in examples if e.id in ("q3", "q5", "q9", "q10")]
    packed, y = qa.make_dataset(ex, batch_size=1000).get_single_element()
    pre = qa.preprocessor
    view = pre.windows(tf.constant([e.question for e in ex]), tf.constant([e.context for e in ex]))
    windows, b_offset = view.windows, view.b_offset
    assert int(windows.length.shape[0]) > 2 * len(ex)                     # long contexts: several windows each
    index = W.packed_token_index(windows, b_offset, 24).numpy()
    cs, ce = view.context_starts.to_list(), view.context_ends.to_list()
    found = {}
    for k, b in enumerate(windows.example_index.numpy()):
        s, e = int(y["start_logits"][k]), int(y["end_logits"][k])
        if s == 0:
            assert e == 0
            continue
        assert packed["segment_ids"].numpy()[k, s] == 1 and s <= e    # inside the context segment
        ctx = ex[b].context.encode()
        text = ctx[cs[b][index[k, s]]:ce[b][index[k, e]]].decode()
        assert text == ex[b].answers[0][0]
        found[b] = found.get(b, 0) + 1
    assert set(found) == {0, 1, 2}                                         # q10 has no answer


@pytest.fixture(scope="module")
def trained(tok, tmp_path_factory):
    examples, _ = read_squad(V2)
    task = _qa(tok, sequence_length=32, stride=8, max_query_length=12, n_best=3, version_2=True)
    task.compile(learning_rate=1e-3)
    before = {w.path: w.numpy().copy() for w in task.trainable_weights}
    history = task.fit(examples, epochs=1, batch_size=8, steps_per_epoch=2, verbose=0).history
    return task, examples, before, history, tmp_path_factory.mktemp("qa")


def test_fit_on_examples_and_the_three_input_forms_agree(trained):
    task, examples, before, history, _ = trained
    assert np.isfinite(history["loss"][0]) and {"start_logits_loss", "end_logits_accuracy"} <= set(history)
    changed = {p for p, v in before.items()
               if not np.allclose(v, next(w for w in task.trainable_weights if w.path == p).numpy())}
    assert any("qa_outputs" in p for p in changed) and len(changed) > len(before) // 2, changed
    x = {"question": [e.question for e in examples], "context": [e.context for e in examples]}
    y = [{"text": e.answers[0][0], "answer_start": e.answers[0][1]} if e.answers else None for e in examples]
    forms = [task.make_dataset(examples, batch_size=256), task.make_dataset(x, y, batch_size=256),
             task.make_dataset(_records(examples), batch_size=256)]
    batches = [list(ds) for ds in forms]
    assert all(len(b) == 1 for b in batches)
    for other in batches[1:]:
        for a, b in zip(tf.nest.flatten(batches[0]), tf.nest.flatten(other)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    packed, targets = batches[0][0]
    w = packed["token_ids"].shape[0]
    assert w > len(examples) and packed["token_ids"].shape[1] <= 32
    assert targets["start_logits"].shape == targets["end_logits"].shape == (w,)
    assert int(np.sum(targets["start_logits"].numpy() > 0)) >= 7        # every answerable question, >= 1 window
    weighted = next(iter(task.make_dataset(examples, sample_weight=np.arange(10.0), batch_size=256)))
    assert weighted[2].shape == (w,) and set(np.unique(weighted[2].numpy())) == set(np.arange(10.0))
    scores = task.evaluate(_records(examples), batch_size=8, verbose=0, return_dict=True)
    assert np.isfinite(scores["loss"]) and 0 <= scores["start_logits_accuracy"] <= 1


def test_predict_on_raw_pairs_gives_answers_with_offsets(trained):
    task, examples = trained[0], trained[1]
    long_context = " ".join(e.context for e in examples[:1]) * 3
    x = {"question": [e.question for e in examples] + ["who?"], "context": [e.context for e in examples] + [""]}
    x["context"][0] = long_context
    out = task.predict(x, batch_size=4)                                    # three batches (a traced graph)
    assert set(out) == OUTPUTS and out["answer_text"].shape == (11,) and out["nbest_scores"].shape == (11, 3)
    rows = task.decode(out)
    json.dumps(rows)
    for ctx, row in zip(x["context"], rows):
        if row["answer"]:
            assert ctx[row["start"]:row["end"]] == row["answer"]
        else:
            assert row["start"] == row["end"] == -1
        for c in row["nbest"]:
            assert ctx[c["start"]:c["end"]] == c["text"]
    assert rows[-1]["answer"] == "" and rows[-1]["nbest"] == []           # empty context: no span at all
    eager = task.predict({k: v[:2] for k, v in x.items()}, batch_size=2)  # one batch, eagerly
    for k in out:
        if out[k].dtype.kind in "fc":
            np.testing.assert_allclose(eager[k], out[k][:2], atol=1e-5)
        else:
            np.testing.assert_array_equal(eager[k], out[k][:2])
    preds = task.predict_examples(examples, batch_size=4)
    assert list(preds) == [e.id for e in examples]
    for key in ("answer", "start", "end"):                                 # q2 as above (q1's context differs)
        assert preds["q2"][key] == rows[1][key]
    assert preds["q2"]["score"] == pytest.approx(rows[1]["score"], abs=1e-5)
    # packed inputs (one window each): the model's logits + argmax spans
    packed = task.preprocessor.call((tf.constant(x["question"][:2]), tf.constant(x["context"][:2])))
    raw = task.predict(packed, verbose=0)
    assert set(raw) == {"start_logits", "end_logits"} and raw["start_logits"].shape == (2, 32)
    post = task.packed_serving_fn(packed)
    assert np.all(post["end_index"].numpy() >= post["start_index"].numpy())


def test_save_load_round_trips_config_and_outputs(trained, tok):
    task, examples, _, _, root = trained
    path = root / "qa.keras"
    task.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, QuestionAnswerer) and again.get_config() == task.get_config()
    x = {"question": [e.question for e in examples], "context": [e.context for e in examples]}
    want, got = task.predict(x, batch_size=4), again.predict(x, batch_size=4)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    # derived lengths stay derived: None in the config, computed from the sequence length when used
    derived = _qa(tok, sequence_length=40)
    config = derived.get_config()
    assert config["stride"] is None and config["max_query_length"] is None
    assert (derived.query_length, derived.window_stride) == (18, 9)
    assert QuestionAnswerer.from_config(config).get_config() == config


def test_errors_name_the_example_and_field(tok):
    qa = _qa(tok, sequence_length=24)
    x = {"question": ["who?", "where?"], "context": ["Peter did it.", "In Paris."]}
    with pytest.raises(TaskError, match=r"answer 1: text 'Rome' is not at answer_start 3"):
        qa.make_dataset(x, [{"text": "Peter", "answer_start": 0}, {"text": "Rome", "answer_start": 3}])
    with pytest.raises(TaskError, match=r"answer 0: answer 'Peter' has no answer_start"):
        qa.make_dataset(x, [{"text": "Peter"}, None])
    with pytest.raises(TaskError, match=r"2 examples but 1 answers"):
        qa.make_dataset(x, [None])
    with pytest.raises(TaskError, match="needs answers"):
        qa.fit(x, verbose=0)
    with pytest.raises(TaskError, match="carry their answers"):
        qa.make_dataset([QAExample("a", "who?", "Peter.")], [None])
    bad = _records([QAExample("z9", "who?", "Peter did it.", (("Paul", 0),))])
    with pytest.raises(TaskError, match=r"example 'z9': text 'Paul' is not at answer_start 0"):
        qa.make_dataset(bad)
    with pytest.raises(TaskError, match=r"sequence_length 12 leaves no room for context after a 9-token question"):
        _qa(tok, sequence_length=12, max_query_length=9)
    with pytest.raises(TaskError, match="missing"):
        qa.predict({"question": ["who?"]})
    # no answers at all is valid training data (all windows point at [CLS])
    packed, targets = next(iter(qa.make_dataset(x, [None, {"text": "", "answer_start": 0}])))
    assert targets["start_logits"].numpy().tolist() == [0, 0] == targets["end_logits"].numpy().tolist()


@pytest.mark.slow
@pytest.mark.parametrize("path", [V2, V1])
def test_graph_mode_training_learns_the_fixture(tok, path):
    examples, version = read_squad(path)
    task = _qa(tok, sequence_length=32, stride=8, max_query_length=12, version_2=version == "2.0")
    task.compile(keras.optimizers.Adam(5e-3))
    hist = task.fit(examples * 3, epochs=3, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < 0.6 * hist[0], hist
    preds = task.predict_examples(examples)
    scores = squad_scores(examples, {k: v["answer"] for k, v in preds.items()}, version)
    assert 0 <= scores["exact"] <= scores["f1"] <= 100 and scores["total"] == len(examples)


@pytest.mark.slow
def test_shared_harness(tok, tmp_path):
    """Recipe fit, predict vs predict_on_batch, .keras round trip, verified SavedModel export (served answers equal
    predict's), a mixed_bfloat16 training step."""
    from tests.tasks.harness import run_task_test

    examples, _ = read_squad(V2)
    px = {"question": [e.question for e in examples[:3]] + ["who?"], "context": [e.context for e in examples[:3]] + [""]}
    make = lambda: _qa(tok, sequence_length=32, stride=8, max_query_length=12, n_best=3, version_2=True)  # noqa: E731
    run_task_test(make, examples, None, px, tmp_path)
    from keras_bert_zoo.tasks.base import pipeline

    assert set(pipeline.columns(make(), make().default_samples())) == {"question", "context"}


@pytest.mark.slow
def test_tflite_export_needs_no_flex(tok, tmp_path):
    """The answer decoder is written with TFLite builtins (issue 13): ``task.export(format="tflite")`` converts
    without Flex and verifies against the task's TFLite outputs (character offsets, no answer strings; see
    tests/export/test_tflite_spans.py for the client-side equality with predict)."""
    from keras_bert_zoo.export import ops as ops_lib

    result = _qa(tok, sequence_length=24, n_best=3).export(tmp_path / "qa.tflite", format="litert")
    assert set(result.custom_ops) <= ops_lib.TFLITE_TFTEXT_KERNELS and not result.info["flex"]
    assert "answer_text" not in result.info["signatures"]["serving_default"]["outputs"]


def test_a_keras_file_of_the_previous_version_loads_and_predicts_the_same():
    """tests/tasks/fixtures/legacy_tagqa was written by keras_bert_zoo at b1486c1 (a plain BertPreprocessor,
    ``stride`` / ``max_query_length`` in the task config); it loads into a QAWindowPreprocessor with them."""
    import pathlib

    root = pathlib.Path(__file__).parent / "fixtures" / "legacy_tagqa"
    expected = json.loads((root / "expected.json").read_text(encoding="utf-8"))["qa"]
    task = keras.saving.load_model(root / "qa.keras")
    assert type(task.preprocessor).__name__ == "QAWindowPreprocessor"
    assert (task.stride, task.max_query_length, task.n_best) == (6, 8, 3)
    out = task.predict(expected["inputs"])
    for key, want in expected["outputs"].items():
        got = np.asarray(out[key])
        if got.dtype.kind in "SO":
            assert np.vectorize(lambda v: v.decode("utf-8"), otypes=[object])(got).tolist() == want, key
        elif got.dtype.kind == "f":
            np.testing.assert_allclose(got, np.asarray(want, np.float32), rtol=1e-6, atol=1e-6, err_msg=key)
        else:
            assert got.tolist() == want, key
