"""BERT models: the encoder, the pretrainer, and (later) the task models."""

from kerasbert.models.bert_encoder import BertEncoder
from kerasbert.models.bert_pretrainer import BertPretrainer

__all__ = ["BertEncoder", "BertPretrainer"]
