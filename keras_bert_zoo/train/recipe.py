"""The fine-tuning recipe: its hyper-parameters and their defaults, stated once.

:class:`Recipe` is what ``Task.compile()`` (the Python API) and ``train.loop.fit_task`` (the ``bert-zoo finetune``
route) both build their optimizer from: :func:`~keras_bert_zoo.train.optimizers.make_optimizer` (BertAdamW, no
weight decay on LayerNorm / biases, optional layer-wise learning-rate decay) on a warm-up + linear-decay schedule
of ``total_steps`` optimizer updates, with global-norm clipping and gradient accumulation. The defaults are
BERT's fine-tuning ones (Devlin et al. 2019, appendix A.3, and Hugging Face ``TrainingArguments``).

Example::

    >>> from keras_bert_zoo.train.recipe import Recipe
    >>> Recipe().learning_rate, Recipe().warmup_ratio
    (5e-05, 0.1)
    >>> recipe = Recipe(learning_rate=3e-5, layer_decay=0.9)
    >>> recipe.updates(batches_per_epoch=100, epochs=3)        # optimizer updates: the schedule's length
    300
    >>> Recipe(gradient_accumulation_steps=4).updates(batches_per_epoch=100, epochs=3)
    75
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["Recipe", "RECIPE_FIELDS"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of the fine-tuning optimizer (see the module docstring).

    Attributes:
        learning_rate: peak learning rate, reached at the end of the warm-up.
        warmup_ratio: fraction of the optimizer updates spent warming up linearly from 0.
        weight_decay: decoupled weight decay (AdamW), not applied to LayerNorm weights and biases.
        layer_decay: layer-wise learning-rate decay per encoder block below the top (1.0: off).
        clipnorm: global gradient-norm clipping (0 or None: off).
        gradient_accumulation_steps: batches whose gradients are summed into one update (1: off).
    """

    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    layer_decay: float = 1.0
    clipnorm: float | None = 1.0
    gradient_accumulation_steps: int = 1

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.warmup_ratio <= 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
        if not 0.0 <= self.layer_decay <= 1.0:
            raise ValueError(f"layer_decay must be in [0, 1], got {self.layer_decay}")
        if int(self.gradient_accumulation_steps) < 1:
            raise ValueError(f"gradient_accumulation_steps must be >= 1, got {self.gradient_accumulation_steps}")

    def as_dict(self) -> dict:
        """The fields as keyword arguments (``task.compile(**recipe.as_dict())``)."""
        return dataclasses.asdict(self)

    def updates(self, batches_per_epoch: int, epochs: int) -> int:
        """Optimizer updates of a run (the schedule's ``total_steps``): batches / accumulation, at least 1."""
        return max(1, int(batches_per_epoch) * max(1, int(epochs)) // max(1, int(self.gradient_accumulation_steps)))

    def warmup_steps(self, total_steps: int) -> int:
        """Warm-up updates of a schedule of ``total_steps`` updates."""
        return int(math.ceil(self.warmup_ratio * total_steps))

    def changed(self) -> list:
        """Names of the fields that differ from the defaults, sorted."""
        return sorted(name for name, value in self.as_dict().items() if value != getattr(Recipe, name))

    @classmethod
    def pop_from(cls, kwargs: dict) -> Recipe:
        """A Recipe of the recipe fields in ``kwargs`` (removed from it; absent fields keep their defaults)."""
        return cls(**{name: kwargs.pop(name) for name in RECIPE_FIELDS if name in kwargs})


#: names of the recipe's fields, in order
RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(Recipe))
