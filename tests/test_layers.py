import keras
import numpy as np
import pytest
from keras import ops

from kerasbert.layers import (
    BertEmbedding,
    FastDropout,
    LayerNorm,
    MaskedLMHead,
    NextSentenceHead,
    TransformerEncoderBlock,
)
from kerasbert.layers.fused_gelu import fused_gelu

RNG = np.random.RandomState(0)
SEQUENCE = RNG.normal(size=(2, 7, 16)).astype("float32")
MASK = np.array([[1] * 7, [1] * 4 + [0] * 3], "int32")
IDS = RNG.randint(0, 50, (2, 7)).astype("int32")
TYPES = (np.arange(7)[None, :] >= 4).astype("int32").repeat(2, axis=0)
POSITIONS = np.array([[0, 3, 6], [1, 2, 2]], "int32")
TABLE = RNG.normal(size=(50, 8)).astype("float32")

# (layer, call arguments)
CASES = {
    "embedding": (
        lambda: BertEmbedding(50, 8, 10, 2, hidden_size=16, dropout=0.1, layer_norm_eps=1e-6),
        (IDS, TYPES),
    ),
    "block": (
        lambda: TransformerEncoderBlock(16, 4, 24, hidden_act="gelu_exact", dropout=0.1),
        (SEQUENCE, MASK),
    ),
    "mlm_head": (lambda: MaskedLMHead(50, 8, hidden_act="relu"), (SEQUENCE, POSITIONS, TABLE)),
    "nsp_head": (lambda: NextSentenceHead(initializer_range=0.5), (SEQUENCE[:, 0],)),
}


@pytest.mark.parametrize("case", CASES)
def test_config_round_trip_rebuilds_the_same_layer(case):
    make, args = CASES[case]
    layer = make()
    expected = layer(*args)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(*args)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(*args), expected, atol=1e-6)
    assert [w.shape for w in clone.weights] == [w.shape for w in layer.weights]


def test_config_keeps_every_constructor_argument():
    layer = CASES["embedding"][0]()
    config = layer.get_config()
    assert (config["vocab_size"], config["hidden_size"], config["dropout"]) == (50, 16, 0.1)
    assert config["layer_norm_eps"] == 1e-6


def test_embedding_is_layer_norm_of_the_three_sums():
    layer = BertEmbedding(50, 8, 10, 2)
    out = layer(IDS, TYPES)
    x = (
        ops.take(layer.word_embeddings, IDS, axis=0)
        + ops.take(layer.type_embeddings, TYPES, axis=0)
        + layer.position_embeddings[:7][None]
    ).numpy()
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    np.testing.assert_allclose(out, x, atol=1e-5)


@pytest.mark.parametrize("training", [False, True])  # True: the fused XLA loops
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_layer_norm_matches_keras_in_values_and_gradients(policy, training, monkeypatch):
    import tensorflow as tf

    from kerasbert.layers import layer_norm

    fused, fused_calls = layer_norm._fused_layer_norm, []

    def counted(*args):
        fused_calls.append(1)
        return fused(*args)

    monkeypatch.setattr(layer_norm, "_fused_layer_norm", counted)

    ours = LayerNorm(epsilon=1e-6, dtype=policy)
    keras_norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype=policy)
    for layer in (ours, keras_norm):
        layer.build(SEQUENCE.shape)
        layer.gamma.assign(RNG.normal(size=16))
        layer.beta.assign(RNG.normal(size=16))
    keras_norm.set_weights(ours.get_weights())
    x = tf.constant(SEQUENCE * 3.0 + 1.0)
    results = []
    for layer in (ours, keras_norm):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(tf.cast(y, "float32") * SEQUENCE)
        results.append([y, *tape.gradient(loss, [x, layer.gamma, layer.beta])])
    assert len(fused_calls) == training
    assert results[0][0].dtype == results[1][0].dtype == ours.compute_dtype
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for got, expected in zip(*results):
        np.testing.assert_allclose(
            tf.cast(got, "float32"), tf.cast(expected, "float32"), atol=tolerance, rtol=tolerance
        )


