"""`TransformerEncoderBlock`: one post-LN BERT block."""

import math

import keras
from keras import ops

from kerasbert.layers.fast_dropout import FastDropout
from kerasbert.layers.fused_gelu import fused_gelu
from kerasbert.layers.layer_norm import LayerNorm

# Added to attention scores at padded keys; exp() of it is exactly 0 in float32.
MASKED_SCORE = -1e9


def activation_fn(name):
    """BERT's activations by `BertConfig.hidden_act` name."""
    if name == "gelu":  # Google's BERT: the tanh approximation
        return lambda x: keras.activations.gelu(x, approximate=True)
    if name == "gelu_exact":
        return lambda x: keras.activations.gelu(x, approximate=False)
    if name == "relu":
        return keras.activations.relu
    raise ValueError(f"unknown activation {name!r}")


@keras.saving.register_keras_serializable(package="kerasbert")
class TransformerEncoderBlock(keras.layers.Layer):
    """Post-LN transformer block as in BERT:

        x = LayerNorm(x + Dropout(Attention(x)))
        x = LayerNorm(x + Dropout(W2 act(W1 x)))

    Attention is multi-head scaled dot-product self-attention with one fused
    query/key/value projection; padded keys (mask 0) get no weight. Softmax
    and LayerNorm run in float32 under mixed precision.

    Called as `block(x, padding_mask, training=False, output_positions=None)`
    with `x` `[batch, seq, H]` and `padding_mask` `[batch, seq]`. Given int
    `output_positions` `[batch, P]`, the block computes its output only at
    those positions, `[batch, P, H]`: their rows are the attention's queries
    (keys and values still span the whole sequence) and all that follows
    runs on them alone. BERT's pretraining needs no more from its last
    block than [CLS] and the masked positions.

    Args:
        hidden_size: model width H.
        num_attention_heads: heads; divides `hidden_size`.
        intermediate_size: feed-forward width.
        hidden_act: `"gelu"` (tanh form), `"gelu_exact"` or `"relu"`.
        dropout: dropout on the two residual branches.
        attention_dropout: dropout on attention probabilities.
        layer_norm_eps: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.

    Example:

    >>> block = TransformerEncoderBlock(64, 4, 256)
    >>> x = ops.ones((2, 8, 64))
    >>> mask = ops.ones((2, 8), "int32")
    >>> block(x, mask).shape
    (2, 8, 64)
    """

    def __init__(
        self,
        hidden_size,
        num_attention_heads,
        intermediate_size,
        hidden_act="gelu",
        dropout=0.0,
        attention_dropout=0.0,
        layer_norm_eps=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"TransformerEncoderBlock: hidden_size={hidden_size} is not "
                f"divisible by num_attention_heads={num_attention_heads}"
            )
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.head_size = hidden_size // num_attention_heads

        def dense(units, name, activation=None):
            return keras.layers.Dense(
                units,
                activation=activation,
                kernel_initializer=keras.initializers.TruncatedNormal(
                    stddev=initializer_range
                ),
                dtype=self.dtype_policy,
                name=name,
            )

        def layer_norm(name):
            return LayerNorm(
                epsilon=layer_norm_eps, dtype=self.dtype_policy, name=name
            )

        self.qkv = dense(3 * hidden_size, "qkv")
        self.attention_output = dense(hidden_size, "attention_output")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        # The activation inside the Dense: TensorFlow's remapper then fuses
        # matmul, bias and GELU into one oneDNN op at inference (BERT-base
        # encoder ~7% faster). Applied after the Dense's call it is not fused
        # (TF 2.21; the same ops are not fused either when only the matmul
        # and bias sit in a name scope of their own).
        self.intermediate = dense(intermediate_size, "intermediate", activation_fn(hidden_act))
        self.output_dense = dense(hidden_size, "output")
        self.output_layer_norm = layer_norm("output_layer_norm")
        self.attention_dropout_layer = FastDropout(attention_dropout, dtype=self.dtype_policy)
        self.dropout_layer = FastDropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        hidden = (None, None, self.hidden_size)
        self.qkv.build(hidden)
        self.attention_output.build(hidden)
        self.attention_layer_norm.build(hidden)
        self.intermediate.build(hidden)
        self.output_dense.build((None, None, self.intermediate_size))
        self.output_layer_norm.build(hidden)

    def self_attention(self, x, batch, length, padding_mask, training, queries=None):
        """Attention of `queries` (rows of `x`; all of them if None) over `x`."""
        heads, head_size, hidden = self.num_attention_heads, self.head_size, self.hidden_size
        if queries is None:
            qkv = ops.reshape(self.qkv(x), (batch, length, 3, heads, head_size))
            # The two layout changes are einsums, not transposes: TensorFlow runs
            # a transpose through oneDNN, which costs ~60 us a call at serving
            # sizes (a sentence, batch 1) against ~1 us for einsum's own.
            q, k, v = ops.unstack(ops.einsum("blthd->tbhld", qkv), 3, axis=0)
        else:
            # The fused kernel cut in two: queries from their rows only.
            kernel, bias = self.qkv.kernel, self.qkv.bias
            q = ops.add(ops.matmul(queries, kernel[:, :hidden]), bias[:hidden])
            q = ops.einsum("blhd->bhld", ops.reshape(q, (batch, -1, heads, head_size)))
            kv = ops.add(ops.matmul(x, kernel[:, hidden:]), bias[hidden:])
            kv = ops.reshape(kv, (batch, length, 2, heads, head_size))
            k, v = ops.unstack(ops.einsum("blthd->tbhld", kv), 2, axis=0)
        scores = ops.matmul(q * (1.0 / math.sqrt(head_size)), ops.swapaxes(k, -1, -2))
        scores = ops.cast(scores, "float32")
        if padding_mask is not None:
            keep = ops.cast(padding_mask[:, None, None, :], "float32")
            scores = scores + (1.0 - keep) * MASKED_SCORE
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self.attention_dropout_layer(probs, training=training)
        context = ops.einsum("bhld->blhd", ops.matmul(probs, v))
        context = ops.reshape(context, (-1, hidden))
        return self.attention_output(context)

    def feed_forward_hidden(self, x, training):
        """act(W1 x + b1): in training with GELU, `fused_gelu` on the Dense's
        own weights (its backward pass is the costly part); otherwise the
        Dense with its activation, which TensorFlow fuses into the matmul."""
        if not (training and self.hidden_act in ("gelu", "gelu_exact")):
            return self.intermediate(x)
        linear = ops.add(ops.matmul(x, self.intermediate.kernel), self.intermediate.bias)  # BiasAdd
        return fused_gelu(linear, approximate=self.hidden_act == "gelu")

    def call(self, x, padding_mask=None, training=False, output_positions=None):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        # On [batch * length, H] every Dense is one plain matrix product, which
        # TensorFlow fuses with its bias add (and GELU); on 3-D input Keras goes
        # through tensordot's reshapes, which block that fusion (~10% slower).
        rows, queries = length, None
        if output_positions is not None:
            # Only these rows go on past the attention; keys and values still
            # come from every position.
            positions = ops.cast(output_positions, "int32")
            rows = ops.shape(positions)[1]
            queries = ops.take_along_axis(x, positions[:, :, None], axis=1)
            queries = ops.reshape(queries, (-1, self.hidden_size))
        x = ops.reshape(x, (-1, self.hidden_size))
        attention = self.self_attention(x, batch, length, padding_mask, training, queries)
        if queries is not None:
            x = queries
        x = self.attention_layer_norm(x + self.dropout_layer(attention, training=training))
        ffn = self.output_dense(self.feed_forward_hidden(x, training))
        x = self.output_layer_norm(x + self.dropout_layer(ffn, training=training))
        return ops.reshape(x, (batch, rows, self.hidden_size))

    def compute_output_shape(self, x_shape, padding_mask_shape=None, output_positions_shape=None):
        if output_positions_shape is None:
            return x_shape
        return (x_shape[0], output_positions_shape[1], x_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range,
        )
        return config
