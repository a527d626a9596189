"""One exporter process of tests/export/test_concurrent_export.py (run as ``python -m tests.export.race_worker``).

Exports the tiny task to ``<root>/tiny/1``; after its own verification it waits until every worker got that far,
so all of them try to claim the version at the same time. Exit 0: this export won; 3: ExportError."""

import os
import pathlib
import sys
import time

os.umask(0o022)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(root, ready_dir, me, workers):
    from keras_bert_zoo.export import saved_model as sm
    from tests.export.conftest import SAMPLE_TEXTS, _vocab, make_task

    task = make_task(_vocab())
    real = sm.verify.verify_saved_model

    def verify_then_wait(*args, **kwargs):
        out = real(*args, **kwargs)
        pathlib.Path(ready_dir, me).touch()
        deadline = time.monotonic() + 300
        while len(os.listdir(ready_dir)) < workers and time.monotonic() < deadline:
            time.sleep(0.05)
        return out

    sm.verify.verify_saved_model = verify_then_wait
    try:
        sm.export_saved_model(task, pathlib.Path(root) / "tiny" / "1", SAMPLE_TEXTS[:3], fresh_process_check=False,
                              warmup_batch_sizes=(1,))
    except sm.ExportError as err:
        print(f"LOST: {err}")
        return 3
    print("WON")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
