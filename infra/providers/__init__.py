"""Python dynamic providers for the ``local`` target (run by ``pulumi-resource-pulumi-python``).

The provider classes are pickled by reference (dill), so the process the engine
starts imports them from here; the process bookkeeping they share lives in
``procs``. Type tokens: ``pulumi-python:dynamic/stratos:<Name>``.
"""
