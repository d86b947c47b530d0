"""Weights from elsewhere: Hugging Face (and, later, Google TF1 and keras-hub)."""

from kerasbert.convert.huggingface import load_huggingface, save_huggingface

__all__ = ["load_huggingface", "save_huggingface"]
