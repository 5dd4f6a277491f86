"""``ServingEndpoint``: an OpenAI-compatible server on the job's artifact, behind a token."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.backends.base import Backend, JobOutputs, StoreOutputs
from infra.config import Settings
from infra.providers.token import GeneratedToken
from stratos.planner.plan import Plan

TYPE = "stratos:index:ServingEndpoint"


@dataclass(frozen=True)
class ServingEndpointArgs:
    backend: Backend
    plan: Plan
    settings: Settings
    store: StoreOutputs
    job: JobOutputs


class ServingEndpoint(pulumi.ComponentResource):
    """The endpoint; ``url`` ends in ``/v1`` and ``token`` is a secret.

    The token is ``stratos:endpointToken`` when set, else generated once by a child
    ``GeneratedToken`` and kept in the stack state.
    """

    def __init__(
        self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(TYPE, name, None, opts)
        if args.settings.endpoint_token is not None:
            token = args.settings.endpoint_token
        else:
            token = GeneratedToken(f"{name}-token", opts=pulumi.ResourceOptions(parent=self)).value
        self.token: pulumi.Output[str] = pulumi.Output.secret(token)
        self.outputs = args.backend.serving_endpoint(
            self, name, args.plan, args.settings, args.store, args.job, self.token
        )
        self.url: pulumi.Output[str] = pulumi.Output.from_input(self.outputs.url)
        self.model_name: pulumi.Output[str] = pulumi.Output.from_input(self.outputs.model_name)
        self.certificate = pulumi.Output.from_input(self.outputs.certificate)
        self.certificate_sha256 = pulumi.Output.from_input(self.outputs.certificate_sha256)
        self.register_outputs(
            {"url": self.url, "modelName": self.model_name, "token": self.token,
             "certificate": self.certificate, "certificateSha256": self.certificate_sha256}
        )
