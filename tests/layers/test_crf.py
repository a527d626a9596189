"""The CRF layer against brute force: on tiny random cases (random masks, skipped positions inside the rows,
empty rows), the log-partition, the path score and the Viterbi path equal an enumeration of every tag sequence
over the masked positions (with and without forbidden transitions / starts / ends); gradients are finite;
config and .keras round trips keep the weights and the results. keras.ops and numpy only (runs on JAX too)."""

import itertools

import keras
import numpy as np
import pytest

from keras_bert_zoo.layers.crf import CRF, FORBIDDEN_SCORE, CrfLoss

C = 4
# 0 O, 1 B-X, 2 I-X, 3 B-Y: I-X only after B-X / I-X, never first
RULES = {"forbidden_transitions": [[0, 2], [3, 2]], "forbidden_starts": [2], "forbidden_ends": [3]}


def _crf(seed, **kwargs):
    crf = CRF(C, **kwargs)
    crf.build()
    rng = np.random.default_rng(seed)
    crf.set_weights([rng.normal(size=w.shape).astype("float32") for w in crf.weights])
    return crf


def _case(seed, b=5, t=6):
    rng = np.random.default_rng(100 + seed)
    e = rng.normal(size=(b, t, C)).astype("float32") * 2
    mask = rng.random((b, t)) < 0.6
    mask[0] = False                       # an empty row
    mask[1] = True                        # a full row
    tags = rng.integers(0, C, size=(b, t)).astype("int32")
    return e, mask, tags


def _scores(crf, penalised):
    return ([np.asarray(v) for v in crf.decoding_scores()] if penalised
            else [np.asarray(w) for w in (crf.transitions, crf.start_scores, crf.end_scores)])


def _score(scores, e, path, pos):
    trans, start, end = scores
    s = start[path[0]] + end[path[-1]] + sum(e[p, y] for p, y in zip(pos, path))
    return s + sum(trans[a, b] for a, b in zip(path[:-1], path[1:]))


def _brute(crf, e, mask, penalised):
    """(log Z, best path) of one row by enumeration over its masked positions."""
    pos = np.nonzero(mask)[0]
    if len(pos) == 0:
        return 0.0, []
    scores = _scores(crf, penalised)
    scored = [(_score(scores, e, p, pos), p) for p in itertools.product(range(C), repeat=len(pos))]
    logz = np.logaddexp.reduce([s for s, _ in scored])
    return logz, list(max(scored, key=lambda sp: sp[0])[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rules", [{}, RULES], ids=["free", "bio"])
def test_log_partition_and_viterbi_equal_brute_force(seed, rules):
    crf = _crf(seed, **rules)
    e, mask, tags = _case(seed)
    logz = np.asarray(crf.log_partition(e, mask))
    best = np.asarray(crf.decode(e, mask))
    score = np.asarray(crf.sequence_score(e, tags, mask))
    for i in range(len(e)):
        want_z, want_path = _brute(crf, e[i], mask[i], penalised=False)
        np.testing.assert_allclose(logz[i], want_z, rtol=1e-5, atol=1e-4)
        _, want_best = _brute(crf, e[i], mask[i], penalised=True)
        assert best[i][mask[i]].tolist() == want_best, (i, best[i], want_best)
        assert (best[i][~mask[i]] == -1).all()
        pos = np.nonzero(mask[i])[0]
        want_score = _score(_scores(crf, False), e[i], tags[i][pos], pos) if len(pos) else 0.0
        np.testing.assert_allclose(score[i], want_score, rtol=1e-5, atol=1e-4)
    nll = np.asarray(crf.negative_log_likelihood(e, tags, mask))
    assert (nll >= -1e-4).all() and abs(nll[0]) < 1e-6                    # empty row: probability 1


def test_forbidden_paths_are_never_decoded():
    crf = _crf(7, **RULES)
    e, mask, _ = _case(7, b=16, t=7)
    e[:, :, 2] += 3.0                      # I-X everywhere is tempting
    best = np.asarray(crf.decode(e, mask))
    for row, m in zip(best, mask):
        path = row[m].tolist()
        if path:
            assert path[0] != 2 and path[-1] != 3
        assert all([a, b] not in RULES["forbidden_transitions"] for a, b in zip(path[:-1], path[1:])), path
    assert FORBIDDEN_SCORE < -1000


def test_gradients_are_finite_and_reach_every_score():
    crf = _crf(3)
    e, mask, tags = _case(3)
    weights = mask.astype("float32") * 2.0
    model_e = keras.Variable(e)
    loss = CrfLoss(crf)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(tags, model_e, weights)
        grads = tape.gradient(value, [model_e, *crf.trainable_weights])
    elif keras.backend.backend() == "jax":
        import jax

        value = loss(tags, e, weights)
        grads = [jax.grad(lambda x: crf.negative_log_likelihood(x, tags, mask).sum())(e)]
    else:
        pytest.skip("gradient check written for TensorFlow and JAX")
    grads = [np.asarray(g) for g in grads]
    assert all(np.isfinite(g).all() for g in grads)
    assert all(np.abs(g).sum() > 0 for g in grads)
    assert np.abs(grads[0][~mask]).max() == 0                       # unmasked positions get no gradient
    # the loss: sum(nll * row weight) / sum(weights)
    want = (np.asarray(crf.negative_log_likelihood(e, tags, mask)) * 2.0).sum() / weights.sum()
    np.testing.assert_allclose(float(value), want, rtol=1e-5)


def test_config_and_keras_file_round_trip(tmp_path):
    crf = _crf(5, **RULES)
    e, mask, _ = _case(5)
    assert crf.get_config()["forbidden_transitions"] == RULES["forbidden_transitions"]
    clone = CRF.from_config(crf.get_config())
    clone.build()
    clone.set_weights(crf.get_weights())
    np.testing.assert_array_equal(np.asarray(clone.decode(e, mask)), np.asarray(crf.decode(e, mask)))
    inputs = keras.Input((None, C))
    model = keras.Model(inputs, crf(inputs))
    model.save(tmp_path / "crf.keras")
    loaded = keras.saving.load_model(tmp_path / "crf.keras")
    again = loaded.layers[-1]
    assert isinstance(again, CRF) and again.get_config() == crf.get_config()
    for a, b in zip(again.get_weights(), crf.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.asarray(again.log_partition(e, mask)), np.asarray(crf.log_partition(e, mask)))


def test_mixed_policy_keeps_float32_and_bad_ids_are_errors():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        crf = CRF(C)
        out = crf(np.zeros((2, 3, C), "float32"))
    finally:
        keras.config.set_dtype_policy(previous)
    assert crf.transitions.dtype == "float32" and keras.backend.standardize_dtype(out.dtype) == "float32"
    with pytest.raises(ValueError, match="forbidden_starts: tag ids \\[4\\] outside"):
        CRF(C, forbidden_starts=[4])
    with pytest.raises(ValueError, match="at least one tag"):
        CRF(0)
