"""`kerasbert.hub.KerasLayer` over tiny TF Hub style SavedModels built here."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasbert.hub import KerasLayer

NAMES = ("input_word_ids", "input_mask", "input_type_ids")
SPEC = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in NAMES}
VOCAB, HIDDEN = 20, 8
REPO = str(pathlib.Path(__file__).resolve().parents[1])


class TinyHubModule(tf.Module):
    """Embedding + dense + dropout, with the reusable SavedModel attributes."""

    # Shadow tf.Module's properties: the SavedModel needs plain attributes.
    variables = None
    trainable_variables = None

    def __init__(self):
        super().__init__()
        normal = tf.random.stateless_normal
        self.word_embeddings = tf.Variable(normal([VOCAB, HIDDEN], seed=[1, 2]), name="embeddings/word")
        self.type_embeddings = tf.Variable(normal([2, HIDDEN], seed=[3, 4]), name="embeddings/type")
        self.kernel = tf.Variable(normal([HIDDEN, HIDDEN], seed=[5, 6]), name="dense/kernel")
        self.bias = tf.Variable(tf.zeros([HIDDEN]), name="dense/bias")
        self.shift = tf.Variable(0.1, trainable=False, name="shift")
        self.variables = [self.word_embeddings, self.type_embeddings, self.kernel, self.bias, self.shift]
        self.trainable_variables = self.variables[:4]
        self.regularization_losses = [
            tf.function(lambda: 1e-3 * tf.reduce_sum(tf.square(self.kernel)), input_signature=[])
        ]

    @tf.function
    def __call__(self, inputs, training=False):
        x = tf.gather(self.word_embeddings, inputs["input_word_ids"])
        x += tf.gather(self.type_embeddings, inputs["input_type_ids"])
        x = tf.tanh(tf.matmul(x, self.kernel) + self.bias + self.shift)
        if training:
            x = tf.nn.dropout(x, rate=0.2)
        mask = tf.cast(inputs["input_mask"], x.dtype)[..., None]
        x *= mask
        pooled = tf.reduce_sum(x, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
        return {"sequence_output": x, "pooled_output": pooled, "default": pooled}


class PlainModule(tf.Module):
    """No `__call__`, no `variables` attribute: one single-input signature."""

    def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(tf.ones([3, 2]), name="kernel")

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def project(self, x):
        return {"y": tf.matmul(x, self.kernel)}


@pytest.fixture(scope="module")
def hub_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("hub") / "tiny_encoder")
    module = TinyHubModule()
    module.__call__.get_concrete_function(SPEC, training=True)
    serve = module.__call__.get_concrete_function(SPEC, training=False)
    tf.saved_model.save(module, path, signatures={"serving_default": serve})
    return path


@pytest.fixture(scope="module")
def plain_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("plain") / "plain")
    module = PlainModule()
    tf.saved_model.save(module, path, signatures={"project": module.project})
    return path


def make_data(batch=16, seq=6, seed=0):
    rng = np.random.RandomState(seed)
    ids = rng.randint(1, VOCAB, (batch, seq)).astype("int32")
    mask = (np.arange(seq)[None, :] < rng.randint(2, seq + 1, (batch, 1))).astype("int32")
    types = (np.arange(seq)[None, :] >= seq // 2).astype("int32").repeat(batch, 0)
    x = {"input_word_ids": ids * mask, "input_mask": mask, "input_type_ids": types}
    y = (ids[:, 0] >= VOCAB // 2).astype("int32")
    return x, y


def classifier(layer):
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in NAMES}
    outputs = layer(inputs)
    logits = keras.layers.Dense(2, name="head")(outputs["pooled_output"])
    model = keras.Model(inputs, logits)
    model.compile(
        keras.optimizers.AdamW(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def values(variables):
    return [v.numpy().copy() for v in variables]


def max_diff(a, b):
    return max(float(np.abs(np.asarray(u) - np.asarray(v)).max()) for u, v in zip(a, b))


@pytest.mark.parametrize("trainable", [False, True])
def test_outputs_equal_the_module_call(hub_path, trainable):
    layer = KerasLayer(pathlib.Path(hub_path), trainable=trainable)
    x, _ = make_data()
    outputs, expected = layer(x), layer._module(x)
    assert set(outputs) == {"sequence_output", "pooled_output", "default"}
    for key in expected:
        assert float(np.abs(outputs[key] - expected[key]).max()) == 0.0
    assert outputs["sequence_output"].shape == (16, 6, HIDDEN)

    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in NAMES}
    symbolic = layer(inputs)
    assert symbolic["sequence_output"].shape == (None, None, HIDDEN)
    assert symbolic["pooled_output"].shape == (None, HIDDEN)


def test_weights_are_the_module_variables(hub_path):
    layer = KerasLayer(hub_path, trainable=True, name="encoder")
    module = layer._module
    assert len(layer.weights) == len(module.variables) == 5
    assert len(layer.trainable_weights) == 4 and len(layer.non_trainable_weights) == 1
    for weight, variable in zip(layer.weights, module.variables):
        assert isinstance(weight, keras.Variable)
        assert weight.value is variable  # adopted, not copied
        np.testing.assert_array_equal(weight.numpy(), variable.numpy())
        assert ":" not in weight.name and "/" not in weight.name
    assert [w.path for w in layer.weights][:3] == [
        "encoder/embeddings_word", "encoder/embeddings_type", "encoder/dense_kernel"
    ]

    x, _ = make_data()
    before = layer(x)["pooled_output"].numpy()
    kernel = layer.weights[2]
    kernel.assign(np.zeros((HIDDEN, HIDDEN), "float32"))  # through Keras...
    np.testing.assert_array_equal(module.kernel.numpy(), 0.0)  # ...seen by the module
    after = module(x)["pooled_output"].numpy()
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_array_equal(layer(x)["pooled_output"], after)
    module.bias.assign(np.ones(HIDDEN, "float32"))  # and the other way round
    np.testing.assert_array_equal(layer.weights[3].numpy(), 1.0)


def test_frozen_layer_has_only_non_trainable_weights(hub_path):
    frozen = KerasLayer(hub_path)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 5
    frozen.trainable = True  # Keras-style unfreezing, e.g. after training a head
    assert len(frozen.trainable_weights) == 4 and len(frozen.non_trainable_weights) == 1

    layer = KerasLayer(hub_path, trainable=True)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 5
    layer.trainable = True
    assert len(layer.trainable_weights) == 4


# The fresh model's optimizer is not built yet, so Keras skips its state.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_fit_with_adamw_fine_tunes_the_module(hub_path, tmp_path):
    layer = KerasLayer(hub_path, trainable=True)
    model = classifier(layer)
    x, y = make_data()
    module_before = values(layer._module.variables)
    loss_before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=8, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < loss_before - 0.05
    module_after = values(layer._module.variables)
    for before, after in zip(module_before[:4], module_after[:4]):
        assert np.abs(after - before).max() > 1e-4
    np.testing.assert_array_equal(module_after[4], module_before[4])  # not trainable
    assert all(":" not in v.name for v in model.optimizer.variables)

    # The fine-tuned weights survive save_weights / load_weights.
    model.save_weights(tmp_path / "w.weights.h5")
    fresh_layer = KerasLayer(hub_path, trainable=True)
    fresh = classifier(fresh_layer)
    assert max_diff(values(fresh_layer._module.variables), module_after) > 1e-4
    fresh.load_weights(tmp_path / "w.weights.h5")
    assert max_diff(values(fresh_layer._module.variables), module_after) == 0.0
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_fit_leaves_a_frozen_module_unchanged(hub_path):
    layer = KerasLayer(hub_path, trainable=False)
    model = classifier(layer)
    x, y = make_data()
    module_before = values(layer._module.variables)
    head_before = values(model.get_layer("head").weights)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert max_diff(values(layer._module.variables), module_before) == 0.0
    assert max_diff(values(model.get_layer("head").weights), head_before) > 1e-4


def test_subclassed_model_trains(hub_path):
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = KerasLayer(hub_path, trainable=True, output_key="pooled_output")
            self.head = keras.layers.Dense(2)

        def call(self, inputs, training=None):
            return self.head(self.encoder(inputs, training=training))

    model = Classifier()
    model.compile(
        keras.optimizers.AdamW(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = make_data()
    model(x)
    assert len(model.trainable_weights) == 4 + 2
    before = values(model.encoder._module.trainable_variables)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert max_diff(values(model.encoder._module.trainable_variables), before) > 1e-4


def test_signature_with_dict_inputs_and_output_key(hub_path):
    x, _ = make_data()
    layer = KerasLayer(hub_path, signature="serving_default")
    expected = layer._module.signatures["serving_default"](**x)
    outputs = layer(x)
    assert set(outputs) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(outputs[key], expected[key])

    # Signatures are inference only, even in a trainable layer.
    pooled = KerasLayer(hub_path, trainable=True, signature="serving_default", output_key="pooled_output")
    np.testing.assert_array_equal(pooled(x, training=True), expected["pooled_output"])

    # ...and work on symbolic inputs too.
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in NAMES}
    sequence = KerasLayer(hub_path, signature="serving_default", output_key="sequence_output")
    model = keras.Model(inputs, sequence(inputs))
    assert model.output.shape == (None, None, HIDDEN)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected["sequence_output"])


def test_single_input_signature_of_a_module_without_variables_attribute(plain_path):
    layer = KerasLayer(plain_path, signature="project", output_key="y")
    assert [w.name for w in layer.weights] == ["kernel"]
    assert layer.weights[0].value is layer._module.kernel
    np.testing.assert_array_equal(layer(np.ones((2, 3), "float32")), np.full((2, 2), 3.0))


def test_training_reaches_the_module_only_when_trainable(hub_path):
    x, _ = make_data()
    trainable = KerasLayer(hub_path, trainable=True)
    inference = trainable._module(x)["sequence_output"].numpy()
    first = trainable(x, training=True)["sequence_output"].numpy()
    second = trainable(x, training=True)["sequence_output"].numpy()
    assert np.abs(first - second).max() > 1e-3  # dropout is on
    np.testing.assert_array_equal(trainable(x, training=False)["sequence_output"], inference)
    np.testing.assert_array_equal(trainable(x)["sequence_output"], inference)

    frozen = KerasLayer(hub_path, trainable=False)
    np.testing.assert_array_equal(frozen(x, training=True)["sequence_output"], inference)


def test_regularization_losses_only_when_trainable(hub_path):
    x, _ = make_data()
    trainable = KerasLayer(hub_path, trainable=True)
    trainable(x)
    (loss,) = trainable.losses
    expected = 1e-3 * np.sum(np.square(trainable._module.kernel.numpy()))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6)

    frozen = KerasLayer(hub_path)
    frozen(x)
    assert frozen.losses == []


def test_errors_name_the_problem(hub_path, plain_path, tmp_path):
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(ValueError, match="no_such_model"):
        KerasLayer(missing)
    with pytest.raises(ValueError, match="No SavedModel found"):
        KerasLayer(tmp_path)  # an existing directory, but not a SavedModel
    with pytest.raises(ValueError, match=r"no signature 'tokens'.*'serving_default'"):
        KerasLayer(hub_path, signature="tokens")
    with pytest.raises(ValueError, match=r"no `__call__`.*'project'"):
        KerasLayer(plain_path)


def test_config_round_trip(hub_path):
    layer = KerasLayer(
        hub_path, trainable=True, signature="serving_default", arguments={}, output_key="pooled_output",
        name="hub",
    )
    config = layer.get_config()
    assert {k: config[k] for k in ("handle", "trainable", "signature", "arguments", "output_key", "name")} == {
        "handle": hub_path, "trainable": True, "signature": "serving_default", "arguments": {},
        "output_key": "pooled_output", "name": "hub",
    }
    json.dumps(config)
    for clone in (KerasLayer.from_config(config), keras.layers.deserialize(keras.layers.serialize(layer))):
        assert isinstance(clone, KerasLayer)
        assert clone.get_config() == config
        x, _ = make_data()
        np.testing.assert_array_equal(clone(x), layer(x))


MIRRORED_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
from kerasbert.hub import KerasLayer
from test_hub_layer import classifier, make_data, max_diff, values

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    layer = KerasLayer(sys.argv[1], trainable=True)
    model = classifier(layer)
x, y = make_data()
before = values(layer._module.trainable_variables)
history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
kernel = layer._module.kernel
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "variable_type": type(layer.weights[0].value).__name__,
    "losses": history.history["loss"],
    "change": max_diff(values(layer._module.trainable_variables), before),
    "replica_gap": max_diff([kernel.values[0]], [kernel.values[1]]),
}))
"""


def test_mirrored_strategy_over_two_logical_cpus(hub_path, tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(textwrap.dedent(MIRRORED_SCRIPT))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    env["PYTHONPATH"] = os.pathsep.join([REPO, os.path.join(REPO, "tests"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, str(script), hub_path],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["variable_type"] == "MirroredVariable"
    assert np.isfinite(result["losses"]).all()
    assert result["change"] > 1e-4
    assert result["replica_gap"] == 0.0
