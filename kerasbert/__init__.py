"""kerasbert: BERT for TensorFlow and Keras 3, from raw text to a served model."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kerasbert.config import BertConfig  # noqa: E402
from kerasbert.models import BertEncoder, BertPretrainer  # noqa: E402

__version__ = "0.1.0"
__all__ = ["BertConfig", "BertEncoder", "BertPretrainer"]
