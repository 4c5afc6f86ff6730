#!/usr/bin/env python3
"""PyTorch DDP (CPU, gloo) fine-tuning step on the configuration benchmarks/bench_train.sh uses, so
ringtune's figures have a reference measured on the same machine. Prints JSON (benchlib.document).

usage: bench_pytorch_ddp.py [--model 124m|small] [--ranks P] [--threads N] [--steps N]
                            [--modes LIST] [--precision fp32|bf16] [--autocast]

  124m:  12 layers, 768 embd, 12 heads, 1024 positions, vocab 50257, T=256, micro-batch 4 per rank
  small: 2 layers, 128 embd, 2 heads, 128 positions, vocab 50257, T=64, micro-batch 4 per rank
  --modes      comma-separated, run in this order: ddp, ddp_overlap_off, compute_only, single
               (default ddp,ddp_overlap_off,compute_only)
  --precision  fp32 (default) or bf16: forward and loss under torch.autocast("cpu",
               dtype=torch.bfloat16), backward outside it (as the autocast documentation
               prescribes); parameters, gradients and AdamW state stay fp32. --autocast = bf16.

Model: transformers' GPT2LMHeadModel from a GPT2Config (random init, seed 1, dropout 0, fp32, the
default attention implementation), labels = input ids (transformers shifts them), random token
ids. Optimizer: gradient-norm clipping at 1.0, then torch.optim.AdamW (lr 1e-4, betas 0.9/0.95,
eps 1e-8, weight decay 0.1, PyTorch's default implementation for CPU tensors).

The chosen modes run one after the other, each a fresh set of processes started by this script
(spawn; a free loopback port; no torchrun needed), rank r pinned to its own `threads` cores when
the machine has P x threads usable cores (like mpirun --bind-to core),
torch.set_num_threads(threads):

  ddp              P ranks, DistributedDataParallel with its defaults (25 MB buckets all-reduced
                   by gloo while backward runs). Its communication is not observable on its own:
                   ms_backward includes it, and the wait at the end of backward.
  ddp_overlap_off  P ranks, the same DDP module, forward and backward under no_sync(), then the
                   gradients all-reduced (gloo, averaged) in 25 MB buckets after backward, as DDP
                   would without overlap (DDP has no switch for that). This wait is ms_comm_wait.
  compute_only     1 process, no process group, no DDP: the same per-rank work (micro-batch 4).
  single           1 process with P x threads threads (all the cores the P ranks would use,
                   pinned to them), no process group, no DDP: the whole global batch (P x 4) in
                   one forward and backward. What a user without DDP would run on those cores.

Communication hidden by DDP (when ddp, ddp_overlap_off and compute_only all ran), with
bench_train.sh's formula:
  (s_step[ddp_overlap_off] - s_step[ddp]) / (s_step[ddp_overlap_off] - s_step[compute_only]).

Per step (rank 0's clock, steps back to back, no barrier; statistics over steps 2..N like
bench_train.sh): ms_forward (forward and loss), ms_backward, ms_comm_wait (ddp_overlap_off only),
ms_optimizer (clip + AdamW + zero_grad), s_step, tokens_per_s (all ranks' tokens), mfu: ringtune's
FLOPs per rank and step (rt_gpt2_flops_per_step in compute/gpt2.c; single: of its whole batch)
over the step time and over a peak measured in this run of the run's precision: the best of
repeats of a 2048^3 torch.mm of fp32 tensors (fp32) or of bf16 tensors (bf16) with the mode's
threads (`threads` on one rank's cores; single: P x threads on all of them), measured before and
after the runs so that a burst of other load on a shared machine during one of them does not
inflate the MFU (config holds both; each result its peak_gflops). s_each_step lists
every step: DDP's step 2 also rebuilds its buckets in the order the first backward produced the
gradients (a one-time cost the median drops from N = 4 on).

Without torch or transformers: one line on stderr, {"benchmark": "pytorch_ddp", "skipped": true,
"reason": ...} on stdout, exit status 0. Bad arguments: usage, exit status 2.
"""
import datetime
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

MODELS = {
    "124m": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024, T=256, B=4),
    "small": dict(n_layer=2, n_embd=128, n_head=2, n_positions=128, T=64, B=4),
}
VOCAB = 50257
BUCKET_MB = 25  # DDP's default bucket_cap_mb; the overlap-off all-reduce uses the same buckets
MODES = ("ddp", "ddp_overlap_off", "compute_only", "single")
DEFAULT_MODES = ("ddp", "ddp_overlap_off", "compute_only")
USAGE = ("usage: bench_pytorch_ddp.py [--model 124m|small] [--ranks P] [--threads N] [--steps N]\n"
         "                            [--modes ddp,ddp_overlap_off,compute_only,single]\n"
         "                            [--precision fp32|bf16] [--autocast]")


