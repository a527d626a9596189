"""`bert-zoo make-vocab`: learn a WordPiece vocab.txt (special tokens first) from UTF-8 text files.

Example:
    bert-zoo make-vocab --input=corpus/*.txt --out=vocab.txt --vocab_size=8000 --lowercase
    bert-zoo make-vocab --input=zh.txt --out=zh_vocab.txt --nolowercase --max_unique_chars=6000
"""

import dataclasses
import glob
import os

from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError

flags.DEFINE_list("input", None, "Text files (globs allowed), one document or sentence per line.")
options.define("out", out="vocab.txt", out_help="Where to write vocab.txt.")
flags.DEFINE_integer("vocab_size", 8000, "Target vocabulary size (approximate).")
flags.DEFINE_boolean("lowercase", True, "Uncased vocabulary (lower-case + strip accents).")
flags.DEFINE_enum("strip_accents", "auto", ["auto", "true", "false"], "Strip accents; auto = same as --lowercase.")
flags.DEFINE_integer("max_unique_chars", 1000, "Distinct characters kept as tokens (raise for Chinese, e.g. 6000).")
flags.DEFINE_list("reserved_tokens", "[PAD],[UNK],[CLS],[SEP],[MASK]", "Tokens placed first, in this order.")
flags.DEFINE_integer("min_count", 2, "Lowest word count the learner considers.")
options.define_alias("output", "out")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class VocabConfig:
    """One `bert-zoo make-vocab` run (the flags of the same names)."""

    input: tuple
    out: str = "vocab.txt"
    vocab_size: int = 8000
    lowercase: bool = True
    strip_accents: str = "auto"
    max_unique_chars: int = 1000
    reserved_tokens: tuple = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    min_count: int = 2


def run_make_vocab(config: VocabConfig) -> list:
    """Learn the vocabulary and write it to ``config.out``; returns the tokens."""
    if not config.input:
        raise UsageError("--input is required (text files, globs allowed)")
    paths = []
    for pattern in config.input:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise UsageError(f"--input: no file matches {pattern!r}")
        paths += matches
    from keras_bert_zoo.cli.errors import check_writable_dir

    check_writable_dir(os.path.dirname(os.path.abspath(config.out)), "--out")   # before learning
    from keras_bert_zoo.text.vocab import read_text_lines, train_vocabulary, write_vocabulary

    strip = {"auto": None, "true": True, "false": False}[config.strip_accents]
    tokens = train_vocabulary(read_text_lines(paths), vocab_size=config.vocab_size, lowercase=config.lowercase,
                              strip_accents=strip, reserved_tokens=list(config.reserved_tokens),
                              max_unique_chars=config.max_unique_chars, lower_thresh=config.min_count)
    write_vocabulary(tokens, config.out)
    print(f"wrote {len(tokens)} tokens to {config.out} from {len(paths)} file(s)")
    return tokens


def main(argv):
    del argv
    options.resolve_aliases()
    values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(VocabConfig)}
    values["input"] = tuple(values["input"] or ())
    values["reserved_tokens"] = tuple(values["reserved_tokens"])
    run_make_vocab(VocabConfig(**values))
