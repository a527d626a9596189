"""Multi-head self-attention with a padding mask (keras.ops only).

    from keras_bert_zoo.layers import MultiHeadSelfAttention
    attention = MultiHeadSelfAttention(hidden_size=32, num_heads=4, dropout=0.1)
    out = attention(x, padding_mask=mask)                        # x [B, T, 32], mask [B, T] -> [B, T, 32]
    out, probs = attention(x, padding_mask=mask, return_scores=True)   # probs float32 [B, 4, T, T]; padded keys 0

Two implementations of the same function: the explicit one (scores, masked float32 softmax, dropout on the
probabilities, context) and the fused ``keras.ops.dot_product_attention`` (cuDNN flash attention on a GPU under
JAX/torch). ``implementation="auto"`` (default) takes the fused kernel on the JAX and torch backends whenever it
computes the same thing: no dropout on the probabilities in this call (inference, or ``dropout=0``) and no
``return_scores``. The TensorFlow backend keeps the explicit graph: it is what the SavedModel/TFLite exports and
their full-int8 calibration were verified with (see ``_MASK_MARGIN``).
"""

import contextlib
import math

import keras
from keras import ops

__all__ = ["MultiHeadSelfAttention", "IMPLEMENTATIONS"]

IMPLEMENTATIONS = ("auto", "fused", "explicit")
_FUSED_BACKENDS = ("jax", "torch")

# Padded keys get ``min(row scores) - _MASK_MARGIN`` instead of their score: their softmax weight is at most
# exp(-_MASK_MARGIN) (~1e-13) of the largest real key's, i.e. 0 to float32 precision against the real keys.
# The penalty is bounded by the scores' own range on purpose: a constant like -1e9 would do the same in float
# but stretches the calibrated range of the scores tensor under full-int8 quantization so far that every real
# score collapses to one int8 level (measured: 46 % label agreement on MiniLM; see docs/notes/issue-7.md).
_MASK_MARGIN = 30.0


def masked_softmax(scores, keep):
    """Softmax over the last axis of float32 ``scores`` [B, N, T, T] ignoring keys where ``keep`` [B, 1, 1, T]
    (float 0/1) is 0: masked keys get exactly 0. (A row whose keys are all masked gets all zeros; the packer
    always keeps [CLS] and [SEP], so that happens only for an all-padding row.)"""
    floor = ops.stop_gradient(ops.min(scores, axis=-1, keepdims=True)) - _MASK_MARGIN
    return ops.softmax(ops.where(keep > 0.5, scores, floor), axis=-1) * keep


