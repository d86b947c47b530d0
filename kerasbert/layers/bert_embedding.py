"""`BertEmbedding`: word + segment + position embeddings, LayerNorm, dropout."""

import keras
from keras import ops

from kerasbert.layers.fast_dropout import FastDropout
from kerasbert.layers.layer_norm import LayerNorm


@keras.saving.register_keras_serializable(package="kerasbert")
class BertEmbedding(keras.layers.Layer):
    """The input layer of BERT.

    `LayerNorm(word[ids] + type[type_ids] + position[0..seq)) -> dropout`, and
    when `hidden_size` differs from `embedding_size` (ALBERT's factorized
    embedding), a dense projection to `hidden_size`.

    Args:
        vocab_size: rows of the word table.
        embedding_size: width of the three tables.
        max_position_embeddings: rows of the position table; longer inputs
            raise `ValueError`.
        type_vocab_size: rows of the segment table.
        hidden_size: output width; `None` means `embedding_size` (no projection).
        dropout: dropout rate after the LayerNorm.
        layer_norm_eps: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.

    Example:

    >>> embed = BertEmbedding(vocab_size=100, embedding_size=16,
    ...                       max_position_embeddings=32, type_vocab_size=2)
    >>> embed(ops.ones((2, 8), "int32"), ops.zeros((2, 8), "int32")).shape
    (2, 8, 16)
    """

    def __init__(
        self,
        vocab_size,
        embedding_size,
        max_position_embeddings,
        type_vocab_size,
        hidden_size=None,
        dropout=0.0,
        layer_norm_eps=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.hidden_size = hidden_size
        self.dropout = dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range

        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.layer_norm = LayerNorm(
            epsilon=layer_norm_eps, dtype=self.dtype_policy, name="layer_norm"
        )
        self.dropout_layer = FastDropout(dropout, dtype=self.dtype_policy)
        self.projection = None
        if hidden_size is not None and hidden_size != embedding_size:
            self.projection = keras.layers.Dense(
                hidden_size,
                kernel_initializer=initializer,
                dtype=self.dtype_policy,
                name="projection",
            )

    def build(self, input_shape=None):
        initializer = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.word_embeddings = self.add_weight(
            shape=(self.vocab_size, self.embedding_size),
            initializer=initializer,
            name="word_embeddings",
        )
        self.type_embeddings = self.add_weight(
            shape=(self.type_vocab_size, self.embedding_size),
            initializer=initializer,
            name="type_embeddings",
        )
        self.position_embeddings = self.add_weight(
            shape=(self.max_position_embeddings, self.embedding_size),
            initializer=initializer,
            name="position_embeddings",
        )
        self.layer_norm.build((None, None, self.embedding_size))
        if self.projection is not None:
            self.projection.build((None, None, self.embedding_size))

    def call(self, word_ids, type_ids, training=False):
        seq_length = word_ids.shape[1]
        if seq_length is not None and seq_length > self.max_position_embeddings:
            raise ValueError(
                f"BertEmbedding: sequence length {seq_length} is longer than "
                f"max_position_embeddings={self.max_position_embeddings}"
            )
        seq_length = ops.shape(word_ids)[1]
        x = ops.take(self.word_embeddings, word_ids, axis=0)
        x = x + ops.take(self.type_embeddings, type_ids, axis=0)
        x = x + self.position_embeddings[None, :seq_length]
        x = self.layer_norm(x)
        x = self.dropout_layer(x, training=training)
        if self.projection is not None:
            x = self.projection(x)
        return x

    def compute_output_shape(self, word_ids_shape, type_ids_shape=None):
        return tuple(word_ids_shape) + (self.hidden_size or self.embedding_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_size=self.embedding_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            hidden_size=self.hidden_size,
            dropout=self.dropout,
            layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range,
        )
        return config
