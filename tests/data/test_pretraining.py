"""Pretraining data: corpora, reference pair semantics, masking statistics, dynamic vs static modes."""

import os
import random

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.data import corpus
from keras_bert_zoo.data import pretraining as P

# Ids: 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], 4 [MASK], 5..59 words, 60..98 "##" pieces (vocab 99).
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(5, 60)]
         + [f"##p{i}" for i in range(60, 99)])
IDS = P.TokenIds.from_vocabulary(VOCAB)
SPECIAL = {0, 2, 3, 4}


def synthetic_documents(num_docs=60, seed=0, piece_prob=0.3):
    """Documents of 4-12 sentences of 3-12 tokens; each word is 1-3 pieces (a word id then ## ids)."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(num_docs):
        doc = []
        for _ in range(rng.integers(4, 13)):
            ids = []
            while len(ids) < rng.integers(3, 13):
                ids.append(int(rng.integers(5, 60)))
                while rng.random() < piece_prob and len(ids) < 14:
                    ids.append(int(rng.integers(60, 99)))
            ids = np.asarray(ids, np.int32)
            doc.append((ids, ~IDS.continuation[ids]))
        docs.append(doc)
    return docs


def collect(ds, num_batches):
    rows = []
    for x, y, sw in ds.take(num_batches):
        x = {k: v.numpy() for k, v in x.items()}
        for b in range(x["token_ids"].shape[0]):
            n = int(sw["mlm_logits"][b].numpy().sum())
            rows.append({"token_ids": x["token_ids"][b], "segment_ids": x["segment_ids"][b],
                         "padding_mask": x["padding_mask"][b], "positions": x["mask_positions"][b][:n],
                         "mask_ids": y["mlm_logits"][b].numpy()[:n], "nsp": int(y["nsp_logits"][b])})
    return rows


def statistics(rows):
    tokens = sum(int(r["padding_mask"].sum()) for r in rows)
    masked = sum(len(r["positions"]) for r in rows)
    values = np.concatenate([r["token_ids"][r["positions"]] for r in rows])
    originals = np.concatenate([r["mask_ids"] for r in rows])
    return {"masked_fraction": masked / tokens,
            "mask_token": float(np.mean(values == IDS.mask_id)),
            "unchanged": float(np.mean(values == originals)),
            "random": float(np.mean((values != IDS.mask_id) & (values != originals))),
            "nsp_random": float(np.mean([r["nsp"] for r in rows])),
            "mean_length": tokens / len(rows)}


CONFIG = P.PretrainingDataConfig(max_seq_length=48, max_predictions_per_seq=48, masked_lm_prob=0.15,
                                 short_seq_prob=0.1)


@pytest.fixture(scope="module")
def docs():
    return synthetic_documents()


@pytest.fixture(scope="module")
def dynamic_rows(docs):
    return collect(P.dynamic_dataset(docs, IDS, CONFIG, batch_size=64, seed=7), 20)


def test_masking_statistics(dynamic_rows):
    s = statistics(dynamic_rows)
    assert len(dynamic_rows) == 1280
    assert abs(s["masked_fraction"] - 0.15) < 0.01, s
    assert abs(s["mask_token"] - 0.8) < 0.02, s
    # a random replacement equal to the original (1/99) counts as "unchanged"
    assert abs(s["random"] - 0.1 * (1 - 1 / 99)) < 0.015, s
    assert abs(s["unchanged"] - (0.1 + 0.1 / 99)) < 0.015, s


def test_special_tokens_never_masked_and_labels_are_originals(dynamic_rows):
    for r in dynamic_rows:
        originals = r["token_ids"].copy()
        originals[r["positions"]] = r["mask_ids"]
        assert not SPECIAL & set(r["mask_ids"].tolist())
        assert np.all(np.diff(r["positions"]) > 0)                               # sorted, unique
        n = int(r["padding_mask"].sum())
        assert originals[0] == IDS.cls_id and originals[n - 1] == IDS.sep_id
        assert np.sum(originals[:n] == IDS.sep_id) == 2
        assert np.all(r["positions"] < n)
        # the budget of the reference: min(max_predictions, max(1, round(n * 0.15)))
        assert len(r["positions"]) == min(CONFIG.max_predictions_per_seq, max(1, round(n * 0.15)))


def test_nsp_labels_balanced_and_pair_layout(docs):
    # Long documents: a coin flip decides the label. (As in the reference, a chunk of a single sentence, e.g.
    # the tail of a document, always gets a random next segment, so short documents lean towards label 1.)
    rng = np.random.default_rng(0)
    long_docs = [[(ids, np.ones(len(ids), bool)) for ids in
                  (rng.integers(5, 60, rng.integers(3, 13)).astype(np.int32) for _ in range(100))]
                 for _ in range(30)]
    labels = np.array([p.nsp_label for s in range(4)
                       for p in P.create_segment_pairs(long_docs, CONFIG, IDS, random.Random(s))])
    assert len(labels) > 2000
    assert abs(labels.mean() - 0.5) < 0.03, labels.mean()
    single = [[(np.array([5, 6, 7], np.int32), np.ones(3, bool))] for _ in range(5)]
    assert all(p.nsp_label == 1 for p in P.create_segment_pairs(single, CONFIG, IDS, random.Random(0)))
    pairs = P.create_segment_pairs(docs, CONFIG, IDS, random.Random(0))
    for p in pairs:
        n = len(p.token_ids)
        assert n <= CONFIG.max_seq_length
        sep = np.flatnonzero(p.token_ids == IDS.sep_id)
        assert p.token_ids[0] == IDS.cls_id and len(sep) == 2 and sep[1] == n - 1
        np.testing.assert_array_equal(p.segment_ids, (np.arange(n) > sep[0]).astype(np.int32))


def test_actual_next_segment_follows_in_the_document():
    # each sentence is one distinct id, so the continuation is checkable
    docs = [[(np.array([5 + d * 5 + i], np.int32), np.array([True])) for i in range(5)] for d in range(8)]
    cfg = P.PretrainingDataConfig(max_seq_length=8, short_seq_prob=0.0)
    for p in P.create_segment_pairs(docs, cfg, IDS, random.Random(3)):
        sep = int(np.flatnonzero(p.token_ids == IDS.sep_id)[0])
        a, b = p.token_ids[1:sep], p.token_ids[sep + 1:-1]
        same_doc = (a[0] - 5) // 5 == (b[0] - 5) // 5
        if p.nsp_label == 0:
            assert same_doc and b[0] == a[-1] + 1
        else:
            assert not same_doc


def test_short_seq_prob_and_lengths(docs):
    long_cfg = P.PretrainingDataConfig(max_seq_length=48, short_seq_prob=0.0)
    short_cfg = P.PretrainingDataConfig(max_seq_length=48, short_seq_prob=1.0)
    long_len = np.mean([len(p.token_ids) for p in P.create_segment_pairs(docs, long_cfg, IDS, random.Random(0))])
    short_len = np.mean([len(p.token_ids) for p in P.create_segment_pairs(docs, short_cfg, IDS, random.Random(0))])
    assert long_len > 35 and short_len < long_len - 10, (long_len, short_len)


def test_same_seed_same_examples(docs, dynamic_rows):
    again = collect(P.dynamic_dataset(docs, IDS, CONFIG, batch_size=64, seed=7), 3)
    for ra, rb in zip(dynamic_rows, again):
        for k in ra:
            np.testing.assert_array_equal(ra[k], rb[k])
    # pairs: a seeded random.Random; masks: stateless seeds
    pa = P.create_segment_pairs(docs, CONFIG, IDS, random.Random(1))
    pb = P.create_segment_pairs(docs, CONFIG, IDS, random.Random(1))
    pc = P.create_segment_pairs(docs, CONFIG, IDS, random.Random(2))
    assert all(np.array_equal(a.token_ids, b.token_ids) and a.nsp_label == b.nsp_label for a, b in zip(pa, pb))
    assert not all(np.array_equal(a.token_ids, c.token_ids) for a, c in zip(pa, pc))
    token_ids = tf.ragged.constant([p.token_ids for p in pa[:32]], tf.int32)
    starts = tf.ragged.constant([p.word_starts for p in pa[:32]], tf.bool)
    m1, m2, m3 = (P.mask_batch(token_ids, starts, tf.constant(seed, tf.int64), CONFIG, IDS)
                  for seed in ([0, 1], [0, 1], [0, 2]))
    assert m1[0].to_list() == m2[0].to_list() and m1[1].to_list() == m2[1].to_list()
    assert m1[1].to_list() != m3[1].to_list()


def test_dynamic_mode_recuts_and_remasks_every_epoch(docs, dynamic_rows):
    n = len(P.create_segment_pairs(docs, CONFIG, IDS, random.Random(7 * 1_000_003)))   # epoch 0 of seed 7
    first, second = dynamic_rows[:n], dynamic_rows[n:2 * n]
    assert len(second) == n or len(dynamic_rows) < 2 * n
    same = sum(np.array_equal(a["token_ids"], b["token_ids"]) for a, b in zip(first, second))
    assert same < n // 10


def test_whole_word_masking_groups(docs):
    cfg = P.PretrainingDataConfig(max_seq_length=48, max_predictions_per_seq=48, whole_word_masking=True)
    pairs = P.create_segment_pairs(docs, cfg, IDS, random.Random(0))[:512]
    ds = P.pairs_to_dataset(pairs).ragged_batch(128)
    partial = 0
    words_masked = 0
    for b, (token_ids, _, starts, _) in enumerate(ds):
        masked, positions, mask_ids = P.mask_batch(token_ids, starts, tf.constant([0, b], tf.int64), cfg, IDS)
        for row_ids, row_starts, pos in zip(token_ids.to_list(), starts.to_list(), positions.to_list()):
            word = np.cumsum(row_starts) - 1                 # word index of every token
            chosen = np.zeros(len(row_ids), bool)
            chosen[pos] = True
            for w in np.unique(word[chosen]):
                members = chosen[word == w]
                words_masked += 1
                partial += not members.all()
            # budget is in tokens, never exceeded
            assert len(pos) <= max(1, round(len(row_ids) * 0.15))
    assert words_masked > 500 and partial == 0


def test_user_word_boundaries_group_chinese_words():
    # a character-level "tokenizer": every character is one id; the user segments words with spaces
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("我们今天去北京大学看书。")
    ids = P.TokenIds.from_vocabulary(vocab)
    lookup = {c: i for i, c in enumerate(vocab)}

    def char_tokenizer(strings):
        rows = [[lookup.get(c, 1) for c in s.numpy().decode() if not c.isspace()] for s in strings]
        return tf.ragged.constant(rows, tf.int32, ragged_rank=1)

    docs = [["我们 今天 去 北京大学 看书 。"]]
    (doc,) = P.tokenize_documents(docs, char_tokenizer, ids, word_boundaries="whitespace")
    ((token_ids, starts),) = doc
    assert "".join(vocab[i] for i in token_ids) == "我们今天去北京大学看书。"
    assert starts.tolist() == [True, False, True, False, True, True, False, False, False, True, False, True]
    # default (wordpiece) boundaries: no ## pieces, so every Chinese character is its own word
    (doc,) = P.tokenize_documents(docs, char_tokenizer, ids)
    assert doc[0][1].all()


def test_static_and_dynamic_modes_same_distribution(docs, dynamic_rows, tmp_path):
    meta = P.write_tfrecord_shards(iter(docs), str(tmp_path), IDS, CONFIG, num_shards=3, dupe_factor=8, seed=7,
                                   chunk_documents=25)
    assert len(os.listdir(tmp_path)) == 4 and meta["examples"] > 1000
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]
    static_rows = collect(P.tfrecord_dataset(str(tmp_path), CONFIG, batch_size=64, seed=1, repeat=False,
                                             drop_remainder=False), 1000)
    assert len(static_rows) == meta["examples"]
    s, d = statistics(static_rows), statistics(dynamic_rows)
    for key, tol in (("masked_fraction", 0.01), ("mask_token", 0.03), ("random", 0.02), ("unchanged", 0.02),
                     ("nsp_random", 0.07), ("mean_length", 2.0)):
        assert abs(s[key] - d[key]) < tol, (key, s, d)
    for r in static_rows:
        assert not SPECIAL & set(r["mask_ids"].tolist())


def test_tfrecord_reader_refuses_longer_data_and_shards_by_worker(docs, tmp_path):
    P.write_tfrecord_shards(docs[:10], str(tmp_path), IDS, CONFIG, num_shards=2, dupe_factor=1)
    with pytest.raises(P.PretrainingDataError, match="max_seq_length=48"):
        P.tfrecord_dataset(str(tmp_path), P.PretrainingDataConfig(max_seq_length=32), batch_size=2)
    ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
    one = collect(P.tfrecord_dataset(str(tmp_path), CONFIG, 8, shuffle=False, repeat=False, drop_remainder=False,
                                     input_context=ctx), 100)
    both = collect(P.tfrecord_dataset(str(tmp_path), CONFIG, 8, shuffle=False, repeat=False,
                                      drop_remainder=False), 100)
    assert 0 < len(one) < len(both)


def test_config_validation():
    with pytest.raises(P.PretrainingDataError, match="mask_token_rate"):
        P.PretrainingDataConfig(mask_token_rate=0.95, random_token_rate=0.1)
    with pytest.raises(P.PretrainingDataError, match="max_seq_length"):
        P.PretrainingDataConfig(max_seq_length=3)
    with pytest.raises(P.PretrainingDataError, match="special tokens"):
        P.TokenIds.from_vocabulary(["a", "b"])


# ---------------------------------------------------------------------------------------------- corpora

def test_split_sentences_english_and_chinese():
    assert corpus.split_sentences("It works. Does it? Yes!\nGood") == ["It works.", "Does it?", "Yes!", "Good"]
    assert corpus.split_sentences("你好吗？我很好……谢谢。“真的吗？”他问。") == [
        "你好吗？", "我很好……", "谢谢。", "“真的吗？”", "他问。"]
    assert corpus.split_sentences("Pi is 3.14 today. 中文English混合。") == ["Pi is 3.14 today.", "中文English混合。"]


def test_read_bert_and_plain_formats(tmp_path):
    bert = tmp_path / "bert.txt"
    bert.write_text("first doc one.\nfirst doc two.\n\n\nsecond doc.\n", encoding="utf-8")
    assert corpus.read_documents(bert) == [["first doc one.", "first doc two."], ["second doc."]]
    plain = tmp_path / "plain.txt"
    plain.write_text("One. Two?\nstill two para.\n\n三。四！\n", encoding="utf-8")
    assert corpus.read_documents(plain, "plain") == [["One.", "Two?", "still two para."], ["三。", "四！"]]
    out = corpus.write_bert_corpus([["a b", "c"], ["d"]], tmp_path / "out.txt")
    assert corpus.read_documents(out) == [["a b", "c"], ["d"]]


def test_bad_utf8_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\xfe broken\n")
    with pytest.raises(corpus.CorpusError, match=r"bad.txt:2: not valid UTF-8"):
        corpus.read_documents(bad)
    assert corpus.read_documents(bad, errors="replace")[0][0] == "fine"
    with pytest.raises(corpus.CorpusError, match="not found"):
        corpus.read_documents(tmp_path / "missing.txt")


def test_tokenize_documents_with_the_package_tokenizer_wordpiece_and_chinese_words():
    from keras_bert_zoo.text import WordPieceTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##believ", "##able", "cat", "我", "们", "."]
    tokenizer = WordPieceTokenizer(vocab, lowercase=True)
    ids = P.TokenIds.from_tokenizer(tokenizer)
    assert (ids.cls_id, ids.sep_id, ids.mask_id, ids.pad_id) == (2, 3, 4, 0)
    docs = list(P.tokenize_documents([["The unbelievable cat.", "我们"], ["   "]], tokenizer, ids))
    assert len(docs) == 1                                         # the empty document is dropped
    (a_ids, a_starts), (b_ids, b_starts) = docs[0]
    assert [vocab[i] for i in a_ids] == ["the", "un", "##believ", "##able", "cat", "."]
    assert a_starts.tolist() == [True, True, False, False, True, True]
    assert [vocab[i] for i in b_ids] == ["我", "们"] and b_starts.all()   # each Chinese character is a word
