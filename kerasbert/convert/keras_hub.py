"""keras-hub `BertBackbone` <-> kerasbert `BertEncoder`.

Both are Keras 3 models computing the same post-LN BERT, so weights copy
over unchanged, up to shapes: keras-hub's attention (`keras.layers.
MultiHeadAttention`) keeps separate query/key/value `EinsumDense` kernels
`[H, heads, head_size]` (biases `[heads, head_size]`) and an output kernel
`[heads, head_size, H]`, where ours has one fused `[H, 3H]` query/key/value
kernel and a `[H, H]` output kernel. Reshaping in C order maps one onto the
other because our heads are also the major part of each H-wide slice.

What keras-hub's `BertBackbone` cannot represent: its feed-forward activation
is always the tanh GELU (our `"gelu"`), its LayerNorm epsilon always 1e-12,
it has one dropout rate for hidden states and attention, and no ALBERT
options.
"""

import logging
import os

import numpy as np

from kerasbert.config import BertConfig
from kerasbert.layers.transformer_encoder_block import activation_fn
from kerasbert.models import BertEncoder

logger = logging.getLogger(__name__)

KERAS_HUB_ACT = "gelu"  # keras_hub's BertBackbone uses gelu(approximate=True)
KERAS_HUB_EPS = 1e-12


def _keras_hub():
    try:
        import keras_hub
    except ImportError as e:
        raise ImportError(
            "keras-hub conversion needs keras-hub (pip install 'kerasbert[keras-hub]')"
        ) from e
    return keras_hub


def _weight_pairs(encoder, backbone):
    """Lists `(our_variable, their_variables)` for every weight. Several of
    theirs are, reshaped to `[..., -1]`, concatenated on our last axis."""

    def dense(ours, theirs):
        return [(ours.kernel, [theirs.kernel]), (ours.bias, [theirs.bias])]

    def layer_norm(ours, theirs):
        return [(ours.gamma, [theirs.gamma]), (ours.beta, [theirs.beta])]

    embedding = encoder.embedding
    pairs = [
        (embedding.word_embeddings, [backbone.token_embedding.embeddings]),
        (embedding.type_embeddings, [backbone.segment_embedding.embeddings]),
        (embedding.position_embeddings, [backbone.position_embedding.position_embeddings]),
        *layer_norm(embedding.layer_norm, backbone.embeddings_layer_norm),
    ]
    for block, layer in zip(encoder.blocks, backbone.transformer_layers, strict=True):
        attention = layer._self_attention_layer
        qkv = (attention.query_dense, attention.key_dense, attention.value_dense)
        pairs += [
            (block.qkv.kernel, [d.kernel for d in qkv]),
            (block.qkv.bias, [d.bias for d in qkv]),
            *dense(block.attention_output, attention.output_dense),
            *layer_norm(block.attention_layer_norm, layer._self_attention_layer_norm),
            *dense(block.intermediate, layer._feedforward_intermediate_dense),
            *dense(block.output_dense, layer._feedforward_output_dense),
            *layer_norm(block.output_layer_norm, layer._feedforward_layer_norm),
        ]
    pairs += dense(encoder.pooler, backbone.pooled_dense)

    # A keras-hub version with weights we do not know would convert silently
    # wrong: insist that every trainable weight on both sides is mapped.
    ours = [p[0] for p in pairs]
    theirs = [v for p in pairs for v in p[1]]
    for model, mapped in ((encoder, ours), (backbone, theirs)):
        unmapped = {id(w) for w in model.trainable_weights} - {id(w) for w in mapped}
        if unmapped:
            names = [w.path for w in model.trainable_weights if id(w) in unmapped]
            raise ValueError(f"{model.name}: weights without a counterpart: {names}")
    return pairs


def _detect_activation(function):
    """Our `hidden_act` name computing the same function, or None."""
    x = np.linspace(-5.0, 5.0, 201, dtype="float32")
    y = np.asarray(function(x))
    for name in ("gelu", "gelu_exact", "relu"):
        if np.allclose(y, np.asarray(activation_fn(name)(x)), atol=1e-6):
            return name
    return None


