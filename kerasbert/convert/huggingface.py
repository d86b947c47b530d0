"""Hugging Face `transformers` BERT weights <-> kerasbert models.

Hugging Face stores `nn.Linear` weights as `[out, in]`; Keras kernels are
`[in, out]`. Our attention projects query, key and value with one fused
kernel, so the three Hugging Face matrices are concatenated on the way in
and split on the way out.
"""

import json
import logging
import os
import shutil

import numpy as np

from kerasbert.config import BertConfig
from kerasbert.io_utils import atomic_directory
from kerasbert.models import BertEncoder, BertPretrainer

# Hugging Face `hidden_act` -> ours. Hugging Face's "gelu" is the exact erf form.
HF_TO_ACT = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "relu": "relu",
}
ACT_TO_HF = {"gelu_exact": "gelu", "gelu": "gelu_new", "relu": "relu"}

# Present in Hugging Face files, not needed here (buffers and tied copies).
IGNORED_KEYS = (
    "embeddings.position_ids",
    "cls.predictions.decoder.weight",
    "cls.predictions.decoder.bias",
)
MLM_HEAD_KEY = "cls.predictions.transform.dense.weight"
NSP_HEAD_KEY = "cls.seq_relationship.weight"
POOLER_KEYS = ("pooler.dense.weight", "pooler.dense.bias")
HUGGINGFACE_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def weight_map(model):
    """Lists `(variable, hf_keys, transpose)` for every weight of `model`
    (a `BertEncoder` or `BertPretrainer`), keys without the `bert.` prefix.
    Several keys mean the variable is their concatenation on the last axis."""
    pretrainer = model if isinstance(model, BertPretrainer) else None
    encoder = pretrainer.encoder if pretrainer else model
    if encoder.config.share_layers or encoder.config.embedding_width != encoder.config.hidden_size:
        raise ValueError(
            "BERT checkpoints (Google's, Hugging Face's) have no ALBERT options: this config has "
            f"embedding_size={encoder.config.embedding_size}, "
            f"share_layers={encoder.config.share_layers}"
        )

    def dense(layer, key):
        return [(layer.kernel, (f"{key}.weight",), True), (layer.bias, (f"{key}.bias",), False)]

    def layer_norm(layer, key):
        return [(layer.gamma, (f"{key}.weight",), False), (layer.beta, (f"{key}.bias",), False)]

    embedding = encoder.embedding
    entries = [
        (embedding.word_embeddings, ("embeddings.word_embeddings.weight",), False),
        (embedding.position_embeddings, ("embeddings.position_embeddings.weight",), False),
        (embedding.type_embeddings, ("embeddings.token_type_embeddings.weight",), False),
        *layer_norm(embedding.layer_norm, "embeddings.LayerNorm"),
    ]
    for i, block in enumerate(encoder.blocks):
        key = f"encoder.layer.{i}"
        qkv = [f"{key}.attention.self.{name}" for name in ("query", "key", "value")]
        entries += [
            (block.qkv.kernel, tuple(f"{k}.weight" for k in qkv), True),
            (block.qkv.bias, tuple(f"{k}.bias" for k in qkv), False),
            *dense(block.attention_output, f"{key}.attention.output.dense"),
            *layer_norm(block.attention_layer_norm, f"{key}.attention.output.LayerNorm"),
            *dense(block.intermediate, f"{key}.intermediate.dense"),
            *dense(block.output_dense, f"{key}.output.dense"),
            *layer_norm(block.output_layer_norm, f"{key}.output.LayerNorm"),
        ]
    entries += dense(encoder.pooler, "pooler.dense")
    if pretrainer:
        entries += [
            *dense(pretrainer.mlm_head.dense, "cls.predictions.transform.dense"),
            *layer_norm(pretrainer.mlm_head.layer_norm, "cls.predictions.transform.LayerNorm"),
            (pretrainer.mlm_head.bias, ("cls.predictions.bias",), False),
        ]
        if pretrainer.nsp_head is not None:
            entries += dense(pretrainer.nsp_head.dense, "cls.seq_relationship")
    return entries


def config_from_huggingface(values, source="config.json"):
    """Our `BertConfig` from a Hugging Face BERT `config.json` dict."""
    model_type = values.get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(f"{source}: model_type={model_type!r}, expected 'bert'")
    position_type = values.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            f"{source}: position_embedding_type={position_type!r} is not supported "
            "(only 'absolute')"
        )
    act = values.get("hidden_act", "gelu")
    if act not in HF_TO_ACT:
        raise ValueError(f"{source}: hidden_act={act!r} is not one of {sorted(HF_TO_ACT)}")
    fields = (
        "vocab_size hidden_size num_hidden_layers num_attention_heads intermediate_size "
        "hidden_dropout_prob attention_probs_dropout_prob max_position_embeddings "
        "type_vocab_size initializer_range layer_norm_eps"
    ).split()
    missing = [f for f in fields[:5] if f not in values]
    if missing:
        raise ValueError(f"{source}: missing fields {missing}")
    try:
        return BertConfig(
            hidden_act=HF_TO_ACT[act], **{f: values[f] for f in fields if f in values}
        )
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from e


def config_to_huggingface(config, architecture):
    return {
        "architectures": [architecture],
        "model_type": "bert",
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "hidden_act": ACT_TO_HF[config.hidden_act],
        "hidden_dropout_prob": config.hidden_dropout_prob,
        "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
        "max_position_embeddings": config.max_position_embeddings,
        "type_vocab_size": config.type_vocab_size,
        "initializer_range": config.initializer_range,
        "layer_norm_eps": config.layer_norm_eps,
        "position_embedding_type": "absolute",
        "pad_token_id": 0,
    }


