"""cli/options.py: the shared flags, their one value set, and deprecated aliases."""

import io

import pytest
from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError


def _flag_values(*names, **overrides):
    fv = flags.FlagValues()
    options.define(*names, flag_values=fv, **overrides)
    return fv


def test_shared_flags_have_one_value_set_and_overridable_defaults():
    fv = _flag_values("out", "sequence_length", "mixed_precision", "seed", "batch_size", sequence_length=64,
                      out_help="Run directory.")
    fv(["prog"])
    assert (fv.out, fv.sequence_length, fv.mixed_precision, fv.seed, fv.batch_size) == (None, 64, "auto", 0, 32)
    assert fv["out"].help == "Run directory."
    with pytest.raises(flags.IllegalFlagValueError, match="mixed_precision"):
        fv(["prog", "--mixed_precision=bfloat16"])
    with pytest.raises(flags.IllegalFlagValueError, match="batch_size"):
        fv(["prog", "--batch_size=0"])


def test_unknown_shared_flag_is_refused():
    with pytest.raises(ValueError, match="unknown shared flag"):
        _flag_values("outdir")


def test_alias_copies_its_value_with_one_notice_and_conflicts_are_usage_errors():
    fv = _flag_values("out", "sequence_length")
    options.define_alias("output_dir", "out", flag_values=fv)
    options.define_alias("max_seq_length", "sequence_length", flag_values=fv)
    fv(["prog", "--output_dir=runs/x", "--max_seq_length=96"])
    notices = io.StringIO()
    options.resolve_aliases(fv, stream=notices)
    assert (fv.out, fv.sequence_length) == ("runs/x", 96)
    lines = notices.getvalue().splitlines()
    assert len(lines) == 2 and all("deprecated" in line for line in lines)
    assert "--output_dir" in lines[0] or "--output_dir" in lines[1]

    fv2 = _flag_values("out")
    options.define_alias("output_dir", "out", flag_values=fv2)
    fv2(["prog", "--output_dir=a", "--out=b"])
    with pytest.raises(UsageError, match="--output_dir and --out"):
        options.resolve_aliases(fv2, stream=io.StringIO())


def test_compute_dtype_policy_names_the_flag():
    assert options.compute_dtype_policy("mixed_bfloat16") == "mixed_bfloat16"
    with pytest.raises(UsageError, match="--mixed_precision 'none'"):
        options.compute_dtype_policy("none")
