import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_inputs
from kerasbert import BertConfig, BertEncoder

OUTPUT_KEYS = {"sequence_output", "pooled_output", "encoder_outputs", "default"}


def valid_rows(outputs, mask):
    return outputs["sequence_output"].numpy()[mask.astype(bool)]


@pytest.mark.parametrize("preset, expected", [("tiny", 4_385_920), ("base", 109_482_240)])
def test_parameter_counts(preset, expected):
    assert BertEncoder(BertConfig.preset(preset)).count_params() == expected


def test_albert_options_change_the_parameter_count_as_albert_does():
    mini = BertConfig.preset("mini")
    full = BertEncoder(mini).count_params()
    one = BertEncoder(mini.replace(num_hidden_layers=1)).count_params()
    per_block = BertEncoder(mini.replace(num_hidden_layers=2)).count_params() - one
    h, i = 256, 1024
    assert per_block == 4 * h * h + 2 * h * i + 9 * h + i  # attention, FFN, biases, 2 LNs
    assert BertEncoder(mini.replace(share_layers=True)).count_params() == full - 3 * per_block

    e = 64
    rows = 30522 + 512 + 2
    factorized = BertEncoder(mini.replace(embedding_size=e)).count_params()
    # smaller tables and LayerNorm, plus the E -> H projection
    assert factorized == full - rows * (h - e) - 2 * (h - e) + (e * h + h)


def test_outputs(tiny_config):
    encoder = BertEncoder(tiny_config)
    inputs = make_inputs()
    outputs = encoder(inputs)
    assert set(outputs) == OUTPUT_KEYS
    assert outputs["sequence_output"].shape == (3, 12, 32)
    assert outputs["pooled_output"].shape == (3, 32)
    assert len(outputs["encoder_outputs"]) == 2
    np.testing.assert_array_equal(outputs["default"], outputs["pooled_output"])
    np.testing.assert_array_equal(outputs["encoder_outputs"][-1], outputs["sequence_output"])
    # the pooler is dense + tanh on [CLS]
    cls = outputs["sequence_output"][:, 0].numpy()
    pooled = np.tanh(cls @ encoder.pooler.kernel.numpy() + encoder.pooler.bias.numpy())
    np.testing.assert_allclose(outputs["pooled_output"], pooled, atol=1e-5)


def test_mask_and_type_ids_are_optional(tiny_config):
    encoder = BertEncoder(tiny_config)
    ids = make_inputs()["input_word_ids"]
    full = encoder(
        {"input_word_ids": ids, "input_mask": np.ones_like(ids), "input_type_ids": np.zeros_like(ids)}
    )
    for short in ({"input_word_ids": ids}, ids):
        np.testing.assert_allclose(encoder(short)["sequence_output"], full["sequence_output"], atol=1e-6)


def test_padding_does_not_change_valid_positions(tiny_config):
    encoder = BertEncoder(tiny_config)
    inputs = make_inputs(seq=12)
    padded = {k: np.pad(v, ((0, 0), (0, 9))) for k, v in inputs.items()}
    padded["input_word_ids"][:, 12:] = 55  # whatever sits under the padding
    a, b = encoder(inputs), encoder(padded)
    mask = inputs["input_mask"]
    np.testing.assert_allclose(valid_rows(a, mask), valid_rows(b, padded["input_mask"]), atol=1e-5)
    np.testing.assert_allclose(a["pooled_output"], b["pooled_output"], atol=1e-5)
    # each row alone, unpadded, gives the same vectors as in the padded batch
    for row in range(3):
        n = int(mask[row].sum())
        alone = encoder({k: v[row : row + 1, :n] for k, v in inputs.items()})
        np.testing.assert_allclose(
            alone["sequence_output"][0], a["sequence_output"][row, :n], atol=1e-5
        )


def test_variable_sequence_lengths_in_one_function(tiny_config):
    encoder = BertEncoder(tiny_config)
    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in make_inputs()}
    run = tf.function(lambda x: encoder(x)["sequence_output"], input_signature=[spec])
    for seq in (5, 17, 40):
        inputs = make_inputs(seq=seq)
        np.testing.assert_allclose(
            run(inputs), encoder(inputs)["sequence_output"], atol=1e-5
        )


