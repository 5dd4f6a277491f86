"""The rendered node scripts lose comments, blank lines and indentation (to fit AWS's 16 KiB
of user-data) and nothing else: bash parses the compacted script into the same commands."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest
from helpers.cloud_plans import aws_plan, gcp_plan, on_nodes
from test_bootstrap import AWS_NODE, GCP_NODE

from infra.bootstrap import compact as compact_module
from infra.bootstrap import render
from infra.bootstrap.compact import compact

WORKER = replace(AWS_NODE, job_id="j1", node_rank=1, head="10.0.0.9",
                 secret_refs=(("STRATOS_TEACHER_API_KEY", "/stratos/s/teacher-api-key"),))
SCRIPTS = {
    "aws-train": lambda: render.render_training(aws_plan(), AWS_NODE),
    "gcp-train": lambda: render.render_training(gcp_plan(), GCP_NODE),
    "aws-worker": lambda: render.render_training(on_nodes(aws_plan(), 2), WORKER),
    "aws-serve": lambda: render.render_serving(aws_plan(), AWS_NODE),
    "gcp-serve": lambda: render.render_serving(gcp_plan(), GCP_NODE),
}


def _parsed(script: str) -> str:
    """What bash makes of ``script``: its text as the body of a function, printed back by
    ``declare -f`` (bash's own canonical form; nothing in the script runs)."""
    res = subprocess.run(["bash", "-c", 'eval "f() {\n$1\n}" && declare -f f', "_", script],
                         capture_output=True, text=True, check=True)
    return res.stdout


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_compacting_changes_no_command(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    small = SCRIPTS[name]()
    monkeypatch.setattr(render, "compact", lambda s: s)
    monkeypatch.setitem(render.USER_DATA_LIMIT, "aws", 1 << 20)  # uncompacted, it would not fit
    full = SCRIPTS[name]()
    assert len(small) < len(full) * 0.85, "comments and indentation are gone"
    assert _parsed(small) == _parsed(full)


def test_heredoc_bodies_and_multi_line_strings_stay_as_written() -> None:
    script = (
        "#!/bin/bash\n# header\n\n  # a comment\n  cat >unit <<'EOF'\n  indented: kept\n# kept too\nEOF\n"
        "  echo 'a\n   b # not a comment'  # trailing\n  x=\"${1##*/}\"\n"
    )
    assert compact(script) == (
        "#!/bin/bash\n# header\ncat >unit <<'EOF'\n  indented: kept\n# kept too\nEOF\n"
        "echo 'a\n   b # not a comment'  # trailing\nx=\"${1##*/}\"\n"
    )
    assert compact_module._scan("echo \"it's\" # don't", "") == ("", 'echo "it\'s" ')
