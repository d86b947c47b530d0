"""Pretraining data: raw text -> TFRecords, and the tf.data readers."""

from kerasbert.data.create_pretraining_data import create_pretraining_data, masking_options
from kerasbert.data.dynamic_masking import DynamicMasking
from kerasbert.data.pretraining_dataset import pretraining_dataset
from kerasbert.data.text_corpus import read_documents

__all__ = [
    "DynamicMasking",
    "create_pretraining_data",
    "masking_options",
    "pretraining_dataset",
    "read_documents",
]
