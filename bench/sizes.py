"""Model sizes, without importing any framework.

The memory benchmark runs each package in its own process, so the sizes
must not come from `kerasbert` (which imports TensorFlow). `Sizes` mirrors
the shape fields of `kerasbert.BertConfig`; `kerasbert_config` turns it into
the library's preset and checks that the two agree.
"""

import dataclasses

# name: (num_hidden_layers, hidden_size, num_attention_heads), as kerasbert's presets.
PRESETS = {"tiny": (2, 128, 2), "mini": (4, 256, 4), "base": (12, 768, 12)}


@dataclasses.dataclass(frozen=True)
class Sizes:
    preset: str
    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int = 30522
    max_position_embeddings: int = 512
    type_vocab_size: int = 2

    def to_dict(self):
        return dataclasses.asdict(self)


def preset(name):
    layers, hidden, heads = PRESETS[name]
    return Sizes(name, layers, hidden, heads, 4 * hidden)


def kerasbert_config(sizes):
    """`kerasbert.BertConfig.preset(sizes.preset)`, checked against `sizes`."""
    from kerasbert import BertConfig

    config = BertConfig.preset(sizes.preset)
    for field, value in sizes.to_dict().items():
        if field != "preset" and getattr(config, field) != value:
            raise ValueError(
                f"kerasbert's {sizes.preset!r} preset has {field}={getattr(config, field)}, not {value}"
            )
    return config


def keras_hub_backbone(sizes):
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=sizes.vocab_size,
        num_layers=sizes.num_hidden_layers,
        num_heads=sizes.num_attention_heads,
        hidden_dim=sizes.hidden_size,
        intermediate_dim=sizes.intermediate_size,
        max_sequence_length=sizes.max_position_embeddings,
        num_segments=sizes.type_vocab_size,
    )


def huggingface_config(sizes):
    import transformers

    return transformers.BertConfig(
        vocab_size=sizes.vocab_size,
        hidden_size=sizes.hidden_size,
        num_hidden_layers=sizes.num_hidden_layers,
        num_attention_heads=sizes.num_attention_heads,
        intermediate_size=sizes.intermediate_size,
        max_position_embeddings=sizes.max_position_embeddings,
        type_vocab_size=sizes.type_vocab_size,
    )
