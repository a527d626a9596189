"""keras_bert_zoo.viz: PNG plots — confusion matrices, training curves, attention heat maps (matplotlib, Agg)."""

from keras_bert_zoo.viz.plots import (attention_scores, plot_attention, plot_confusion_matrix,
                                      plot_training_curves)

__all__ = ["plot_confusion_matrix", "plot_training_curves", "plot_attention", "attention_scores"]
