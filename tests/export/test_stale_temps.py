"""A killed export leaves a hidden temporary directory beside its target; the next export into the same place
removes it once it has been untouched for a day (a running export's is never touched)."""

import os
import time

from keras_bert_zoo.export.saved_model import STALE_TEMP_SECONDS, atomic_export_dir, atomic_export_file


def _leftover(parent, name, age_seconds):
    d = parent / name
    d.mkdir()
    (d / "saved_model.pb").write_bytes(b"half")
    old = time.time() - age_seconds
    for p in (d / "saved_model.pb", d):
        os.utime(p, (old, old))
    return d


def test_the_next_export_removes_a_killed_exports_temporary_directory_and_nothing_else(tmp_path):
    root = tmp_path / "tweets"
    root.mkdir()
    stale = _leftover(root, ".1.0123456789ab.tmp", STALE_TEMP_SECONDS + 60)          # a killed directory export
    stale_file_export = _leftover(root, ".m.tflite.k3j_9xq2.tmp", STALE_TEMP_SECONDS + 60)
    running = _leftover(root, ".2.ba9876543210.tmp", 30)                              # an export still writing
    kept = [_leftover(root, ".hidden", STALE_TEMP_SECONDS + 60), _leftover(root, "1", STALE_TEMP_SECONDS + 60)]

    with atomic_export_dir(root / "3") as tmp:
        (tmp / "saved_model.pb").write_bytes(b"ok")
    assert not stale.exists() and not stale_file_export.exists()
    assert running.exists() and all(d.exists() for d in kept)
    assert (root / "3" / "saved_model.pb").read_bytes() == b"ok"

    again = _leftover(root, ".m.tflite.a1b2c3d4.tmp", STALE_TEMP_SECONDS + 60)
    with atomic_export_file(root / "model.tflite") as (_, tmp_file):
        tmp_file.write_bytes(b"tflite")
    assert not again.exists() and (root / "model.tflite").read_bytes() == b"tflite"
    assert running.exists()
