"""BertPreprocessor: packing and truncation parity with HF (pairs and singles), tf-text trimmers, Keras
(.keras round trip with a string Input), tf.data, and per-position offsets."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer
from text_samples import MULTILINGUAL


@pytest.fixture(scope="module")
def tok(uncased_vocab_path):
    return WordPieceTokenizer(uncased_vocab_path)


@pytest.fixture(scope="module")
def hf(uncased_vocab_path):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab=uncased_vocab_path, do_lower_case=True)


def random_texts(n, seed, tweets):
    rng = random.Random(seed)
    words = " ".join(tweets[:3000]).split()
    out = []
    for _ in range(n):
        k = rng.choice([0, 1, 2, 3, 5, 8, 13, 21, 40])
        out.append(" ".join(rng.choice(words) for _ in range(k)))
    return out


@pytest.mark.parametrize("seq_len", [3, 4, 7, 8, 16, 17, 64])
def test_pairs_longest_first_equal_hf(tok, hf, tweets, seq_len):
    a = random_texts(300, seq_len, tweets)
    b = random_texts(300, seq_len + 100, tweets)
    pre = BertPreprocessor(tok, sequence_length=seq_len, truncate="longest_first")
    ours = pre((tf.constant(a), tf.constant(b)))
    want = hf(a, b, truncation="longest_first", max_length=seq_len, padding="max_length")
    for key, hf_key in (("token_ids", "input_ids"), ("segment_ids", "token_type_ids"),
                        ("padding_mask", "attention_mask")):
        np.testing.assert_array_equal(ours[key].numpy(), np.array(want[hf_key]), err_msg=key)


@pytest.mark.parametrize("seq_len", [2, 5, 16, 128])
def test_single_equal_hf(tok, hf, tweets, seq_len):
    texts = random_texts(200, seq_len, tweets) + MULTILINGUAL
    pre = BertPreprocessor(tok, sequence_length=max(seq_len, 3))
    seq_len = max(seq_len, 3)
    ours = pre(tf.constant(texts))
    want = hf(texts, truncation=True, max_length=seq_len, padding="max_length")
    np.testing.assert_array_equal(ours["token_ids"].numpy(), np.array(want["input_ids"]))
    np.testing.assert_array_equal(ours["segment_ids"].numpy(), np.array(want["token_type_ids"]))
    np.testing.assert_array_equal(ours["padding_mask"].numpy(), np.array(want["attention_mask"]))


@pytest.mark.parametrize("truncate,trimmer", [("round_robin", tf_text.RoundRobinTrimmer),
                                              ("waterfall", tf_text.WaterfallTrimmer)])
def test_other_strategies_equal_tf_text_trimmers(tok, tweets, truncate, trimmer):
    seq_len = 11
    a = random_texts(200, 1, tweets)
    b = random_texts(200, 2, tweets)
    ids_a, ids_b = tok(tf.constant(a)), tok(tf.constant(b))
    trimmed = trimmer(max_seq_length=seq_len - 3).trim([ids_a, ids_b])
    combined, segments = tf_text.combine_segments(trimmed, start_of_sequence_id=tok.cls_id,
                                                  end_of_segment_id=tok.sep_id)
    want_ids, want_mask = tf_text.pad_model_inputs(combined, max_seq_length=seq_len, pad_value=tok.pad_id)
    want_seg, _ = tf_text.pad_model_inputs(segments, max_seq_length=seq_len)
    got = BertPreprocessor(tok, sequence_length=seq_len, truncate=truncate)((tf.constant(a), tf.constant(b)))
    np.testing.assert_array_equal(got["token_ids"].numpy(), want_ids.numpy())
    np.testing.assert_array_equal(got["padding_mask"].numpy(), want_mask.numpy())
    np.testing.assert_array_equal(got["segment_ids"].numpy(), want_seg.numpy())


def test_google_reference_pair_rule_is_round_robin(tok):
    """google-research/bert _truncate_seq_pair (pop from the longer, B on ties) == our round_robin lengths."""
    from keras_bert_zoo.text import truncated_lengths

    for la in range(0, 12):
        for lb in range(0, 12):
            for budget in range(0, 10):
                a, b = la, lb
                while a + b > budget:
                    if a > b:
                        a -= 1
                    else:
                        b -= 1
                ka, kb = truncated_lengths(tf.constant([la]), tf.constant([lb]), budget, "round_robin")
                assert (int(ka[0]), int(kb[0])) == (a, b), (la, lb, budget)


def test_offsets_per_packed_position(tok, hf):
    a = ["Héllo wörld, this is a test of offsets!", "短い日本語 and 中文", ""]
    b = ["Second 😀 segment here.", "ＡＢＣ", "x"]
    pre = BertPreprocessor(tok, sequence_length=12)
    packed, starts, ends = pre.call_with_offsets((tf.constant(a), tf.constant(b)))
    want = hf(a, b, truncation="longest_first", max_length=12, padding="max_length",
              return_offsets_mapping=True)
    np.testing.assert_array_equal(packed["token_ids"].numpy(), np.array(want["input_ids"]))
    seg = packed["segment_ids"].numpy()
    for i in range(len(a)):
        for t, (cs, ce) in enumerate(want["offset_mapping"][i]):
            if want["special_tokens_mask"][i][t] if "special_tokens_mask" in want else (cs == ce == 0):
                assert starts[i, t] == -1 and ends[i, t] == -1
                continue
            text = a[i] if seg[i, t] == 0 else b[i]
            assert (int(starts[i, t]), int(ends[i, t])) == (len(text[:cs].encode()), len(text[:ce].encode()))


def test_in_dataset_map(tok):
    pre = BertPreprocessor(tok, sequence_length=9)
    ds = tf.data.Dataset.from_tensor_slices((["one two", "three"], ["four", ""])).batch(2)
    ds = ds.map(lambda x, y: pre((x, y)))
    batch = next(iter(ds))
    direct = pre((tf.constant(["one two", "three"]), tf.constant(["four", ""])))
    for k in direct:
        np.testing.assert_array_equal(batch[k].numpy(), direct[k].numpy())


def test_keras_model_with_string_input_round_trips(tok, tmp_path):
    pre = BertPreprocessor(tok, sequence_length=10, truncate="waterfall")
    text = keras.Input(shape=(), dtype="string", name="text")
    pair = keras.Input(shape=(), dtype="string", name="pair")
    model = keras.Model([text, pair], pre((text, pair)))
    a = tf.constant(["Hello there, general Kenobi!", "中文测试"])
    b = tf.constant(["You are a bold one.", "ok"])
    before = model([a, b])
    path = tmp_path / "pre.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    after = loaded([a, b])
    for k in before:
        np.testing.assert_array_equal(before[k].numpy(), after[k].numpy())
    # the vocabulary is an asset, not part of the JSON config
    config = pre.get_config()
    assert config["tokenizer"]["config"]["vocabulary"] is None
    assert len(str(config)) < 2000


def test_bad_arguments(tok):
    with pytest.raises(ValueError, match="truncate"):
        BertPreprocessor(tok, truncate="middle_out")
    with pytest.raises(ValueError, match="sequence_length"):
        BertPreprocessor(tok, sequence_length=2)
    with pytest.raises(ValueError, match="1 or 2"):
        BertPreprocessor(tok)((tf.constant(["a"]),) * 3)