def parse_args(argv):
    opts = {"model": "124m", "ranks": 2, "threads": 1, "steps": 5, "modes": DEFAULT_MODES,
            "precision": "fp32"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(USAGE, file=sys.stderr)
            sys.exit(2)
        if a == "--autocast":
            opts["precision"] = "bf16"
            i += 1
            continue
        if (a not in ("--model", "--ranks", "--threads", "--steps", "--modes", "--precision")
                or i + 1 >= len(argv)):
            print(USAGE, file=sys.stderr)
            sys.exit(2)
        v = argv[i + 1]
        if a == "--modes":
            modes = [x for x in v.split(",") if x]
            if not modes or any(x not in MODES for x in modes) or len(set(modes)) < len(modes):
                print("bench_pytorch_ddp: --modes: a comma-separated list of distinct %s\n%s"
                      % (", ".join(MODES), USAGE), file=sys.stderr)
                sys.exit(2)
            opts["modes"] = tuple(modes)
        elif a == "--precision":
            if v not in ("fp32", "bf16"):
                print("bench_pytorch_ddp: --precision fp32 or bf16\n" + USAGE, file=sys.stderr)
                sys.exit(2)
            opts["precision"] = v
        elif a == "--model":
            if v not in MODELS:
                print("bench_pytorch_ddp: --model 124m or small\n" + USAGE, file=sys.stderr)
                sys.exit(2)
            opts["model"] = v
        else:
            try:
                n = int(v)
            except ValueError:
                n = 0
            lowest = 2 if a == "--steps" else 1
            if n < lowest:
                print("bench_pytorch_ddp: %s needs an integer >= %d\n%s" % (a, lowest, USAGE),
                      file=sys.stderr)
                sys.exit(2)
            opts[a[2:]] = n
        i += 2
    return opts


def flops_per_step(n_layer, n_embd, B, T, vocab=VOCAB):
    """rt_gpt2_flops_per_step (compute/gpt2.c), term for term."""
    C, F, V = float(n_embd), 4.0 * n_embd, float(vocab)
    matmul_params = n_layer * (C * 3 * C + C * C + 2 * C * F) + V * C
    attn = n_layer * 2.0 * 2.0 * T * C  # QK^T and PV per token, forward
    return float(B) * T * (6.0 * matmul_params + 3.0 * attn)


def cores_for(slot, threads, ranks):
    """The cores rank `slot` is pinned to, or None when there are not enough to go round."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(usable) < ranks * threads:
        return None
    return set(usable[slot * threads:(slot + 1) * threads])


def pin(cores):
    if cores is not None:
        try:
            os.sched_setaffinity(0, cores)
        except OSError:
            pass


def measure_peak(torch, dtype, reps=5, n=2048):
    """Best GFLOPS of an n^3 torch.mm of dtype tensors (the best, not the median: noise only
    lowers it)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    c = torch.empty(n, n, dtype=dtype)
    torch.mm(a, b, out=c)  # warm-up: thread pool, page faults, kernel choice
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = max(best, 2.0 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def peak_worker(rank, cores, threads, precision, out_path):
    pin(cores)
    import torch
    torch.set_num_threads(threads)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    with open(out_path, "w") as f:
        json.dump({"peak_gflops": measure_peak(torch, dtype)}, f)


def buckets(params, cap_bytes):
    """Parameters in reverse registration order (the order backward finishes them, as DDP's
    initial buckets), grouped into runs of about cap_bytes."""
    out, cur, size = [], [], 0
    for p in reversed(params):
        cur.append(p)
        size += p.numel() * p.element_size()
        if size >= cap_bytes:
            out.append(cur)
            cur, size = [], 0
    if cur:
        out.append(cur)
    return out


def train_worker(rank, cores, mode, ranks, opts, port, out_path):
    """One rank of one run: builds the model, runs opts["steps"] steps; rank 0 writes timings."""
    pin(cores)
    import torch
    import torch.distributed as dist
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    transformers.logging.set_verbosity_error()
    single = mode == "single"
    # single: one process on all the P ranks' cores, the whole global batch in one forward
    torch.set_num_threads(opts["threads"] * (opts["ranks"] if single else 1))
    m = MODELS[opts["model"]]
    B, T = m["B"] * (opts["ranks"] if single else 1), m["T"]
    distributed = mode in ("ddp", "ddp_overlap_off")
    if opts["precision"] == "bf16":
        def autocast():
            return torch.autocast("cpu", dtype=torch.bfloat16)
    else:
        def autocast():
            return torch.autocast("cpu", enabled=False)
    if distributed:
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                                world_size=ranks, timeout=datetime.timedelta(minutes=10))
    torch.manual_seed(1)
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=m["n_positions"], n_embd=m["n_embd"],
                     n_layer=m["n_layer"], n_head=m["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg)
    model.train()
    attn_impl = getattr(model.config, "_attn_implementation", None)
    params = [p for p in model.parameters() if p.requires_grad]
    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=BUCKET_MB)
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    groups = buckets(params, BUCKET_MB * 1024 * 1024)
    gen = torch.Generator().manual_seed(1000 + rank)
    rows = []
    for _ in range(opts["steps"]):
        ids = torch.randint(0, VOCAB, (B, T), generator=gen)
        t0 = time.perf_counter()
        if mode == "ddp_overlap_off":
            with net.no_sync():
                with autocast():
                    loss = net(input_ids=ids, labels=ids).loss
                t1 = time.perf_counter()
                loss.backward()
            t2 = time.perf_counter()
            for g in groups:
                flat = torch.cat([p.grad.reshape(-1) for p in g])
                dist.all_reduce(flat)
                flat.div_(ranks)
                off = 0
                for p in g:
                    n = p.numel()
                    p.grad.copy_(flat[off:off + n].view_as(p.grad))
                    off += n
            t3 = time.perf_counter()
        else:
            with autocast():
                loss = net(input_ids=ids, labels=ids).loss
            t1 = time.perf_counter()
            loss.backward()
            t2 = t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        rows.append({"forward": t1 - t0, "backward": t2 - t1, "comm": t3 - t2,
                     "optimizer": t4 - t3, "step": t4 - t0, "loss": float(loss.detach())})
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump({"rows": rows, "attn_implementation": attn_impl,
                       "parameters": sum(p.numel() for p in params)}, f)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, fn, cores, args):
    fn(rank, cores[rank], *args)