def test_predict_on_a_dataset(tiny_config):
    encoder = BertEncoder(tiny_config)
    inputs = make_inputs(batch=6)
    dataset = tf.data.Dataset.from_tensor_slices(inputs).batch(4)
    predicted = encoder.predict(dataset, verbose=0)
    np.testing.assert_allclose(predicted["pooled_output"], encoder(inputs)["pooled_output"], atol=1e-5)


def test_xla_equals_eager(tiny_config):
    encoder = BertEncoder(tiny_config)
    inputs = make_inputs()
    compiled = tf.function(lambda x: encoder(x), jit_compile=True)
    xla = compiled(inputs)
    # One XLA program holds every matmul of the forward: 6 per block + pooler.
    # (The attention's layout einsums enter unoptimized HLO as a dot with the
    # scalar 1 before their transpose; they are not matmuls.)
    hlo = compiled.experimental_get_compiler_ir(inputs)(stage="hlo").splitlines()
    matmuls = [line for line in hlo if " dot(" in line and 'op_type="Einsum"' not in line]
    assert len(matmuls) == 6 * tiny_config.num_hidden_layers + 1
    eager = encoder(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(xla[key], eager[key], atol=1e-5)


def matmul_count(function, *args):
    graph = function.get_concrete_function(*args).graph
    return sum(op.type in ("MatMul", "BatchMatMulV2") for op in graph.get_operations())


def test_concurrent_splits_encode_the_same_batch_in_parts(tiny_config):
    whole = BertEncoder(tiny_config)
    split = BertEncoder(tiny_config, concurrent_splits=3)
    split.set_weights(whole.get_weights())
    inputs = make_inputs(batch=5)  # parts of 1, 2 and 2 sequences, padded ones among them
    expected = whole(inputs)
    graph_call = tf.function(lambda x: split(x, training=False))
    outputs = graph_call(inputs)
    for key in ("sequence_output", "pooled_output", "default"):
        np.testing.assert_allclose(outputs[key], expected[key], atol=1e-5)
    for got, want in zip(outputs["encoder_outputs"], expected["encoder_outputs"], strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # Three encoders side by side in the graph: 6 products per block + pooler each.
    per_encoder = 6 * tiny_config.num_hidden_layers + 1
    assert matmul_count(graph_call, inputs) == 3 * per_encoder
    # Whole when training, in eager calls and for batches known to be too small.
    assert matmul_count(tf.function(lambda x: split(x, training=True)), inputs) == per_encoder
    assert matmul_count(graph_call, make_inputs(batch=2)) == per_encoder
    encoded = []
    encode = split._encode

    def counted_encode(*args):
        encoded.append(args)
        return encode(*args)

    split._encode = counted_encode
    np.testing.assert_allclose(split(inputs)["pooled_output"], expected["pooled_output"], atol=1e-6)
    assert len(encoded) == 1  # eager: one part, nothing for the executor to overlap


def test_concurrent_splits_of_a_batch_of_unknown_size(tiny_config):
    whole = BertEncoder(tiny_config)
    split = BertEncoder(tiny_config, concurrent_splits=2)
    split.set_weights(whole.get_weights())
    spec = {key: tf.TensorSpec([None, None], tf.int32) for key in make_inputs()}
    graph_call = tf.function(lambda x: split(x)["sequence_output"], input_signature=[spec])
    for batch in (1, 4):  # one sequence: the first part is empty
        inputs = make_inputs(batch=batch)
        np.testing.assert_allclose(graph_call(inputs), whole(inputs)["sequence_output"], atol=1e-5)


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "2"])
def test_concurrent_splits_must_be_a_positive_integer(tiny_config, value):
    with pytest.raises(ValueError, match=f"concurrent_splits={value!r} is not an integer >= 1"):
        BertEncoder(tiny_config, concurrent_splits=value)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_runs_with_float32_outputs(tiny_config, policy):
    reference = BertEncoder(tiny_config)
    mixed = BertEncoder(tiny_config, dtype=policy)
    mixed.set_weights(reference.get_weights())
    inputs = make_inputs()
    outputs = mixed(inputs)
    assert mixed.blocks[0].qkv.compute_dtype == policy.split("_")[1]
    assert all(w.dtype == "float32" for w in mixed.weights)
    for key in ("sequence_output", "pooled_output"):
        assert outputs[key].dtype == "float32"
        assert np.isfinite(outputs[key].numpy()).all()
    assert all(o.dtype == "float32" for o in outputs["encoder_outputs"])
    tolerance = 0.1 if policy == "mixed_bfloat16" else 0.02
    np.testing.assert_allclose(
        valid_rows(outputs, inputs["input_mask"]),
        valid_rows(reference(inputs), inputs["input_mask"]),
        atol=tolerance,
    )


