"""Parity of WordPieceTokenizer with HF BertTokenizerFast (== the reference BERT tokenizer), ids and offsets.

HF's tokenizer is built locally from the same vocab.txt (no hub). Texts: hand-picked multilingual / adversarial
samples, every line of the Chinese seed article, and every tweet of the real corpus (38k)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_zoo.text import WordPieceTokenizer

from text_samples import MULTILINGUAL, SPECIAL_TEXTS, seed_lines


def hf_tokenizer(vocab_path, lowercase, strip_accents=None):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab=vocab_path, do_lower_case=lowercase, strip_accents=strip_accents)


def byte_offsets(text, char_offsets):
    """HF character offsets -> UTF-8 byte offsets."""
    cum = np.concatenate([[0], np.cumsum([len(c.encode("utf-8")) for c in text])]).astype(np.int64)
    return [(int(cum[a]), int(cum[b])) for a, b in char_offsets]


def compare(tok, hf, texts, offsets=True):
    """-> (number of texts whose ids (and offsets) equal HF's, list of mismatches)."""
    if offsets:
        ids, starts, ends = tok.tokenize_with_offsets(tf.constant(texts))
        starts, ends = starts.to_list(), ends.to_list()
    else:
        ids = tok(tf.constant(texts))
    ids = ids.to_list()
    # HF matches special tokens written in the text unless split_special_tokens (google-research/bert's rule,
    # our default); compare like with like.
    enc = hf(texts, add_special_tokens=False, return_offsets_mapping=offsets,
             split_special_tokens=not tok.special_tokens_in_strings)
    bad = []
    for i, text in enumerate(texts):
        if ids[i] != enc["input_ids"][i]:
            bad.append((text, "ids", ids[i], enc["input_ids"][i]))
        elif offsets:
            want = byte_offsets(text, enc["offset_mapping"][i])
            got = list(zip(starts[i], ends[i]))
            if got != want:
                bad.append((text, "offsets", got, want))
    return len(texts) - len(bad), bad


@pytest.fixture(scope="module")
def uncased(uncased_vocab_path):
    return WordPieceTokenizer(uncased_vocab_path, lowercase=True), hf_tokenizer(uncased_vocab_path, True)


@pytest.fixture(scope="module")
def cased(cased_vocab_path):
    return WordPieceTokenizer(cased_vocab_path, lowercase=False), hf_tokenizer(cased_vocab_path, False)


@pytest.mark.parametrize("which", ["uncased", "cased"])
def test_multilingual_samples_ids_and_offsets(which, request):
    tok, hf = request.getfixturevalue(which)
    matched, bad = compare(tok, hf, MULTILINGUAL)
    assert not bad, f"{which}: {matched}/{len(MULTILINGUAL)} match; first mismatches: {bad[:3]}"


@pytest.mark.parametrize("which", ["uncased", "cased"])
def test_chinese_seed_article(which, request):
    lines = seed_lines()
    if not lines:
        pytest.skip("no seed article")
    tok, hf = request.getfixturevalue(which)
    matched, bad = compare(tok, hf, lines)
    assert not bad, f"{which}: {matched}/{len(lines)} seed lines match; first: {bad[:2]}"
    # and as one long document
    matched, bad = compare(tok, hf, ["\n".join(lines)])
    assert not bad


@pytest.mark.parametrize("which", ["uncased", "cased"])
def test_all_tweets_ids(which, request, tweets):
    tok, hf = request.getfixturevalue(which)
    matched, bad = compare(tok, hf, tweets, offsets=False)
    print(f"\n{which}: {matched}/{len(tweets)} tweets identical ids ({100.0 * matched / len(tweets):.3f}%)")
    assert not bad, f"{which}: {len(bad)} tweets differ; first: {bad[:2]}"


def test_tweet_offsets_sample(uncased, tweets):
    tok, hf = uncased
    sample = tweets[::10]
    matched, bad = compare(tok, hf, sample, offsets=True)
    print(f"\noffsets: {matched}/{len(sample)} tweets identical ids and byte offsets")
    assert not bad, bad[:2]


def with_special_tokens(texts, seed=0):
    """Each text with literal special tokens inserted at random character positions (deterministic)."""
    rng = np.random.default_rng(seed)
    specials = ["[MASK]", "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[mask]", "[MASK", "MASK]"]
    out = []
    for text in texts:
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(text) + 1))
            text = text[:at] + specials[int(rng.integers(len(specials)))] + text[at:]
        out.append(text)
    return out


