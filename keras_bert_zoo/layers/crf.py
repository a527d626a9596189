"""A linear-chain conditional random field (CRF) over per-position tag scores, in keras.ops (TF, JAX, torch).

:class:`CRF` holds the learned scores of a tag sequence beside the per-position scores ("emissions", the tagger's
logits)::

    score(y) = start[y_1] + sum_i emissions[i, y_i] + sum_i transitions[y_{i-1}, y_i] + end[y_n]

over the positions where ``mask`` is True ONLY: unmasked positions are skipped, not scored, so the chain links
each masked position to the previous masked one (a word's first sub-word to the previous word's, across
sub-word continuations and special tokens). Shapes: ``B`` batch, ``T`` positions, ``C`` tags.

    crf(emissions)                           the emissions, float32 (the layer sits in the model's graph so
                                             its weights are saved and trained with it)
    crf.log_partition(emissions, mask)       float32 [B]: log sum_y exp(score(y)), the forward algorithm
                                             (log-sum-exp, float32); 0 for a row without masked positions
    crf.sequence_score(emissions, tags, mask)  float32 [B]: score(tags)
    crf.negative_log_likelihood(emissions, tags, mask)  float32 [B]: log_partition - sequence_score
    crf.decode(emissions, mask)              int32 [B, T]: the best path (Viterbi) among the allowed ones;
                                             -1 at unmasked positions

``forbidden_transitions`` ([from, to] pairs), ``forbidden_starts`` and ``forbidden_ends`` (tag ids) are left
out of :meth:`CRF.decode` (a -10000 penalty, so a row whose every path is forbidden still gets one); the
likelihood is over every path, so training data that breaks the rules (IOB1 files, a window that starts inside
an entity) trains as it is. Decoding is a loop over positions whose body uses gather, max, min, equal, select and
scatter-update only: in a TensorFlow graph it converts to TFLite builtins (WHILE), no Flex op.

:class:`CrfLoss` is the Keras loss of a model whose output is ``crf``'s emissions: per-position sample weights
(0 = no tag at that position) give the mask, the loss is ``sum(nll * row weight) / sum(weights)`` (the
negative log-likelihood per tagged position, on the scale of a token-level cross-entropy).

The loops are ``keras.ops.fori_loop``; TensorFlow's XLA cannot differentiate a loop of unknown length, so the
layer says ``supports_jit = False`` (``compile(jit_compile="auto")`` then trains without XLA on TensorFlow).

Example::

    >>> import numpy as np
    >>> from keras_bert_zoo.layers.crf import CRF
    >>> crf = CRF(3, forbidden_transitions=[[0, 2]], forbidden_starts=[2])   # 0 O, 1 B-X, 2 I-X
    >>> emissions = np.array([[[0., 1., 0.], [2., 0., 3.], [0., 0., 0.], [0., 0., 5.]]], "float32")
    >>> mask = np.array([[True, True, False, True]])
    >>> np.asarray(crf.decode(emissions, mask)).tolist()       # I-X after B-X; position 2 is skipped
    [[1, 2, -1, 2]]
    >>> np.asarray(crf.decode(emissions[:, 1:], mask[:, 1:])).tolist()   # no I-X first: B-X, then I-X
    [[1, -1, 2]]
    >>> nll = crf.negative_log_likelihood(emissions, np.array([[1, 2, 0, 2]]), mask)
    >>> bool(np.asarray(nll)[0] > 0)
    True
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["CRF", "CrfLoss", "FORBIDDEN_SCORE"]

#: the score added to a forbidden transition / start / end when decoding
FORBIDDEN_SCORE = -10000.0


def _pairs(value, num_tags, what):
    pairs = [[int(a), int(b)] for a, b in (value or ())]
    bad = [p for p in pairs if not (0 <= p[0] < num_tags and 0 <= p[1] < num_tags)]
    if bad:
        raise ValueError(f"{what}: tag ids {bad} outside [0, {num_tags})")
    return pairs


def _ids(value, num_tags, what):
    ids = [int(v) for v in (value or ())]
    bad = [v for v in ids if not 0 <= v < num_tags]
    if bad:
        raise ValueError(f"{what}: tag ids {bad} outside [0, {num_tags})")
    return ids


def _argmax(x, axis: int, size: int):
    """The first index of the largest value along ``axis`` (int32): max, equal and min only (``ops.argmax``
    of floats adds a sign-bit test that has no TFLite builtin)."""
    shape = [1] * len(x.shape)
    shape[axis] = size
    index = ops.reshape(ops.arange(size, dtype="float32"), shape)
    first = ops.min(ops.where(ops.equal(x, ops.max(x, axis=axis, keepdims=True)), index, float(size)), axis=axis)
    return ops.cast(first, "int32")


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class CRF(keras.layers.Layer):
    """Linear-chain CRF (see the module docstring).

    Args:
        num_tags: ``C``.
        forbidden_transitions: [from, to] tag-id pairs that :meth:`decode` never takes.
        forbidden_starts / forbidden_ends: tag ids a decoded path never starts / ends with.
    """

    def __init__(self, num_tags, forbidden_transitions=(), forbidden_starts=(), forbidden_ends=(), **kwargs):
        kwargs.setdefault("dtype", "float32")     # scores and the log-sum-exp stay float32 under mixed policies
        super().__init__(**kwargs)
        if int(num_tags) < 1:
            raise ValueError(f"CRF needs at least one tag, got num_tags={num_tags}")
        self.num_tags = int(num_tags)
        self.forbidden_transitions = _pairs(forbidden_transitions, self.num_tags, "forbidden_transitions")
        self.forbidden_starts = _ids(forbidden_starts, self.num_tags, "forbidden_starts")
        self.forbidden_ends = _ids(forbidden_ends, self.num_tags, "forbidden_ends")
        self.supports_jit = False

    def build(self, input_shape=None):
        c = self.num_tags
        self.transitions = self.add_weight(name="transitions", shape=(c, c), initializer="zeros")   # [from, to]
        self.start_scores = self.add_weight(name="start_scores", shape=(c,), initializer="zeros")
        self.end_scores = self.add_weight(name="end_scores", shape=(c,), initializer="zeros")
        self.built = True

    def call(self, emissions):
        return ops.cast(emissions, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags,
                "forbidden_transitions": self.forbidden_transitions, "forbidden_starts": self.forbidden_starts,
                "forbidden_ends": self.forbidden_ends}

    # ------------------------------------------------------------------ scores
    def _penalty(self, ids, shape):
        out = [0.0] * (shape[0] * (shape[1] if len(shape) > 1 else 1))
        for i in ids:
            out[i] = FORBIDDEN_SCORE
        return ops.reshape(ops.convert_to_tensor(out, "float32"), shape)

    def _scores(self):
        if not self.built:
            self.build()
        return self.transitions, self.start_scores, self.end_scores

    def decoding_scores(self):
        """(transitions [C, C], start [C], end [C]) with the forbidden ones penalised."""
        self._scores()
        c = self.num_tags
        trans = self.transitions + self._penalty([a * c + b for a, b in self.forbidden_transitions], (c, c))
        return (trans, self.start_scores + self._penalty(self.forbidden_starts, (c,)),
                self.end_scores + self._penalty(self.forbidden_ends, (c,)))

    def log_partition(self, emissions, mask):
        """The forward algorithm over the masked positions: float32 [B]."""
        e = ops.cast(emissions, "float32")                                         # [B, T, C]
        m = ops.cast(mask, "bool")
        trans, start, end = self._scores()

        def step(t, carry):
            alpha, started = carry                                                 # [B, C], [B, 1]
            e_t, m_t = ops.take(e, t, axis=1), ops.expand_dims(ops.take(m, t, axis=1), -1)
            cont = ops.logsumexp(ops.expand_dims(alpha, -1) + trans, axis=1) + e_t  # [B, C]
            new = ops.where(started, cont, start + e_t)
            return ops.where(m_t, new, alpha), ops.logical_or(started, m_t)

        shape = ops.shape(e)
        init = (ops.zeros((shape[0], self.num_tags), "float32"), ops.zeros((shape[0], 1), "bool"))
        alpha, started = ops.fori_loop(0, shape[1], step, init)
        return ops.where(started[:, 0], ops.logsumexp(alpha + end, axis=1), 0.0)

    def sequence_score(self, emissions, tags, mask):
        """score(tags) over the masked positions: float32 [B]."""
        self._scores()
        e = ops.cast(emissions, "float32")
        m = ops.cast(mask, "bool")
        tags = ops.cast(tags, "int32")
        c, t = self.num_tags, ops.shape(tags)[1]
        fm = ops.cast(m, "float32")
        emit = ops.sum(ops.sum(e * ops.one_hot(tags, c), axis=-1) * fm, axis=1)
        pos = ops.arange(t, dtype="int32")[None, :]
        order = ops.argsort(ops.where(m, pos, pos + t), axis=1)                  # masked positions first, in order
        ct = ops.take_along_axis(tags, order, axis=1)                              # [B, T]
        cm = ops.cast(ops.take_along_axis(ops.cast(m, "int32"), order, axis=1), "float32")
        pair = ops.take(ops.reshape(self.transitions, (-1,)), ct[:, :-1] * c + ct[:, 1:])   # [B, T-1]
        trans = ops.sum(pair * cm[:, 1:], axis=1)
        n = ops.cast(ops.sum(fm, axis=1), "int32")
        last = ops.take_along_axis(ct, ops.maximum(n - 1, 0)[:, None], axis=1)[:, 0]
        edges = ops.take(self.start_scores, ct[:, 0]) + ops.take(self.end_scores, last)
        return emit + trans + ops.where(n > 0, edges, 0.0)

    def negative_log_likelihood(self, emissions, tags, mask):
        """-log p(tags | emissions) over the masked positions: float32 [B]."""
        return self.log_partition(emissions, mask) - self.sequence_score(emissions, tags, mask)

    # ------------------------------------------------------------------ Viterbi
    def decode(self, emissions, mask):
        """The best allowed path (int32 [B, T]; -1 at unmasked positions)."""
        e = ops.cast(emissions, "float32")
        m = ops.cast(mask, "bool")
        trans, start, end = self.decoding_scores()
        shape = ops.shape(e)
        b, t_len, c = shape[0], shape[1], self.num_tags
        ident = ops.broadcast_to(ops.arange(c, dtype="int32")[None, :], (b, c))

        def forward(t, carry):
            score, started, back = carry                                   # [B, C], [B, 1], [T, B, C]
            e_t, m_t = ops.take(e, t, axis=1), ops.expand_dims(ops.take(m, t, axis=1), -1)
            cand = ops.expand_dims(score, -1) + trans                      # [B, from, to]
            prev = _argmax(cand, 1, c)
            new = ops.where(started, ops.max(cand, axis=1) + e_t, start + e_t)
            back = ops.scatter_update(back, ops.reshape(t, (1, 1)),
                                      ops.expand_dims(ops.where(ops.logical_and(m_t, started), prev, ident), 0))
            return ops.where(m_t, new, score), ops.logical_or(started, m_t), back

        init = (ops.zeros((b, c), "float32"), ops.zeros((b, 1), "bool"), ops.zeros((t_len, b, c), "int32"))
        score, _, back = ops.fori_loop(0, t_len, forward, init)
        rows = ops.arange(b, dtype="int32") * c

        def backward(i, carry):
            cur, tags = carry                                              # [B], [T, B]
            t = t_len - 1 - i
            tags = ops.scatter_update(tags, ops.reshape(t, (1, 1)), ops.expand_dims(cur, 0))
            cur = ops.take(ops.reshape(ops.take(back, t, axis=0), (-1,)), rows + cur)
            return cur, tags

        last = _argmax(score + end, 1, c)
        _, tags = ops.fori_loop(0, t_len, backward, (last, ops.zeros((t_len, b), "int32")))
        return ops.where(m, ops.transpose(tags), -1)


class CrfLoss(keras.losses.Loss):
    """Negative log-likelihood of ``crf`` (module docstring). ``y_true`` int [B, T] tags, ``y_pred`` the
    emissions [B, T, C], ``sample_weight`` [B, T] (> 0 where a position carries a tag; None: every position)."""

    def __init__(self, crf: CRF, name="crf_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.crf = crf

    def __call__(self, y_true, y_pred, sample_weight=None):
        weights = (ops.ones(ops.shape(y_true), "float32") if sample_weight is None
                   else ops.cast(sample_weight, "float32"))
        nll = self.crf.negative_log_likelihood(y_pred, y_true, weights > 0)         # [B]
        row_weight = ops.max(weights, axis=1)
        return ops.sum(nll * row_weight) / ops.maximum(ops.sum(weights), 1e-6)

    def call(self, y_true, y_pred):
        """The negative log-likelihood of each row over all its positions: float32 [B]."""
        return self.crf.negative_log_likelihood(y_pred, y_true, ops.ones(ops.shape(y_true), "bool"))
