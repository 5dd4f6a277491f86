"""Hugging Face Hub interop: push a finished run (model + training set) with ``huggingface_hub``."""
