"""Multiple choice on a SWAG-format CSV: packing, training with model.fit, evaluation, save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny5b
from keras_bert_zoo.tasks import BertTask, TaskError, get_task_class

SWAG = tiny5b.FIXTURES / "swag_train.csv"


def test_train_evaluate_predict_save_load(tmp_path):
    tok = tiny5b.tokenizer()
    task = get_task_class("choice").from_train_file(SWAG, tiny5b.backbone(tok.vocab_size, num_layers=1), tok, sequence_length=24)
    assert task.num_choices == 4 and task.text_inputs[1:] == ("choice_0", "choice_1", "choice_2", "choice_3")
    # each row k is packed as (context, sent2 + ending_k)
    packed = task.preprocess({"context": tf.constant(["She picks up the cup."]),
                              **{f"choice_{k}": tf.constant([f"She drinks {k}"]) for k in range(4)}})
    assert packed["token_ids"].shape == (1, 4, 24)
    single = task.preprocessor((tf.constant(["She picks up the cup."]), tf.constant(["She drinks 2"])))
    np.testing.assert_array_equal(packed["token_ids"][0, 2], single["token_ids"][0])
    ds = task.dataset_from_file(SWAG, batch_size=3, training=True).cache()
    task.compile(keras.optimizers.Adam(5e-3))
    hist = task.model.fit(ds.repeat(4), epochs=3, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    scores = task.evaluate_file(SWAG, out_dir=tmp_path)
    assert 0.0 <= scores["accuracy"] <= 1.0 and scores["num_examples"] == 6
    assert (tmp_path / "predictions.csv").is_file()
    pred = task.predict_choices(["She picks up the cup."], [["a", "b", "c", "d"]])
    assert len(pred[0]["probabilities"]) == 4 and abs(sum(pred[0]["probabilities"]) - 1) < 1e-5
    with pytest.raises(TaskError, match="3 choices"):
        task.predict_choices(["x"], [["a", "b", "c"]])
    task.save(tmp_path / "choice")
    again = BertTask.load(tmp_path / "choice")
    assert again.num_choices == 4
    np.testing.assert_allclose(again.predict_choices(["She picks up the cup."], [["a", "b", "c", "d"]])[0]
                               ["probabilities"], pred[0]["probabilities"], atol=1e-5)
