"""Pulumi's mock runtime drives the current thread's asyncio loop; give every test module a
fresh default-policy loop, whatever earlier tests (asyncio.run, uvicorn) left behind. Cloud
stacks get a passphrase of their own (the program refuses env.sh's public one for them)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def fresh_event_loop() -> Iterator[None]:
    asyncio.set_event_loop_policy(None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture(autouse=True)
def private_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "tests-only-private-passphrase")


@pytest.fixture(scope="module")
def aws_view() -> list:
    """The AWS mock stack as the policy rules see it (helpers/policy_views.py)."""
    from helpers.policy_views import stack_view

    return stack_view("aws")


@pytest.fixture(scope="module")
def gcp_view() -> list:
    """The GCP mock stack as the policy rules see it."""
    from helpers.policy_views import stack_view

    return stack_view("gcp")
