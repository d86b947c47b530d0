"""`NextSentenceHead`: is segment B the sentence that follows A?"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasbert")
class NextSentenceHead(keras.layers.Layer):
    """Two-way classifier on the pooled [CLS] vector, for next-sentence
    prediction (BERT) or sentence-order prediction (ALBERT). Label 0 means
    "B follows A" (NSP) or "in order" (SOP), as in the original data.

    Args:
        initializer_range: stddev of the truncated-normal initializer.

    Example:

    >>> head = NextSentenceHead()
    >>> head(keras.random.normal((4, 32))).shape
    (4, 2)
    """

    def __init__(self, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            2,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, pooled_output_shape):
        self.dense.build(pooled_output_shape)

    def call(self, pooled_output):
        return ops.cast(self.dense(pooled_output), "float32")

    def compute_output_shape(self, pooled_output_shape):
        return (pooled_output_shape[0], 2)

    def get_config(self):
        config = super().get_config()
        config.update(initializer_range=self.initializer_range)
        return config
