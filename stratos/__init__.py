"""Stratos: infrastructure-as-code for LLM distillation.

The library imports no Pulumi, so the same code runs in the CLI, inside the
Pulumi program (infra/) and in the job on a GPU node.
"""

__version__ = "0.1.0"
