#!/usr/bin/env bash
# The Pulumi engine for this checkout, called by scripts/setup.sh.
# `build_pulumi.sh --check` only says whether it can (a recent enough CLI of your own, a
# cached build, or Go to build one), changing nothing: setup.sh asks before any download.
#
# A `pulumi` of the user's own on PATH (at least the pinned Python SDK's version)
# is kept and nothing is built; only pulumi-policy/ below is laid out. Otherwise
# the CLI and the Python language host are built with the Go toolchain from
# Pulumi's Go modules (tools/pulumi/go.mod) into a cache outside the checkout,
# keyed by what they are built from
# ($STRATOS_PULUMI_CACHE, default ~/.cache/stratos/pulumi), so a second setup or a
# fresh clone on the same machine builds nothing, and copied into the git-ignored
# .tools/pulumi/ that scripts/env.sh puts on PATH:
#   bin/pulumi                         CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
#   bin/pulumi-language-python         language host (tools/pulumi/language-python)
#   bin/pulumi-language-python-exec    Pulumi's program shim, from the sdk/v3 module
#   bin/pulumi-resource-pulumi-python  launcher: Python dynamic providers
#   bin/pulumi-analyzer-policy-python  launcher: Python policy packs
#   lib/python.sh                      the launchers' choice of interpreter
#   pulumi-policy/                     policy pack runtime (PyPI pulumi-policy)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STRATOS_ROOT"

POLICY_SDK="pulumi-policy==1.21.0"
TOOLS="$STRATOS_ROOT/.tools/pulumi"
CACHE_ROOT="${STRATOS_PULUMI_CACHE:-$HOME/.cache/stratos/pulumi}"
WHEELS="${STRATOS_WHEELHOUSE:-$HOME/.cache/stratos/wheels}"
say() { echo "[pulumi] $*"; }
die() { echo "[pulumi] error: $*" >&2; exit 1; }

# "3.272.0" from `pulumi==3.272.0` in pyproject.toml.
sdk_version="$(grep -oE '"pulumi==[0-9.]+"' pyproject.toml | head -1 | tr -dc '0-9.')"
[ -n "$sdk_version" ] || die "no pulumi==X.Y.Z pin found in pyproject.toml"
# "v3.274.0" from tools/pulumi/go.mod.
cli_version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/pulumi/pulumi/pkg/v3") { print $(i + 1); exit } }' tools/pulumi/go.mod)"
[ -n "$cli_version" ] || die "tools/pulumi/go.mod does not require github.com/pulumi/pulumi/pkg/v3"

version_at_least() { # version_at_least 3.274.0 3.272.0
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]
}

# Go >= the go.mod's `go` line (GOTOOLCHAIN=local: no toolchain download), or a message why not.
go_min="$(awk '$1 == "go" { print $2; exit }' tools/pulumi/go.mod)"
go="${STRATOS_GO:-$(command -v go || echo /usr/local/go/bin/go)}"
go_problem() {
  local have
  [ -x "$go" ] || { echo "no Go toolchain"; return; }
  have="$("$go" env GOVERSION 2>/dev/null | sed 's/^go//')"
  version_at_least "${have:-0}" "$go_min" || echo "Go ${have:-unknown} is older than $go_min"
}

# A CLI of the user's own, when it is at least the pinned SDK's version.
own="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vxF "$TOOLS/bin" | paste -sd:)" command -v pulumi || true)"
own_version="$([ -n "$own" ] && "$own" version 2>/dev/null | tr -d 'v\r' || true)"
own_ok() { [ -n "$own_version" ] && version_at_least "$own_version" "$sdk_version"; }

src_hash="$(cat tools/pulumi/go.mod tools/pulumi/go.sum tools/pulumi/tools.go tools/pulumi/language-python/*.go \
  | sha256sum | cut -c1-12)"
cache="$CACHE_ROOT/$cli_version-$src_hash"