def test_layer_norm_falls_back_to_keras_where_it_differs():
    x = SEQUENCE * 2.0
    for kwargs in ({"axis": 1}, {"center": False}, {"scale": False}):
        ours, theirs = LayerNorm(**kwargs), keras.layers.LayerNormalization(**kwargs)
        np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5, err_msg=str(kwargs))


def test_embedding_refuses_sequences_longer_than_positions():
    layer = BertEmbedding(50, 8, 6, 2)
    with pytest.raises(ValueError, match="sequence length 7 is longer than max_position_embeddings=6"):
        layer(IDS, TYPES)


def test_factorized_embedding_projects_to_hidden_size():
    layer = BertEmbedding(50, 8, 10, 2, hidden_size=16)
    assert layer(IDS, TYPES).shape == (2, 7, 16)
    assert layer.word_embeddings.shape == (50, 8)


def test_block_ignores_padded_keys():
    block = TransformerEncoderBlock(16, 4, 24)
    out = block(SEQUENCE, MASK)
    garbage = SEQUENCE.copy()
    garbage[1, 4:] = 1e3
    out_garbage = block(garbage, MASK)
    np.testing.assert_allclose(out[1, :4], out_garbage[1, :4], atol=1e-5)
    # and without the mask the padded values do matter
    assert np.abs(block(garbage)[1, :4] - out[1, :4]).max() > 1e-2


def test_block_rejects_heads_that_do_not_divide():
    with pytest.raises(ValueError, match="hidden_size=16 is not divisible by num_attention_heads=5"):
        TransformerEncoderBlock(16, 5, 24)


def test_mlm_head_gathers_positions_and_ties_the_decoder():
    head = MaskedLMHead(50, 8, hidden_act="relu")
    logits = head(SEQUENCE, POSITIONS, TABLE).numpy()
    assert logits.shape == (2, 3, 50)
    # positions 2 and 2 in row 1 are the same token: same logits
    np.testing.assert_allclose(logits[1, 1], logits[1, 2])
    gathered = SEQUENCE[1, 1]
    h = np.maximum(gathered @ head.dense.kernel.numpy() + head.dense.bias.numpy(), 0)
    h = (h - h.mean()) / np.sqrt(h.var() + 1e-12)
    expected = h @ TABLE.T + head.bias.numpy()
    np.testing.assert_allclose(logits[1, 0], expected, atol=1e-4)


def test_heads_return_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    head = MaskedLMHead(50, 8)
    nsp = NextSentenceHead()
    assert head(SEQUENCE, POSITIONS, TABLE).dtype == "float32"
    assert nsp(SEQUENCE[:, 0]).dtype == "float32"
    assert head.dense.compute_dtype == "bfloat16"



@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_fast_dropout_keeps_the_rate_and_the_expectation(rate):
    dropout = FastDropout(rate, seed=1)
    x = np.ones((999, 1001), "float32")  # an odd element count: the last 32-bit word is cut
    first, second = dropout(x, training=True).numpy(), dropout(x, training=True).numpy()
    threshold = round(rate * 65536)
    scale = 65536 / (65536 - threshold)
    assert set(np.unique(first)) == {0.0, np.float32(scale)}
    assert abs((first != 0).mean() - (1 - threshold / 65536)) < 2e-3
    assert abs(first.mean() - 1.0) < 5e-3
    assert (first != second).any()  # a fresh mask every call
    np.testing.assert_array_equal(FastDropout(rate, seed=1)(x, training=True), first)  # seeded
    np.testing.assert_array_equal(dropout(x, training=False), x)


def test_fast_dropout_gradient_is_its_mask_and_its_dtype_the_policy_s():
    import tensorflow as tf

    x = tf.constant(np.full((6, 50), 2.0, "float32"))
    dropout = FastDropout(0.3, seed=2)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = dropout(x, training=True)
    np.testing.assert_allclose(tape.gradient(y, x), y / 2.0)
    assert FastDropout(0.3, dtype="mixed_bfloat16")(x, training=True).dtype == tf.bfloat16
    np.testing.assert_array_equal(FastDropout(1.0)(x, training=True), 0.0)  # Keras' dropout


