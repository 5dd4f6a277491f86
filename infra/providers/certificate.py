"""``SelfSignedCertificate``: the serving node's TLS certificate, made by the stack.

What ``tls.SelfSignedCert`` would do, without its provider plugin (which can't be
downloaded here): an ECDSA P-256 key and a certificate for the endpoint's addresses,
made in ``create`` (never during preview) and kept in the state, the key as a
secret. ``sha256`` is the certificate's fingerprint, exported by the stack so a
client can pin it (or pass ``certPem`` as its CA file). A user-supplied certificate
(``stratos:tlsCertificate`` + the secret ``stratos:tlsPrivateKey``) replaces it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

from infra.providers.portable import portable

VALIDITY_DAYS = 825  # the longest validity clients still accept for a leaf certificate


def fingerprint(cert_pem: str) -> str:
    """``sha256:AB:CD:...`` of the certificate's DER bytes (what ``openssl x509 -fingerprint`` shows)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    digest = x509.load_pem_x509_certificate(cert_pem.encode()).fingerprint(hashes.SHA256())
    return "sha256:" + ":".join(f"{b:02X}" for b in digest)


def self_signed(ip_addresses: list[str], dns_names: list[str], days: int = VALIDITY_DAYS) -> tuple[str, str]:
    """(certificate PEM, private key PEM) valid for these addresses and names."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (dns_names or ip_addresses or ["stratos"])[0])])
    sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses] + [x509.DNSName(d) for d in dns_names]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


class SelfSignedCertificateProvider(ResourceProvider):
    serialize_as_secret_always = False

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        keys = [k for k in ("ipAddresses", "dnsNames", "validityDays") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(keys), replaces=keys)

    def create(self, props: dict) -> CreateResult:
        cert, key = self_signed(
            list(props.get("ipAddresses") or []), list(props.get("dnsNames") or []),
            int(props.get("validityDays") or VALIDITY_DAYS),
        )
        outs = {**props, "certPem": cert, "keyPem": key, "sha256": fingerprint(cert)}
        return CreateResult(id_=secrets.token_hex(8), outs=outs)


class SelfSignedCertificate(Resource, module="stratos", name="SelfSignedCertificate"):
    """A certificate for ``ip_addresses``/``dns_names``; ``keyPem`` is a secret Output."""

    certPem: pulumi.Output[str]
    keyPem: pulumi.Output[str]
    sha256: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        ip_addresses: pulumi.Input[list[str]],
        dns_names: list[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["keyPem"]))
        props = {
            "ipAddresses": ip_addresses, "dnsNames": dns_names or [], "validityDays": VALIDITY_DAYS,
            "certPem": None, "keyPem": None, "sha256": None,
        }
        super().__init__(portable(SelfSignedCertificateProvider), name, props, opts)
