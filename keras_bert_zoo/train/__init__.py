"""keras_bert_zoo.train: the fine-tuning recipe (optimizers, callbacks, metrics, distribution).

    from keras_bert_zoo.train import make_optimizer, set_trainable
    set_trainable(classifier, 2)                          # only the top 2 encoder blocks, pooler and head train
    # the task's own loss and metrics; the recipe's optimizer with layer-wise LR decay over 12 blocks
    classifier.compile(optimizer=make_optimizer(3e-5, total_steps=1000, layer_decay=0.9, num_layers=12))

``train.recipe.Recipe`` holds the recipe's hyper-parameters and their defaults (``Task.compile`` and
``train.loop.fit_task`` both take it); ``train.loop.fit_task`` runs a whole fine-tuning run (``task.compile``,
callbacks, curves); ``train.pretraining`` the pretraining one; ``train.distribute.get_strategy`` picks a
``tf.distribute`` strategy.
"""

from keras_bert_zoo.train.optimizers import BertAdamW, WarmupLinearDecay, make_optimizer, set_trainable
from keras_bert_zoo.train.recipe import Recipe

__all__ = ["BertAdamW", "WarmupLinearDecay", "make_optimizer", "set_trainable", "Recipe"]
