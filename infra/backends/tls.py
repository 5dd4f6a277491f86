"""The cloud endpoint's TLS certificate: the user's (``stratos:tlsCertificate`` +
``stratos:tlsPrivateKey``) or one the stack makes for the endpoint's reserved address.

The address is reserved before the node exists (an Elastic IP, a GCP static
address) so the certificate can name it and the endpoint URL survives a node
replacement. The certificate is public (it goes into the node's bootstrap and the
stack outputs, with its sha256 fingerprint for clients to pin); the key is a
secret the node reads from the secret store at boot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from infra.config import Settings
from infra.providers.certificate import SelfSignedCertificate, fingerprint


@dataclass(frozen=True)
class EndpointTls:
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # secret
    sha256: pulumi.Output[str]
    resources: dict[str, pulumi.Resource] = field(default_factory=dict)


def endpoint_tls(parent: pulumi.Resource, name: str, settings: Settings, address: pulumi.Input[str]) -> EndpointTls:
    """The certificate the gateway on ``address`` presents (see the module docstring)."""
    if settings.tls_certificate is not None and settings.tls_private_key is not None:
        cert = pulumi.Output.from_input(settings.tls_certificate)
        return EndpointTls(cert, pulumi.Output.secret(settings.tls_private_key), cert.apply(fingerprint))
    made = SelfSignedCertificate(
        f"{name}-cert", pulumi.Output.from_input(address).apply(lambda a: [a]), opts=pulumi.ResourceOptions(parent=parent)
    )
    return EndpointTls(made.certPem, pulumi.Output.secret(made.keyPem), made.sha256, {"certificate": made})
