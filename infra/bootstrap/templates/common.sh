
# ---- shared helpers: logging, the bucket, secrets, installing Stratos ----

log() { printf '%s stratos-%s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$STRATOS_ROLE" "$*"; }

die() { log "error: $*"; exit 1; }

# A bucket URI (s3://b/p, gs://b/p) as a path under STRATOS_STORE_ROOT (kind 'dir').
store_local() {
  [ -n "$STRATOS_STORE_ROOT" ] || die "STRATOS_STORE_KIND=dir needs STRATOS_STORE_ROOT"
  printf '%s/%s' "$STRATOS_STORE_ROOT" "${1#*://}"
}

# Copy a local directory's contents to a bucket prefix.
store_put_dir() {
  case "$STRATOS_STORE_KIND" in
    s3) aws s3 sync --only-show-errors "${S3_ARGS[@]}" "$1" "$2" ;;
    gs) gcloud storage rsync --recursive --quiet "$1" "$2" ;;
    dir) mkdir -p "$(store_local "$2")" && cp -R "$1/." "$(store_local "$2")/" ;;
    *) die "unknown STRATOS_STORE_KIND '$STRATOS_STORE_KIND' (s3, gs or dir)" ;;
  esac
}

# Copy a bucket prefix's contents into a local directory.
store_get_dir() {
  mkdir -p "$2"
  case "$STRATOS_STORE_KIND" in
    s3) aws s3 sync --only-show-errors "${S3_ARGS[@]}" "$1" "$2" ;;
    gs) gcloud storage rsync --recursive --quiet "$1" "$2" ;;
    dir) cp -R "$(store_local "$1")/." "$2/" ;;
    *) die "unknown STRATOS_STORE_KIND '$STRATOS_STORE_KIND' (s3, gs or dir)" ;;
  esac
}

store_put_file() {
  case "$STRATOS_STORE_KIND" in
    s3) aws s3 cp --only-show-errors "${S3_ARGS[@]}" "$1" "$2" ;;
    gs) gcloud storage cp --quiet "$1" "$2" ;;
    dir) mkdir -p "$(dirname "$(store_local "$2")")" && cp "$1" "$(store_local "$2")" ;;
    *) die "unknown STRATOS_STORE_KIND '$STRATOS_STORE_KIND' (s3, gs or dir)" ;;
  esac
}

store_get_file() {
  case "$STRATOS_STORE_KIND" in
    s3) aws s3 cp --only-show-errors "${S3_ARGS[@]}" "$1" "$2" ;;
    gs) gcloud storage cp --quiet "$1" "$2" ;;
    dir) cp "$(store_local "$1")" "$2" ;;
    *) die "unknown STRATOS_STORE_KIND '$STRATOS_STORE_KIND' (s3, gs or dir)" ;;
  esac
}

store_rm() {
  case "$STRATOS_STORE_KIND" in
    s3) aws s3 rm --only-show-errors "${S3_ARGS[@]}" "$1" ;;
    gs) gcloud storage rm --quiet "$1" ;;
    dir) rm -f "$(store_local "$1")" ;;
    *) die "unknown STRATOS_STORE_KIND '$STRATOS_STORE_KIND' (s3, gs or dir)" ;;
  esac
}

store_exists() {
  case "$STRATOS_STORE_KIND" in
    s3) aws s3 ls "${S3_ARGS[@]}" "$1" >/dev/null 2>&1 ;;
    gs) gcloud storage ls "$1" >/dev/null 2>&1 ;;
    dir) [ -e "$(store_local "$1")" ] ;;
    *) die "unknown STRATOS_STORE_KIND '$STRATOS_STORE_KIND' (s3, gs or dir)" ;;
  esac
}

# Print a secret written by Pulumi (SSM SecureString / Secret Manager); never logged.
fetch_secret() {
  if [ -n "$STRATOS_SECRETS_DIR" ]; then
    cat "$STRATOS_SECRETS_DIR/${1##*/}"  # a folder of files named like the secret (tests, debugging)
    return
  fi
  case "$STRATOS_CLOUD" in
    aws) aws ssm get-parameter --region "$STRATOS_SECRET_REGION" --name "$1" --with-decryption \
           --query Parameter.Value --output text ;;
    gcp) gcloud secrets versions access latest --secret="$1" ;;
    *) die "no secret store for cloud '$STRATOS_CLOUD'" ;;
  esac
}

