"""The task base, in keras-hub's shape.

    task.py       Task: keras.Model + backbone + preprocessor + the serving protocol + the Keras API on raw data
    pipeline.py   the one route of raw data into tf.data (validation, batching, the preprocess_samples hook)
    lora.py       LoRA methods and the merged / float32 copy
    heads.py      packed symbolic inputs and the shared dense heads
    outputs.py    predict's numpy outputs joined and made JSON-ready
    errors.py     TaskError

The recipe (optimizer hyper-parameters and defaults) is :class:`keras_bert_zoo.train.recipe.Recipe`.
"""

from keras_bert_zoo.tasks.base.errors import TaskError
from keras_bert_zoo.tasks.base.heads import classifier_head, head_initializer, packed_inputs
from keras_bert_zoo.tasks.base.task import Task

__all__ = ["Task", "TaskError", "classifier_head", "head_initializer", "packed_inputs"]
