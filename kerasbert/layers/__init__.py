"""Keras layers of BERT, one per file."""

from kerasbert.layers.bert_embedding import BertEmbedding
from kerasbert.layers.fast_dropout import FastDropout
from kerasbert.layers.layer_norm import LayerNorm
from kerasbert.layers.masked_lm_head import MaskedLMHead
from kerasbert.layers.next_sentence_head import NextSentenceHead
from kerasbert.layers.transformer_encoder_block import TransformerEncoderBlock

__all__ = ["BertEmbedding", "FastDropout", "LayerNorm", "MaskedLMHead", "NextSentenceHead", "TransformerEncoderBlock"]
