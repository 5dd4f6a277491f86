"""Cloud endpoints under mocks: a reserved address, a certificate that names it, its key in the
secret store only, an https URL; GCP nodes on the stack's own network, with no external address
unless the endpoint is open to some CIDRs."""

from __future__ import annotations

from helpers.cloud_mocks import MOCK_KEY, run_program
from helpers.cloud_plans import aws_plan, gcp_plan

from stratos.spec import DistillationRequest

CERT_TYPE = "pulumi-python:dynamic/stratos:SelfSignedCertificate"


def _request(target: str, **network) -> DistillationRequest:
    return DistillationRequest(target=target, constraints={"budget_usd": 40}, network=network)


def test_aws_endpoint_is_https_on_an_elastic_ip_the_certificate_names() -> None:
    s = run_program(aws_plan(), _request("aws", allowed_cidrs=["203.0.113.0/24"]), "mahjong-aws")
    (_, eip), = s.of_type("aws:ec2/eip:Eip").items()
    (_, cert), = s.of_type(CERT_TYPE).items()
    assert cert["ipAddresses"] == [eip["publicIp"]]
    (_, assoc), = s.of_type("aws:ec2/eipAssociation:EipAssociation").items()
    _, serve = s.one("aws:ec2/instance:Instance", "endpoint-instance")
    assert assoc["allocationId"] == eip["allocationId"]
    key = next(v for u, v in s.of_type("aws:ssm/parameter:Parameter").items() if u.endswith("endpoint-tls-key"))
    assert key["type"] == "SecureString"
    assert MOCK_KEY not in serve["userData"] and "-----BEGIN CERTIFICATE-----" in serve["userData"]
    assert f"STRATOS_TLS_KEY_REF={key['name']}" in serve["userData"]
    assert s.values["url"] == f"https://{eip['publicIp']}:8000/v1"


def test_gcp_nodes_sit_on_the_stack_network_without_external_addresses() -> None:
    s = run_program(gcp_plan(), _request("gcp"), "mahjong-gcp")
    (net_urn, net), = s.of_type("gcp:compute/network:Network").items()
    assert net["autoCreateSubnetworks"] is False
    (_, subnet), = s.of_type("gcp:compute/subnetwork:Subnetwork").items()
    assert subnet["privateIpGoogleAccess"] is True
    assert len(s.of_type("gcp:compute/routerNat:RouterNat")) == 1
    for name in ("trainer-instance", "endpoint-instance"):
        _, vm = s.one("gcp:compute/instance:Instance", name)
        (nic,) = vm["networkInterfaces"]
        assert nic["network"] != "default" and nic.get("accessConfigs") in (None, []), name
    (_, address), = s.of_type("gcp:compute/address:Address").items()
    assert address["addressType"] == "INTERNAL"  # nobody allowed in from outside: a private endpoint
    assert s.one("gcp:compute/instance:Instance", "endpoint-instance")[1]["networkInterfaces"][0]["networkIp"] == address["address"]


def test_gcp_public_endpoint_gets_its_reserved_external_address_only() -> None:
    s = run_program(
        gcp_plan(), _request("gcp", allowed_cidrs=["203.0.113.0/24"], ssh_cidrs=["192.0.2.7/32"]),
        "mahjong-gcp",
    )
    (_, address), = s.of_type("gcp:compute/address:Address").items()
    assert address["addressType"] == "EXTERNAL"
    _, serve = s.one("gcp:compute/instance:Instance", "endpoint-instance")
    assert serve["networkInterfaces"][0]["accessConfigs"] == [{"natIp": address["address"]}]
    _, train = s.one("gcp:compute/instance:Instance", "trainer-instance")
    assert train["networkInterfaces"][0].get("accessConfigs") in (None, [])
    for urn, fw in s.of_type("gcp:compute/firewall:Firewall").items():
        assert fw["network"] != "default" and fw["network"], urn
    (_, cert), = s.of_type(CERT_TYPE).items()
    assert cert["ipAddresses"] == [address["address"]]
    assert s.values["url"] == f"https://{address['address']}:8000/v1"
