# Sourced by the Stratos Pulumi launchers: picks the Python interpreter that runs
# dynamic providers and policy packs. It must be the interpreter that ran the
# program (a dynamic provider is a pickled class, unpickled in this process), so
# the order follows how the program's Python is found, first match wins:
#   1. PULUMI_RUNTIME_VIRTUALENV (the `virtualenv` option of Pulumi.yaml or
#      PulumiPolicy.yaml, relative to the folder holding that file)
#   2. $VIRTUAL_ENV (scripts/env.sh sets it to the project venv)
#   3. the checkout's .venv (launchers live in <checkout>/.tools/pulumi/bin)
#   4. PULUMI_PYTHON_CMD, then python3 / python on PATH
# Prints the interpreter's path, or an error and returns 1.
stratos_python() {
  _venv="${PULUMI_RUNTIME_VIRTUALENV:-}"
  if [ -n "$_venv" ]; then
    _venv="${_venv%/}"
    # Relative to the project root (the folder holding Pulumi.yaml, or PulumiPolicy.yaml
    # for a policy pack), as the language host resolves it; plugins may run in a
    # `main:` subfolder, so walk up from $PWD.
    case "$_venv" in /*) ;; *)
      _root="$PWD"
      while [ "$_root" != "/" ] && [ ! -f "$_root/Pulumi.yaml" ] && [ ! -f "$_root/PulumiPolicy.yaml" ]; do
        _root="$(dirname "$_root")"
      done
      [ -f "$_root/Pulumi.yaml" ] || [ -f "$_root/PulumiPolicy.yaml" ] || _root="$PWD"
      _venv="$_root/$_venv" ;;
    esac
    if [ -x "$_venv/bin/python" ]; then
      echo "$_venv/bin/python"
      return 0
    fi
    echo "error: the virtualenv option in Pulumi.yaml points at '$_venv', which is not a virtual environment." >&2
    echo "  create it: python3 -m venv '$_venv' && '$_venv/bin/pip' install pulumi" >&2
    return 1
  fi
  for _venv in "${VIRTUAL_ENV:-}" "$STRATOS_LAUNCHER_DIR/../../../.venv"; do
    if [ -n "$_venv" ] && [ -x "$_venv/bin/python" ]; then
      echo "$_venv/bin/python"
      return 0
    fi
  done
  if [ -n "${PULUMI_PYTHON_CMD:-}" ]; then
    echo "$PULUMI_PYTHON_CMD"
    return 0
  fi
  command -v python3 || command -v python || {
    echo "error: no Python interpreter found; run scripts/setup.sh or activate a virtualenv" >&2
    return 1
  }
}