@pytest.mark.parametrize("in_strings", [False, True])
@pytest.mark.parametrize("which", ["uncased", "cased"])
def test_special_tokens_in_strings(which, in_strings, request, tweets):
    """Literal "[MASK]" etc.: split like any text by default (google-research/bert; HF with
    split_special_tokens=True), their ids with special_tokens_in_strings=True (HF BertTokenizerFast)."""
    tok, hf = request.getfixturevalue(which)
    tok = WordPieceTokenizer(tok.vocabulary, lowercase=tok.lowercase, special_tokens_in_strings=in_strings)
    texts = SPECIAL_TEXTS + with_special_tokens(MULTILINGUAL + seed_lines() + tweets[:2000])
    matched, bad = compare(tok, hf, texts, offsets=True)
    assert not bad, f"{which}: {matched}/{len(texts)} match; first mismatches: {bad[:3]}"
    # the per-call override gives the same as the layer setting
    flipped = WordPieceTokenizer(tok.vocabulary, lowercase=tok.lowercase, special_tokens_in_strings=not in_strings)
    assert (flipped.tokenize(tf.constant(texts), special_tokens_in_strings=in_strings).to_list()
            == tok.tokenize(tf.constant(texts)).to_list())


@pytest.mark.parametrize("lowercase,strip_accents", [(True, False), (False, True)])
def test_option_combinations(uncased_vocab_path, lowercase, strip_accents):
    tok = WordPieceTokenizer(uncased_vocab_path, lowercase=lowercase, strip_accents=strip_accents)
    hf = hf_tokenizer(uncased_vocab_path, lowercase, strip_accents)
    matched, bad = compare(tok, hf, MULTILINGUAL)
    assert not bad, bad[:3]


def test_tf_text_out_of_the_box_disagrees(uncased, tweets):
    """Documents the problem this tokenizer fixes: tf-text's FastBertTokenizer (NFKC case folding, control
    characters to spaces) disagrees with the reference on a sizeable share of real tweets."""
    import tensorflow_text as tf_text

    tok, hf = uncased
    fast = tf_text.FastBertTokenizer(tok.vocabulary, token_out_type=tf.int32, lower_case_nfd_strip_accents=True)
    sample = tweets[:5000]
    theirs = fast.tokenize(tf.constant(sample)).to_list()
    ref = hf(sample, add_special_tokens=False)["input_ids"]
    ours = tok(tf.constant(sample)).to_list()
    tf_text_bad = sum(a != b for a, b in zip(theirs, ref))
    ours_bad = sum(a != b for a, b in zip(ours, ref))
    print(f"\ntf-text FastBertTokenizer differs on {tf_text_bad}/{len(sample)} tweets; ours on {ours_bad}")
    assert tf_text_bad > 0 and ours_bad == 0


@pytest.mark.slow
@pytest.mark.parametrize("which", ["uncased", "cased"])
def test_every_code_point(which, request):
    """Every Unicode code point c as "x{c}y {c}{c}". The only differences allowed are the known Unicode-version
    ones (characters added in Unicode 11-15 that HF's older Rust tables do not know, and CJK Ext-E
    U+2B820-2B91F that HF does not treat as Chinese): < 0.1% of code points, none in the common scripts."""
    import unicodedata

    tok, hf = request.getfixturevalue(which)
    cps = [c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    bad = []
    for i in range(0, len(cps), 50000):
        chunk = cps[i:i + 50000]
        texts = [f"x{chr(c)}y {chr(c)}{chr(c)}" for c in chunk]
        ours = tok(tf.constant(texts)).to_list()
        theirs = hf(texts, add_special_tokens=False)["input_ids"]
        bad += [c for c, o, h in zip(chunk, ours, theirs) if o != h]
    print(f"\n{which}: {len(cps) - len(bad)}/{len(cps)} code points identical; {len(bad)} differ")
    assert len(bad) < 0.001 * len(cps)
    common = [(0x0000, 0x05FF), (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x1100, 0x11FF), (0x2000, 0x2BFF),
              (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFFFF),
              (0x1F300, 0x1FAFF)]
    in_common = [hex(c) for c in bad if any(a <= c <= b for a, b in common)
                 and not 0x2E50 <= c <= 0x2E5D]  # Unicode 14 punctuation HF does not know
    assert not in_common, [(c, unicodedata.name(chr(int(c, 16)), "?")) for c in in_common[:20]]