def _weights_file(path):
    for name in HUGGINGFACE_WEIGHTS:
        candidate = os.path.join(path, name)
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(f"{path}: no model.safetensors or pytorch_model.bin")


def _read_tensors(weights_file):
    if weights_file.endswith(".safetensors"):
        from safetensors.numpy import load_file

        tensors = load_file(weights_file)
    else:
        try:
            import torch
        except ImportError as e:
            raise ImportError(
                f"{weights_file}: reading pytorch_model.bin needs torch "
                "(pip install 'kerasbert[hf]')"
            ) from e
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
        tensors = {k: v.float().numpy() for k, v in state.items()}
    # Older checkpoints name LayerNorm parameters gamma/beta.
    return {
        k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
        for k, v in tensors.items()
    }


def load_huggingface(path, with_heads=True):
    """Loads Hugging Face BERT weights into kerasbert.

    Args:
        path: a directory with `config.json` and `model.safetensors` or
            `pytorch_model.bin` (or the weights file itself, `config.json`
            beside it), saved from `BertModel`, `BertForPreTraining` or
            `BertForMaskedLM`, with or without the `bert.` key prefix.
        with_heads: return a `BertPretrainer` when the file has the
            pretraining heads; False always returns the encoder.

    Returns:
        A `BertEncoder`, or a `BertPretrainer` (`nsp` when the file has the
        next-sentence head) whose `.encoder` holds the encoder.

    Raises:
        ValueError: naming missing tensors, or a tensor whose shape does not
            fit the config (both shapes given).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        weights_file, config_file = _weights_file(path), os.path.join(path, "config.json")
    else:
        weights_file, config_file = path, os.path.join(os.path.dirname(path), "config.json")
    if not os.path.exists(config_file):
        raise FileNotFoundError(f"{config_file}: not found (needed beside {weights_file})")
    with open(config_file, encoding="utf-8") as f:
        config = config_from_huggingface(json.load(f), config_file)

    tensors = _read_tensors(weights_file)
    tensors = {(k[len("bert."):] if k.startswith("bert.") else k): v for k, v in tensors.items()}
    has_heads = with_heads and MLM_HEAD_KEY in tensors
    model = encoder = BertEncoder(config)
    if has_heads:
        model = BertPretrainer(encoder, nsp=NSP_HEAD_KEY in tensors)

    entries = weight_map(model)
    needed = [k for _, keys, _ in entries for k in keys]
    missing = [k for k in needed if k not in tensors]
    if missing == list(POOLER_KEYS):
        # BertForMaskedLM files have no pooler; transformers initializes one randomly too.
        logging.warning("%s: no pooler weights; the pooler keeps its random initialization", weights_file)
        entries = [e for e in entries if e[1][0] not in POOLER_KEYS]
    elif missing:
        raise ValueError(f"{weights_file}: missing tensors {missing}")
    unused = sorted(set(tensors) - set(needed) - set(IGNORED_KEYS))
    if not with_heads:
        unused = [k for k in unused if not k.startswith("cls.")]
    if unused:
        logging.warning("%s: ignoring tensors %s", weights_file, unused)

    for variable, keys, transpose in entries:
        parts = [tensors[k].T if transpose else tensors[k] for k in keys]
        value = np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        if tuple(value.shape) != tuple(variable.shape):
            shapes = ", ".join(f"{k} {tuple(tensors[k].shape)}" for k in keys)
            expected = _hf_shape(variable.shape, len(keys), transpose)
            raise ValueError(
                f"{weights_file}: {shapes} does not fit the config "
                f"(expected {expected} from {config_file})"
            )
        variable.assign(value.astype(np.float32))
    return model


def _hf_shape(shape, num_parts, transpose):
    shape = list(shape)
    shape[-1] //= num_parts
    return tuple(reversed(shape)) if transpose else tuple(shape)


def save_huggingface(model, directory, vocab_file=None, overwrite=False):
    """Writes `model` (a `BertEncoder` or `BertPretrainer`) as a Hugging Face
    directory (`config.json`, `model.safetensors`, optionally `vocab.txt`)
    that `transformers.BertModel.from_pretrained` (or `BertForPreTraining` /
    `BertForMaskedLM` for a pretrainer) loads. The directory appears whole
    or not at all.
    """
    from safetensors.numpy import save_file

    pretrainer = isinstance(model, BertPretrainer)
    tensors = {}
    for variable, keys, transpose in weight_map(model):
        parts = np.split(np.asarray(variable.numpy(), np.float32), len(keys), axis=-1)
        for key, part in zip(keys, parts):
            if pretrainer and not key.startswith("cls."):
                key = f"bert.{key}"
            tensors[key] = np.ascontiguousarray(part.T if transpose else part)
    if pretrainer:
        architecture = "BertForPreTraining" if model.nsp else "BertForMaskedLM"
        config = model.encoder.config
    else:
        architecture, config = "BertModel", model.config
    with atomic_directory(directory, overwrite=overwrite) as tmp:
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
            json.dump(config_to_huggingface(config, architecture), f, indent=2)
        save_file(tensors, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        if vocab_file:
            shutil.copyfile(vocab_file, os.path.join(tmp, "vocab.txt"))
    return directory