if [ "${1:-}" = --check ]; then
  if own_ok; then say "will use your $own (v$own_version)"; exit 0; fi
  if [ -f "$cache/.complete" ]; then say "will use the cached build in $cache"; exit 0; fi
  problem="$(go_problem)"
  [ -z "$problem" ] || die "no pulumi CLI >= $sdk_version on PATH${own:+ (yours: v${own_version:-unknown})}, and $problem to build one.
  Install the Pulumi CLI (https://www.pulumi.com/docs/install/) or Go >= $go_min (https://go.dev/dl/), then re-run scripts/setup.sh"
  gopath="$("$go" env GOMODCACHE)"
  while [ ! -d "$gopath" ]; do gopath="$(dirname "$gopath")"; done
  free="$(df -Pk "$gopath" | awk 'NR == 2 { printf "%d", $4 / 1048576 }')"
  [ "$free" -ge "${STRATOS_GO_BUILD_GB:-4}" ] || die "building Pulumi needs about 4 GB free for Go's module and build caches under $gopath; only $free GB are"
  say "will build Pulumi $cli_version with $("$go" env GOVERSION) (first time: several minutes, about 3.5 GB of Go caches)"
  exit 0
fi

# --- 1. The policy runtime: pulumi-policy pins protobuf 5 while the venv needs 6,
# so it is installed beside the launchers (not into .venv, so `pip check` stays
# clean), once per machine. Any CLI needs it to run infra/policies. -----------
policy_cache="$CACHE_ROOT/${POLICY_SDK/==/-}"
if [ ! -f "$policy_cache/.complete" ]; then
  say "installing $POLICY_SDK into $policy_cache"
  mkdir -p "$WHEELS"
  pip=("$STRATOS_ROOT/.venv/bin/python" -m pip)
  "${pip[@]}" download -q --no-deps -d "$WHEELS" "$POLICY_SDK"
  rm -rf "$policy_cache"
  "${pip[@]}" install -q --no-index --find-links "$WHEELS" --no-deps --target "$policy_cache" "$POLICY_SDK"
  touch "$policy_cache/.complete"
fi

# --- 2. A CLI of the user's own wins when it is recent enough. ----------------
if [ -n "$own" ]; then
  if own_ok; then
    if [ -d "$TOOLS/bin" ]; then
      say "removing the built engine in .tools/pulumi so yours comes first on PATH"
    fi
    # Only the policy runtime stays: infra/policies imports it from there.
    rm -rf "$TOOLS" && mkdir -p "$TOOLS" && cp -r "$policy_cache" "$TOOLS/pulumi-policy"
    say "using your own $own (v$own_version)"
    exit 0
  fi
  say "your $own (v${own_version:-unknown}) is older than the pinned SDK ($sdk_version): building $cli_version"
fi

# --- 3. Binaries: built once per source hash, kept outside the checkout. -----
if [ ! -f "$cache/.complete" ]; then
  problem="$(go_problem)"
  [ -z "$problem" ] || die "no pulumi CLI on PATH and $problem to build one.
  Install the Pulumi CLI (https://www.pulumi.com/docs/install/) or Go >= $go_min (https://go.dev/dl/), then re-run scripts/setup.sh"
  say "building Pulumi $cli_version from Go modules into $cache (first time: several minutes)"
  tmp="$cache.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp/bin"
  trap 'rm -rf "$tmp"' EXIT
  ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version"
  start=$SECONDS
  (
    cd tools/pulumi
    export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
    nice -n 10 "$go" build -ldflags "$ldflags" -o "$tmp/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    nice -n 10 "$go" build -ldflags "$ldflags" -o "$tmp/bin/pulumi-language-python" ./language-python
    sdk_dir="$("$go" list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
    install -m 755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$tmp/bin/"
  ) || die "go build failed (output above); the Go module proxy must serve github.com/pulumi/pulumi/pkg/v3@$cli_version"
  touch "$tmp/.complete"
  rm -rf "$cache" && mv "$tmp" "$cache"
  trap - EXIT
  say "built in $((SECONDS - start)) s"
fi

# --- 4. Lay out .tools/pulumi (copies: the CLI looks for its plugins beside its
# real path, and the launchers find this checkout's .venv from theirs). --------
stamp="$cli_version-$src_hash $POLICY_SDK $(cat tools/pulumi/launchers/lib/python.sh tools/pulumi/launchers/pulumi-* | sha256sum | cut -c1-12)"
if [ "$(cat "$TOOLS/.stamp" 2>/dev/null)" = "$stamp" ] && [ -x "$TOOLS/bin/pulumi" ]; then
  say "$("$TOOLS/bin/pulumi" version) up to date in .tools/pulumi"
  exit 0
fi
rm -rf "$TOOLS" && mkdir -p "$TOOLS/bin" "$TOOLS/lib"
cp "$cache/bin/"* "$TOOLS/bin/"
install -m 755 tools/pulumi/launchers/pulumi-* "$TOOLS/bin/"
install -m 644 tools/pulumi/launchers/lib/python.sh "$TOOLS/lib/"
cp -r "$policy_cache" "$TOOLS/pulumi-policy"
echo "$stamp" > "$TOOLS/.stamp"
say "$("$TOOLS/bin/pulumi" version) ready in .tools/pulumi/bin (state: ${PULUMI_BACKEND_URL:-your pulumi login})"
