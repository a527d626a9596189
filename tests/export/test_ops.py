"""Op listing and compatibility checks."""

import pytest
import tensorflow as tf
import tensorflow_text as tft

from keras_bert_zoo.export import ops as ops_lib


def test_tftext_op_names_are_read_from_the_libraries():
    names = ops_lib.tftext_op_names()
    assert {"FastWordpieceTokenizeWithOffsets", "FastBertNormalize", "WordpieceTokenizeWithOffsets",
            "TFText>RoundRobinTrim"} <= names
    assert "MatMul" not in names


def test_tflite_kernel_table_names_real_ops():
    from tensorflow.python.framework import op_def_registry

    for name in ops_lib.TFLITE_TFTEXT_KERNELS:
        assert op_def_registry.get(name) is not None, name


def _graph_of(fn, *specs):
    return fn.get_concrete_function(*specs).graph.as_graph_def()


def test_graph_ops_walks_function_library():
    tok = tft.FastWordpieceTokenizer(["[UNK]", "a", "b"], token_out_type=tf.int32)

    @tf.function
    def inner(s):
        return tok.tokenize(s).to_tensor()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def outer(s):
        return inner(s) + 1

    ops = ops_lib.graph_ops(_graph_of(outer))
    assert "FastWordpieceTokenizeWithOffsets" in ops
    assert "AddV2" in ops
    ops_lib.check_ops(ops, ops_lib.Target("with tf-text", ops_lib.tftext_op_names(), any_tf_op=True))
    with pytest.raises(ops_lib.OpCompatibilityError) as err:
        ops_lib.check_ops(ops, ops_lib.Target("bare TF", frozenset(), any_tf_op=True, hint="do X"))
    msg = str(err.value)
    assert "FastWordpieceTokenizeWithOffsets (tf-text op" in msg and "bare TF" in msg and "do X" in msg
    assert "AddV2" not in msg


def test_serving_target_versions():
    major, minor = (int(x) for x in tf.__version__.split(".")[:2])
    target = ops_lib.tf_serving_target()
    assert "FastBertNormalize" in target.custom_ops
    # an older server: checked by op name against the lists in resources/serving_ops (2.12-2.19), else refused
    older = ops_lib.tf_serving_target("2.19")
    assert "FastBertNormalize" in older.custom_ops and "TFText>RoundRobinTrim" not in older.custom_ops
    assert not older.any_tf_op and "MatMul" in older.core_ops
    with pytest.raises(ops_lib.OpCompatibilityError, match="no op list for TF Serving 2.11"):
        ops_lib.tf_serving_target("2.11")
    with pytest.raises(ops_lib.OpCompatibilityError, match="no tf-text op list"):
        ops_lib.tf_serving_target(f"{major}.{minor + 1}")
    # an explicit op list for a newer server that lacks an op
    newer = ops_lib.tf_serving_target(f"{major}.{minor + 1}", tftext_ops=["FastBertNormalize"])
    with pytest.raises(ops_lib.OpCompatibilityError, match="FastWordpieceTokenizeWithOffsets"):
        ops_lib.check_ops(["FastBertNormalize", "FastWordpieceTokenizeWithOffsets", "MatMul"], newer)


def test_tflite_flex_detection():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def join(s):
        return tf.strings.reduce_join(tf.strings.split(s), axis=-1, separator="+")

    conv = tf.lite.TFLiteConverter.from_concrete_functions([join.get_concrete_function()], join)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    model = conv.convert()
    _, customs = ops_lib.tflite_model_ops(model)
    assert any(op.startswith("Flex") for op in customs)
    with pytest.raises(ops_lib.OpCompatibilityError, match="Flex"):
        ops_lib.check_tflite_model(model, ops_lib.tflite_target(flex=False))
    ops_lib.check_tflite_model(model, ops_lib.tflite_target(flex=True))
