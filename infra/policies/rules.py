"""The Stratos policy rules as pure functions over a stack's resources.

Each rule takes the resources the engine shows a stack policy (type token, URN,
input properties as the engine sends them: camelCase, and the URNs each property
depends on) and returns violation messages; ``__main__.py`` wires them into a
``pulumi_policy`` pack. Being plain functions, they are tested directly against
the resources the AWS/GCP mock stacks register (``tests/pulumi/test_policies.py``).

Rules:

* ``budget_guard`` (mandatory): the plan's estimated total must not exceed the
  request's budget - read from the local ``DistillationJob`` (``estimatedTotalUsd``,
  ``budgetUsd``) and from the cloud instances' tags/labels (whole cents). An
  instance without the estimate tag fails: its cost cannot be checked.
* ``private_encrypted_buckets``: S3 buckets need a full public access block and
  default encryption; GCS buckets uniform access with public access prevention.
* ``no_open_ssh``: no security group or firewall admits port 22 from every address:
  0.0.0.0/0, ::/0, or CIDRs that together span them (0.0.0.0/1 + 128.0.0.0/1); a
  GCP firewall without ``sourceRanges`` (and no source tags or accounts) means
  0.0.0.0/0; protocols match in any case and by number (``TCP``, ``6``).
* ``instances_match_plan``: every GPU instance is the plan's type (zone, GPU model and
  count, spot) for its role; the plan is the ``runs/<stack>/plan.json`` the store holds.

A value a rule needs that is unknown during a preview (computed from a resource not
created yet) is reported as a violation naming it, never treated as absent: a rule
cannot pass what it could not see.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from infra.backends.cloud import ACCELERATOR_TYPES
from infra.policies.tags import BUDGET_CENTS, ESTIMATED_CENTS, ROLE, ZONE_ID
from stratos.spec import covers_everything

AWS_BUCKET = "aws:s3/bucket:Bucket"
AWS_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
AWS_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
AWS_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
AWS_INSTANCE = "aws:ec2/instance:Instance"
GCP_BUCKET = "gcp:storage/bucket:Bucket"
GCP_OBJECT = "gcp:storage/bucketObject:BucketObject"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"
GCP_INSTANCE = "gcp:compute/instance:Instance"
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


class _Unknown:
    """A property value the engine does not know yet (a preview of a resource to be created)."""

    def __repr__(self) -> str:
        return "<unknown until apply>"


UNKNOWN = _Unknown()


def _has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


def unknown_props(r: Res, keys: Iterable[str]) -> list[str]:
    """Which of ``keys`` hold a value (or part of one) that is unknown until apply."""
    return [k for k in keys if _has_unknown(r.props.get(k))]


def _unseen(r: Res, keys: Iterable[str], what: str) -> str | None:
    """The violation for a resource whose ``keys`` a rule must read but cannot yet."""
    missing = unknown_props(r, keys)
    if not missing:
        return None
    return (
        f"{r.urn}: {what} cannot be checked: {', '.join(missing)} unknown during the preview "
        "(computed from a resource not created yet). Give the value directly, or run the "
        "preview again once that resource exists."
    )


@dataclass(frozen=True)
class Res:
    """One resource as a stack policy sees it."""

    type: str
    urn: str
    props: dict[str, Any]
    deps: dict[str, list[str]] = field(default_factory=dict)  # property -> URNs it came from

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def _of(resources: Iterable[Res], typ: str) -> list[Res]:
    return [r for r in resources if r.type == typ]


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- budget -------------------------------------------------------------------------


def _cost_numbers(r: Res) -> tuple[float | None, float | None, str | None]:
    """(estimated total, budget) in USD that ``r`` carries, or why they cannot be read."""
    if r.type not in (AWS_INSTANCE, GCP_INSTANCE):
        return _num(r.props.get("estimatedTotalUsd")), _num(r.props.get("budgetUsd")), None
    tags = r.props.get("tags" if r.type == AWS_INSTANCE else "labels")
    cents = _num(tags.get(ESTIMATED_CENTS)) if isinstance(tags, dict) else None
    if cents is None:
        return None, None, (
            f"{r.urn}: instance has no {ESTIMATED_CENTS} tag, so its cost cannot be checked against the "
            "budget. Deploy it through the Stratos backends, which tag every instance with the plan's cost."
        )
    budget_cents = _num(tags.get(BUDGET_CENTS))
    return cents / 100, None if budget_cents is None else budget_cents / 100, None


def budget_guard(resources: Iterable[Res]) -> list[str]:
    """Violations where a resource carries an estimated total above its budget, or an
    instance carries no estimate at all."""
    out = []
    for r in resources:
        if r.type in (AWS_INSTANCE, GCP_INSTANCE):
            reads: tuple[str, ...] = ("tags" if r.type == AWS_INSTANCE else "labels",)
        else:
            reads = tuple(k for k in ("estimatedTotalUsd", "budgetUsd") if k in r.props)
        unseen = _unseen(r, reads, "the budget")
        if unseen:
            out.append(unseen)
            continue
        est, budget, problem = _cost_numbers(r)
        if problem:
            out.append(problem)
        elif est is not None and budget is not None and est > budget + 1e-9:
            out.append(
                f"{r.urn}: the plan's estimated total is {est:.2f} USD, over the budget of {budget:.2f} USD "
                "(stratos:constraints.budget_usd). Raise the budget, shorten serving_hours, allow spot or "
                "cheaper GPUs, or run `stratos plan` to see the cheaper options."
            )
    return out


# -- buckets ------------------------------------------------------------------------


def _targets(r: Res, bucket: Res) -> bool:
    """Whether ``r`` (a bucket's side resource) belongs to ``bucket``."""
    if bucket.urn in r.deps.get("bucket", []):
        return True
    ids = {bucket.props.get("bucket"), bucket.props.get("id"), bucket.props.get("name")} - {None, ""}
    return r.props.get("bucket") in ids


def private_encrypted_buckets(resources: Iterable[Res]) -> list[str]:
    """Violations for buckets that may be public or lack default encryption."""
    resources = list(resources)
    out = []
    for b in _of(resources, AWS_BUCKET):
        if b.props.get("acl") in PUBLIC_ACLS:
            out.append(f"{b.urn}: S3 bucket has the public ACL {b.props['acl']!r}; remove it.")
        pabs = [p for p in _of(resources, AWS_PAB) if _targets(p, b)]
        if not any(all(p.props.get(f) is True for f in PAB_FLAGS) for p in pabs):
            out.append(
                f"{b.urn}: S3 bucket has no BucketPublicAccessBlock with {', '.join(PAB_FLAGS)} all true; "
                "artifacts must never be public."
            )
        sses = [s for s in _of(resources, AWS_SSE) if _targets(s, b)]
        if not any(
            (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") in ("aws:kms", "AES256", "aws:kms:dsse")
            for s in sses
            for rule in s.props.get("rules") or []
        ):
            out.append(f"{b.urn}: S3 bucket has no default server-side encryption configuration.")
    for b in _of(resources, GCP_BUCKET):
        if b.props.get("uniformBucketLevelAccess") is not True:
            out.append(f"{b.urn}: GCS bucket needs uniform_bucket_level_access = true (no per-object ACLs).")
        if b.props.get("publicAccessPrevention") != "enforced":
            out.append(f"{b.urn}: GCS bucket needs public_access_prevention = 'enforced'.")
    return out


# -- SSH ----------------------------------------------------------------------------


def _world(cidrs: Iterable[Any]) -> bool:
    """Whether these CIDRs, together, admit every IPv4 or every IPv6 address."""
    valid = []
    for c in cidrs or []:
        try:
            ipaddress.ip_network(str(c), strict=False)
        except ValueError:
            continue
        valid.append(str(c))
    return covers_everything(valid)


#: Protocol spellings (any case) -> one name; providers take names, numbers and ``-1``.
PROTOCOLS = {"6": "tcp", "tcp": "tcp", "-1": "all", "all": "all"}


def _protocol(value: Any) -> str:
    text = str(value).strip().lower()
    return PROTOCOLS.get(text, text)


def _covers_22(protocol: Any, from_port: Any, to_port: Any) -> bool:
    proto = _protocol(protocol)
    if proto == "all":
        return True
    if proto != "tcp":
        return False
    lo, hi = _num(from_port), _num(to_port)
    return lo is not None and hi is not None and lo <= 22 <= hi


def _gcp_ports_cover_22(ports: list[Any] | None) -> bool:
    if not ports:
        return True  # no ports listed = every port
    for p in ports:
        lo, _, hi = str(p).partition("-")
        if (_num(lo) or 0) <= 22 <= (_num(hi or lo) or 0):
            return True
    return False


def _gcp_sources(p: dict[str, Any]) -> list[Any]:
    """A firewall's source ranges; none listed and no source tags/accounts means 0.0.0.0/0."""
    ranges = list(p.get("sourceRanges") or [])
    if not ranges and not p.get("sourceTags") and not p.get("sourceServiceAccounts"):
        return ["0.0.0.0/0"]
    return ranges


#: type -> (the properties the SSH check reads, a function giving (opens 22?, its CIDRs))
_SSH_READS: dict[str, tuple[tuple[str, ...], Any]] = {
    AWS_SG: (
        ("ingress",),
        lambda p: (
            True,
            [
                c
                for rule in p.get("ingress") or []
                if _covers_22(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"))
                for c in list(rule.get("cidrBlocks") or []) + list(rule.get("ipv6CidrBlocks") or [])
            ],
        ),
    ),
    AWS_SG_RULE: (
        ("type", "protocol", "fromPort", "toPort", "cidrBlocks", "ipv6CidrBlocks"),
        lambda p: (
            p.get("type") == "ingress" and _covers_22(p.get("protocol"), p.get("fromPort"), p.get("toPort")),
            list(p.get("cidrBlocks") or []) + list(p.get("ipv6CidrBlocks") or []),
        ),
    ),
    AWS_SG_INGRESS: (
        ("ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6"),
        lambda p: (
            _covers_22(p.get("ipProtocol"), p.get("fromPort"), p.get("toPort")),
            [p.get("cidrIpv4"), p.get("cidrIpv6")],
        ),
    ),
    GCP_FIREWALL: (
        ("direction", "allows", "sourceRanges", "sourceTags", "sourceServiceAccounts"),
        lambda p: (
            str(p.get("direction") or "INGRESS").upper() == "INGRESS"
            and any(
                _protocol(a.get("protocol")) in ("tcp", "all") and _gcp_ports_cover_22(a.get("ports"))
                for a in p.get("allows") or []
            ),
            _gcp_sources(p),
        ),
    ),
}
_SSH_WHAT = {AWS_SG: "security group", AWS_SG_RULE: "security group rule", AWS_SG_INGRESS: "ingress rule",
             GCP_FIREWALL: "firewall"}


def no_open_ssh(resources: Iterable[Res]) -> list[str]:
    """Violations for any rule admitting port 22 from the whole internet."""
    out = []
    msg = "admits SSH (port 22) from the whole internet; list your own CIDRs in stratos:network.ssh_cidrs."
    for r in resources:
        if r.type not in _SSH_READS:
            continue
        reads, opening = _SSH_READS[r.type]
        unseen = _unseen(r, reads, "SSH exposure")
        if unseen:
            out.append(unseen)
            continue
        opens, cidrs = opening(r.props)
        if opens and _world(cidrs):
            out.append(f"{r.urn}: {_SSH_WHAT[r.type]} {msg}")
    return out


# -- instances = plan ---------------------------------------------------------------


def _plan(resources: list[Res]) -> dict[str, Any] | Res | None:
    """The plan the store holds; the object itself when its content is unknown; None when absent."""
    for r in resources:
        key = r.props.get("key") if r.type == AWS_OBJECT else r.props.get("name") if r.type == GCP_OBJECT else None
        if isinstance(key, str) and key.endswith("/plan.json"):
            if unknown_props(r, ("content",)):
                return r
            if isinstance(r.props.get("content"), str):
                return json.loads(r.props["content"])
    return None


#: What the plan check reads from each instance type.
_INSTANCE_READS = {
    AWS_INSTANCE: ("instanceType", "availabilityZone", "instanceMarketOptions", "tags"),
    GCP_INSTANCE: ("machineType", "zone", "guestAccelerators", "scheduling", "labels"),
}


def _aws_zone_problem(i: Res, want: dict[str, Any], tags: dict[str, Any]) -> str | None:
    """The planned zone may be a name (us-east-1c) or, as the catalog gives it, a zone ID
    (use1-az2), whose name differs per account: then the instance must sit in the planned
    region and carry the ID of its zone (the backend tags it from the same lookup)."""
    zone, region, az = want.get("zone"), want.get("region") or "", i.props.get("availabilityZone")
    if not zone:
        return None
    if zone.startswith(region) and region:
        return None if az == zone else f"availability zone {az} != planned {zone}"
    if not (isinstance(az, str) and az.startswith(region)):
        return f"availability zone {az} is not in the planned region {region}"
    if tags.get(ZONE_ID) != zone:
        return f"zone ID {tags.get(ZONE_ID)} (tag {ZONE_ID}) != planned {zone}"
    return None


def instances_match_plan(resources: Iterable[Res]) -> list[str]:
    """Violations where a GPU instance differs from the plan (type, zone, GPUs, spot)."""
    resources = list(resources)
    instances = _of(resources, AWS_INSTANCE) + _of(resources, GCP_INSTANCE)
    if not instances:
        return []
    plan = _plan(resources)
    if isinstance(plan, Res):
        return [_unseen(plan, ("content",), "the plan the instances are checked against")]
    if plan is None:
        return [f"{i.urn}: no runs/<stack>/plan.json in the artifact store, so the instance cannot be checked against the plan." for i in instances]
    out = []
    for i in instances:
        unseen = _unseen(i, _INSTANCE_READS[i.type], "the instance's match with the plan")
        if unseen:
            out.append(unseen)
            continue
        tags = (i.props.get("tags") if i.type == AWS_INSTANCE else i.props.get("labels")) or {}
        role = tags.get(ROLE) if isinstance(tags, dict) else None
        if role not in ("train", "serve"):
            out.append(f"{i.urn}: instance has no {ROLE} tag (train|serve), so it is not part of the plan.")
            continue
        want = plan[role]
        problems = []
        if i.type == AWS_INSTANCE:
            if i.props.get("instanceType") != want["instance_type"]:
                problems.append(f"type {i.props.get('instanceType')} != planned {want['instance_type']}")
            zone_problem = _aws_zone_problem(i, want, tags)
            if zone_problem:
                problems.append(zone_problem)
            spot = (i.props.get("instanceMarketOptions") or {}).get("marketType") == "spot"
            if spot != bool(want["spot"]):
                problems.append(f"spot={spot} but the plan says spot={want['spot']}")
        else:
            if i.props.get("machineType") != want["instance_type"]:
                problems.append(f"machine type {i.props.get('machineType')} != planned {want['instance_type']}")
            if want.get("zone") and i.props.get("zone") != want["zone"]:
                problems.append(f"zone {i.props.get('zone')} != planned {want['zone']}")
            gpus = [(a.get("type"), _num(a.get("count"))) for a in i.props.get("guestAccelerators") or []]
            planned = [(ACCELERATOR_TYPES.get(want["accelerator"] or "", want["accelerator"]), float(want["accelerator_count"]))]
            if want["accelerator_count"] and gpus != planned:
                problems.append(f"GPUs {gpus} != planned {planned}")
            spot = (i.props.get("scheduling") or {}).get("provisioningModel") == "SPOT"
            if spot != bool(want["spot"]):
                problems.append(f"spot={spot} but the plan says spot={want['spot']}")
        if problems:
            out.append(f"{i.urn}: {role} instance differs from the plan: {'; '.join(problems)}.")
    return out


#: name -> (description, rule); the pack registers each as a mandatory stack policy.
RULES = {
    "stratos-budget-guard": ("The plan's estimated total cost stays within the request's budget.", budget_guard),
    "stratos-private-encrypted-buckets": ("Artifact buckets are private and encrypted.", private_encrypted_buckets),
    "stratos-no-open-ssh": ("No security group or firewall opens SSH to 0.0.0.0/0.", no_open_ssh),
    "stratos-instances-match-plan": ("GPU instances are exactly what the plan chose.", instances_match_plan),
}
