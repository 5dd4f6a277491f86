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
STRATOS_ARTIFACT="$(pulumi stack output artifact --stack "$STACK" 2>/dev/null || true)" \
STRATOS_TOKEN="$(pulumi stack output token --show-secrets --stack "$STACK")" \
python - <<'PY'
"""Held-out Mahjong questions of every class through the openai client: the job's own test split
(reverse, single-suit, forward-ready and not-ready hands in the evaluation mix), 5 of each."""
import os
from collections import Counter
from pathlib import Path

from openai import OpenAI

from stratos.synth.dataset import read_jsonl
from stratos.tasks import get_task

task = get_task("mahjong")
artifact = Path(os.environ.get("STRATOS_ARTIFACT", "").removeprefix("file://"))
test_file = artifact.parent / "data" / "test.jsonl"
# the job's test split interleaves the classes, so its first 20 hold each class 5 times;
# without it (a remote artifact store), fresh hands of every class from another seed
pool = read_jsonl(test_file) if test_file.is_file() else task.make_splits(0, 0, 20, seed=20251129)["test"]
held_out = pool[:20]
client = OpenAI(base_url=os.environ["STRATOS_ENDPOINT"], api_key=os.environ["STRATOS_TOKEN"])
right, asked = Counter(), Counter()
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
    kind = task.class_of(ex)
    asked[kind] += 1
    right[kind] += ok
    said = task.format_answer(parsed) if parsed is not None else repr(text.strip()[:60])
    print(f"[{kind}] {ex.question}: model says {said} | truth {task.format_answer(ex.answer)} | {'ok' if ok else 'wrong'}")
print(f"{sum(right.values())}/{len(held_out)} held-out hands answered correctly through the openai client: "
      + ", ".join(f"{k} {right[k]}/{n}" for k, n in sorted(asked.items())))
PY
