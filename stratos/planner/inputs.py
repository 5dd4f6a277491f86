"""The search's inputs from a request: the job settings, the offerings it may use (after the
cloud, region and GPU filters, one per price point), and the teachers and students it may pair.
Names the catalog or zoo does not know fail here with the valid ones (``infeasible``).
"""

from __future__ import annotations

from stratos.catalog.local import local_offering
from stratos.catalog.offering import Offering
from stratos.catalog.sky_catalog import load_cloud_offerings
from stratos.distill.settings import resolve_job as job_settings
from stratos.planner import infeasible
from stratos.planner.plan import JobSettings
from stratos.spec import DistillationRequest
from stratos.zoo.endpoint import teacher_model
from stratos.zoo.registry import ModelSpec, get_model, list_models

LOCAL_TEACHER = "smollm2-135m-instruct"


def resolve_job(request: DistillationRequest) -> JobSettings:
    """JobSettings from the profile defaults and the request's overrides."""
    return job_settings(request.job)


def offerings(request: DistillationRequest, catalog_dir: str | None) -> list[Offering]:
    """The offerings the request allows: the local machine, or the catalog's clouds filtered by
    ``edge_zones``, ``regions`` and ``gpus`` (each checked against what the catalog has)."""
    if request.target == "local":
        return [local_offering(request.local.price_per_hour)]
    every = load_cloud_offerings(catalog_dir, request.search_clouds)
    edge = [] if request.edge_zones else [o for o in every if o.edge_zone]
    offs = every if request.edge_zones else [o for o in every if not o.edge_zone]
    standard = offs
    if request.regions:
        for r in request.regions:
            infeasible.check_name("regions", "region", r, {o.region for o in offs if o.region})
        offs = [o for o in offs if o.region in request.regions]
    wanted = request.accelerator_requests
    if wanted:
        infeasible.check_gpus(wanted, offs, standard, request.regions, edge)
        offs = [o for o in offs if any(w.admits(o.accelerator, o.accelerator_count) for w in wanted)]
    return offs


def dedupe(offs: list[Offering]) -> tuple[list[Offering], dict[str, list[str]]]:
    """One offering per (cloud, instance type, GPU, count, price, spot); others become alternatives."""
    reps: dict[tuple, Offering] = {}
    alts: dict[str, list[str]] = {}
    for o in sorted(offs, key=lambda o: (o.cloud, o.instance_type, o.spot, o.region or "", o.zone or "")):
        key = (o.cloud, o.instance_type, o.accelerator, o.accelerator_count, o.price_per_hour, o.spot)
        if key in reps:
            alts.setdefault(reps[key].label, []).append(f"{o.region}/{o.zone}" if o.spot and o.zone else o.region or "")
        else:
            reps[key] = o
    return list(reps.values()), alts


def models(request: DistillationRequest) -> tuple[list[ModelSpec], list[ModelSpec]]:
    """(teachers, students) to pair: the request's choice, else the zoo's (scratch students locally)."""
    teachers_all = [m.id for m in list_models("teacher")]
    students_all = [m.id for m in list_models("student")]
    if isinstance(request.teacher, str):  # a zoo id (an endpoint is checked by the request model)
        infeasible.check_name("teacher", "teacher", request.teacher, teachers_all)
    if request.student:
        infeasible.check_name("student", "student", request.student, students_all)
    if request.target == "local":
        teachers = [teacher_model(request.teacher or LOCAL_TEACHER)]
        students = [get_model(request.student)] if request.student else [
            m for m in list_models("student") if m.is_scratch
        ]
        return teachers, students
    teachers = [teacher_model(request.teacher)] if request.teacher else list_models("teacher")
    students = [get_model(request.student)] if request.student else list_models("student")
    return teachers, students