@pytest.mark.parametrize("approximate", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fused_gelu_matches_keras_in_values_and_gradients(approximate, dtype):
    import tensorflow as tf

    x = tf.cast(tf.constant(np.linspace(-6, 6, 1001), "float32"), dtype)
    results = []
    for gelu in (fused_gelu, lambda v, approximate: keras.activations.gelu(v, approximate=approximate)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = gelu(x, approximate=approximate)
            loss = tf.reduce_sum(tf.cast(y, "float32") * np.cos(np.linspace(0, 9, 1001)).astype("float32"))
        results.append([tf.cast(t, "float32") for t in (y, tape.gradient(loss, x))])
    tolerance = 1e-5 if dtype == "float32" else 3e-2
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize(
    "hidden_act, policy",
    [("gelu", "float32"), ("gelu_exact", "float32"), ("relu", "float32"), ("gelu", "mixed_bfloat16")],
)
def test_block_trains_with_the_math_it_infers_with(hidden_act, policy, monkeypatch):
    """Training takes `fused_gelu` (forward and gradient); without dropout it
    must give what inference gives, in outputs and in weight gradients."""
    import tensorflow as tf

    from kerasbert.layers import transformer_encoder_block

    fused_calls = []

    def counted(*args, **kwargs):
        fused_calls.append(1)
        return fused_gelu(*args, **kwargs)

    monkeypatch.setattr(transformer_encoder_block, "fused_gelu", counted)
    block = TransformerEncoderBlock(16, 4, 24, hidden_act=hidden_act, dtype=policy)
    block(SEQUENCE, MASK)
    results = []
    for training in (False, True):
        with tf.GradientTape() as tape:
            y = block(SEQUENCE, MASK, training=training)
            loss = tf.reduce_sum(tf.cast(y, "float32") * SEQUENCE)
        results.append([y, *tape.gradient(loss, block.trainable_weights)])
    assert len(fused_calls) == (hidden_act != "relu")
    assert results[1][0].dtype == block.compute_dtype
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for got, expected in zip(*results):
        got, expected = tf.cast(got, "float32"), tf.cast(expected, "float32")
        np.testing.assert_allclose(got, expected, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_block_at_output_positions_is_the_whole_block_at_those_rows(policy):
    """Only the chosen rows are queries and go on through the feed-forward
    part; keys and values still span the sequence (padding masked)."""
    import tensorflow as tf

    block = TransformerEncoderBlock(16, 4, 24, dtype=policy)
    positions = np.array([[0, 5], [3, 1]], "int32")
    weights = RNG.normal(size=(2, 2, 16)).astype("float32")
    results = []
    for rows in (None, positions):
        with tf.GradientTape() as tape:
            y = block(SEQUENCE, MASK, training=True, output_positions=rows)
            if rows is None:
                y = tf.gather(y, positions, batch_dims=1)
            loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
        results.append([y, *tape.gradient(loss, block.trainable_weights)])
    assert results[1][0].shape == (2, 2, 16)
    tolerance = 1e-5 if policy == "float32" else 2e-2
    for got, expected in zip(*results, strict=True):
        got, expected = tf.cast(got, "float32"), tf.cast(expected, "float32")
        np.testing.assert_allclose(got, expected, atol=tolerance, rtol=tolerance)

    # The feed-forward products run on batch * P rows, not batch * seq.
    graph = (
        tf.function(lambda x, rows: block(x, MASK, training=True, output_positions=rows))
        .get_concrete_function(SEQUENCE, positions)
        .graph
    )
    feed_forward = [
        op for op in graph.get_operations() if op.type == "MatMul" and op.outputs[0].shape[-1] == 24
    ]
    assert [op.outputs[0].shape[0] for op in feed_forward] == [4]
