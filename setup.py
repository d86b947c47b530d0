"""kerasbert: BERT for TensorFlow and Keras 3, from raw text to a served model."""

from setuptools import find_packages, setup

# tensorflow_hub imports pkg_resources, which setuptools 81 dropped.
HUB = ["tensorflow-hub>=0.16", "tf-keras==2.21.*", "setuptools<81"]
KERAS_HUB = ["keras-hub"]
HF = ["torch==2.13.0", "transformers"]
PROGRAMS = [
    "build_vocab",
    "create_pretraining_data",
    "pretrain",
    "prepare_bbc",
    "export",
    "finetune",
    "compare_finetuning",
    "convert_checkpoint",
]
DEMO = ["matplotlib"]
TEST = ["pytest", "pytest-timeout", "pytest-xdist", "seqeval", "hypothesis"] + HUB + KERAS_HUB + HF + DEMO

setup(
    name="kerasbert",
    version="0.1.0",
    description="BERT for TensorFlow and Keras 3: pretrain, fine-tune, export, serve.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["kerasbert", "kerasbert.*"]) + ["kerasbert_train"],
    # train/NAME.py are also console scripts `kerasbert-NAME`.
    package_dir={"kerasbert_train": "train"},
    entry_points={
        "console_scripts": [f"kerasbert-{name}=kerasbert_train.{name}:run" for name in PROGRAMS]
    },
    install_requires=[
        "tensorflow==2.21.*",
        "tensorflow-text==2.21.*",
        "tensorflow-serving-api==2.21.*",  # PredictionLog: the bundles' warm-up requests
        "keras>=3.15",
        "absl-py",
        "google-crc32c",  # TFRecord framing in data creation's worker processes
        "tokenizers>=0.20",
        "safetensors",  # Hugging Face weights (the demo's MiniLM)
        "sentencex",
        "tensorboard",
        "numpy",
    ],
    extras_require={
        "hub": HUB,
        "keras-hub": KERAS_HUB,
        "hf": HF,
        "demo": DEMO,
        "test": TEST,
    },
)
