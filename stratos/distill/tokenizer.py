"""A word-level tokenizer for from-scratch students: one token per word, so one per tile.

Why: a 3M-parameter student learns far faster when each unit of the puzzle
(a Mahjong tile ``3m``) is one token rather than a few BPE pieces. Compact
notation (``123m456p``) is expanded to one word per tile by the chat template
itself, so a plain OpenAI chat request with the task's prompt is rendered
exactly as in training. The tokenizer is saved as a ``PreTrainedTokenizerFast``
with that chat template; transformers and vLLM load it like any other.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
PAD, UNK, END = "<pad>", "<unk>", "<|end|>"
SPECIAL = [PAD, UNK, END, *ROLE_TOKENS]

# Digits followed by a suit letter expand to one word per tile: "123m" -> " 1m  2m  3m ".
COMPACT = re.compile(r"^(?:\d+[a-z])+$")

_EXPAND = (
    "{%- set ns = namespace(d='', out='') -%}"
    "{%- for line in message['content'].split('\\n') if line not in boilerplate -%}"
    "{%- for ch in line + '\\n' -%}"
    "{%- if ch in '0123456789' -%}{%- set ns.d = ns.d + ch -%}"
    "{%- elif ch in 'mpsz' and ns.d -%}"
    "{%- for x in ns.d -%}{%- set ns.out = ns.out + ' ' + x + ch + ' ' -%}{%- endfor -%}{%- set ns.d = '' -%}"
    "{%- else -%}{%- set ns.out = ns.out + ns.d + ch -%}{%- set ns.d = '' -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endfor -%}"
    "{{- ns.out + ns.d -}}"
)
CHAT_TEMPLATE = (
    "{%- set boilerplate = BOILERPLATE -%}"
    "{%- for message in messages -%}"
    "{{- '<|' + message['role'] + '|> ' -}}" + _EXPAND + "{{- ' <|end|> ' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|> ' -}}{%- endif -%}"
)


def chat_template(boilerplate: Iterable[str] = ()) -> str:
    """The chat template, dropping ``boilerplate`` lines (instructions every prompt repeats).

    Why drop them: a line shared by every training prompt carries no
    information, yet on a word-level student it costs ~100 tokens of compute
    per example. Requests with the task's canonical prompt render exactly as in training.
    """
    import json

    return CHAT_TEMPLATE.replace("BOILERPLATE", json.dumps(sorted(set(boilerplate))))


def constant_lines(prompts: Sequence[str]) -> list[str]:
    """Lines that occur in every prompt (empty when there is at most one prompt)."""
    if len(prompts) < 2:
        return []
    common = set(prompts[0].split("\n"))
    for p in prompts[1:]:
        common &= set(p.split("\n"))
    return sorted(line for line in common if line.strip())


def expand_tiles(text: str) -> str:
    """What the chat template does to message content, in Python (for vocab building)."""
    out, digits = [], ""
    for ch in text:
        if ch in "0123456789":  # the template's test (str.isdigit also takes other scripts' digits)
            digits += ch
        elif ch in "mpsz" and digits:
            out.extend(f" {d}{ch} " for d in digits)
            digits = ""
        else:
            out.append(digits + ch)
            digits = ""
    return "".join(out) + digits


@functools.lru_cache(maxsize=8)
def fast_renderer(template: str | None) -> Callable[[Sequence[dict[str, str]], bool], str] | None:
    """A pure-Python twin of ``chat_template(...)`` when ``template`` is one, else None.

    Why: Jinja runs the template's character loop at ~3 ms per conversation, which
    is two minutes for a 50k-example training set; this renders the same string
    ~50x faster (``tests/unit/test_distill_data.py`` checks they agree).
    """
    if not template or not template.startswith(_HEAD):
        return None
    boiler_json = template[len(_HEAD) : template.index(" -%}")]
    if CHAT_TEMPLATE.replace("BOILERPLATE", boiler_json) != template:
        return None
    import json

    boilerplate = frozenset(json.loads(boiler_json))

    def render(messages: Sequence[dict[str, str]], add_generation_prompt: bool) -> str:
        out = [f"<|{m['role']}|> {_expand_lines(m['content'], boilerplate)} <|end|> " for m in messages]
        return "".join(out) + ("<|assistant|> " if add_generation_prompt else "")

    return render


_HEAD = "{%- set boilerplate = "


def _expand_lines(content: str, boilerplate: frozenset[str]) -> str:
    """The template's expansion: drop boilerplate lines, every line ends in a newline, one word per tile."""
    return expand_tiles("".join(line + "\n" for line in content.split("\n") if line not in boilerplate))


def build_word_tokenizer(
    texts: Iterable[str], extra_words: Iterable[str] = (), boilerplate: Iterable[str] = ()
) -> Any:
    """A ``PreTrainedTokenizerFast`` whose vocabulary is every word in ``texts`` (+ ``extra_words``).

    Words are runs of letters/digits or of punctuation (the ``Whitespace``
    pre-tokenizer); anything unseen maps to ``<unk>``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Whitespace()
    words: set[str] = set(extra_words)
    for t in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(expand_tiles(t)))
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
    fast.chat_template = chat_template(boilerplate)
    return fast


def tile_words() -> list[str]:
    """The 34 tile codes, always in the vocabulary (so every hand is representable)."""
    return [f"{r}{s}" for s in "mps" for r in range(1, 10)] + [f"{r}z" for r in range(1, 8)]
