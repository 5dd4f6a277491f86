"""One strategy for the planner and the job: the decision table, the planner's memory figure,
and 2-process training (gloo, CPU) equal to 1 process under DDP and FSDP2."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
from helpers.configs import job_config

from stratos.catalog.gpus import gpu_spec
from stratos.distill.parallel import Strategy, plan_parallelism, shard_units, training_state_gb
from stratos.planner import estimators as est
from stratos.planner.hardware import Hardware

# (model, params, lora, kd teacher params, GPU, GB per GPU, GPUs) -> the strategy the job must run
CASES = [
    ("scratch-3m on 1 L4", 3e6, False, 0.0, "L4", 24, 1, "single"),
    ("SmolLM2-1.7B full on 8 H100", 1.7e9, False, 0.0, "H100", 80, 8, "ddp"),
    ("SmolLM2-1.7B full on 4 L4", 1.7e9, False, 0.0, "L4", 24, 4, "fsdp"),
    ("Qwen2.5-7B full on 8 A100-80GB", 7.6e9, False, 0.0, "A100-80GB", 80, 8, "fsdp"),
    ("Qwen2.5-7B LoRA on 2 A100-80GB", 7.6e9, True, 0.0, "A100-80GB", 80, 2, "ddp"),
    ("Qwen2.5-7B LoRA + 7B KD teacher on 4 L4", 7.6e9, True, 7.6e9, "L4", 24, 4, "fsdp"),
    ("Llama-70B LoRA on 8 H100", 70e9, True, 0.0, "H100", 80, 8, "fsdp"),
]


@pytest.mark.parametrize(("name", "params", "lora", "kd", "gpu", "mem", "n", "kind"), CASES, ids=[c[0] for c in CASES])
def test_the_strategy_table_agrees_with_the_planners_memory_estimate(name, params, lora, kd, gpu, mem, n, kind):
    spec = gpu_spec(gpu)
    assert spec.memory_gb == mem  # the table's memory is the catalog's
    s = plan_parallelism(params, lora, kd, mem, n)
    assert s.kind == kind
    hw = Hardware(gpu, n, spec.memory_gb, spec.bf16_tflops, spec.bandwidth_gbps, True)
    # the planner's figure for this offering is the strategy's, and "fits" means the same to both
    assert est.train_memory_gb(params, lora, n, kd, gpu_mem_gb=mem) == pytest.approx(s.mem_gb_per_device)
    assert bool(est.fits(est.train_memory_gb(params, lora, n, kd), hw)) == bool(est.fits(s.mem_gb_per_device, hw))
    state = training_state_gb(params, lora, kd)
    expect = state / n if kind == "fsdp" else state
    assert s.mem_gb_per_device == pytest.approx(expect + est.RUNTIME_RESERVE_GB)


def test_the_strategy_is_vectorised_over_offerings_like_the_planner():
    s = plan_parallelism(1.7e9, False, 0.0, np.array([80.0, 24.0, 80.0]), np.array([8, 4, 1]))
    assert list(s.kind) == ["ddp", "fsdp", "single"]
    one = [plan_parallelism(1.7e9, False, 0.0, m, d).mem_gb_per_device for m, d in ((80, 8), (24, 4), (80, 1))]
    assert s.mem_gb_per_device == pytest.approx(one)


def test_fsdp_shards_the_decoder_layers_the_model_declares():
    model = _tiny_model(layers=2)
    assert [type(m).__name__ for m in shard_units(model)] == ["LlamaDecoderLayer"] * 2


def _tiny_model(layers: int = 1, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=layers, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=16, attn_implementation="eager",
    ))


def _blocks():
    from stratos.distill.packing import Blocks

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 16, (8, 8), generator=g)
    return Blocks(ids, ids.clone(), torch.arange(8).repeat(8, 1))


def _train(kind: str, world: int, ckpt: str, init_seed: int = 0, lora: bool = False):
    import stratos.distill.train as T

    cfg = job_config(max_steps=4, epochs=100, eval_every=2, ckpt_every=2, patience=0, warmup_steps=0, lr=1e-2,
                     batch_blocks=4, micro_blocks=1, seq_len=16, threads=1, precision="fp32", compile=False,
                     device="cpu")
    model = _tiny_model(layers=2, seed=init_seed)
    if lora:  # a frozen base with trainable adapters: FSDP shards both, checkpoints hold the adapters only
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM", init_lora_weights="gaussian"))
    r = T.train(model, _blocks(), _blocks(), cfg, ckpt, strategy=Strategy(kind, world, 0.0))
    trained = r.model if r.model is not None else model
    return [h["loss"] for h in r.history], {k: v.detach().clone() for k, v in trained.state_dict().items()}


def _worker(rank: int, world: int, port: int, kind: str, lora: bool, ckpt: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch.distributed as dist

    losses, weights = _train(kind, world, ckpt, lora=lora)
    dist.barrier()
    # resume from the middle: drop the final checkpoint, train again from step 2's (gathered) state
    if rank == 0:
        import shutil
        from pathlib import Path

        shutil.rmtree(max(Path(ckpt).glob("step-*")))
    dist.barrier()
    _, resumed = _train(kind, world, ckpt, init_seed=99 if not lora else 0, lora=lora)  # other initial weights: only a resume matches
    if rank == 0:
        torch.save({"losses": losses, "weights": weights, "resumed": resumed}, out)
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "lora"), [("ddp", False), ("fsdp", False), ("fsdp", True)],
                         ids=["ddp", "fsdp", "fsdp-lora"])
def test_two_processes_train_the_same_model_as_one(tmp_path, kind, lora, monkeypatch):
    """The global batch split over 2 gloo ranks gives 1 process's losses and weights (DDP, and
    FSDP2 ``fully_shard``, which torch runs on CPU/gloo); the sharded run hands rank 0 a plain model,
    and a run resumed from a mid-run checkpoint ends with the same weights."""
    import torch.multiprocessing as mp

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    losses, weights = _train("single", 1, str(tmp_path / "one"), lora=lora)
    out = tmp_path / "two.pt"
    mp.spawn(_worker, args=(2, _free_port(), kind, lora, str(tmp_path / "two"), str(out)), nprocs=2, join=True)
    two = torch.load(out, weights_only=True)
    assert two["losses"] == pytest.approx(losses, rel=1e-4)
    assert two["weights"].keys() == weights.keys()
    for k, v in weights.items():
        assert torch.allclose(two["weights"][k], v, atol=1e-5), k
        assert torch.allclose(two["resumed"][k], two["weights"][k], atol=1e-6), k
    # rank 0's checkpoint holds the whole model (gathered from the shards under FSDP), resumable alone
    from stratos.distill.checkpoint import load_latest

    saved = load_latest(tmp_path / "two")["model"]
    assert saved and all(k in two["weights"] and torch.equal(v, two["weights"][k]) for k, v in saved.items())
    assert lora == all("lora_" in k for k in saved)  # a LoRA checkpoint holds the adapter only
