"""Planner: candidates x estimators -> Pareto front -> the chosen ``Plan``."""

from stratos.planner.plan import CostEstimate, JobSettings, Objectives, Plan
from stratos.planner.search import Candidate, PlanResult, make_plan, resolve_job

__all__ = ["Candidate", "CostEstimate", "JobSettings", "Objectives", "Plan", "PlanResult", "make_plan", "resolve_job"]