def run(fn, cores, args):
    """Runs fn(rank, cores[rank], *args) in len(cores) fresh processes; when one fails, stops the
    others (they would wait for it in a collective) and raises."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_entry, args=(r, fn, cores, args)) for r in range(len(cores))]
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        if any(p.exitcode not in (None, 0) for p in procs):
            for p in procs:
                if p.is_alive():
                    p.terminate()
        time.sleep(0.05)
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError("%s exited with status %s" % (fn.__name__, [p.exitcode for p in procs]))


def stats(values, digits):
    """benchlib.stats, rounded."""
    return {k: round(v, digits) if isinstance(v, float) else v
            for k, v in benchlib.stats(values).items()}


def summarize(mode, ranks, threads, batch, rows, tokens, flops, peak):
    """Statistics of each figure over steps 2..N."""
    r = rows[1:]
    res = {"mode": mode, "ranks": ranks, "threads_per_process": threads, "batch_per_process": batch,
           "s_step": stats([x["step"] for x in r], 4),
           "tokens_per_s": stats([tokens / x["step"] for x in r], 1),
           "ms_forward": stats([1e3 * x["forward"] for x in r], 1),
           "ms_backward": stats([1e3 * x["backward"] for x in r], 1)}
    if mode == "ddp_overlap_off":
        res["ms_comm_wait"] = stats([1e3 * x["comm"] for x in r], 1)
    res["ms_optimizer"] = stats([1e3 * x["optimizer"] for x in r], 1)
    res["mfu"] = stats([flops / x["step"] / 1e9 / peak for x in r], 4)
    res["peak_gflops"] = round(peak, 1)
    res["s_each_step"] = [round(x["step"], 4) for x in rows]  # step 1 included: the warm-up
    res["loss_first_step"] = round(rows[0]["loss"], 6)
    return res


def main(argv):
    opts = parse_args(argv)
    try:
        import torch
        import torch.distributed as dist
        import transformers
        if not dist.is_available() or not dist.is_gloo_available():
            raise ImportError("torch.distributed with gloo is not available")
    except Exception as e:  # ImportError, or a broken install failing in its own way
        reason = "%s: %s" % (type(e).__name__, e)
        print("bench_pytorch_ddp: PyTorch not installed (%s); skipped" % reason, file=sys.stderr)
        json.dump({"benchmark": "pytorch_ddp", "skipped": True, "reason": reason}, sys.stdout)
        print()
        return 0

    m = MODELS[opts["model"]]
    P, thr, B, T = opts["ranks"], opts["threads"], m["B"], m["T"]
    precision, modes = opts["precision"], opts["modes"]
    flops = flops_per_step(m["n_layer"], m["n_embd"], B, T)
    multi = [cores_for(r, thr, P) for r in range(P)]
    one = [cores_for(0, thr, 1)]
    # single: one process on the cores all P ranks would have (None: not enough to pin)
    every = [None if any(c is None for c in multi) else set().union(*multi)]
    layout = {"ddp": multi, "ddp_overlap_off": multi, "compute_only": one, "single": every}
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # one machine: loopback, not the hostname
    results, info = {}, {}
    # the peaks the chosen modes are measured against: `threads` threads on one rank's cores
    # (ddp, ddp_overlap_off, compute_only: per rank), P x threads on all of them (single)
    needs = sorted({"single" if mode == "single" else "rank" for mode in modes})
    peak_layout = {"rank": (one, thr), "single": (every, thr * P)}
    with tempfile.TemporaryDirectory(prefix="rt_bench_pytorch.") as tmp:
        # each peak with nothing else running, before and after the runs
        peaks = {k: [] for k in needs}

        def measure():
            for k in needs:
                path = os.path.join(tmp, "peak.json")
                cores, n = peak_layout[k]
                run(peak_worker, cores, (n, precision, path))
                with open(path) as f:
                    peaks[k].append(json.load(f)["peak_gflops"])

        measure()
        for mode in modes:
            cores = layout[mode]
            path = os.path.join(tmp, mode + ".json")
            run(train_worker, cores, (mode, len(cores), opts, free_port(), path))
            with open(path) as f:
                info[mode] = json.load(f)
        measure()
    peak = {k: max(v) for k, v in peaks.items()}
    for mode in modes:
        if mode == "single":
            results[mode] = summarize(mode, 1, thr * P, B * P, info[mode]["rows"], B * T * P,
                                      flops * P, peak["single"])
        else:
            n = len(layout[mode])
            results[mode] = summarize(mode, n, thr, B, info[mode]["rows"], B * T * n, flops,
                                      peak["rank"])

    hidden = None
    if all(x in results for x in ("ddp", "ddp_overlap_off", "compute_only")):
        on = results["ddp"]["s_step"]["median"]
        off = results["ddp_overlap_off"]["s_step"]["median"]
        comp = results["compute_only"]["s_step"]["median"]
        comm = off - comp
        hidden = round((off - on) / comm, 3) if comm > 0 else None
    first = results[modes[0]]
    dtype = "bf16" if precision == "bf16" else "fp32"
    peak_words = {"rank": "%s torch.mm 2048^3 with %d thread(s) on one rank's cores" % (dtype, thr),
                  "single": "%s torch.mm 2048^3 with %d threads on all %d ranks' cores"
                            % (dtype, thr * P, P)}
    config = {"model": opts["model"], "ranks": P, "threads_per_rank": thr, "micro_batch": B,
              "seq_len": T, "steps": opts["steps"], "statistic": "median over steps 2..N",
              "modes": list(modes), "precision": precision,
              "autocast": ("forward and loss under torch.autocast('cpu', dtype=torch.bfloat16), "
                           "backward outside it; fp32 parameters, gradients and AdamW state"
                           if precision == "bf16" else None),
              "n_layer": m["n_layer"], "n_embd": m["n_embd"], "n_head": m["n_head"],
              "n_positions": m["n_positions"], "vocab_size": VOCAB,
              "parameters": info[modes[0]]["parameters"],
              "attn_implementation": info[modes[0]]["attn_implementation"],
              "backend": "gloo", "bucket_cap_mb": BUCKET_MB,
              "pinned": all(c is not None for mode in modes for c in layout[mode]),
              "flops_per_rank_step": flops, "peak_gflops": first["peak_gflops"],
              "peak_gflops_before_after": {k: [round(x, 1) for x in v] for k, v in peaks.items()},
              "mfu_peak": {k: peak_words[k] for k in needs},
              "overlap_off": "DDP no_sync() for forward+backward, then gloo all-reduce of the "
                             "gradients in %d MB buckets" % BUCKET_MB,
              "single": "1 process, %d threads on the %d ranks' cores, batch %d (P x micro-batch) "
                        "in one forward, no DDP" % (thr * P, P, B * P)}
    doc = benchlib.document(
        "pytorch_ddp", config, [results[mode] for mode in modes],
        tokens_per_s=round(first["tokens_per_s"]["median"], 1),
        mfu=round(first["mfu"]["median"], 3),
        communication_hidden_fraction=hidden,
        peak_gflops=first["peak_gflops"], precision=precision, modes=list(modes))
    doc["versions"]["torch"] = torch.__version__
    doc["versions"]["transformers"] = transformers.__version__
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
