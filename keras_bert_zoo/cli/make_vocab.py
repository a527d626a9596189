"""`bert-zoo make-vocab`: learn a WordPiece vocab.txt (special tokens first) from UTF-8 text files.

Example:
    bert-zoo make-vocab --input=corpus/*.txt --output=vocab.txt --vocab_size=8000 --lowercase
    bert-zoo make-vocab --input=zh.txt --output=zh_vocab.txt --nolowercase --max_unique_chars=6000
"""

import glob
import os

from absl import flags

_INPUT = flags.DEFINE_list("input", None, "Text files (globs allowed), one document or sentence per line.")
_OUTPUT = flags.DEFINE_string("output", "vocab.txt", "Where to write vocab.txt.")
_VOCAB_SIZE = flags.DEFINE_integer("vocab_size", 8000, "Target vocabulary size (approximate).")
_LOWERCASE = flags.DEFINE_boolean("lowercase", True, "Uncased vocabulary (lower-case + strip accents).")
_STRIP_ACCENTS = flags.DEFINE_enum("strip_accents", "auto", ["auto", "true", "false"],
                                   "Strip accents; auto = same as --lowercase.")
_MAX_CHARS = flags.DEFINE_integer("max_unique_chars", 1000,
                                  "Distinct characters kept as tokens (raise for Chinese, e.g. 6000).")
_RESERVED = flags.DEFINE_list("reserved_tokens", "[PAD],[UNK],[CLS],[SEP],[MASK]",
                              "Tokens placed first, in this order.")
_MIN_COUNT = flags.DEFINE_integer("min_count", 2, "Lowest word count the learner considers.")


def main(argv):
    del argv
    if not _INPUT.value:
        raise SystemExit("--input is required (text files, globs allowed)")
    paths = []
    for pattern in _INPUT.value:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise SystemExit(f"--input: no file matches {pattern!r}")
        paths += matches
    from keras_bert_zoo.cli.errors import check_writable_dir

    check_writable_dir(os.path.dirname(os.path.abspath(_OUTPUT.value)), "--output")   # before learning
    from keras_bert_zoo.text.vocab import read_text_lines, train_vocabulary, write_vocabulary

    strip = {"auto": None, "true": True, "false": False}[_STRIP_ACCENTS.value]
    tokens = train_vocabulary(read_text_lines(paths), vocab_size=_VOCAB_SIZE.value, lowercase=_LOWERCASE.value,
                              strip_accents=strip, reserved_tokens=_RESERVED.value,
                              max_unique_chars=_MAX_CHARS.value, lower_thresh=_MIN_COUNT.value)
    write_vocabulary(tokens, _OUTPUT.value)
    print(f"wrote {len(tokens)} tokens to {_OUTPUT.value} from {len(paths)} file(s)")