def from_keras_hub(backbone, hidden_act=None):
    """Copies a keras-hub BERT backbone into a kerasbert `BertEncoder`.

    Args:
        backbone: a `keras_hub.models.BertBackbone`, or a keras-hub preset
            (name or local directory) to load one from.
        hidden_act: the activation to record in our config; None means the
            one the backbone computes (`"gelu"`, tanh form). Pass
            `"gelu_exact"` for weights trained with the erf GELU (Hugging
            Face's `"gelu"`) that keras-hub runs approximately.

    Returns:
        A `BertEncoder` with the backbone's weights; `dropout` becomes both
        of our dropout rates.

    Raises:
        TypeError: `backbone` is not a `BertBackbone`.
        ValueError: the backbone computes something our config cannot say
            (another activation, mixed LayerNorm epsilons).
    """
    keras_hub = _keras_hub()
    if isinstance(backbone, (str, os.PathLike)):
        backbone = keras_hub.models.BertBackbone.from_preset(os.fspath(backbone))
    if not isinstance(backbone, keras_hub.models.BertBackbone):
        raise TypeError(
            f"from_keras_hub: expected a keras_hub BertBackbone, got {type(backbone).__name__}"
        )
    layers = backbone.transformer_layers
    act = {_detect_activation(layer.activation) for layer in layers}
    if len(act) != 1 or None in act:
        raise ValueError(
            f"{backbone.name}: feed-forward activation is not one of gelu, gelu_exact, relu"
        )
    act = act.pop()
    if hidden_act is not None and hidden_act != act:
        logger.warning(
            "%s: computes %r; recording hidden_act=%r as asked", backbone.name, act, hidden_act
        )
    eps = {backbone.embeddings_layer_norm.epsilon}
    for layer in layers:
        eps |= {layer._self_attention_layer_norm.epsilon, layer._feedforward_layer_norm.epsilon}
    if len(eps) != 1:
        raise ValueError(f"{backbone.name}: LayerNorm epsilons differ ({sorted(eps)})")
    config = BertConfig(
        vocab_size=backbone.vocabulary_size,
        hidden_size=backbone.hidden_dim,
        num_hidden_layers=backbone.num_layers,
        num_attention_heads=backbone.num_heads,
        intermediate_size=backbone.intermediate_dim,
        hidden_act=hidden_act or act,
        hidden_dropout_prob=backbone.dropout,
        attention_probs_dropout_prob=backbone.dropout,
        max_position_embeddings=backbone.max_sequence_length,
        type_vocab_size=backbone.num_segments,
        layer_norm_eps=eps.pop(),
    )
    encoder = BertEncoder(config, dtype=backbone.dtype_policy.name)
    for ours, theirs in _weight_pairs(encoder, backbone):
        parts = [np.reshape(t.numpy(), tuple(ours.shape[:-1]) + (-1,)) for t in theirs]
        ours.assign(np.concatenate(parts, axis=-1))
    return encoder


def to_keras_hub(encoder, approximate_gelu=False):
    """Copies a kerasbert `BertEncoder` into a keras-hub `BertBackbone`.

    Args:
        encoder: a `BertEncoder` (for a `BertPretrainer`, pass `.encoder`).
        approximate_gelu: accept an encoder with `hidden_act="gelu_exact"`:
            keras-hub will run it with the tanh GELU, which changes outputs
            slightly (about 1e-3), as keras-hub's own Hugging Face converter
            does. False refuses such an encoder.

    Returns:
        A `keras_hub.models.BertBackbone` (inputs `token_ids`, `segment_ids`,
        `padding_mask`; outputs `sequence_output`, `pooled_output`) with the
        encoder's weights.

    Raises:
        ValueError: the config cannot be represented by `BertBackbone`
            (ALBERT options, another activation or LayerNorm epsilon).
    """
    keras_hub = _keras_hub()
    config = encoder.config
    problems = []
    if config.share_layers or config.embedding_width != config.hidden_size:
        problems.append(
            f"ALBERT options (embedding_size={config.embedding_size}, "
            f"share_layers={config.share_layers})"
        )
    if config.hidden_act == "gelu_exact" and not approximate_gelu:
        problems.append(
            "hidden_act='gelu_exact', keras-hub always uses 'gelu' (tanh form); pass "
            "approximate_gelu=True to accept it"
        )
    elif config.hidden_act not in (KERAS_HUB_ACT, "gelu_exact"):
        problems.append(
            f"hidden_act={config.hidden_act!r}, keras-hub always uses 'gelu' (tanh form)"
        )
    if config.layer_norm_eps != KERAS_HUB_EPS:
        problems.append(
            f"layer_norm_eps={config.layer_norm_eps}, keras-hub always uses {KERAS_HUB_EPS}"
        )
    if problems:
        raise ValueError(
            "keras-hub BertBackbone cannot represent this encoder: " + "; ".join(problems)
        )
    if config.attention_probs_dropout_prob != config.hidden_dropout_prob:
        # Dropout does not change inference; training would use one rate.
        logger.warning(
            "to_keras_hub: keras-hub has one dropout rate; using hidden_dropout_prob=%s "
            "(attention_probs_dropout_prob=%s dropped)",
            config.hidden_dropout_prob,
            config.attention_probs_dropout_prob,
        )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size,
        num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads,
        hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size,
        dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size,
        dtype=encoder.dtype_policy.name,
    )
    for ours, theirs in _weight_pairs(encoder, backbone):
        parts = np.split(ours.numpy(), len(theirs), axis=-1)
        for variable, part in zip(theirs, parts, strict=True):
            variable.assign(np.reshape(part, tuple(variable.shape)))
    return backbone
