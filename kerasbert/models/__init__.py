"""BERT models: the encoder, the pretrainer and the task models."""

from kerasbert.models.bert_classifier import BertClassifier
from kerasbert.models.bert_encoder import BertEncoder
from kerasbert.models.bert_pretrainer import BertPretrainer
from kerasbert.models.bert_span_qa import BertSpanQA
from kerasbert.models.bert_token_classifier import BertTokenClassifier

__all__ = ["BertClassifier", "BertEncoder", "BertPretrainer", "BertSpanQA", "BertTokenClassifier"]
