"""Planner: candidates x estimators -> Pareto front -> the chosen ``Plan``."""

from stratos.planner.inputs import resolve_job
from stratos.planner.plan import CostEstimate, JobSettings, Objectives, Plan
from stratos.planner.result import Candidate, PlanResult
from stratos.planner.search import make_plan

__all__ = ["Candidate", "CostEstimate", "JobSettings", "Objectives", "Plan", "PlanResult", "make_plan", "resolve_job"]
