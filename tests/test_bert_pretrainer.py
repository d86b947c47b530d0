import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_inputs
from kerasbert import BertEncoder, BertPretrainer


def make_features(batch=4, seq=12, predictions=3, seed=0):
    rng = np.random.RandomState(seed)
    features = make_inputs(batch=batch, seq=seq, seed=seed)
    features["masked_lm_positions"] = np.stack(
        [rng.choice(np.arange(1, 6), predictions, replace=False) for _ in range(batch)]
    ).astype("int32")
    features["masked_lm_ids"] = rng.randint(4, 97, (batch, predictions)).astype("int32")
    weights = np.ones((batch, predictions), "float32")
    weights[0, -1] = 0.0  # a padded prediction slot
    features["masked_lm_weights"] = weights
    features["next_sentence_labels"] = rng.randint(0, 2, (batch, 1)).astype("int32")
    return features


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_outputs_add_the_head_logits(tiny_config):
    pretrainer = BertPretrainer(BertEncoder(tiny_config))
    outputs = pretrainer(make_features())
    assert outputs["mlm_logits"].shape == (4, 3, 97)
    assert outputs["nsp_logits"].shape == (4, 2)
    assert outputs["sequence_output"].shape == (4, 12, 32)
    assert "nsp_logits" not in BertPretrainer(BertEncoder(tiny_config), nsp=False)(make_features())


def test_decoder_is_tied_to_the_word_embeddings(tiny_config):
    encoder = BertEncoder(tiny_config)
    pretrainer = BertPretrainer(encoder)
    vocab, width = 97, 32
    own = pretrainer.count_params() - encoder.count_params()
    assert own == (width * width + width) + 2 * width + vocab + (width * 2 + 2)
    features = make_features()
    with tf.GradientTape() as tape:
        loss = pretrainer.compute_loss(x=features, y_pred=pretrainer(features, training=True))
    gradient = tape.gradient(loss, encoder.embedding.word_embeddings)
    # the decoder sends gradient to every row of the table, not only to looked-up ids
    rows_with_gradient = np.abs(tf.convert_to_tensor(gradient).numpy()).sum(-1) > 0
    assert rows_with_gradient.all()


def test_loss_is_weighted_mlm_plus_mean_nsp(tiny_config):
    pretrainer = BertPretrainer(BertEncoder(tiny_config))
    features = make_features()
    outputs = pretrainer(features)
    losses = pretrainer.pretraining_losses(features, outputs)
    mlm = -np.take_along_axis(
        log_softmax(outputs["mlm_logits"].numpy()), features["masked_lm_ids"][..., None], -1
    )[..., 0]
    weights = features["masked_lm_weights"]
    np.testing.assert_allclose(losses["mlm_loss"], (mlm * weights).sum() / weights.sum(), rtol=1e-4)
    nsp = -np.take_along_axis(
        log_softmax(outputs["nsp_logits"].numpy()), features["next_sentence_labels"], -1
    )
    np.testing.assert_allclose(losses["nsp_loss"], nsp.mean(), rtol=1e-4)
    total = pretrainer.compute_loss(x=features, y_pred=outputs)
    np.testing.assert_allclose(total, losses["mlm_loss"] + losses["nsp_loss"], rtol=1e-6)


@pytest.mark.parametrize("nsp", [True, False])
def test_fit_overfits_one_batch(tiny_config, nsp):
    config = tiny_config.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    pretrainer = BertPretrainer(BertEncoder(config), nsp=nsp)
    pretrainer.compile(optimizer=keras.optimizers.AdamW(learning_rate=3e-3))
    dataset = tf.data.Dataset.from_tensors(make_features(batch=8)).repeat(40)
    history = pretrainer.fit(dataset, epochs=1, verbose=0)
    first = pretrainer.evaluate(tf.data.Dataset.from_tensors(make_features(batch=8)), verbose=0, return_dict=True)
    fresh = BertPretrainer(BertEncoder(config), nsp=nsp)
    fresh.compile()
    before = fresh.evaluate(tf.data.Dataset.from_tensors(make_features(batch=8)), verbose=0, return_dict=True)
    assert first["loss"] < 0.5 * before["loss"], (before, first)
    assert first["mlm_accuracy"] > 0.9
    metrics = {"loss", "mlm_loss", "mlm_accuracy"} | ({"nsp_loss", "nsp_accuracy"} if nsp else set())
    assert metrics <= set(history.history)
    if nsp:
        assert first["nsp_accuracy"] == 1.0


