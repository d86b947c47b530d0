"""Google's TF1 BERT checkpoints: parity with `transformers`, round trips, errors.

No Google checkpoint can be downloaded here, so the tests write one the way
google-research/bert did: `tf.compat.v1` variables with Google's names (here
holding a random `transformers.BertForPreTraining`'s weights), Adam slots and
`global_step`, saved by `tf.compat.v1.train.Saver` as `bert_model.ckpt` beside
`bert_config.json` and `vocab.txt`.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers

from conftest import TINY, make_inputs
from kerasbert import BertEncoder, BertPretrainer
from kerasbert.convert.google import load_google_checkpoint, save_google_checkpoint

TOLERANCE = 1e-4
POSITIONS = np.array([[1, 2, 5], [0, 3, 4], [1, 1, 2]], "int32")


def random_hf_pretrainer(seed=0):
    """Every weight random (LayerNorm and biases too), so a swapped or
    transposed tensor cannot pass. Google's "gelu" is Hugging Face's "gelu_new"."""
    torch.manual_seed(seed)
    model = transformers.BertForPreTraining(transformers.BertConfig(**TINY, hidden_act="gelu_new"))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model.eval()


def google_tensors(hf_model):
    """Hugging Face state dict -> Google's names (`[in, out]` kernels),
    derived here independently of `kerasbert.convert.google`."""
    special = {
        "cls.predictions.bias": "cls/predictions/output_bias",
        "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",  # [2, H] as is
        "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
    }
    tensors = {}
    for key, value in hf_model.state_dict().items():
        value = value.numpy()
        if key.endswith("position_ids") or key.startswith("cls.predictions.decoder"):
            continue  # a buffer, and the decoder tied to the word embeddings
        if key in special:
            tensors[special[key]] = value
            continue
        *scopes, leaf = key.replace("encoder.layer.", "encoder.layer_").split(".")
        if scopes[-1] == "LayerNorm":
            scopes.append({"weight": "gamma", "bias": "beta"}[leaf])
        elif scopes[-1].endswith("_embeddings"):
            pass  # Google's tables are named by their scope alone
        elif leaf == "weight":
            scopes.append("kernel")
            value = value.T
        else:
            scopes.append("bias")
        tensors["/".join(scopes)] = value
    return tensors


def write_tf1_checkpoint(directory, tensors, config=None, vocab_size=TINY["vocab_size"]):
    """Writes `tensors` as google-research/bert would have: with Adam slots
    and a global step, by a TF1 Saver in a graph."""
    os.makedirs(directory, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        for name, value in tensors.items():
            tf.compat.v1.get_variable(name, initializer=value)
            for slot in ("adam_m", "adam_v"):
                tf.compat.v1.get_variable(f"{name}/{slot}", initializer=np.zeros_like(value))
        tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(session, os.path.join(directory, "bert_model.ckpt"))
    config = config or {**TINY, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02}
    with open(os.path.join(directory, "bert_config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(directory, "vocab.txt"), "w") as f:
        f.write("".join(f"[unused{i}]\n" for i in range(vocab_size)))
    return prefix


@pytest.fixture
def hf_model():
    return random_hf_pretrainer()


@pytest.fixture
def google_ckpt(tmp_path, hf_model):
    return write_tf1_checkpoint(str(tmp_path / "google"), google_tensors(hf_model))


def torch_inputs(inputs):
    return {
        "input_ids": torch.tensor(inputs["input_word_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(inputs["input_mask"], dtype=torch.long),
        "token_type_ids": torch.tensor(inputs["input_type_ids"], dtype=torch.long),
    }


def test_tf1_checkpoint_matches_transformers(google_ckpt, hf_model, caplog):
    pretrainer = load_google_checkpoint(google_ckpt)
    assert isinstance(pretrainer, BertPretrainer) and pretrainer.nsp
    assert pretrainer.encoder.config.hidden_act == "gelu"
    assert "ignoring" not in caplog.text  # Adam slots and global_step skipped quietly

    inputs = make_inputs(batch=3, seq=10, type_vocab=3)
    outputs = pretrainer({**inputs, "masked_lm_positions": POSITIONS})
    outputs = {k: np.asarray(v) for k, v in outputs.items() if k != "encoder_outputs"}
    with torch.no_grad():
        base = hf_model.bert(**torch_inputs(inputs))
        heads = hf_model(**torch_inputs(inputs))
    real = inputs["input_mask"].astype(bool)  # padded positions are don't-cares
    mlm = np.take_along_axis(heads.prediction_logits.numpy(), POSITIONS[..., None], axis=1)
    diffs = {
        "sequence": np.abs(outputs["sequence_output"] - base.last_hidden_state.numpy())[real],
        "pooled": np.abs(outputs["pooled_output"] - base.pooler_output.numpy()),
        "mlm": np.abs(outputs["mlm_logits"] - mlm),
        "nsp": np.abs(outputs["nsp_logits"] - heads.seq_relationship_logits.numpy()),
    }
    print({k: float(v.max()) for k, v in diffs.items()})
    assert all(v.max() <= TOLERANCE for v in diffs.values()), diffs

    # The encoder alone, from the directory, with the config passed in.
    encoder = load_google_checkpoint(
        os.path.dirname(google_ckpt), config=pretrainer.encoder.config, with_heads=False
    )
    assert isinstance(encoder, BertEncoder)
    np.testing.assert_array_equal(encoder(inputs)["pooled_output"], outputs["pooled_output"])


def test_save_load_round_trip_is_exact(tmp_path, google_ckpt):
    pretrainer = load_google_checkpoint(google_ckpt)
    prefix = save_google_checkpoint(pretrainer, str(tmp_path / "out" / "bert_model.ckpt"))
    assert sorted(os.listdir(tmp_path / "out")) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index"
    ]
    # Same names and values as the original, minus the training state.
    source, written = tf.train.load_checkpoint(google_ckpt), tf.train.load_checkpoint(prefix)
    names = {
        n for n in source.get_variable_to_shape_map() if "adam" not in n and n != "global_step"
    }
    assert set(written.get_variable_to_shape_map()) == names
    for name in names:
        np.testing.assert_array_equal(written.get_tensor(name), source.get_tensor(name))
    config = json.loads((tmp_path / "out" / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu" and config["vocab_size"] == TINY["vocab_size"]

    reloaded = load_google_checkpoint(prefix)
    for a, b in zip(pretrainer.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    encoder_inputs = make_inputs(type_vocab=3)
    inputs = {**encoder_inputs, "masked_lm_positions": POSITIONS}
    a, b = pretrainer(inputs), reloaded(inputs)
    for key in ("sequence_output", "pooled_output", "mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(a[key], b[key])

    # An existing checkpoint is refused unless overwrite=True; an encoder
    # alone writes only bert/* and loads back as an encoder.
    with pytest.raises(FileExistsError, match="bert_model.ckpt.index"):
        save_google_checkpoint(pretrainer.encoder, prefix)
    save_google_checkpoint(pretrainer.encoder, prefix, overwrite=True)
    encoder = load_google_checkpoint(str(tmp_path / "out"))
    assert isinstance(encoder, BertEncoder)
    np.testing.assert_array_equal(encoder(encoder_inputs)["pooled_output"], a["pooled_output"])


def test_missing_tensors_are_named(tmp_path, hf_model):
    tensors = google_tensors(hf_model)
    del tensors["bert/encoder/layer_1/attention/self/key/kernel"]
    del tensors["bert/embeddings/LayerNorm/beta"]
    prefix = write_tf1_checkpoint(str(tmp_path), tensors)
    with pytest.raises(
        ValueError,
        match=r"bert_model.ckpt: missing tensors \['bert/embeddings/LayerNorm/beta', "
        r"'bert/encoder/layer_1/attention/self/key/kernel'\]",
    ):
        load_google_checkpoint(prefix)


def test_misshaped_tensor_names_both_shapes(tmp_path, hf_model):
    tensors = google_tensors(hf_model)
    tensors["bert/encoder/layer_0/intermediate/dense/kernel"] = np.zeros((32, 36), "float32")
    prefix = write_tf1_checkpoint(str(tmp_path), tensors)
    with pytest.raises(
        ValueError,
        match=r"bert_model.ckpt: bert/encoder/layer_0/intermediate/dense/kernel has shape "
        r"\(32, 36\), expected \(32, 37\) from .*bert_config.json",
    ):
        load_google_checkpoint(prefix)


def test_vocab_size_mismatch(tmp_path, hf_model):
    prefix = write_tf1_checkpoint(str(tmp_path), google_tensors(hf_model), vocab_size=96)
    with pytest.raises(ValueError, match=r"bert_model.ckpt: .*vocab.txt has 96 entries but "
                       r".*bert_config.json says vocab_size=97"):
        load_google_checkpoint(prefix)
    # An explicit vocab_file is checked instead of the one beside.
    right = tmp_path / "right_vocab.txt"
    right.write_text("".join(f"w{i}\n" for i in range(97)))
    assert isinstance(load_google_checkpoint(prefix, vocab_file=str(right)), BertPretrainer)
