"""`BertConfig`: the hyper-parameters of a BERT model, in Google's names."""

import dataclasses
import json
import logging

import tensorflow as tf

from kerasbert.io_utils import write_text

ACTIVATIONS = ("gelu", "gelu_exact", "relu")

# name: (num_hidden_layers, hidden_size, num_attention_heads)
PRESETS = {
    "tiny": (2, 128, 2),
    "mini": (4, 256, 4),
    "small": (4, 512, 8),
    "medium": (8, 512, 8),
    "base": (12, 768, 12),
    "large": (24, 1024, 16),
}


# The positive sizes of a config; with `embedding_size` and `share_layers`
# they decide every weight's shape.
SIZE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)
SHAPE_FIELDS = SIZE_FIELDS + ("embedding_size", "share_layers")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyper-parameters of a BERT (or ALBERT-style) encoder.

    Field names follow Google's `bert_config.json`, so that file loads as is.

    Args:
        vocab_size: number of WordPiece ids.
        hidden_size: width of the transformer (H).
        num_hidden_layers: number of encoder blocks (L).
        num_attention_heads: attention heads per block (A); divides H.
        intermediate_size: width of the feed-forward layer (usually 4H).
        hidden_act: `"gelu"` (tanh approximation, as Google's BERT),
            `"gelu_exact"` (erf form, Hugging Face's `"gelu"`) or `"relu"`.
        hidden_dropout_prob: dropout on embeddings and block outputs.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: longest sequence the model accepts.
        type_vocab_size: number of segment ids.
        initializer_range: stddev of the truncated-normal initializer.
        layer_norm_eps: epsilon of every LayerNorm.
        embedding_size: width of the embedding tables; `None` means
            `hidden_size`. Smaller gives ALBERT's factorized embedding with a
            projection to `hidden_size`.
        share_layers: ALBERT's cross-layer sharing: one block applied L times.

    Example:

    >>> config = BertConfig.preset("tiny", vocab_size=1000)
    >>> config.hidden_size
    128
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    embedding_size: int | None = None
    share_layers: bool = False

    def __post_init__(self):
        for name in SIZE_FIELDS:
            _check_positive_int(name, getattr(self, name))
        if self.embedding_size is not None:
            _check_positive_int("embedding_size", self.embedding_size)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig: hidden_size={self.hidden_size} is not divisible by "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"BertConfig: hidden_act={self.hidden_act!r} is not one of {ACTIVATIONS}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig: {name}={value!r} must be in [0, 1)")
        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"BertConfig: {name}={value!r} must be > 0")
        if not isinstance(self.share_layers, bool):
            raise ValueError(
                f"BertConfig: share_layers={self.share_layers!r} must be true or false"
            )

    @property
    def head_size(self):
        return self.hidden_size // self.num_attention_heads

    @property
    def embedding_width(self):
        """Width of the embedding tables (`embedding_size` or `hidden_size`)."""
        return self.embedding_size or self.hidden_size

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """Builds a config from a dict; keys that are not fields are ignored
        with a warning (Google's multilingual configs carry `pooler_*` keys)."""
        if not isinstance(values, dict):
            raise ValueError(f"BertConfig: expected a dict, got {type(values).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            logging.warning("BertConfig: ignoring unknown fields %s", unknown)
        return cls(**{k: v for k, v in values.items() if k in fields})

    @classmethod
    def from_json_file(cls, path):
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"{path}: config file not found")
        try:
            with tf.io.gfile.GFile(path) as f:
                values = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from e

    def to_json_file(self, path):
        """Writes the config atomically (temporary file, then rename)."""
        write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def preset(cls, name, **overrides):
        """The standard BERT sizes: `tiny` L2/H128/A2, `mini` L4/H256/A4,
        `small` L4/H512/A8, `medium` L8/H512/A8, `base` L12/H768/A12,
        `large` L24/H1024/A16; intermediate size 4H."""
        if name not in PRESETS:
            raise ValueError(f"BertConfig: unknown preset {name!r}; one of {list(PRESETS)}")
        layers, hidden, heads = PRESETS[name]
        values = dict(
            num_hidden_layers=layers,
            hidden_size=hidden,
            num_attention_heads=heads,
            intermediate_size=4 * hidden,
        )
        values.update(overrides)
        return cls(**values)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"BertConfig: {name}={value!r} must be a positive integer")
