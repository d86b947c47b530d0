import json

import pytest

from kerasbert import BertConfig

GOOGLE_BASE_JSON = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}


def test_reads_google_bert_config_json(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(GOOGLE_BASE_JSON))
    assert BertConfig.from_json_file(path) == BertConfig.preset("base")


def test_ignores_google_multilingual_pooler_fields(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**GOOGLE_BASE_JSON, "pooler_type": "first_token_transform"}))
    assert BertConfig.from_json_file(path).hidden_size == 768


def test_json_round_trip(tmp_path):
    config = BertConfig.preset("mini", embedding_size=64, share_layers=True, hidden_act="relu")
    config.to_json_file(tmp_path / "c.json")
    assert BertConfig.from_json_file(tmp_path / "c.json") == config
    assert list(tmp_path.iterdir()) == [tmp_path / "c.json"]


@pytest.mark.parametrize(
    "name, layers, hidden, heads",
    [
        ("tiny", 2, 128, 2),
        ("mini", 4, 256, 4),
        ("small", 4, 512, 8),
        ("medium", 8, 512, 8),
        ("base", 12, 768, 12),
        ("large", 24, 1024, 16),
    ],
)
def test_presets(name, layers, hidden, heads):
    config = BertConfig.preset(name)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (
        layers,
        hidden,
        heads,
    )
    assert config.intermediate_size == 4 * hidden
    assert (config.vocab_size, config.max_position_embeddings, config.type_vocab_size) == (
        30522,
        512,
        2,
    )


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"hidden_size": 100, "num_attention_heads": 12}, "hidden_size=100"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"num_hidden_layers": -1}, "num_hidden_layers"),
        ({"intermediate_size": 3.5}, "intermediate_size"),
        ({"hidden_act": "swish"}, "hidden_act"),
        ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
        ({"attention_probs_dropout_prob": -0.1}, "attention_probs_dropout_prob"),
        ({"layer_norm_eps": 0}, "layer_norm_eps"),
        ({"embedding_size": 0}, "embedding_size"),
        ({"share_layers": "yes"}, "share_layers"),
        ({"max_position_embeddings": True}, "max_position_embeddings"),
    ],
)
def test_invalid_values_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        BertConfig(**changes)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        BertConfig.preset("huge")


def test_bad_json_names_the_file(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**GOOGLE_BASE_JSON, "num_attention_heads": 7}))
    with pytest.raises(ValueError, match="bert_config.json.*num_attention_heads=7"):
        BertConfig.from_json_file(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="bert_config.json: not valid JSON"):
        BertConfig.from_json_file(path)
