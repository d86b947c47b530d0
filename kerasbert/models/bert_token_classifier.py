"""`BertTokenClassifier`: a linear layer on every token."""

import keras
from keras import ops

from kerasbert.models.task_model import TaskModel


@keras.saving.register_keras_serializable(package="kerasbert")
class BertTokenClassifier(TaskModel):
    """Token tagging (named entities, parts of speech): `sequence_output` ->
    dropout -> dense -> `[batch, seq, num_classes]` logits (float32). Train
    with labels on the first piece of each word and `ignore_class=-1` (or
    zero sample weights) elsewhere.

    Args:
        encoder: a `BertEncoder` or a `kerasbert.hub.KerasLayer`.
        num_classes: number of tags.
        dropout: dropout rate before the output layer.
        freeze_encoder: train the head only (feature extraction).

    Example:

    >>> tagger = BertTokenClassifier(BertEncoder(BertConfig.preset("tiny")), num_classes=9)
    >>> tagger.compile("adamw", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True, ignore_class=-1))
    """

    def __init__(self, encoder, num_classes, dropout=0.1, freeze_encoder=False, **kwargs):
        super().__init__(encoder, freeze_encoder=freeze_encoder, **kwargs)
        self.num_classes = num_classes
        self.dropout = dropout
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.output_dense = keras.layers.Dense(
            num_classes, kernel_initializer=self.initializer, name="logits"
        )
        if self.hidden_size is not None:
            self.output_dense.build((None, None, self.hidden_size))

    def call(self, inputs, training=False):
        sequence = self.encode(inputs, training)["sequence_output"]
        return ops.cast(self.output_dense(self.head_dropout(sequence, training=training)), "float32")

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dropout": self.dropout}
