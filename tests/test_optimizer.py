"""BERT's optimizer: `FusedAdamW` against Keras' AdamW, weight decay exclusions."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasbert.training import FusedAdamW, WarmupLinearDecay, create_optimizer
from kerasbert.training.optimizer import NO_WEIGHT_DECAY

SHAPES = {"kernel": (37, 5), "bias": (5,), "gamma": (5,), "embeddings": (50, 8)}


def make_variables():
    rng = np.random.default_rng(0)
    return [keras.Variable(rng.normal(size=s).astype("float32"), name=n) for n, s in SHAPES.items()]


def gradients(step):
    rng = np.random.default_rng(100 + step)
    grads = [tf.constant(rng.normal(size=s).astype("float32")) for s in SHAPES.values()]
    # An embedding lookup's gradient: rows 3 and 7 (7 twice).
    rows = tf.constant(rng.normal(size=(3, 8)).astype("float32"))
    grads[-1] = tf.IndexedSlices(rows, tf.constant([3, 7, 7]), tf.constant([50, 8]))
    return grads


def optimizer(cls):
    result = cls(
        learning_rate=WarmupLinearDecay(1e-2, 10, 2), weight_decay=0.1, epsilon=1e-6, global_clipnorm=1.0
    )
    result.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    return result


def applier(opt, variables):
    return lambda grads: opt.apply(grads, variables)


@pytest.mark.parametrize("in_graph", [False, True])
def test_fused_adamw_equals_keras_adamw(in_graph):
    trained = {}
    for cls in (keras.optimizers.AdamW, FusedAdamW):
        variables, opt = make_variables(), optimizer(cls)
        apply = applier(opt, variables)
        if in_graph:  # as in a training step: the variables captured, not passed
            apply = tf.function(apply)
        for step in range(6):
            apply(gradients(step))
        trained[cls] = [v.numpy() for v in variables]
    for name, keras_value, fused_value in zip(SHAPES, trained[keras.optimizers.AdamW], trained[FusedAdamW]):
        np.testing.assert_allclose(fused_value, keras_value, rtol=1e-5, atol=1e-6, err_msg=name)
    # The updates did move every variable (and untouched embedding rows only by decay).
    for name, before, after in zip(SHAPES, make_variables(), trained[FusedAdamW]):
        assert not np.allclose(before.numpy(), after), name


def test_weight_decay_skips_layer_norm_and_biases():
    variables, opt = make_variables(), create_optimizer(1e-2, 10, weight_decay=0.5)
    assert isinstance(opt, FusedAdamW)
    zeros = [tf.zeros(s) for s in SHAPES.values()]
    opt.apply(zeros, variables)
    for name, before, after in zip(SHAPES, make_variables(), variables):
        decayed = not np.allclose(before.numpy(), after.numpy())
        assert decayed == (name in ("kernel", "embeddings")), name


def test_amsgrad_is_refused():
    with pytest.raises(ValueError, match="amsgrad"):
        FusedAdamW(amsgrad=True)


def test_fused_adamw_under_mirrored_strategy_equals_keras_adamw():
    # Two logical CPUs must be set up before TensorFlow starts: a fresh process.
    script = textwrap.dedent(
        """
        import numpy as np, tensorflow as tf, keras
        from kerasbert.training import FusedAdamW, split_cpu
        split_cpu(2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        results = []
        for cls in (keras.optimizers.AdamW, FusedAdamW):
            with strategy.scope():
                variables = [keras.Variable(np.ones((6, 4), "float32"), name="kernel"),
                             keras.Variable(np.ones(4, "float32"), name="bias")]
                opt = cls(learning_rate=1e-2, weight_decay=0.1)
                opt.exclude_from_weight_decay(var_names=["bias"])
                opt.build(variables)  # slots created before tracing, as the pretraining loop does

            @tf.function
            def step(seed):
                def replica_fn():
                    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
                    grads = [tf.random.stateless_normal(v.shape, [seed, replica]) for v in variables]
                    opt.apply(grads, variables)
                strategy.run(replica_fn)

            for seed in range(4):
                step(tf.constant(seed))
            values = [[c.numpy() for c in v.value.values] for v in variables]
            for per_device in values:  # the replicas agree
                np.testing.assert_array_equal(per_device[0], per_device[1])
            results.append([per_device[0] for per_device in values])
        for keras_value, fused_value in zip(*results):
            np.testing.assert_allclose(fused_value, keras_value, rtol=1e-5, atol=1e-6)
        print("same")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("same")
