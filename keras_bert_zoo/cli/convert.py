"""`bert-zoo convert`: turn a checkpoint (or a preset) into a .keras model plus its vocabulary.

    bert-zoo convert --from=hf path/to/hf_dir --out converted/
    bert-zoo convert --from=google uncased_L-12_H-768_A-12 --out converted/ --backbone_only
    bert-zoo convert minilm_l6_h384_uncased --out converted/            (a preset name; format from the registry)
    bert-zoo convert --from=hf path/to/hf_dir --out hf_copy/ --to=hf    (re-export as a HF directory)

--out gets model.keras, vocab.txt and tokenizer_config.json (do_lower_case). The written model is loaded back
with keras.saving.load_model(safe_mode=True) and compared with the converted one; the difference is printed.
"""

import dataclasses
import json
from pathlib import Path

from absl import flags

from keras_bert_zoo.cli import options
from keras_bert_zoo.cli.errors import UsageError

flags.DEFINE_enum("from", "auto", ["auto", "hf", "google", "garden", "keras_hub"],
                  "Checkpoint format of SRC (auto: detect; a preset name uses its registered format).")
options.define("out", out_help="Output directory.")
flags.DEFINE_enum("to", "keras", ["keras", "hf"], "keras: model.keras + vocab.txt; hf: a Hugging Face directory.")
flags.DEFINE_string("architecture", None, "Override the architecture (HF names, e.g. BertForMaskedLM).")
flags.DEFINE_bool("backbone_only", False, "Keep only the encoder; head weights are skipped and listed.")
flags.DEFINE_enum("lowercase", "auto", ["auto", "true", "false"], "Tokenizer casing (auto: from the checkpoint).")
flags.DEFINE_integer("num_choices", 4, "Choices per example for BertForMultipleChoice.")

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """One `bert-zoo convert` run: ``src`` (a checkpoint directory or preset name) and the flags."""

    src: str
    out: str
    source_format: str = "auto"          # --from
    to: str = "keras"
    architecture: str | None = None
    backbone_only: bool = False
    lowercase: str = "auto"
    num_choices: int = 4


def _importer_kwargs(config: ConvertConfig):
    """The importer options; every format takes the same ones (one that does not apply, e.g. --architecture for
    a Model Garden encoder, is the importer's error; a head's task class comes from the converters' registry)."""
    kwargs = {"architecture": config.architecture, "backbone_only": config.backbone_only,
              "num_choices": config.num_choices}
    if config.lowercase != "auto":
        kwargs["lowercase"] = config.lowercase == "true"
    return kwargs


def _source(config: ConvertConfig):
    """(directory, format) of ``src``: a directory in the format --from names, or a preset / detected format."""
    from keras_bert_zoo import presets

    if config.source_format != "auto" and Path(config.src).is_dir():
        return Path(config.src), config.source_format
    directory, fmt = presets.resolve(config.src)
    if config.source_format != "auto" and config.source_format != fmt:
        raise UsageError(f"{config.src} is {fmt}, not --from={config.source_format}")
    return directory, fmt


def _reload_diff(model, path) -> float:
    """Max |difference| of every output between ``model`` and the file it was saved to."""
    import keras
    import numpy as np

    from keras_bert_zoo import BertBackbone

    reloaded = keras.saving.load_model(path, safe_mode=True)
    backbone = model if isinstance(model, BertBackbone) else model.backbone
    inputs = {k: np.asarray(v) for k, v in backbone.dummy_inputs(batch_size=2, sequence_length=8).items()}
    if type(model).__name__ == "BertMultipleChoice":
        inputs = {k: np.repeat(v[:, None], model.num_choices, axis=1) for k, v in inputs.items()}
    if type(model).__name__ == "Pretrainer" or getattr(model, "use_mask_positions", False):
        inputs = dict(inputs, mask_positions=np.zeros((2, 2), "int32"))
    a, b = model(inputs), reloaded(inputs)
    leaves = (lambda x: list(x.values()) if isinstance(x, dict) else [x])
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(leaves(a), leaves(b)))


def run_convert(config: ConvertConfig):
    """Convert, write --out, reload and compare; returns the converted model."""
    import logging

    from keras_bert_zoo import cache, convert

    logging.getLogger("keras_bert_zoo").setLevel(logging.INFO)
    directory, fmt = _source(config)
    model, tokenizer = convert.load(fmt, directory, **_importer_kwargs(config))
    report = getattr(model, "load_report", None)
    if report is not None:
        print(f"converted {getattr(directory, 'directory', directory)} ({fmt}): {type(model).__name__}, "
              f"{report.assigned} variables assigned"
              + (f", {len(report.skipped)} head weights skipped" if report.skipped else "")
              + (f", left at init: {report.initialised}" if report.initialised else ""))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    tokens = tokenizer.vocabulary
    lowercase = bool(getattr(tokenizer, "lowercase", True))
    if config.to == "hf":
        convert.export_hf(model, out, vocabulary=tokens, lowercase=lowercase)
        print(f"wrote {out}/config.json, model.safetensors, vocab.txt")
        return model
    with cache.atomic_path(out / "model.keras", suffix=".keras") as tmp:  # Keras wants the .keras suffix
        model.save(tmp)
    for name, text in (("vocab.txt", "\n".join(tokens) + "\n"),
                       ("tokenizer_config.json", json.dumps({"do_lower_case": lowercase}, indent=2) + "\n")):
        with cache.atomic_write(out / name, "w", encoding="utf-8") as f:
            f.write(text)
    diff = _reload_diff(model, out / "model.keras")
    print(f"wrote {out / 'model.keras'} and {out / 'vocab.txt'} ({len(tokens)} tokens, lowercase={lowercase}); "
          f"reloaded max abs diff {diff:.3g}")
    return model


def main(argv):
    options.resolve_aliases()
    if len(argv) != 2 or not FLAGS.out:
        raise UsageError("usage: bert-zoo convert [--from=FORMAT] SRC --out DIR")
    run_convert(ConvertConfig(src=argv[1], out=FLAGS.out, source_format=FLAGS["from"].value, to=FLAGS.to,
                              architecture=FLAGS.architecture, backbone_only=FLAGS.backbone_only,
                              lowercase=FLAGS.lowercase, num_choices=FLAGS.num_choices))