def test_keras_file_round_trip(tiny_config, tmp_path):
    pretrainer = BertPretrainer(BertEncoder(tiny_config.replace(embedding_size=16)), nsp=False)
    features = make_features()
    path = str(tmp_path / "pretrainer.keras")
    pretrainer.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.nsp is False and loaded.encoder.config == pretrainer.encoder.config
    np.testing.assert_array_equal(loaded(features)["mlm_logits"], pretrainer(features)["mlm_logits"])


def test_missing_features_are_named(tiny_config):
    pretrainer = BertPretrainer(BertEncoder(tiny_config))
    features = make_features()
    del features["masked_lm_positions"]
    with pytest.raises(ValueError, match=r"inputs lack \['masked_lm_positions'\]"):
        pretrainer(features)
    features = make_features()
    outputs = pretrainer(features)
    del features["next_sentence_labels"]
    with pytest.raises(ValueError, match=r"features lack \['next_sentence_labels'\]"):
        pretrainer.compute_loss(x=features, y_pred=outputs)


def test_cross_entropy_and_hits_match_keras():
    """The fused loss gives Keras' cross-entropy, its gradient, and argmax hits."""
    from kerasbert.models.bert_pretrainer import cross_entropy_and_hits

    rng = np.random.RandomState(0)
    values = rng.normal(0, 3, (4, 5, 97)).astype("float32")
    labels = rng.randint(0, 97, (4, 5)).astype("int32")
    labels[:2] = values[:2].argmax(-1)  # half the positions are hits
    logits, labels = tf.Variable(values), tf.constant(labels)
    weights = tf.constant(rng.uniform(size=(4, 5)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        ours, hits = cross_entropy_and_hits(logits, labels)
        ours_total = tf.reduce_sum(ours * weights)
        keras_loss = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        keras_total = tf.reduce_sum(keras_loss * weights)
    np.testing.assert_allclose(ours, keras_loss, atol=1e-5)
    np.testing.assert_allclose(
        tape.gradient(ours_total, logits), tape.gradient(keras_total, logits), atol=1e-6
    )
    argmax_hits = (np.argmax(logits.numpy(), -1) == labels.numpy()).astype("float32")
    assert argmax_hits[:2].all() and not argmax_hits[2:].all()
    np.testing.assert_array_equal(hits, argmax_hits)


@pytest.mark.parametrize("call", [{"training": True}, {"training": False, "masked_rows_only": True}])
def test_masked_rows_only_runs_the_last_block_at_the_masked_rows(tiny_config, call):
    """Training (and evaluation, asked for) computes the last block at [CLS]
    and the masked positions alone; without dropout its logits, losses and
    gradients are inference's."""
    config = tiny_config.to_dict() | {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    pretrainer = BertPretrainer(BertEncoder(config))
    features = make_features()
    results = []
    for kwargs, full_rows in (({"training": False}, True), (call, False)):
        with tf.GradientTape() as tape:
            outputs = pretrainer(features, **kwargs)
            loss = pretrainer.compute_loss(x=features, y_pred=outputs)
        gradients = tape.gradient(loss, pretrainer.trainable_variables)
        results.append([outputs["mlm_logits"], outputs["nsp_logits"], loss, *map(tf.convert_to_tensor, gradients)])
        # Masked rows only: no sequence output, which would hold those rows alone.
        assert ("sequence_output" in outputs, "encoder_outputs" in outputs) == (full_rows, full_rows)
    for got, expected in zip(*results, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_evaluate_runs_the_last_block_at_the_masked_rows(tiny_config):
    pretrainer = BertPretrainer(BertEncoder(tiny_config))
    pretrainer.compile()
    features = make_features(batch=8)
    outputs = pretrainer(features)  # all rows
    expected = {k: float(v) for k, v in pretrainer.pretraining_losses(features, outputs).items()}
    positions_passed = []
    encoder_call = pretrainer.encoder.call

    def recording_call(*args, output_positions=None, **kwargs):
        positions_passed.append(output_positions is not None)
        return encoder_call(*args, output_positions=output_positions, **kwargs)

    pretrainer.encoder.call = recording_call
    results = pretrainer.evaluate(tf.data.Dataset.from_tensors(features), verbose=0, return_dict=True)
    assert positions_passed and all(positions_passed)
    np.testing.assert_allclose(results["mlm_loss"], expected["mlm_loss"], rtol=1e-5)
    np.testing.assert_allclose(results["nsp_loss"], expected["nsp_loss"], rtol=1e-5)
    np.testing.assert_allclose(results["loss"], sum(expected.values()), rtol=1e-5)


def test_evaluate_metrics_are_the_datasets_weighted_means(tiny_config):
    """A last, smaller batch weighs by what it holds, not as much as a full one."""
    pretrainer = BertPretrainer(BertEncoder(tiny_config))
    pretrainer.compile()
    features = make_features(batch=9)  # batches of 8 and 1, with a padded prediction
    outputs = pretrainer(features)
    mlm_argmax = outputs["mlm_logits"].numpy().argmax(-1)
    nsp_argmax = outputs["nsp_logits"].numpy().argmax(-1)
    features["masked_lm_ids"][:5] = mlm_argmax[:5]  # some hits, in both batches
    features["masked_lm_ids"][8, :2] = mlm_argmax[8, :2]
    features["next_sentence_labels"][:4, 0] = nsp_argmax[:4]
    expected = pretrainer.pretraining_losses(features, outputs)
    weights = features["masked_lm_weights"]
    expected["mlm_accuracy"] = ((mlm_argmax == features["masked_lm_ids"]) * weights).sum() / weights.sum()
    expected["nsp_accuracy"] = (nsp_argmax == features["next_sentence_labels"][:, 0]).mean()
    batches = tf.data.Dataset.from_tensor_slices(features).batch(8)
    results = pretrainer.evaluate(batches, verbose=0, return_dict=True)
    for key in ("mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"):
        np.testing.assert_allclose(results[key], expected[key], rtol=1e-5, err_msg=key)


def test_fit_and_evaluate_under_mirrored_strategy_match_one_device():
    """Keras sums the replicas' gradients: the loss must come divided by the
    replicas, or each step is twice as large on two (and the loss reads 2x).
    A last batch of one example leaves one replica nothing: no NaN."""
    # Two logical CPUs must be set up before TensorFlow starts: a fresh process.
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np, tensorflow as tf, keras
        from kerasbert import BertConfig, BertEncoder, BertPretrainer
        from kerasbert.training import split_cpu
        from conftest import TINY
        from test_bert_pretrainer import make_features

        split_cpu(2)
        features = make_features(batch=8)
        # Each replica's MLM loss is its own weighted mean: equal weights in
        # both halves make their mean the whole batch's.
        features["masked_lm_weights"][:] = 1.0
        nine = make_features(batch=9, seed=1)
        nine["masked_lm_weights"][:] = 1.0
        config = BertConfig(**TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        results = []
        for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
            with strategy.scope():
                keras.utils.set_random_seed(1)
                pretrainer = BertPretrainer(BertEncoder(config))
                pretrainer.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5))
            data = tf.data.Dataset.from_tensors(features)
            evaluated = pretrainer.evaluate(data, verbose=0, return_dict=True)
            uneven = tf.data.Dataset.from_tensor_slices(nine).batch(8)
            evaluated_uneven = pretrainer.evaluate(uneven, verbose=0, return_dict=True)
            trained = pretrainer.fit(data, verbose=0).history
            weights = [w.numpy() for w in pretrainer.trainable_weights]
            results.append(([evaluated, evaluated_uneven, trained], weights))
        (one_device, weights), (mirrored, mirrored_weights) = results
        for expected, got in zip(one_device, mirrored):
            for key in expected:
                assert np.isfinite(got[key]).all(), (key, got)
                np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, err_msg=key)
        for got_weight, expected_weight in zip(mirrored_weights, weights, strict=True):
            np.testing.assert_allclose(got_weight, expected_weight, rtol=1e-4, atol=1e-6)
        print("same")
        """
    )
    tests = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", script, tests], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("same")
