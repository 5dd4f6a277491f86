"""The Pulumi engine setup builds, run for real through the Automation API.

A throwaway Python project whose only resource is a dynamic provider that writes a
file goes through preview -> up -> up (no changes) -> destroy on a private file
backend; a config secret must reach the state encrypted; a policy pack run with
``--policy-pack`` must block a preview that breaks its mandatory rule. This covers
the CLI, our language host, Pulumi's exec shim and both launchers
(``pulumi-resource-pulumi-python``, ``pulumi-analyzer-policy-python``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from helpers.pulumi_engine import PulumiCli, locate_pulumi
from pulumi import automation as auto

pytestmark = pytest.mark.engine

PROGRAM = '''
import hashlib
import os

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class FileProvider(ResourceProvider):
    """Writes `content` to `path`; deleting the resource deletes the file."""

    def create(self, props):
        with open(props["path"], "w") as f:
            f.write(props["content"])
        digest = hashlib.sha256(props["content"].encode()).hexdigest()
        return CreateResult(id_=digest[:16], outs={**props, "sha256": digest, "size": len(props["content"])})

    def delete(self, id, props):
        os.remove(props["path"])


class LocalFile(Resource):
    sha256: pulumi.Output[str]
    size: pulumi.Output[int]

    def __init__(self, name, path, content, opts=None):
        super().__init__(FileProvider(), name, {"path": path, "content": content, "sha256": None, "size": None}, opts)


config = pulumi.Config()
f = LocalFile("greeting", path=config.require("path"), content=config.require("content"))
pulumi.export("sha256", f.sha256)
pulumi.export("size", f.size)
pulumi.export("token", config.require_secret("apiToken"))
'''

POLICY_PACK = """
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

LIMIT = 16


def small_files(args, report_violation):
    if args.resource_type == "pulumi-python:dynamic:Resource" and len(args.props["content"]) > LIMIT:
        report_violation(f"file content is {len(args.props['content'])} bytes, over the {LIMIT}-byte limit")


PolicyPack(
    name="size-limits",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name="small-files", description="files stay small", validate=small_files)],
)
"""

SECRET = "plaintext-token-4f1c9a"


def make_project(root: Path, runtime: str = "python") -> Path:
    """A Python Pulumi project (Pulumi.yaml + __main__.py) in ``root/project``."""
    project = root / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(f"name: enginetest\nruntime: {runtime}\n")
    (project / "__main__.py").write_text(PROGRAM)
    return project


def new_stack(cli: PulumiCli, project: Path, target: Path, content: str) -> auto.Stack:
    stack = auto.create_stack("dev", work_dir=str(project), opts=cli.workspace_options(project))
    stack.set_config("path", auto.ConfigValue(str(target)))
    stack.set_config("content", auto.ConfigValue(content))
    stack.set_config("apiToken", auto.ConfigValue(SECRET, secret=True))
    return stack


def test_lifecycle_preview_up_noop_destroy(pulumi_cli: PulumiCli, tmp_path: Path) -> None:
    target = tmp_path / "greeting.txt"
    stack = new_stack(pulumi_cli, make_project(tmp_path), target, "hello, stratos")

    preview = stack.preview()
    assert preview.change_summary == {"create": 2}, preview.stdout
    assert not target.exists(), "preview must not run the provider's create"

    up = stack.up()
    assert up.summary.result == "succeeded"
    assert up.summary.resource_changes == {"create": 2}
    assert target.read_text() == "hello, stratos"
    assert up.outputs["size"].value == len("hello, stratos")
    assert up.outputs["sha256"].value == hashlib.sha256(b"hello, stratos").hexdigest()
    assert up.outputs["token"].secret and up.outputs["token"].value == SECRET

    again = stack.up()
    assert again.summary.resource_changes == {"same": 2}, again.stdout

    stack.destroy()
    assert not target.exists(), "destroy must run the provider's delete"
    assert not stack.export_stack().deployment.get("resources"), "stack not empty after destroy"


def test_config_secret_is_encrypted_in_state_and_stack_file(
    pulumi_cli: PulumiCli, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    stack = new_stack(pulumi_cli, project, tmp_path / "f.txt", "x")
    stack.up()

    state_files = [p for p in pulumi_cli.backend_dir.rglob("*.json") if "/stacks/" in p.as_posix()]
    assert state_files, f"no stack state under {pulumi_cli.backend_dir}"
    state = "".join(p.read_text() for p in state_files)
    assert SECRET not in state, "config secret stored in plaintext in the state"
    # Present, encrypted: the exported secret is a ciphertext under Pulumi's secret signature.
    checkpoint = json.loads(max(state_files, key=lambda p: p.stat().st_size).read_text())
    stack_res = next(
        r
        for r in checkpoint["checkpoint"]["latest"]["resources"]
        if r["type"] == "pulumi:pulumi:Stack"
    )
    assert "ciphertext" in stack_res["outputs"]["token"]
    assert SECRET not in (project / "Pulumi.dev.yaml").read_text()
    assert stack.get_config("apiToken").value == SECRET  # decrypts with the passphrase


def test_policy_pack_blocks_preview_over_the_limit(pulumi_cli: PulumiCli, tmp_path: Path) -> None:
    pack = tmp_path / "policy"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (pack / "__main__.py").write_text(POLICY_PACK)
    # The program names its virtualenv in Pulumi.yaml, as user projects do.
    runtime = f"\n  name: python\n  options:\n    virtualenv: {sys.prefix}"
    stack = new_stack(pulumi_cli, make_project(tmp_path, runtime), tmp_path / "f.txt", "small")

    ok = stack.preview(policy_packs=[str(pack)])
    assert ok.change_summary == {"create": 2}

    stack.set_config("content", auto.ConfigValue("x" * 40))
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview(policy_packs=[str(pack)])
    report = str(failed.value)
    assert "small-files" in report and "40 bytes, over the 16-byte limit" in report, report


def test_cli_lookup_finds_an_executable_and_nothing_in_an_empty_path(tmp_path: Path) -> None:
    assert locate_pulumi(str(tmp_path)) is None
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert locate_pulumi(str(tmp_path)) == fake


def test_cli_reports_the_built_version(pulumi_cli: PulumiCli, tmp_path: Path) -> None:
    out = pulumi_cli.run("version", cwd=tmp_path).stdout.strip()
    assert out.startswith("v3."), out
    major_minor = tuple(int(x) for x in out.lstrip("v").split(".")[:2])
    sdk = tuple(int(x) for x in version("pulumi").split(".")[:2])
    assert major_minor >= sdk, f"CLI {out} is older than the Python SDK {sdk}"
