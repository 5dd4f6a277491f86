"""Engine tests get ``pulumi_cli``: a private backend, PULUMI_HOME and passphrase
for the real CLI (see helpers/pulumi_engine.py; tests/e2e can import it the same way)."""

from helpers.pulumi_engine import pulumi_cli  # noqa: F401  (fixture)
