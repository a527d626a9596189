"""`bert-zoo finetune`'s recipe flags: unset, the value is the Recipe's (its one default); their help says it."""

import re

from absl import flags


def test_recipe_flags_default_to_the_recipe_and_their_help_states_its_values():
    from keras_bert_zoo.cli import finetune
    from keras_bert_zoo.train.recipe import Recipe

    defaults = Recipe()
    for flag, field in finetune.RECIPE_FLAGS.items():
        holder = flags.FLAGS[flag]
        assert holder.default is None, f"--{flag} restates a default; unset it must take the Recipe's"
        stated = re.search(r"default: the recipe's, ([0-9.e-]+)\)", holder.help)
        assert stated, f"--{flag} help does not state the recipe's default"
        assert float(stated.group(1)) == float(getattr(defaults, field)), f"--{flag} help: {holder.help}"


def test_unset_recipe_flags_give_the_recipe_and_set_ones_override(tmp_path):
    from keras_bert_zoo.cli import finetune
    from keras_bert_zoo.train.recipe import Recipe

    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    argv = ["finetune", f"--train={train}", f"--out={tmp_path / 'run'}"]
    flags.FLAGS.unparse_flags()
    flags.FLAGS(argv)
    try:
        assert finetune.config_from_flags().fit.recipe() == Recipe()
        flags.FLAGS.unparse_flags()
        flags.FLAGS(argv + ["--learning_rate=3e-5", "--grad_accum=2"])
        assert finetune.config_from_flags().fit.recipe() == Recipe(learning_rate=3e-5, gradient_accumulation_steps=2)
    finally:
        flags.FLAGS.unparse_flags()
