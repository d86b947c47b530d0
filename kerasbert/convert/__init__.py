"""Weights from elsewhere: Google TF1 checkpoints, Hugging Face, keras-hub."""

from kerasbert.convert.any_format import FORMATS, detect_format, load_any, save_any
from kerasbert.convert.google import load_google_checkpoint, save_google_checkpoint
from kerasbert.convert.huggingface import load_huggingface, save_huggingface
from kerasbert.convert.keras_hub import from_keras_hub, to_keras_hub

__all__ = [
    "FORMATS",
    "detect_format",
    "load_any",
    "save_any",
    "from_keras_hub",
    "load_google_checkpoint",
    "load_huggingface",
    "save_google_checkpoint",
    "save_huggingface",
    "to_keras_hub",
]
