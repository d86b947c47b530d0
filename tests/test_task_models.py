"""Task models: each learns a small constructed task; frozen encoders stay put;
exported modules work as encoders; configs round-trip."""

import keras
import numpy as np
import pytest

from conftest import TINY
from kerasbert import BertConfig, BertEncoder
from kerasbert.models import BertClassifier, BertSpanQA, BertTokenClassifier

SEQ = 12
CONFIG = dict(TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def encoder():
    return BertEncoder(BertConfig(**CONFIG))


def inputs(ids):
    return {
        "input_word_ids": ids.astype("int32"),
        "input_mask": np.ones_like(ids, "int32"),
        "input_type_ids": np.zeros_like(ids, "int32"),
    }


def topic_data(n=96, seed=0):
    """Class k: the sequence holds tokens from the k-th third of the vocabulary."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 3, n)
    ids = np.stack([rng.randint(4 + 30 * k, 4 + 30 * (k + 1), SEQ) for k in labels])
    return inputs(ids), labels.astype("int32")


def test_classifier_learns_and_round_trips(tmp_path):
    x, y = topic_data()
    model = BertClassifier(encoder(), num_classes=3, dropout=0.0)
    model.compile(keras.optimizers.AdamW(3e-3), keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] >= 0.95

    path = tmp_path / "classifier.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert restored.get_config()["num_classes"] == 3


def test_token_classifier_learns():
    rng = np.random.RandomState(0)
    ids = rng.randint(4, 97, (96, SEQ))
    tags = (ids >= 50).astype("int32") + (ids >= 80)
    tags[:, 0] = -1  # ignored positions, like the pieces after a word's first
    model = BertTokenClassifier(encoder(), num_classes=3, dropout=0.0)
    model.compile(
        keras.optimizers.AdamW(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
    )
    model.fit(inputs(ids), tags, epochs=8, batch_size=16, verbose=0)
    predicted = model.predict(inputs(ids), verbose=0).argmax(-1)
    assert np.mean(predicted[tags >= 0] == tags[tags >= 0]) >= 0.95


def test_span_qa_learns():
    """Answers start at token 3 and end at the token 2 that follows it."""
    rng = np.random.RandomState(0)
    ids = rng.randint(4, 97, (128, SEQ))
    starts = rng.randint(1, SEQ - 4, 128)
    ends = starts + rng.randint(0, 3, 128)
    ids[np.arange(128), starts] = 3
    ids[np.arange(128), ends] = np.where(ends == starts, 3, 2)
    x = inputs(ids)
    x["input_mask"][:, -1] = 0  # a padded position must never be chosen
    model = BertSpanQA(encoder())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.AdamW(3e-3), loss={"start_logits": loss, "end_logits": loss})
    model.fit(x, {"start_logits": starts, "end_logits": ends}, epochs=10, batch_size=16, verbose=0)
    outputs = model.predict(x, verbose=0)
    exact = (outputs["start_logits"].argmax(-1) == starts) & (outputs["end_logits"].argmax(-1) == ends)
    assert exact.mean() >= 0.95
    assert outputs["end_logits"][:, -1].max() < -1e3


def test_frozen_encoder_trains_only_the_head():
    x, y = topic_data(32)
    model = BertClassifier(encoder(), num_classes=3, freeze_encoder=True)
    model.compile(keras.optimizers.AdamW(1e-2), keras.losses.SparseCategoricalCrossentropy(True))
    before = [w.numpy() for w in model.encoder.weights]
    head = model.output_dense.kernel.numpy()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.encoder.weights))
    assert not np.array_equal(head, model.output_dense.kernel.numpy())
    assert len(model.trainable_weights) == 2


def test_classifier_on_an_exported_module(tmp_path, minilm_vocab):
    from kerasbert.export import export_encoder
    from kerasbert.hub import KerasLayer

    source = BertEncoder(BertConfig(**dict(CONFIG, vocab_size=30522)))
    path = export_encoder(source, minilm_vocab, tmp_path / "encoder")
    x, y = topic_data()
    model = BertClassifier(KerasLayer(path, trainable=True), num_classes=3, dropout=0.0)
    model.compile(keras.optimizers.AdamW(3e-3), keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] >= 0.95
    assert len(model.trainable_weights) == len(source.trainable_weights) + 2


def test_missing_inputs_are_named():
    model = BertClassifier(encoder(), num_classes=2)
    with pytest.raises(ValueError, match="input_mask"):
        model({"input_word_ids": np.ones((1, 4), "int32"), "input_type_ids": np.zeros((1, 4), "int32")})
