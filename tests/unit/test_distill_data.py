"""Student data: the one-token-per-unit tokenizer (Mahjong tiles), completion-only labels, and exact packing."""

from __future__ import annotations

import torch

from stratos.distill.packing import IGNORE, encode_pair, encode_pairs, model_inputs, pack
from stratos.distill.training_data import scratch_tokenizer
from stratos.tasks.base import get_task

TASK = get_task("mahjong")
EX = TASK.generate(30, seed=2)


def _tok():
    prompts = [TASK.prompt(e.question) for e in EX]
    targets = [TASK.rationale(e.question, e.answer) for e in EX]
    return scratch_tokenizer(TASK, EX, list(zip(prompts, targets, strict=True))), prompts, targets


def test_one_token_per_tile_and_boilerplate_dropped(tmp_path):
    from transformers import AutoTokenizer

    tok, prompts, targets = _tok()
    tok.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)  # what a user / vLLM loads
    hand = EX[0].question
    rendered = tok.apply_chat_template([{"role": "user", "content": prompts[0]}], tokenize=False, add_generation_prompt=True)
    ids = tok(rendered, add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    tiles = [p for p in pieces if p in set(TASK.vocabulary())]
    assert len(tiles) == 13  # one token per tile, none from the instructions
    assert "Riichi" not in pieces and "<unk>" not in pieces
    assert len(ids) < 25
    assert tiles == TASK.compact_units.expand(hand).split()
    assert TASK.parse_answer(tok.decode(tok(targets[0])["input_ids"])) == EX[0].answer


def test_completion_only_labels():
    tok, prompts, targets = _tok()
    enc = encode_pair(tok, prompts[0], targets[0])
    n_prompt = enc.labels.count(IGNORE)
    assert 0 < n_prompt < len(enc.input_ids)
    assert enc.labels[n_prompt:] == enc.input_ids[n_prompt:]
    assert enc.input_ids[-1] == tok.eos_token_id  # the model learns to stop
    assert tok.decode(enc.input_ids[n_prompt:], skip_special_tokens=True).split() == tok.decode(
        tok(targets[0])["input_ids"]
    ).split()


def test_a_batch_encodes_each_pair_as_it_would_alone():
    """The job tokenizes its whole training set in one call: no padding, truncation or cross-talk."""
    tok, prompts, targets = _tok()
    pairs = list(zip(prompts, targets, strict=True)) + [("", ""), ("x" * 300, "y")]
    assert encode_pairs(tok, pairs) == [encode_pair(tok, p, t) for p, t in pairs]
    assert len({len(e.input_ids) for e in encode_pairs(tok, pairs)}) > 1 and encode_pairs(tok, []) == []


def test_packed_batch_computes_the_same_logits_as_separate_examples():
    from transformers import LlamaConfig, LlamaForCausalLM

    tok, prompts, targets = _tok()
    encs = [encode_pair(tok, p, t) for p, t in zip(prompts[:4], targets[:4], strict=True)]
    blocks = pack(encs, 400, tok.pad_token_id)
    assert len(blocks) < 4  # several examples share a block
    assert blocks.n_tokens == sum(len(e.input_ids) for e in encs)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    packed = model(**model_inputs(blocks.input_ids[:1], blocks.position_ids[:1])).logits[0]
    starts = (blocks.position_ids[0] == 0).nonzero().flatten().tolist()
    ends = starts[1:] + [int((blocks.position_ids[0] >= 0).sum())]
    assert len(starts) >= 2
    whole = {tuple(e.input_ids) for e in encs}
    for a, b in zip(starts, ends, strict=True):
        ids = blocks.input_ids[0, a:b]
        assert tuple(ids.tolist()) in whole  # each example is intact in its block
        alone = model(ids[None]).logits[0]
        assert torch.allclose(packed[a:b], alone, atol=1e-4)


def test_fast_renderer_matches_the_jinja_chat_template():
    from stratos.distill.tokenizer import build_word_tokenizer, constant_lines, fast_renderer
    from stratos.tasks import get_task

    task = get_task("mahjong")
    items = task.generate(60, seed=3) + task.generate(20, seed=3, chinitsu=True)
    prompts = [task.prompt(e.question) for e in items]
    targets = [task.rationale(e.question, e.answer) for e in items]
    for units in (task.compact_units, None):  # Mahjong's notation, and none (a task without one)
        tok = build_word_tokenizer(prompts + targets, boilerplate=constant_lines(prompts), units=units)
        _renders_like_jinja(tok, prompts, targets)
    assert fast_renderer("{{ messages }}") is None


def _renders_like_jinja(tok, prompts, targets):
    from stratos.distill.tokenizer import fast_renderer

    render = fast_renderer(tok.chat_template)
    assert render is not None
    for p, t in zip(prompts, targets, strict=True):
        user = [{"role": "user", "content": p}]
        convo = user + [{"role": "assistant", "content": t + "\nx12y 3"}]
        assert render(user, True) == tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        assert render(convo, False) == tok.apply_chat_template(convo, tokenize=False)


def test_decision_weights_land_on_the_token_after_each_marker():
    from stratos.distill.losses import decision_weights
    from stratos.distill.training_data import marker_token_ids

    tok, prompts, targets = _tok()
    enc = [encode_pair(tok, p, t) for p, t in zip(prompts, targets, strict=True)]
    blocks = pack(enc, 256, tok.pad_token_id)
    markers = marker_token_ids(tok, TASK.decision_marker)
    assert markers == [tok.convert_tokens_to_ids(":")]
    w = decision_weights(blocks.input_ids, blocks.labels, markers, 4.0)
    heavy = (w == 4.0).nonzero().tolist()
    assert len(heavy) == sum(t.count(":") for t in targets)  # one per suit / try line, and "Answer:"
    for b, i in heavy:
        assert tok.convert_ids_to_tokens(int(blocks.input_ids[b, i - 1])) == ":"
        assert blocks.labels[b, i] != IGNORE
    assert bool((w[blocks.labels == IGNORE] == 1.0).all())
    assert bool((decision_weights(blocks.input_ids, blocks.labels, markers, 1.0) == 1.0).all())


def test_marker_ids_found_in_a_byte_level_bpe_vocabulary():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from stratos.distill.training_data import marker_token_ids

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    from tokenizers import decoders

    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        [TASK.rationale(e.question, e.answer) for e in EX], trainers.BpeTrainer(vocab_size=300, show_progress=False)
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=raw)
    ids = marker_token_ids(tok, ":")
    assert ids and all(tok.convert_tokens_to_string([tok.convert_ids_to_tokens(i)]).strip() == ":" for i in ids)
    line = tok("try 5p : x")["input_ids"]
    assert any(i in ids for i in line)  # the marker as it appears mid-line (" :") is among them
    assert marker_token_ids(tok, None) == []
