"""`bert-zoo` entry point: dispatches `bert-zoo COMMAND [--flags]` to one absl app per command.

Each command lives in its own module under keras_bert_zoo.cli with module-level absl flags and a
``main(argv)``; only the chosen command's module is imported, so flag names never collide.
"""

import importlib
import os
import sys

COMMANDS = {
    "info": ("keras_bert_zoo.cli.info", "list the named BERT sizes and their parameter counts"),
    "demo": ("keras_bert_zoo.cli.demo", "fine-tune real MiniLM on the tweet sentiment corpus (the main job)"),
    "make-vocab": ("keras_bert_zoo.cli.make_vocab", "learn a WordPiece vocab.txt from text files"),
    "convert": ("keras_bert_zoo.cli.convert", "convert a checkpoint (hf, google, garden, keras_hub) to .keras"),
    "presets": ("keras_bert_zoo.cli.presets", "list preset names and whether each is cached"),
    "finetune": ("keras_bert_zoo.cli.finetune", "fine-tune a task model with model.fit"),
    "evaluate": ("keras_bert_zoo.cli.evaluate", "evaluate a fine-tuned model on a labelled file"),
    "predict": ("keras_bert_zoo.cli.predict", "predict on texts from a file or stdin (JSON lines out)"),
    "make-pretraining-data": ("keras_bert_zoo.cli.make_pretraining_data", "write MLM+NSP TFRecord shards"),
    "pretrain": ("keras_bert_zoo.cli.pretrain", "pretrain (or continue pretraining) with MLM + NSP"),
    "export": ("keras_bert_zoo.cli.export", "export a model as SavedModel (TF Serving) or TFLite"),
    "convert-task": ("keras_bert_zoo.cli.convert_task", "convert a 0.1 task directory to one .keras file"),
}


def usage():
    lines = ["usage: bert-zoo COMMAND [--flags]  (bert-zoo COMMAND --helpfull for a command's flags)", "",
             "commands:"]
    width = max(map(len, COMMANDS))
    lines += [f"  {name:<{width}}  {doc}" for name, (_, doc) in COMMANDS.items()]
    return "\n".join(lines)


def run(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        return 0 if len(argv) >= 2 else 2
    command = argv[1]
    if command not in COMMANDS:
        print(f"bert-zoo: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    module = importlib.import_module(COMMANDS[command][0])
    from absl import app

    app.run(module.main, argv=[f"bert-zoo {command}"] + argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(run())
