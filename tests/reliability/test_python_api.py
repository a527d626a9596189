"""The Python API under bad input and faults (issue 27, round 3): each case asserts the exact outcome — the error
class, the argument named in one line, and that nothing was written, replaced or changed."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_bert_zoo import BertBackbone
from keras_bert_zoo.tasks import TaskError, load_task
from keras_bert_zoo.tasks.text_classifier import TextClassifier
from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
from tests.conftest import TINY

TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(TINY.vocab_size - 5)]
TEXTS = ["w1 w2", "w3", "w4 w5 w6", "w7"]


def _classifier(sequence_length=8, tokens=TOKENS, config=TINY):
    pre = BertPreprocessor(WordPieceTokenizer(tokens), sequence_length=sequence_length)
    return TextClassifier(BertBackbone(config), num_classes=2, preprocessor=pre)


def _one_line(err):
    message = str(err.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------------ targets and weights (cases 4, 5)
def test_a_nan_sample_weight_is_refused_naming_the_row():
    clf = _classifier()
    with pytest.raises(TaskError) as err:
        clf.fit(TEXTS, [0, 1, 0, 1], sample_weight=[1.0, float("nan"), 1.0, 1.0], epochs=1, verbose=0)
    assert "sample weight 1 is nan" in _one_line(err)


def test_a_negative_or_non_numeric_sample_weight_is_refused():
    clf = _classifier()
    with pytest.raises(TaskError, match="sample weight 2 is -1.0"):
        clf.evaluate(TEXTS, [0, 1, 0, 1], sample_weight=[1, 1, -1, 1], verbose=0)
    with pytest.raises(TaskError, match="sample weights must be numbers"):
        clf.evaluate(TEXTS, [0, 1, 0, 1], sample_weight=["a", "b", "c", "d"], verbose=0)


@pytest.mark.parametrize("targets, where", [([0.7, 1.9, 0, 1], "target 0: 0.7"), ([0, True, 0, 1], "target 1: True"),
                                             ([0, None, 0, 1], "target 1: None")])
def test_fractional_bool_or_missing_class_targets_are_refused(targets, where):
    with pytest.raises(TaskError) as err:
        _classifier().fit(TEXTS, targets, epochs=1, verbose=0)
    assert where in _one_line(err)


def test_integral_floats_are_class_ids():
    clf = _classifier()
    assert list(clf.encode_targets([1.0, 0.0, np.int64(1)])) == [1, 0, 1]


def test_multi_label_targets_must_be_zero_or_one():
    pre = BertPreprocessor(WordPieceTokenizer(TOKENS), sequence_length=8)
    clf = TextClassifier(BertBackbone(TINY), preprocessor=pre, labels=["a", "b"], multi_label=True)
    with pytest.raises(TaskError, match=r"multi-label target 1, column 0: 2\.0; expected 0 or 1"):
        clf.encode_targets(np.array([[0, 1], [2, 0]], "float32"))


# ------------------------------------------------------------------ the model's limits (case 6)
def test_a_sequence_length_past_the_position_embeddings_is_refused_when_the_task_is_built():
    with pytest.raises(TaskError) as err:
        _classifier(sequence_length=TINY.max_position_embeddings + 1)
    assert (f"sequence_length {TINY.max_position_embeddings + 1} is longer than the model's max_position_embeddings "
            f"{TINY.max_position_embeddings}") in _one_line(err)
    clf = _classifier(sequence_length=TINY.max_position_embeddings)       # the limit itself is fine
    with pytest.raises(TaskError, match="longer than the model's max_position_embeddings"):
        clf.preprocessor = BertPreprocessor(WordPieceTokenizer(TOKENS), sequence_length=10_000)


def test_a_vocabulary_larger_than_the_embeddings_is_refused():
    with pytest.raises(TaskError, match=rf"vocabulary has {TINY.vocab_size + 5} tokens, the model's embeddings "
                                        rf"{TINY.vocab_size}"):
        _classifier(tokens=TOKENS + [f"x{i}" for i in range(5)])


# ------------------------------------------------------------------ saving (cases 2, 7)
def test_save_to_h5_or_another_suffix_is_refused_and_writes_nothing(tmp_path):
    clf = _classifier()
    for name in ("m.h5", "m.keras.tmp", "m"):
        with pytest.raises(TaskError) as err:
            clf.save(tmp_path / name)
        assert "a task saves to one .keras file" in _one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_save_overwrite_false_refuses_an_existing_file_without_a_prompt(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"the user's previous model")
    with pytest.raises(TaskError, match="exists; pass overwrite=True"):
        _classifier().save(path, overwrite=False)
    assert path.read_bytes() == b"the user's previous model"


def test_a_save_that_fails_midway_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    import keras

    path = tmp_path / "m.keras"
    good = _classifier()
    good.save(path)
    before = path.read_bytes()

    def crash(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        _classifier().save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_a_process_killed_while_saving_leaves_the_previous_model_loadable(tmp_path):
    path = tmp_path / "m.keras"
    _classifier().save(path)
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import os, signal, keras
        from keras_bert_zoo import BertBackbone
        from keras_bert_zoo.tasks.text_classifier import TextClassifier
        from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
        from tests.conftest import TINY
        from tests.reliability.test_python_api import TOKENS
        real = keras.Model.save
        def killed(self, filepath, *a, **k):
            real(self, filepath, *a, **k)              # the new file is complete on disk, not yet renamed
            os.kill(os.getpid(), signal.SIGKILL)
        keras.Model.save = killed
        pre = BertPreprocessor(WordPieceTokenizer(TOKENS), sequence_length=8)
        TextClassifier(BertBackbone(TINY), num_classes=3, preprocessor=pre).save({str(path)!r})
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, timeout=300)
    assert result.returncode == -9, result.stderr.decode()[-2000:]
    assert path.read_bytes() == before
    assert load_task(path).num_classes == 2


# ------------------------------------------------------------------ LoRA adapters (case 8)
def test_a_failed_adapter_load_changes_nothing(tmp_path):
    source = _classifier()
    source.enable_lora(4)
    adapters = tmp_path / "lora.safetensors"
    source.save_lora_weights(adapters)

    wide = TINY.replace(hidden_size=40, intermediate_size=41, num_heads=4)
    target = _classifier(config=wide)
    weights = [w.numpy().copy() for w in target.weights]
    trainable = [v.path for v in target.trainable_variables]
    with pytest.raises(TaskError) as err:
        target.load_lora_weights(adapters)
    assert "has shape" in _one_line(err)
    assert not target.backbone.lora
    assert [v.path for v in target.trainable_variables] == trainable
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(weights, target.weights))


def test_adapters_of_another_base_of_the_same_shape_are_refused(tmp_path):
    """Weak case: a LoRA file carried no fingerprint of its base, so adapters trained on one base loaded into
    another of the same shape and gave wrong outputs without a word."""
    import keras

    keras.utils.set_random_seed(1)
    source = _classifier()
    source.enable_lora(4)
    adapters = tmp_path / "lora.safetensors"
    source.save_lora_weights(adapters)
    keras.utils.set_random_seed(2)
    other = _classifier()                                         # same shapes, other base weights
    weights = [w.numpy().copy() for w in other.weights]
    with pytest.raises(TaskError) as err:
        other.load_lora_weights(adapters)
    assert "the adapters were trained on another base model" in _one_line(err)
    assert not other.backbone.lora and all(np.array_equal(a, w.numpy()) for a, w in zip(weights, other.weights))


def test_saving_a_task_compiled_with_its_own_optimizer_says_the_optimizer_is_not_saved(tmp_path, caplog):
    """Weak case: the compile state is not saved (a loaded task compiles with the recipe); a custom optimizer
    was dropped silently."""
    import keras

    clf = _classifier()
    clf.compile(optimizer=keras.optimizers.SGD(0.1))
    clf.save(tmp_path / "m.keras")
    assert "the optimizer (SGD) is not saved" in caplog.text
    caplog.clear()
    clf.compile()                                                 # the recipe's optimizer: nothing to say
    clf.save(tmp_path / "m.keras")
    assert "is not saved" not in caplog.text


def test_adapters_load_into_a_task_without_lora_and_give_the_source_outputs(tmp_path):
    source = _classifier()
    source.enable_lora(4)
    for v in source.trainable_variables:
        v.assign(np.random.default_rng(0).normal(size=v.shape).astype("float32") * 0.1)
    adapters = tmp_path / "lora.safetensors"
    source.save_lora_weights(adapters)
    target = _classifier()
    target.set_weights([w.numpy() for w in source.weights if "lora" not in w.path])
    target.load_lora_weights(adapters)
    np.testing.assert_allclose(target.predict(TEXTS)["probabilities"], source.predict(TEXTS)["probabilities"],
                               atol=1e-6)


# ------------------------------------------------------------------ weak cases: batch sizes, class weights, text
@pytest.mark.parametrize("size", [0, -1, 2.5, True, "8"])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(size):
    """Before: predict(batch_size=0) silently became 32; a negative size failed deep inside tf.data."""
    clf = _classifier()
    for call in (lambda: clf.predict(TEXTS, batch_size=size, verbose=0),
                 lambda: clf.fit(TEXTS, [0, 1, 0, 1], batch_size=size, epochs=1, verbose=0),
                 lambda: clf.make_dataset(TEXTS, batch_size=size)):
        with pytest.raises(TaskError) as err:
            call()
        assert f"batch_size must be a positive integer, got {size!r}" in _one_line(err)


def test_class_weight_by_label_name_equals_class_weight_by_id():
    import keras

    def trained(class_weight):
        keras.utils.set_random_seed(0)
        pre = BertPreprocessor(WordPieceTokenizer(TOKENS), sequence_length=8)
        clf = TextClassifier(BertBackbone(TINY), labels=["neg", "pos"], preprocessor=pre, dropout=0.0)
        clf.compile(optimizer=keras.optimizers.SGD(0.5))
        clf.fit(TEXTS, ["neg", "pos", "neg", "pos"], class_weight=class_weight, epochs=1, batch_size=4,
                shuffle=False, verbose=0)
        return clf.head.get_weights()[0]

    by_name = trained({"pos": 5.0})                 # "neg" not given: weight 1.0
    np.testing.assert_allclose(by_name, trained({0: 1.0, 1: 5.0}), atol=1e-6)
    assert not np.allclose(by_name, trained(None), atol=1e-6)


@pytest.mark.parametrize("weights, needle", [({"nope": 1.0}, "class_weight key 'nope' is neither a class id"),
                                             ({2: 1.0}, "class_weight key 2 is neither a class id in [0, 2)"),
                                             ({0: float("nan")}, "class_weight[0] is nan"),
                                             ({"pos": -1}, "class_weight['pos'] is -1"),
                                             ([1.0, 2.0], "class_weight must be a dict")])
def test_bad_class_weights_are_refused_naming_the_key(weights, needle):
    pre = BertPreprocessor(WordPieceTokenizer(TOKENS), sequence_length=8)
    clf = TextClassifier(BertBackbone(TINY), labels=["neg", "pos"], preprocessor=pre)
    with pytest.raises(TaskError) as err:
        clf.fit(TEXTS, ["neg", "pos", "neg", "pos"], class_weight=weights, epochs=1, verbose=0)
    assert needle in _one_line(err)


def test_invalid_utf8_and_lone_surrogates_predict_as_the_savedmodel_serves_them():
    """Before: invalid UTF-8 bytes were decoded with "replace" in Python (U+FFFD, which BERT's cleaning drops)
    while the serving graph tokenizes the raw bytes ([UNK]); a lone surrogate crashed tf.constant."""
    import tensorflow as tf

    clf = _classifier()
    python_inputs = [b"w1 \xff\xfe w2", "w1 \ud800 w2", "w1 \ud83d\ude00 w2", "w3"]
    wire = [b"w1 \xff\xfe w2", b"w1 \xed\xa0\x80 w2", "w1 \U0001F600 w2".encode("utf-8"), b"w3"]
    got = clf.predict(python_inputs, verbose=0)["probabilities"]
    served = clf.serving_fn({"text": tf.constant(wire)})["probabilities"].numpy()
    np.testing.assert_allclose(got, served, atol=1e-6)
    packed = clf.preprocess({"text": tf.constant(wire[:1])})["token_ids"].numpy()[0]
    assert 1 in packed.tolist()                            # the invalid sequence is one [UNK], as served