@keras.saving.register_keras_serializable(package="keras_bert_zoo")
class MultiHeadSelfAttention(keras.layers.Layer):
    """BERT self-attention: Q/K/V projections, scaled dot product, softmax in float32, output projection.

    The query, key and value kernels are separate variables (so checkpoints map one-to-one) but are applied as
    one fused [D, 3D] matmul, which is faster on CPU than three (:meth:`fused_projection`; the exports hold
    the fused kernel as a variable of its own: :meth:`precomputed_projection`).

    Args:
        implementation: ``"auto"`` (fused where it is the same computation, on JAX/torch), ``"fused"``
            (``keras.ops.dot_product_attention`` whenever no probability dropout is active and no scores are
            asked for, on any backend), or ``"explicit"``.

    Call args:
        x: [B, T, D] hidden states.
        padding_mask: [B, T] int or bool, 1/True for real tokens; None attends everywhere.
        return_scores: also return the attention probabilities [B, N, T, T] (float32).
    """

    _precomputed_projection = None      # (kernel, bias) while in precomputed_projection()

    def __init__(self, hidden_size, num_heads, dropout=0.1, initializer_range=0.02, implementation="auto",
                 **kwargs):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        self.implementation = implementation
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.head_size = hidden_size // num_heads
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)

        def dense(name):
            return keras.layers.Dense(hidden_size, kernel_initializer=init, dtype=self.dtype_policy, name=name)

        self.query = dense("query")
        self.key = dense("key")
        self.value = dense("value")
        self.output_dense = dense("attention_output")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="attention_dropout")

    def build(self, x_shape, padding_mask_shape=None):
        for layer in (self.query, self.key, self.value, self.output_dense):
            layer.build(x_shape)
        self.built = True

    def fused_projection(self):
        """(kernel [D, 3D], bias [3D]) of the fused query/key/value projection: the three Dense layers' variables
        concatenated (in the traced graph, on every call), or the pair set by :meth:`precomputed_projection`."""
        if self._precomputed_projection is not None:
            return self._precomputed_projection
        return (ops.concatenate([self.query.kernel, self.key.kernel, self.value.kernel], axis=1),
                ops.concatenate([self.query.bias, self.key.bias, self.value.bias], axis=0))

    @contextlib.contextmanager
    def precomputed_projection(self, kernel, bias):
        """Within the block, calls apply ``kernel`` [D, 3D] and ``bias`` [3D] (the values of
        :meth:`fused_projection`, held as variables) instead of concatenating the three Dense layers' variables
        on each call. The exporters trace their serving graphs in it: a graph traced here captures the pair and
        no longer follows the Dense layers' variables, so it is a snapshot (what an export is anyway)."""
        want = (self.hidden_size, 3 * self.hidden_size)
        if tuple(kernel.shape) != want or tuple(bias.shape) != want[1:]:
            raise ValueError(f"precomputed projection of {self.name}: expected kernel {want} and bias "
                             f"{want[1:]}, got {tuple(kernel.shape)} and {tuple(bias.shape)}")
        # object.__setattr__: not a tracked attribute (not a weight of the layer, not in its saved state)
        before = self._precomputed_projection
        object.__setattr__(self, "_precomputed_projection", (kernel, bias))
        try:
            yield
        finally:
            object.__setattr__(self, "_precomputed_projection", before)

    def uses_fused(self, training=None, return_scores=False):
        """Whether a call with these arguments takes ``keras.ops.dot_product_attention``."""
        if self.implementation == "explicit" or return_scores or (training and self.dropout > 0):
            return False
        return self.implementation == "fused" or keras.backend.backend() in _FUSED_BACKENDS

    def call(self, x, padding_mask=None, training=None, return_scores=False):
        # B=batch, T=seq, N=heads, H=head size, D=N*H
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        out = self.attend(ops.reshape(x, (-1, self.hidden_size)), batch, seq, padding_mask=padding_mask,
                          training=training, return_scores=return_scores)
        if return_scores:
            return ops.reshape(out[0], (batch, seq, self.hidden_size)), out[1]
        return ops.reshape(out, (batch, seq, self.hidden_size))

    def attend(self, x, batch, seq, padding_mask=None, training=None, return_scores=False):
        """:meth:`call` on hidden states flattened to rows, ``x`` [B*T, D] -> [B*T, D] (and the probabilities).

        The projections are plain 2-D matmuls: a [B, T, D] input to a Dense layer or a matmul is a
        ``tensordot`` in TensorFlow (a dozen shape ops around each MatMul, which the graph optimiser cannot
        fuse with the bias add); :class:`TransformerEncoderBlock` keeps its rows flat for the whole block."""
        kernel, bias = self.fused_projection()                                                   # [D, 3D], [3D]
        # ops.add, not +: a 1-D bias becomes a BiasAdd, which the graph optimiser fuses into the MatMul
        qkv = ops.add(ops.matmul(x, ops.cast(kernel, x.dtype)), ops.cast(bias, x.dtype))         # [B*T, 3D]
        qkv = ops.reshape(qkv, (batch, seq, 3, self.num_heads, self.head_size))                  # [B, T, 3, N, H]
        if self.uses_fused(training, return_scores):
            q, k, v = ops.unstack(qkv, 3, axis=2)                                                # [B, T, N, H]
            mask = None
            if padding_mask is not None:
                mask = ops.expand_dims(ops.expand_dims(ops.cast(padding_mask, "bool"), 1), 1)     # [B, 1, 1, T]
            context = ops.dot_product_attention(q, k, v, mask=mask, scale=1.0 / math.sqrt(self.head_size))
            return self.output_dense(ops.reshape(context, (-1, self.hidden_size)))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))                                                # [3, B, N, T, H]
        # unstack, not qkv[i]: the gradient of three slices materialises three zero-filled [3, B, N, T, H]
        # tensors (measured ~3x slower attention backward on CPU); unstack's gradient is one stack.
        q, k, v = ops.unstack(qkv, 3, axis=0)                                                    # [B, N, T, H]
        q = q * ops.cast(1.0 / math.sqrt(self.head_size), q.dtype)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))                                   # [B, N, T, T]
        scores = ops.cast(scores, "float32")
        if padding_mask is not None:
            # expand_dims, not [:, None, None, :]: with an unknown T the latter becomes a StridedSlice that
            # TFLite cannot lower to a builtin.
            keep = ops.expand_dims(ops.expand_dims(ops.cast(padding_mask, "float32"), 1), 1)      # [B, 1, 1, T]
            probs = masked_softmax(scores, keep)                                                 # [B, N, T, T]
        else:
            probs = ops.softmax(scores, axis=-1)
        dropped = self.dropout_layer(ops.cast(probs, self.compute_dtype), training=training)
        context = ops.matmul(dropped, v)                                                         # [B, N, T, H]
        context = ops.transpose(context, (0, 2, 1, 3))                                           # [B, T, N, H]
        out = self.output_dense(ops.reshape(context, (-1, self.hidden_size)))                    # [B*T, D]
        if return_scores:
            return out, probs
        return out

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads, dropout=self.dropout,
                      initializer_range=self.initializer_range, implementation=self.implementation)
        return config