# This node's id as the Pulumi program knows it (EC2 instance id / Compute Engine VM name),
# written into the markers so the job resource can tell a stale one from a replaced node.
node_id() {
  if [ -n "${STRATOS_NODE_ID:-}" ]; then
    printf '%s' "$STRATOS_NODE_ID"
    return
  fi
  local imds=http://169.254.169.254/latest token
  case "$STRATOS_CLOUD" in
    aws) token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/api/token") &&
           curl -sf -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/instance-id" ;;
    gcp) curl -sf -H 'Metadata-Flavor: Google' \
           http://metadata.google.internal/computeMetadata/v1/instance/name ;;
    *) die "no metadata server for cloud '$STRATOS_CLOUD'" ;;
  esac
}

# This node's private address (the rendezvous host when it is node 0).
node_ip() {
  if [ -n "${STRATOS_NODE_IP:-}" ]; then
    printf '%s' "$STRATOS_NODE_IP"
    return
  fi
  hostname -I | cut -d' ' -f1
}

# Export the secrets this node may read ("ENV=secret-ref" lines), fetched at run time
# from the cloud's secret store: their values are never in this script or the log.
load_node_secrets() {
  local line name value
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    name="${line%%=*}"
    [[ "$name" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "bad secret line for '$name'"
    value=$(fetch_secret "${line#*=}") || die "cannot read the secret for $name from the secret store"
    export "$name=$value"
  done <<<"$1"
}

# Read-only keys to an artifact store on another cloud (the serving node of a plan
# that trained elsewhere): exported for `aws s3`, which also reads GCS through its
# S3-compatible endpoint (STRATOS_S3_ENDPOINT, HMAC keys).
load_store_env() {
  [ -n "$STRATOS_STORE_ENV_REF" ] || return 0
  local line key
  while IFS= read -r line; do
    key="${line%%=*}"
    [[ "$key" =~ ^[A-Z][A-Z0-9_]*$ ]] || continue
    export "$key=${line#*=}"
  done < <(fetch_secret "$STRATOS_STORE_ENV_REF")
  if [ -n "${STRATOS_S3_ENDPOINT:-}" ]; then
    S3_ARGS+=(--endpoint-url "$STRATOS_S3_ENDPOINT")
    # GCS's S3 API does not take the newer default checksums of the AWS CLI.
    export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
  fi
  if [ "$STRATOS_STORE_KIND" = s3 ] && ! command -v aws >/dev/null 2>&1; then
    log "installing the AWS CLI to read the store"
    pip_install "$STRATOS_HOME/awscli-venv" awscli
  fi
}

# Install Stratos from the source archive Pulumi uploaded, unless already on PATH
# (a rebooted node, or a custom image) - so a restart does not reinstall.
install_stratos() {
  if command -v stratos >/dev/null 2>&1; then
    log "stratos already installed: $(command -v stratos)"
    return
  fi
  log "installing stratos ($STRATOS_INSTALL_SPEC)"
  store_get_file "$STRATOS_STORE_URI/$STRATOS_SOURCE_ARCHIVE" "$STRATOS_HOME/$STRATOS_SOURCE_ARCHIVE"
  pip_install "$STRATOS_HOME/venv" "${STRATOS_INSTALL_SPEC//@STRATOS_HOME@/$STRATOS_HOME}"
}

# pip install into a venv over the image's packages (CUDA torch stays the image's);
# images without venv support get a user-level install instead.
pip_install() {
  if python3 -m venv --system-site-packages "$1" >/dev/null 2>&1; then
    "$1/bin/pip" install --quiet "$2"
    PATH="$1/bin:$PATH"
  else
    log "no python3 venv support; installing with pip --user"
    python3 -m pip install --quiet --user "$2"
    PATH="${HOME:-/root}/.local/bin:$PATH"
  fi
  export PATH
}