def test_dropout_acts_only_in_training(tiny_config):
    encoder = BertEncoder(tiny_config.replace(hidden_dropout_prob=0.3))
    inputs = make_inputs()
    inference = [encoder(inputs, training=False)["pooled_output"].numpy() for _ in range(3)]
    training = [encoder(inputs, training=True)["pooled_output"].numpy() for _ in range(3)]
    np.testing.assert_array_equal(inference[0], inference[1])
    np.testing.assert_array_equal(inference[0], encoder(inputs)["pooled_output"])
    assert np.abs(training[0] - training[1]).max() > 1e-3
    assert np.abs(training[0] - inference[0]).max() > 1e-3


@pytest.mark.parametrize(
    "changes, splits", [({}, 1), ({"embedding_size": 16, "share_layers": True, "hidden_act": "gelu_exact"}, 2)]
)
def test_keras_file_round_trip(tiny_config, tmp_path, changes, splits):
    encoder = BertEncoder(tiny_config.replace(**changes), concurrent_splits=splits)
    inputs = make_inputs()
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, BertEncoder)
    assert loaded.config == encoder.config
    assert loaded.concurrent_splits == encoder.concurrent_splits
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(loaded(inputs)[key], encoder(inputs)[key])


def test_shared_layers_apply_one_block_at_every_depth(tiny_config):
    encoder = BertEncoder(tiny_config.replace(num_hidden_layers=3, share_layers=True))
    assert len(encoder.blocks) == 1
    inputs = make_inputs()
    outputs = encoder(inputs)
    x = encoder.embedding(inputs["input_word_ids"], inputs["input_type_ids"])
    for i in range(3):
        x = encoder.blocks[0](x, inputs["input_mask"])
        np.testing.assert_allclose(outputs["encoder_outputs"][i], x, atol=1e-6)


def test_sequence_longer_than_positions_is_refused(tiny_config):
    encoder = BertEncoder(tiny_config)
    with pytest.raises(ValueError, match="sequence length 41 is longer than max_position_embeddings=40"):
        encoder(make_inputs(seq=41))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("input_word_ids", 97, r"input_word_ids contains 97, outside \[0, 97\)"),
        ("input_word_ids", -1, r"input_word_ids contains -1"),
        ("input_type_ids", 3, r"input_type_ids contains 3, outside \[0, 3\)"),
    ],
)
def test_ids_outside_the_vocabulary_are_refused(tiny_config, key, value, message):
    encoder = BertEncoder(tiny_config)
    inputs = make_inputs()
    inputs[key][1, 2] = value
    with pytest.raises(ValueError, match=message):
        encoder(inputs)


def test_output_positions_run_the_last_block_at_those_rows_only(tiny_config):
    whole = BertEncoder(tiny_config)
    split = BertEncoder(tiny_config, concurrent_splits=2)
    split.set_weights(whole.get_weights())
    inputs = make_inputs(batch=3)
    positions = np.array([[1, 4], [2, 2], [5, 3]], "int32")
    expected = whole(inputs)
    gathered = np.take_along_axis(expected["sequence_output"].numpy(), positions[..., None], axis=1)
    graph_call = tf.function(lambda x, rows: split(x, output_positions=rows))
    for outputs in (whole(inputs, output_positions=positions), graph_call(inputs, positions)):
        assert outputs["sequence_output"].shape == (3, 2, 32)
        np.testing.assert_allclose(outputs["sequence_output"], gathered, atol=1e-5)
        np.testing.assert_allclose(outputs["encoder_outputs"][-1], gathered, atol=1e-5)
        np.testing.assert_allclose(outputs["encoder_outputs"][0], expected["encoder_outputs"][0], atol=1e-5)
        np.testing.assert_allclose(outputs["pooled_output"], expected["pooled_output"], atol=1e-5)
