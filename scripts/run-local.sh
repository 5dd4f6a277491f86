#!/usr/bin/env bash
# The README's main command: the `local` stack end to end on this machine.
#   plan (pulumi preview's numbers) -> synthesise, distil, evaluate -> serve,
# then print the endpoint and the accuracy and ask it one Mahjong question.
# Safe to re-run: a second run changes nothing; after an interrupted run it
# clears the dead lock / pending operation and the job resumes from its checkpoint.
# Extra arguments go to `pulumi up` (e.g. --diff).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" offline
bash "$STRATOS_ROOT/scripts/setup.sh"
cd "$STRATOS_ROOT"

STACK="${STRATOS_STACK:-local}"
if [[ "$PULUMI_BACKEND_URL" == file://* ]]; then
  mkdir -p "${PULUMI_BACKEND_URL#file://}"
fi
pulumi stack select "$STACK" --create --secrets-provider passphrase >/dev/null
python -m infra.recover --stack "$STACK"

start=$(date +%s)
pulumi up --yes --stack "$STACK" "$@"
echo "[run-local] pulumi up took $(( $(date +%s) - start )) s"

endpoint="$(pulumi stack output endpoint --stack "$STACK")"
accuracy="$(pulumi stack output accuracy --stack "$STACK")"
model="$(pulumi stack output modelName --stack "$STACK")"
echo
echo "endpoint:  $endpoint   (model $model; token: pulumi stack output token --show-secrets)"
echo "accuracy:  $accuracy   (exact-match on held-out hands)"
echo "cost:      $(pulumi stack output estimatedCost --stack "$STACK" --json | python -c 'import json,sys; c=json.load(sys.stdin); print(format(c["total_usd"], ".2f"), c["currency"], "estimated")')"
echo

STRATOS_ENDPOINT="$endpoint" STRATOS_MODEL="$model" \
STRATOS_TOKEN="$(pulumi stack output token --show-secrets --stack "$STACK")" \
python - <<'PY'
"""Held-out Mahjong questions through the openai client (hands from the test split only)."""
import os

from openai import OpenAI

from stratos.tasks import get_task
from stratos.tasks.mahjong.splits import split_of

task = get_task("mahjong")
held_out = [e for e in task.generate(200, seed=20251129) if split_of(e.question) == "test"][:20]
client = OpenAI(base_url=os.environ["STRATOS_ENDPOINT"], api_key=os.environ["STRATOS_TOKEN"])
correct = 0
for ex in held_out:
    reply = client.chat.completions.create(
        model=os.environ["STRATOS_MODEL"],
        messages=[{"role": "user", "content": task.prompt(ex.question)}],
        max_tokens=400,  # the student writes its short rationale before the answer
        temperature=0,
    )
    text = reply.choices[0].message.content or ""
    parsed = task.parse_answer(text)
    ok = parsed is not None and task.check(ex.question, parsed)
    correct += ok
    said = task.format_answer(parsed) if parsed is not None else repr(text.strip()[:60])
    print(f"{ex.question}: model says {said} | truth {task.format_answer(ex.answer)} | {'ok' if ok else 'wrong'}")
print(f"{correct}/{len(held_out)} held-out hands answered correctly through the openai client")
PY
