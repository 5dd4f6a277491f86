"""Node bootstrap scripts: the user-data (AWS) / startup script (GCP) that turns a
fresh GPU instance into a Stratos training or serving node, rendered from the plan."""

from infra.bootstrap.render import NodeScript, render_serving, render_training, source_archive

__all__ = ["NodeScript", "render_serving", "render_training", "source_archive"]
