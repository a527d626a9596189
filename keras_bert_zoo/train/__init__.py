"""keras_bert_zoo.train: the fine-tuning recipe (optimizers, callbacks, metrics, distribution)."""

from keras_bert_zoo.train.optimizers import BertAdamW, WarmupLinearDecay, make_optimizer, set_trainable

__all__ = ["BertAdamW", "WarmupLinearDecay", "make_optimizer", "set_trainable"]
