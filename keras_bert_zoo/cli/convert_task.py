"""`bert-zoo convert-task OLD_DIR OUT.keras`: a task directory of keras_bert_zoo 0.1 (model.keras + vocab.txt +
task.json) -> one .keras file of the current task models (same weights, vocabulary inside).

    bert-zoo convert-task runs/sentiment/model runs/sentiment/model.keras
"""




def run_convert_task(argv):
    from keras_bert_zoo.tasks import TaskError
    from keras_bert_zoo.tasks.legacy import convert_legacy_task

    if len(argv) != 3 or not argv[2].endswith(".keras"):
        raise TaskError("usage: bert-zoo convert-task OLD_TASK_DIR OUT.keras")
    task = convert_legacy_task(argv[1], argv[2])
    print(f"converted {argv[1]} ({task.task_type}, {type(task).__name__}) -> {argv[2]}")


def main(argv):
    from keras_bert_zoo.cli.errors import run_command

    run_command("convert-task", lambda: run_convert_task(list(argv)))
