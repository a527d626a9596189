"""The tokenizer + packer convert to TFLite with builtins plus tf-text custom ops only (no Flex) and give the
same outputs (ids, segments, mask and byte offsets) as TensorFlow."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
from text_samples import MULTILINGUAL, SPECIAL_TEXTS


@pytest.mark.slow
@pytest.mark.parametrize("special_tokens_in_strings", [False, True])
def test_tflite_builtins_and_tf_text_ops_only(uncased_vocab_path, special_tokens_in_strings):
    import tensorflow_text as tf_text
    from ai_edge_litert import interpreter as litert

    pre = BertPreprocessor(WordPieceTokenizer(uncased_vocab_path, special_tokens_in_strings=special_tokens_in_strings),
                           sequence_length=32)
    holder = tf.Module()
    holder.pre = pre

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)])
    def serve(a, b):
        packed, starts, ends = pre.call_with_offsets((a, b))
        return dict(packed, starts=starts, ends=ends)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no SELECT_TF_OPS
    converter.allow_custom_ops = True  # the tf-text kernels, registered below
    blob = converter.convert()
    interp = litert.InterpreterWithCustomOps(model_content=blob,
                                             custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS)
    runner = interp.get_signature_runner()
    a = np.array(MULTILINGUAL + SPECIAL_TEXTS, dtype=object)
    b = np.array((MULTILINGUAL + SPECIAL_TEXTS)[::-1], dtype=object)
    got = runner(a=a, b=b)
    want = serve(tf.constant(a), tf.constant(b))
    for key in want:
        np.testing.assert_array_equal(got[key], want[key].numpy(), err_msg=key)
