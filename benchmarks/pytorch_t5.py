#!/usr/bin/env python3
"""PyTorch baseline for benchmarks/bench_t5_step.c: one T5 training step of transformers'
T5ForConditionalGeneration on CPU, fp32 and bf16 autocast, with the same shapes, batch, lengths,
dropout, optimizer and cores, timed in the same phases. Prints JSON (benchlib.document),
"benchmark": "pytorch_t5".

usage: pytorch_t5.py [--quick] [--model small|tiny] [--gated] [--batch B] [--src-len Ts]
                     [--tgt-len Tt] [--threads N] [--steps N] [--warmup N] [--dropout P]
                     [--precision fp32|bf16|both]

  small: t5-small (d_model 512, d_kv 64, 8 heads, d_ff 2048, 6 + 6 blocks, vocab 32128, relu,
         head tied to shared.weight with the d_model^-0.5 rescale); --gated: v1.1 / flan-t5-small's
         shapes (d_ff 1024, 6 heads, 8 + 8 blocks, gated-gelu, untied lm_head, no rescale; the
         untied head is made by hand: transformers 5's T5Config always ties)
  tiny:  2 + 2 blocks of 64 (4 heads of 16, d_ff 256, or 128 gated; vocab 1024): smoke runs
  --quick: --model tiny --batch 2 --src-len 32 --tgt-len 16 --steps 2 --warmup 1 (explicit flags
           win); seconds
  defaults: --model small --batch 4 --src-len 256 --tgt-len 64 --threads 1 --steps 5 --warmup 2
            --dropout 0.1 --precision both

Model: T5ForConditionalGeneration(T5Config(...)) (random init, HF's _init_weights, seed 1),
attn_implementation "eager", dropout_rate as --dropout at every site (as ringtune's T5), model in
train mode, fp32 parameters. Inputs: random ids in [2, V) for the source (B, Ts) and the labels
(B, Tt), no padding, no attention mask; the model shifts the labels right after
decoder_start_token_id 0 itself (ringtune's benchmark passes the same decoder inputs).

Precisions: fp32, and bf16 = forward (and loss) under torch.autocast("cpu", torch.bfloat16),
backward outside it, as the autocast documentation prescribes; parameters and AdamW state fp32.

Phases per step (time.perf_counter): forward = model(input_ids, labels).loss; backward =
loss.backward(); optimizer = clip_grad_norm_(1.0), torch.optim.AdamW (lr 1e-4, betas 0.9/0.95,
eps 1e-8, weight decay 0.1 on the matrices, 0 on the layer norms: ringtune's decay flags),
zero_grad. `warmup` untimed steps, then `steps` timed ones, in this one process pinned to
`threads` cores when the machine has that many usable (like mpirun --bind-to core),
torch.set_num_threads(threads). tokens_per_s = B * (Ts + Tt) / step seconds (source + target);
target_tokens_per_s = B * Tt / step seconds.

FLOPs: bench_t5_step.c's closed form (rt_model_flops_done of a fully trained T5): every matrix
product of the forward (linears over the tokens of their side, the cross-attention's k and v over
the source, attention over full Tq x Tk, the LM head's logits) times 3. mfu = FLOPs / step time /
the peak of a 2048^3 torch.mm of the same dtype (fp32, or bf16) on these cores, the best of
repeats measured before and after the runs; a step above 1 is refused (mfu null, a message,
exit status 1). Statistics (benchlib.stats) over the timed steps; loss_first_step (before any
update, warm-up included) and loss_last_step as bench_t5_step.c reports them.

Without torch or transformers: one line on stderr, {"benchmark": "pytorch_t5", "skipped": true,
"reason": ...} on stdout, exit status 0. Bad arguments: usage, exit status 2.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

USAGE = ("usage: pytorch_t5.py [--quick] [--model small|tiny] [--gated] [--batch B] "
         "[--src-len Ts]\n"
         "                     [--tgt-len Tt] [--threads N] [--steps N] [--warmup N] "
         "[--dropout P]\n"
         "                     [--precision fp32|bf16|both]")
CHOICES = {"--model": ("small", "tiny"), "--precision": ("fp32", "bf16", "both")}
LOWEST = {"--batch": 1, "--src-len": 1, "--tgt-len": 1, "--threads": 1, "--steps": 1,
          "--warmup": 0}
QUICK = {"model": "tiny", "batch": 2, "src_len": 32, "tgt_len": 16, "steps": 2, "warmup": 1}
PEAK_REPS = 5


def usage(msg=None):
    print(("pytorch_t5: %s\n" % msg if msg else "") + USAGE, file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    opts = {"model": "small", "gated": False, "batch": 4, "src_len": 256, "tgt_len": 64,
            "threads": 1, "steps": 5, "warmup": 2, "dropout": 0.1, "precision": "both"}
    given, quick, i = {}, False, 0
    while i < len(argv):
        a = argv[i]
        if a in ("--quick", "--gated"):
            if a == "--quick":
                quick = True
            else:
                given["gated"] = True
            i += 1
            continue
        if (a not in CHOICES and a not in LOWEST and a != "--dropout") or i + 1 >= len(argv):
            usage()
        v = argv[i + 1]
        key = a[2:].replace("-", "_")
        if a in CHOICES:
            if v not in CHOICES[a]:
                usage("%s: one of %s" % (a, ", ".join(CHOICES[a])))
            given[key] = v
        elif a == "--dropout":
            try:
                p = float(v)
            except ValueError:
                p = -1.0
            if not 0.0 <= p < 1.0:
                usage("--dropout needs a rate in [0, 1)")
            given[key] = p
        else:
            try:
                n = int(v)
            except ValueError:
                n = -1
            if n < LOWEST[a]:
                usage("%s needs an integer >= %d" % (a, LOWEST[a]))
            given[key] = n
        i += 2
    if quick:
        opts.update(QUICK)
    opts.update(given)  # explicit flags win over --quick
    opts["quick"] = quick
    return opts


def shapes(tiny, gated):
    """bench_t5_step.c's shapes()."""
    s = dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6,
             num_decoder_layers=6, num_heads=8, relative_attention_num_buckets=32,
             relative_attention_max_distance=128, feed_forward_proj="relu",
             tie_word_embeddings=True)
    if gated:
        s.update(d_ff=1024, num_heads=6, num_layers=8, num_decoder_layers=8,
                 feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    if tiny:
        s.update(vocab_size=1024, d_model=64, d_kv=16, num_heads=4, d_ff=128 if gated else 256,
                 num_layers=2, num_decoder_layers=2)
    return s


def model_name(opts):
    if opts["model"] == "tiny":
        return "tiny-gated" if opts["gated"] else "tiny"
    return "t5-v1_1-small-shapes" if opts["gated"] else "t5-small"


def flops_per_step(s, B, Ts, Tt):
    """bench_t5_step.c's flops_closed_form (= rt_model_flops_done with every tensor trained)."""
    d, inner, F, V = s["d_model"], s["num_heads"] * s["d_kv"], s["d_ff"], s["vocab_size"]
    Ns, Nt, NH, dk = float(B) * Ts, float(B) * Tt, s["num_heads"], s["d_kv"]
    ff = (2.0 if s["feed_forward_proj"] == "gated-gelu" else 1.0) * d * F + F * d
    enc = 2.0 * Ns * (4.0 * d * inner + ff) + 4.0 * B * NH * Ts * Ts * dk
    dec = (2.0 * Nt * (6.0 * d * inner + ff) + 2.0 * Ns * 2.0 * d * inner
           + 4.0 * B * NH * Tt * Tt * dk + 4.0 * B * NH * Tt * Ts * dk)
    fwd = s["num_layers"] * enc + s["num_decoder_layers"] * dec + 2.0 * Nt * V * d
    return 3.0 * fwd


def pin(threads):
    """Pins this process to its first `threads` usable cores; False when there are fewer."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(usable) < threads:
        return False
    try:
        os.sched_setaffinity(0, set(usable[:threads]))
    except OSError:
        return False
    return True


def measure_peak(torch, dtype, reps=PEAK_REPS, n=2048):
    """Best GFLOPS of an n^3 torch.mm of dtype (the best, not the median: noise only lowers it)."""
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


def build(torch, s, dropout):
    from transformers import T5Config, T5ForConditionalGeneration
    torch.manual_seed(1)
    cfg = T5Config(**s, dropout_rate=dropout, layer_norm_epsilon=1e-6, initializer_factor=1.0,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                   attn_implementation="eager")
    cfg._attn_implementation = "eager"
    # transformers 5 turns tie_word_embeddings into scale_decoder_outputs and always ties; set
    # it as ringtune has it (the rescale exactly when the head is tied, t5.h)
    cfg.scale_decoder_outputs = bool(s["tie_word_embeddings"])
    model = T5ForConditionalGeneration(cfg)
    if not s["tie_word_embeddings"]:
        # an untied lm_head as v1.1 / flan-t5 have it, N(0, initializer_factor) as T5's
        # _init_weights would draw it (tests/fixtures/gen_t5_fixtures.py does the same)
        w = torch.empty_like(model.shared.weight)
        torch.nn.init.normal_(w, mean=0.0, std=cfg.initializer_factor * 1.0)
        model.lm_head.weight = torch.nn.Parameter(w)
        getattr(model, "all_tied_weights_keys", {}).pop("lm_head.weight", None)
    assert (model.lm_head.weight is model.shared.weight) == bool(s["tie_word_embeddings"])
    assert model.config.scale_decoder_outputs == bool(s["tie_word_embeddings"])
    return model, getattr(model.config, "_attn_implementation", None)


def adamw(torch, model):
    """AdamW with ringtune's decay flags: the matrices decay, the layer norms do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    return opt, params


def autocast(torch, precision):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_run(torch, s, opts, precision):
    """warmup + steps training steps; the timed steps' phase times and losses."""
    model, attn_impl = build(torch, s, opts["dropout"])
    model.train()
    opt, params = adamw(torch, model)
    gen = torch.Generator().manual_seed(1000)
    B, Ts, Tt, V = opts["batch"], opts["src_len"], opts["tgt_len"], s["vocab_size"]
    src = torch.randint(2, V, (B, Ts), generator=gen)
    labels = torch.randint(2, V, (B, Tt), generator=gen)
    rows, losses = [], []
    for step in range(opts["warmup"] + opts["steps"]):
        t0 = time.perf_counter()
        with autocast(torch, precision):
            loss = model(input_ids=src, labels=labels).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        losses.append(float(loss.detach()))
        if step >= opts["warmup"]:
            rows.append({"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2,
                         "step": t3 - t0})
    return rows, losses, attn_impl, sum(p.numel() for p in params)


def stats(values, digits):
    """benchlib.stats, rounded."""
    return {k: round(v, digits) if isinstance(v, float) else v
            for k, v in benchlib.stats(values).items()}


def summarize(precision, rows, losses, opts, flops, peak, refused):
    B, Ts, Tt = opts["batch"], opts["src_len"], opts["tgt_len"]
    mfu = [flops / r["step"] / 1e9 / peak for r in rows]
    high = [x for x in mfu if not x <= 1.0]
    if high:
        refused.append("%s: a step at %.1f%% of the %.1f GFLOPS torch.mm peak: the FLOP count "
                       "or the peak is wrong; no MFU printed" % (precision, 100 * max(high), peak))
    return {"precision": precision, "batch": B, "src_len": Ts, "tgt_len": Tt,
            "s_step": stats([r["step"] for r in rows], 4),
            "ms_step": stats([1e3 * r["step"] for r in rows], 1),
            "ms_forward": stats([1e3 * r["forward"] for r in rows], 1),
            "ms_backward": stats([1e3 * r["backward"] for r in rows], 1),
            "ms_optimizer": stats([1e3 * r["optimizer"] for r in rows], 1),
            "tokens_per_s": stats([B * (Ts + Tt) / r["step"] for r in rows], 2),
            "target_tokens_per_s": stats([B * Tt / r["step"] for r in rows], 2),
            "gflops": stats([flops / r["step"] / 1e9 for r in rows], 2),
            "mfu": stats([] if high else mfu, 4),
            "peak_gflops": round(peak, 1),
            "flops_per_step": flops,
            "loss_first_step": round(losses[0], 6), "loss_last_step": round(losses[-1], 6)}


def main(argv):
    opts = parse_args(argv)
    try:
        import torch
        import transformers
        from transformers import T5ForConditionalGeneration  # noqa: F401
    except Exception as e:  # ImportError, or a broken install failing in its own way
        import json
        reason = "%s: %s" % (type(e).__name__, e)
        print("pytorch_t5: PyTorch not installed (%s); skipped" % reason, file=sys.stderr)
        json.dump({"benchmark": "pytorch_t5", "skipped": True, "reason": reason}, sys.stdout)
        print()
        return 0
    import json

    transformers.logging.set_verbosity_error()
    pinned = pin(opts["threads"])
    torch.set_num_threads(opts["threads"])
    s = shapes(opts["model"] == "tiny", opts["gated"])
    precisions = ["fp32", "bf16"] if opts["precision"] == "both" else [opts["precision"]]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    peaks = {p: [measure_peak(torch, dtypes[p])] for p in precisions}
    runs, attn_impl, nparams = [], None, None
    for p in precisions:
        print("pytorch_t5: train %s" % p, file=sys.stderr)
        rows, losses, attn_impl, nparams = train_run(torch, s, opts, p)
        runs.append((p, rows, losses))
    for p in precisions:
        peaks[p].append(measure_peak(torch, dtypes[p]))
    peak = {p: max(v) for p, v in peaks.items()}
    flops = flops_per_step(s, opts["batch"], opts["src_len"], opts["tgt_len"])
    refused = []
    out = [summarize(p, rows, losses, opts, flops, peak[p], refused) for p, rows, losses in runs]
    for msg in refused:
        print("pytorch_t5: " + msg, file=sys.stderr)
    config = dict(opts, name=model_name(opts), **s, parameters=nparams,
                  attn_implementation=attn_impl, pinned=pinned,
                  scale_decoder_outputs=bool(s["tie_word_embeddings"]),
                  statistic="median over the timed steps",
                  tokens_per_s="source + target tokens per second: B * (src_len + tgt_len) / step",
                  target_tokens_per_s="target (loss) tokens per second: B * tgt_len / step",
                  phases="forward: model(input_ids, labels).loss (under autocast for bf16); "
                         "backward: loss.backward(); optimizer: clip_grad_norm_ + AdamW.step + "
                         "zero_grad",
                  flops_per_step=flops,
                  peak_gflops={p: round(v, 1) for p, v in peak.items()},
                  peak_gflops_before_after={p: [round(x, 1) for x in v]
                                            for p, v in peaks.items()},
                  autocast="forward and loss under torch.autocast('cpu', torch.bfloat16) for "
                           "bf16; backward outside it; fp32 parameters and optimizer state")
    summary = {"%s_tokens_per_s" % r["precision"]: r["tokens_per_s"]["median"] for r in out}
    doc = benchlib.document("pytorch_t5", config, out, refused=refused, **summary)
    doc["versions"]["torch"] = torch.__version__
    doc["versions"]["transformers"] = transformers.__version__
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
