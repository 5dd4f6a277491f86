"""Model zoo: candidate teachers and students (facts in ``data/models.yaml``)."""

from stratos.zoo.registry import ModelSpec, get_model, list_models

__all__ = ["ModelSpec", "get_model", "list_models"]
