"""`bert-zoo convert-task OLD_DIR OUT.keras`: a task directory of keras_bert_zoo 0.1 (model.keras + vocab.txt +
task.json) -> one .keras file of the current task models (same weights, vocabulary inside).

    bert-zoo convert-task runs/sentiment/model runs/sentiment/model.keras
"""



def run_convert_task(source: str, out: str):
    """Rebuild the 0.1 task directory ``source`` and save it as the .keras file ``out``."""
    from keras_bert_zoo.tasks.legacy import convert_legacy_task

    task = convert_legacy_task(source, out)
    print(f"converted {source} ({task.task_type}, {type(task).__name__}) -> {out}")
    return task


def main(argv):
    from keras_bert_zoo.cli.errors import UsageError

    if len(argv) != 3 or not argv[2].endswith(".keras"):
        raise UsageError("usage: bert-zoo convert-task OLD_TASK_DIR OUT.keras")
    run_convert_task(argv[1], argv[2])
