"""Subprocess workers for the fault and distribution tests (tiny model, fixed packed data, no dropout).

    python workers.py mwms OUT.npz STRATEGY            (TF_CONFIG set for multi_worker)
    python workers.py resume OUT_DIR EPOCHS SLEEP_S    (BackupAndRestore in OUT_DIR/backup)

Both functions are also imported by the tests to compute the single-process reference in-process.
"""

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if __name__ == "__main__":  # run as a script by the fault tests: make `tests` (the shared TINY) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def tiny_task_model():
    from keras_bert_zoo.models.backbone import BertBackbone
    from keras_bert_zoo.tasks import TextClassifier as BertClassifier
    from tests.conftest import TINY

    config = TINY.replace(hidden_dropout=0.0, attention_dropout=0.0)  # no dropout: runs compare bit for bit
    return BertClassifier(BertBackbone(config), num_classes=3, dropout=0.0)


def fixed_data(n=32, t=7, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 99, size=(n, t)).astype("int32")
    packed = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}
    return packed, rng.integers(0, 3, size=(n,)).astype("int32")


def mwms_train(strategy_name, epochs=2, global_batch=8):
    """Train on 32 fixed examples with global batch 8; returns (weights, per-epoch losses)."""
    import keras
    import tensorflow as tf

    from keras_bert_zoo.train.distribute import get_strategy, prepare_model
    from keras_bert_zoo.train.optimizers import make_optimizer

    strategy = get_strategy(strategy_name)
    packed, y = fixed_data()
    ds = tf.data.Dataset.from_tensor_slices((packed, y)).batch(global_batch)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    with strategy.scope():
        keras.utils.set_random_seed(1234)
        model = tiny_task_model()
        model.compile(optimizer=make_optimizer(1e-3, total_steps=8, warmup_ratio=0.25, clipnorm=1.0),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    prepare_model(model, strategy)
    history = model.fit(ds, epochs=epochs, verbose=0)
    return [np.asarray(w) for w in model.get_weights()], list(history.history["loss"])


def resume_train(out_dir, epochs=4, sleep_s=0.0):
    """4 steps per epoch with BackupAndRestore; logs 'begin E' / 'batch E B' / 'end E' lines to progress.log."""
    import keras
    import tensorflow as tf

    from keras_bert_zoo.train.callbacks import backup_and_restore
    from keras_bert_zoo.train.optimizers import make_optimizer

    packed, y = fixed_data()
    ds = tf.data.Dataset.from_tensor_slices((packed, y)).batch(8)
    keras.utils.set_random_seed(1234)
    model = tiny_task_model()
    model.compile(optimizer=make_optimizer(1e-3, total_steps=4 * epochs, warmup_ratio=0.25),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    log_path = os.path.join(out_dir, "progress.log")

    class Progress(keras.callbacks.Callback):
        def _log(self, text):
            with open(log_path, "a") as f:
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())

        def on_epoch_begin(self, epoch, logs=None):
            self._log(f"begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            self._log(f"batch {self._epoch_of(batch)} {batch}")
            if sleep_s:
                time.sleep(sleep_s)

        def _epoch_of(self, batch):
            return int(self.model.optimizer.iterations.numpy() - 1) // 4

        def on_epoch_end(self, epoch, logs=None):
            self._log(f"end {epoch}")

    model.fit(ds, epochs=epochs, verbose=0,
              callbacks=[backup_and_restore(os.path.join(out_dir, "backup")), Progress()])
    return [np.asarray(w) for w in model.get_weights()]


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "mwms":
        from keras_bert_zoo.train.distribute import is_chief

        weights, losses = mwms_train(sys.argv[3])
        out = sys.argv[2] if is_chief() else sys.argv[2] + f".worker{os.getpid()}.npz"
        np.savez(out, loss=np.asarray(losses), **{f"w{i}": w for i, w in enumerate(weights)})
    elif mode == "resume":
        weights = resume_train(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        np.savez(os.path.join(sys.argv[2], "final.npz"), **{f"w{i}": w for i, w in enumerate(weights)})
    else:
        raise SystemExit(f"unknown mode {mode}")
