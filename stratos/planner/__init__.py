"""Planner: candidates x estimators -> Pareto front -> the chosen ``Plan``."""
