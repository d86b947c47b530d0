"""`FastDropout`: Keras' Dropout drawing 16 random bits per element."""

import keras
import tensorflow as tf

# Random bits per element: a 32-bit Philox word serves two elements.
BITS = 16


@keras.saving.register_keras_serializable(package="kerasbert")
class FastDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` that keeps an element when a random 16-bit
    integer is at least `round(rate * 2^16)`, instead of drawing a float.

    Keras draws one float32 (one 32-bit word) per element and compares it
    with the rate; under mixed precision it draws in bfloat16, which is
    slower still on CPU. One 32-bit word cut into two 16-bit halves does the
    same job in half the random numbers: on a 2-core CPU 4.2 ms against
    7.4-8.5 ms for BERT-mini's attention probabilities (32 x 4 x 128 x 128),
    and dropout is a tenth of a small BERT's training step. The rate is
    rounded to a multiple of 2^-16 (0.1 -> 0.100006) and the kept elements
    are scaled by exactly the inverse of the resulting keep probability.
    Seeds come from the layer's `SeedGenerator`, as in Keras. With a
    `noise_shape`, a rate within 2^-17 of 1, or on a backend other than
    TensorFlow, Keras' own dropout runs.

    Args:
        rate: fraction of the elements set to 0, in [0, 1).
        **kwargs: as for `keras.layers.Dropout`.

    Example:

    >>> dropout = FastDropout(0.1, seed=1)
    >>> keras.ops.shape(dropout(keras.ops.ones((2, 8)), training=True))
    (2, 8)
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        threshold = round(self.rate * 2**BITS)
        if self.noise_shape is not None or threshold == 2**BITS or keras.backend.backend() != "tensorflow":
            return super().call(inputs, training=training)
        scale = 2**BITS / (2**BITS - threshold)
        seed = self.seed_generator.next()
        seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as Keras casts it
        size = tf.size(inputs)
        words = tf.random.stateless_uniform(
            [(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32
        )
        halves = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:size]
        keep = tf.reshape(halves, tf.shape(inputs)) >= tf.constant(threshold, tf.uint16)
        return tf.where(keep, inputs * tf.cast(scale, inputs.dtype), tf.zeros([], inputs.dtype))
