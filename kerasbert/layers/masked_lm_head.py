"""`MaskedLMHead`: predicts the original ids at masked positions."""

import keras
import tensorflow as tf
from keras import ops

from kerasbert.layers.layer_norm import LayerNorm
from kerasbert.layers.transformer_encoder_block import activation_fn


@keras.saving.register_keras_serializable(package="kerasbert")
class MaskedLMHead(keras.layers.Layer):
    """BERT's masked-language-model head:

        h = LayerNorm(act(W sequence_output[masked_positions]))
        logits = h @ word_embeddings^T + bias

    The decoder is tied to the word embedding table, which the caller passes
    in (`BertPretrainer` passes its encoder's); only the output bias is the
    head's own. With `masked_positions=None`, `sequence_output` holds only
    the masked rows already, `[batch, P, H]` (as `BertEncoder` returns them
    when given `output_positions`).

    Args:
        vocab_size: number of output ids.
        embedding_size: width of the word table (the transform's output).
        hidden_act: activation of the transform, as in `BertConfig`.
        layer_norm_eps: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.

    Example:

    >>> head = MaskedLMHead(vocab_size=100, embedding_size=16)
    >>> table = keras.random.normal((100, 16))
    >>> sequence = keras.random.normal((2, 8, 32))
    >>> positions = ops.array([[1, 3], [2, 0]])
    >>> head(sequence, positions, table).shape
    (2, 2, 100)
    """

    def __init__(
        self,
        vocab_size,
        embedding_size,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        # The activation inside the Dense, so that inference fuses it (see
        # TransformerEncoderBlock).
        self.dense = keras.layers.Dense(
            embedding_size,
            activation=activation_fn(hidden_act),
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )
        self.layer_norm = LayerNorm(
            epsilon=layer_norm_eps, dtype=self.dtype_policy, name="layer_norm"
        )

    def build(self, sequence_output_shape):
        self.dense.build(sequence_output_shape)
        self.layer_norm.build((None, None, self.embedding_size))
        self.bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="bias")

    def call(self, sequence_output, masked_positions, word_embeddings):
        x = sequence_output
        if masked_positions is not None:
            positions = ops.cast(masked_positions, "int32")
            x = ops.take_along_axis(x, positions[:, :, None], axis=1)
        batch, predictions = ops.shape(x)[0], ops.shape(x)[1]
        # Rows [batch * predictions, H]: plain matrix products (see
        # TransformerEncoderBlock), the decoder's with the table transposed in
        # place rather than copied (einsum would copy it, forward and backward).
        x = ops.reshape(x, (-1, ops.shape(x)[-1]))
        x = self.layer_norm(self.dense(x))
        table = ops.cast(word_embeddings, self.compute_dtype)
        logits = tf.matmul(x, table, transpose_b=True)
        logits = tf.nn.bias_add(logits, ops.cast(self.bias, self.compute_dtype))
        return ops.reshape(ops.cast(logits, "float32"), (batch, predictions, self.vocab_size))

    def compute_output_shape(self, sequence_output_shape):
        return (sequence_output_shape[0], None, self.vocab_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_size=self.embedding_size,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range,
        )
        return config
