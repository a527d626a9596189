"""keras_bert_zoo.apps.from_scratch: the arm comparison's learning-rate choice, the arms' backbones, the budget
schedule (serialisable, stretched by the curve callback) and the budgeted pretraining with its curve."""

import keras
import numpy as np
import pytest

from keras_bert_zoo.apps import from_scratch
from keras_bert_zoo.config import BertConfig

TINY = BertConfig(vocab_size=99, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=37,
                  max_position_embeddings=16)


def test_compare_arms_keeps_the_best_mean_validation_per_arm():
    scores = {("pretrained", 1e-4): [0.5, 0.7], ("pretrained", 3e-4): [0.6, 0.6],
              ("random_init", 1e-4): [0.3, 0.3], ("random_init", 3e-4): [0.2, 0.5]}
    calls = []

    def run(arm, backbone, lr, seed):
        calls.append((arm, backbone, lr, seed))
        return f"task-{arm}-{lr}-{seed}", {"lr": lr, "seed": seed, "validation": scores[arm, lr][seed - 1]}

    arms = {"pretrained": lambda seed: f"P{seed}", "random_init": lambda seed: f"R{seed}"}
    got = from_scratch.compare_arms(arms, (1e-4, 3e-4), run, seeds=(1, 2))
    assert got["pretrained"]["learning_rate"] == 1e-4            # mean 0.6 == 0.6: the first on ties
    assert got["pretrained"]["validation"] == pytest.approx(0.6)
    assert got["random_init"]["learning_rate"] == 3e-4 and got["random_init"]["validation"] == pytest.approx(0.35)
    assert got["random_init"]["task"] == "task-random_init-0.0003-1"   # the first seed's task
    assert len(got["pretrained"]["grid"]) == 4 and calls[0] == ("pretrained", "P1", 1e-4, 1)


def test_backbone_factory_copies_or_reinitialises():
    from keras_bert_zoo.models.backbone import BertBackbone

    keras.utils.set_random_seed(5)
    source = BertBackbone(TINY)
    pretrained = from_scratch.backbone_factory(source, "pretrained", seed=0)()
    random_a = from_scratch.backbone_factory(source, "random_init", seed=0)()
    random_b = from_scratch.backbone_factory(source, "random_init", seed=0)()
    for a, b in zip(pretrained.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(random_a.get_weights(), random_b.get_weights()):
        np.testing.assert_array_equal(a, b)                      # the same seed, the same initialisation
    assert any(not np.array_equal(a, b) for a, b in zip(random_a.get_weights(), source.get_weights()))
    init = [w * 0 + 0.5 for w in source.get_weights()]
    fixed = from_scratch.backbone_factory((TINY, init), "random_init", seed=0)()   # a given initialisation
    assert all(np.all(w == 0.5) for w in fixed.get_weights())


def test_budget_schedule_serialises_and_follows_its_total():
    schedule = from_scratch.BudgetLinearDecay(1e-3, warmup_fraction=0.1, initial_total_steps=100)
    lr = [float(schedule(s)) for s in (0, 5, 10, 55, 100, 150)]
    assert lr[0] == 0.0 and lr[1] == pytest.approx(5e-4) and lr[2] == pytest.approx(1e-3)
    assert lr[3] == pytest.approx(5e-4) and lr[4] == lr[5] == 0.0
    schedule.total_steps.assign(200.0)
    assert float(schedule(55)) == pytest.approx(1e-3 * (200 - 55) / 180)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(again, from_scratch.BudgetLinearDecay) and float(again(55)) == float(schedule(55))


def test_pretrain_within_budget_stops_and_records_a_curve(tmp_path):
    from keras_bert_zoo.data import pretraining as P
    from keras_bert_zoo.tasks.pretrainer import build_pretrainer, compile_pretrainer
    from keras_bert_zoo.text import WordPieceTokenizer
    from keras_bert_zoo.train.optimizers import BertAdamW

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]
    ids = P.TokenIds.from_vocabulary(vocab)
    rng = np.random.default_rng(0)
    texts = [[" ".join(f"w{i}" for i in rng.integers(0, 94, 6)) for _ in range(4)] for _ in range(20)]
    docs = list(P.tokenize_documents(texts, WordPieceTokenizer(vocab, lowercase=True), ids))
    data_cfg = P.PretrainingDataConfig(max_seq_length=16, max_predictions_per_seq=3)
    heldout = list(P.dynamic_dataset(docs, ids, data_cfg, 4, seed=1, epochs=1).take(2))
    keras.utils.set_random_seed(0)
    model = build_pretrainer(TINY)
    schedule = from_scratch.BudgetLinearDecay(1e-3)
    compile_pretrainer(model, BertAdamW(learning_rate=schedule))
    curve, info = from_scratch.pretrain_within_budget(
        model, lambda: P.dynamic_dataset(docs, ids, data_cfg, 4, seed=0, epochs=None), schedule, 2.0,
        from_scratch.heldout_evaluator(model, heldout), points=2, tokens_per_step=64, snapshot_dir=tmp_path)
    assert curve.curve[0]["steps"] == 0 and curve.curve[-1]["steps"] == curve.steps > 1
    assert curve.seconds >= 2.0 and info["seconds"] > 0 and curve.tokens_per_second > 0
    assert all(0.0 <= row["heldout_mlm_accuracy"] <= 1.0 for row in curve.curve)
    assert all((tmp_path / row["snapshot"]).exists() for row in curve.curve[1:])
    # the schedule's end was re-estimated from the measured rate: close to the steps the budget allowed
    assert abs(float(schedule.total_steps.numpy()) - curve.steps) <= 0.25 * curve.steps
