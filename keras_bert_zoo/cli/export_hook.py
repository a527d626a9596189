"""The export step shared by `bert-zoo finetune --export` and `bert-zoo demo` (no flags defined here)."""

import sys


def export_saved_model(task, root, name, sample_texts, version=1):
    """SavedModel in ``<root>/<name>/<version>/`` through :mod:`keras_bert_zoo.export` (which verifies the export
    against the Keras task on ``sample_texts``); returns its result, or None when the export package is absent."""
    try:
        from keras_bert_zoo.export import saved_model as sm
    except ImportError as err:
        print(f"export skipped: keras_bert_zoo.export is not available ({err})", file=sys.stderr)
        return None
    return sm.export_saved_model(task, root, name=name, version=version, sample_texts=list(sample_texts),
                                 overwrite=True)
