"""A word-level tokenizer for from-scratch students: one token per word, so one per unit of the task.

Why: a 3M-parameter student learns far faster when each unit of a question (a
Mahjong tile ``3m``) is one token rather than a few BPE pieces. A task whose
questions use a compact notation declares it (``Task.compact_units``: ``123m`` is
three units) and the chat template itself expands it to one word per unit, so a
plain OpenAI chat request with the task's prompt is rendered exactly as in
training. The tokenizer is saved as a ``PreTrainedTokenizerFast`` with that chat
template; transformers and vLLM load it like any other.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stratos.tasks.base import CompactUnits

ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
PAD, UNK, END = "<pad>", "<unk>", "<|end|>"
SPECIAL = [PAD, UNK, END, *ROLE_TOKENS]
#: No compact notation: digits and letters stay as written.
PLAIN = CompactUnits(suffixes="")

# A run of unit digits followed by a unit suffix expands to one word per unit: "123m" -> " 1m  2m  3m ".
_EXPAND = (
    "{%- set ns = namespace(d='', out='') -%}"
    "{%- for line in message['content'].split('\\n') if line not in boilerplate -%}"
    "{%- for ch in line + '\\n' -%}"
    "{%- if ch in unit_digits -%}{%- set ns.d = ns.d + ch -%}"
    "{%- elif ch in unit_suffixes and ns.d -%}"
    "{%- for x in ns.d -%}{%- set ns.out = ns.out + ' ' + x + ch + ' ' -%}{%- endfor -%}{%- set ns.d = '' -%}"
    "{%- else -%}{%- set ns.out = ns.out + ns.d + ch -%}{%- set ns.d = '' -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endfor -%}"
    "{{- ns.out + ns.d -}}"
)
_BODY = (
    "{%- for message in messages -%}"
    "{{- '<|' + message['role'] + '|> ' -}}" + _EXPAND + "{{- ' <|end|> ' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|> ' -}}{%- endif -%}"
)
# The template's head: the three values a task and its prompts fill in (each a JSON literal).
_HEAD = "{{%- set boilerplate = {} -%}}{{%- set unit_digits = {} -%}}{{%- set unit_suffixes = {} -%}}"
_HEAD_RE = re.compile(
    r'^\{%- set boilerplate = (.*?) -%\}\{%- set unit_digits = ("[^"]*") -%\}\{%- set unit_suffixes = ("[^"]*") -%\}'
)


def chat_template(boilerplate: Iterable[str] = (), units: CompactUnits | None = None) -> str:
    """The chat template, dropping ``boilerplate`` lines (instructions every prompt repeats).

    Why drop them: a line shared by every training prompt carries no
    information, yet on a word-level student it costs ~100 tokens of compute
    per example. Requests with the task's canonical prompt render exactly as in training.
    """
    u = units or PLAIN
    head = _HEAD.format(json.dumps(sorted(set(boilerplate))), json.dumps(u.digits), json.dumps(u.suffixes))
    return head + _BODY


def constant_lines(prompts: Sequence[str]) -> list[str]:
    """Lines that occur in every prompt (empty when there is at most one prompt)."""
    if len(prompts) < 2:
        return []
    common = set(prompts[0].split("\n"))
    for p in prompts[1:]:
        common &= set(p.split("\n"))
    return sorted(line for line in common if line.strip())


@functools.lru_cache(maxsize=8)
def fast_renderer(template: str | None) -> Callable[[Sequence[dict[str, str]], bool], str] | None:
    """A pure-Python twin of ``chat_template(...)`` when ``template`` is one, else None.

    Why: Jinja runs the template's character loop at ~3 ms per conversation, which
    is two minutes for a 50k-example training set; this renders the same string
    ~50x faster (``tests/unit/test_distill_data.py`` checks they agree).
    """
    m = _HEAD_RE.match(template or "")
    if m is None:
        return None
    try:
        boilerplate = frozenset(json.loads(m.group(1)))
        units = CompactUnits(digits=json.loads(m.group(2)), suffixes=json.loads(m.group(3)))
    except (ValueError, TypeError):
        return None
    if chat_template(boilerplate, units) != template:
        return None

    def render(messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
        out = [f"<|{m['role']}|> {_expand_lines(m['content'], boilerplate, units)} <|end|> " for m in messages]
        return "".join(out) + ("<|assistant|> " if add_generation_prompt else "")

    return render


def _expand_lines(content: str, boilerplate: frozenset[str], units: CompactUnits) -> str:
    """The template's expansion: drop boilerplate lines, every line ends in a newline, one word per unit."""
    return units.expand("".join(line + "\n" for line in content.split("\n") if line not in boilerplate))


def build_word_tokenizer(
    texts: Iterable[str],
    extra_words: Iterable[str] = (),
    boilerplate: Iterable[str] = (),
    units: CompactUnits | None = None,
) -> Any:
    """A ``PreTrainedTokenizerFast`` whose vocabulary is every word in ``texts`` (+ ``extra_words``).

    Words are runs of letters/digits or of punctuation (the ``Whitespace``
    pre-tokenizer) after ``units`` expansion; anything unseen maps to ``<unk>``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Whitespace()
    # No word spans a space or a newline, so each distinct space-free chunk is pre-tokenized once
    # (per text, the Rust call cost the default job's 100k texts ~6 s of its ~8).
    chunks: set[str] = set()
    for t in texts:
        chunks.update((units or PLAIN).expand(t).replace("\n", " ").split(" "))
    words = set(extra_words) | {w for c in chunks for w, _ in pre.pre_tokenize_str(c)}
    vocab = {tok: i for i, tok in enumerate(SPECIAL)}
    for w in sorted(words):
        if w not in vocab:
            vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        unk_token=UNK,
        eos_token=END,
        additional_special_tokens=ROLE_TOKENS,
        model_max_length=1024,
    )
    fast.chat_template = chat_template(boilerplate, units)
    return fast
