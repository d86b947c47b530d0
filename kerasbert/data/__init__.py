"""Data: pretraining TFRecords and their readers, and the fine-tuning tasks'
files (classification CSV/TSV/JSONL, CoNLL tagging, SQuAD)."""

from kerasbert.data.classification_data import (
    ClassificationData,
    classification_dataset,
    encode_labels,
    label_vocabulary,
    read_classification_file,
)
from kerasbert.data.conll import predictions_to_tags, read_conll, tag_vocabulary, tagging_features
from kerasbert.data.create_pretraining_data import create_pretraining_data, masking_options
from kerasbert.data.dynamic_masking import DynamicMasking
from kerasbert.data.pretraining_dataset import pretraining_dataset
from kerasbert.data.squad import (
    SquadExample,
    decode_answers,
    read_squad,
    squad_dataset,
    squad_features,
)
from kerasbert.data.text_corpus import read_documents

__all__ = [
    "ClassificationData",
    "DynamicMasking",
    "SquadExample",
    "classification_dataset",
    "create_pretraining_data",
    "decode_answers",
    "encode_labels",
    "label_vocabulary",
    "masking_options",
    "predictions_to_tags",
    "pretraining_dataset",
    "read_classification_file",
    "read_conll",
    "read_documents",
    "read_squad",
    "squad_dataset",
    "squad_features",
    "tag_vocabulary",
    "tagging_features",
]
