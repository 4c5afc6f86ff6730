#!/usr/bin/env python3
"""PyTorch baseline for sequence-classification fine-tuning: transformers'
GPT2ForSequenceClassification on CPU, fp32 and bf16 autocast, so ringtune's classification
figures have a reference measured on the same machine. Prints JSON (benchlib.document).

usage: pytorch_seqcls.py [--quick] [--model 124m|small] [--mode train|features|both]
                         [--batch B] [--threads N] [--steps N] [--warmup N] [--examples N]
                         [--repeats N] [--precision fp32|bf16|both]

  124m:  12 layers, 768 embd, 12 heads, 1024 positions, vocab 50257 (GPT-2 124M's shapes)
  small: 2 layers, 128 embd, 2 heads, 128 positions, vocab 50257
  --quick: --model small --steps 2 --warmup 1 --examples 16 --repeats 1 (smoke sizes, seconds)
  defaults: --model 124m --mode both --batch 4 --threads 1 --steps 5 --warmup 1 --examples 64
            --repeats 3 --precision both

Model: GPT2ForSequenceClassification from a GPT2Config (random init, seed 1, dropout 0,
num_labels 4, pad_token_id 50256, the default attention implementation), fp32 parameters. Inputs:
random token ids in [0, 50256) (never the pad id, so the pooled position is the last one),
sequences of 128 tokens, no attention mask; labels uniform in [0, 4).

Precisions: fp32, and bf16 = forward (and loss) under torch.autocast("cpu", torch.bfloat16),
backward outside it, as the autocast documentation prescribes; parameters and AdamW state fp32.

Modes (each in this one process, pinned to `threads` cores when the machine has that many usable,
like mpirun --bind-to core, torch.set_num_threads(threads)):

  train     full fine-tuning steps on batches of B: forward + cross-entropy, backward, gradient
            clipping at 1.0, torch.optim.AdamW (lr 1e-4, betas 0.9/0.95, eps 1e-8, weight decay
            0.1), zero_grad. `warmup` untimed steps, then `steps` timed ones; per step ms_forward,
            ms_backward, ms_optimizer, s_step, examples_per_s, tokens_per_s, mfu.
  features  frozen backbone, one epoch over `examples` examples in batches of B: the transformer
            forward under torch.no_grad() to the pooled (last-token) hidden state, then the
            classification head (768 x 4, no bias, as the model's `score`) trained on those
            features for one pass (AdamW as above, batches of B). One untimed batch first, then
            `repeats` timed epochs; per epoch s_epoch, s_extract, s_head, examples_per_s.

FLOPs, counted as compute/gpt2.c's rt_gpt2_flops_per_step with the LM head (V x C) replaced by
the score head (num_labels x C), which GPT2ForSequenceClassification applies at every position:
train = B*T*(6*matmul_params + 3*attn), features = B*T*(2*matmul_params + attn) for the forward
plus 6*B*C*num_labels for the head. mfu = FLOPs / time / the peak of a 2048^3 torch.mm of the
same dtype (fp32, or bf16) on these cores, the best of repeats measured before and after the runs
(config holds both). Statistics (benchlib.stats) over the timed steps or epochs.

Without torch or transformers: one line on stderr, {"benchmark": "pytorch_seqcls", "skipped":
true, "reason": ...} on stdout, exit status 0. Bad arguments: usage, exit status 2.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

MODELS = {
    "124m": dict(n_layer=12, n_embd=768, n_head=12, n_positions=1024),
    "small": dict(n_layer=2, n_embd=128, n_head=2, n_positions=128),
}
VOCAB = 50257
PAD = 50256
NUM_LABELS = 4
T = 128
USAGE = ("usage: pytorch_seqcls.py [--quick] [--model 124m|small] [--mode train|features|both]\n"
         "                         [--batch B] [--threads N] [--steps N] [--warmup N] "
         "[--examples N]\n"
         "                         [--repeats N] [--precision fp32|bf16|both]")
CHOICES = {"--model": tuple(MODELS), "--mode": ("train", "features", "both"),
           "--precision": ("fp32", "bf16", "both")}
LOWEST = {"--batch": 1, "--threads": 1, "--steps": 1, "--warmup": 0, "--examples": 1,
          "--repeats": 1}
QUICK = {"model": "small", "steps": 2, "warmup": 1, "examples": 16, "repeats": 1}


def usage(msg=None):
    print(("pytorch_seqcls: %s\n" % msg if msg else "") + USAGE, file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    opts = {"model": "124m", "mode": "both", "batch": 4, "threads": 1, "steps": 5, "warmup": 1,
            "examples": 64, "repeats": 3, "precision": "both"}
    given, quick, i = {}, False, 0
    while i < len(argv):
        a = argv[i]
        if a == "--quick":
            quick, i = True, i + 1
            continue
        if a not in CHOICES and a not in LOWEST or i + 1 >= len(argv):
            usage()
        v = argv[i + 1]
        if a in CHOICES:
            if v not in CHOICES[a]:
                usage("%s: one of %s" % (a, ", ".join(CHOICES[a])))
            given[a[2:]] = v
        else:
            try:
                n = int(v)
            except ValueError:
                n = -1
            if n < LOWEST[a]:
                usage("%s needs an integer >= %d" % (a, LOWEST[a]))
            given[a[2:]] = n
        i += 2
    if quick:
        opts.update(QUICK)
    opts.update(given)  # explicit flags win over --quick
    opts["quick"] = quick
    return opts


def matmul_params(m):
    C = float(m["n_embd"])
    return m["n_layer"] * (C * 3 * C + C * C + 2 * C * 4 * C) + NUM_LABELS * C


def flops_train(m, B):
    """rt_gpt2_flops_per_step (compute/gpt2.c) with the score head for the LM head."""
    attn = m["n_layer"] * 2.0 * 2.0 * T * m["n_embd"]
    return float(B) * T * (6.0 * matmul_params(m) + 3.0 * attn)


def flops_features(m, n):
    """Forward of n examples (no backward) plus training the head on n pooled features."""
    attn = m["n_layer"] * 2.0 * 2.0 * T * m["n_embd"]
    return float(n) * T * (2.0 * matmul_params(m) + attn) + 6.0 * n * m["n_embd"] * NUM_LABELS


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


def measure_peak(torch, dtype, reps=5, n=2048):
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


def build(torch, m):
    from transformers import GPT2Config, GPT2ForSequenceClassification
    torch.manual_seed(1)
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=m["n_positions"], n_embd=m["n_embd"],
                     n_layer=m["n_layer"], n_head=m["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, summary_first_dropout=0.0, num_labels=NUM_LABELS,
                     pad_token_id=PAD)
    model = GPT2ForSequenceClassification(cfg)
    return model, getattr(model.config, "_attn_implementation", None)


def adamw(torch, params):
    return torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)


def batch(torch, gen, B):
    ids = torch.randint(0, PAD, (B, T), generator=gen)  # [0, 50256): never the pad id
    return ids, torch.randint(0, NUM_LABELS, (B,), generator=gen)


def autocast(torch, precision):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_run(torch, m, opts, precision):
    """warmup + steps training steps; the timed steps' phase times and losses."""
    model, attn_impl = build(torch, m)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = adamw(torch, params)
    gen = torch.Generator().manual_seed(1000)
    rows = []
    for s in range(opts["warmup"] + opts["steps"]):
        ids, labels = batch(torch, gen, opts["batch"])
        t0 = time.perf_counter()
        with autocast(torch, precision):
            loss = model(input_ids=ids, labels=labels).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        if s >= opts["warmup"]:
            rows.append({"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2,
                         "step": t3 - t0, "loss": float(loss.detach())})
    return rows, attn_impl, sum(p.numel() for p in params)


def extract(torch, model, ids, precision):
    """The pooled feature: the last position's final hidden state (all positions are real)."""
    with torch.no_grad(), autocast(torch, precision):
        h = model.transformer(input_ids=ids).last_hidden_state
    return h[:, -1, :].float()


def features_epoch(torch, model, head, opt, data, precision):
    """One epoch: every batch's features, then one pass of head training over them."""
    t0 = time.perf_counter()
    feats = [(extract(torch, model, ids, precision), labels) for ids, labels in data]
    t1 = time.perf_counter()
    loss = None
    for x, y in feats:
        with autocast(torch, precision):
            loss = torch.nn.functional.cross_entropy(head(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    t2 = time.perf_counter()
    return {"epoch": t2 - t0, "extract": t1 - t0, "head": t2 - t1, "loss": float(loss.detach())}


def features_run(torch, m, opts, precision):
    """One untimed batch, then `repeats` timed epochs over `examples` examples."""
    model, _ = build(torch, m)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(2)
    head = torch.nn.Linear(m["n_embd"], NUM_LABELS, bias=False)
    opt = adamw(torch, list(head.parameters()))
    gen = torch.Generator().manual_seed(2000)
    n, B = opts["examples"], opts["batch"]
    data = [batch(torch, gen, min(B, n - i)) for i in range(0, n, B)]
    features_epoch(torch, model, head, opt, data[:1], precision)  # warm-up
    return [features_epoch(torch, model, head, opt, data, precision)
            for _ in range(opts["repeats"])]


def stats(values, digits):
    """benchlib.stats, rounded."""
    return {k: round(v, digits) if isinstance(v, float) else v
            for k, v in benchlib.stats(values).items()}


def summarize_train(precision, rows, B, flops, peak):
    return {"mode": "train", "precision": precision, "batch": B,
            "s_step": stats([r["step"] for r in rows], 4),
            "examples_per_s": stats([B / r["step"] for r in rows], 3),
            "tokens_per_s": stats([B * T / r["step"] for r in rows], 1),
            "ms_forward": stats([1e3 * r["forward"] for r in rows], 1),
            "ms_backward": stats([1e3 * r["backward"] for r in rows], 1),
            "ms_optimizer": stats([1e3 * r["optimizer"] for r in rows], 1),
            "mfu": stats([flops / r["step"] / 1e9 / peak for r in rows], 4),
            "flops_per_step": flops,
            "loss_first_timed_step": round(rows[0]["loss"], 6)}


def summarize_features(precision, rows, n, B, flops, peak):
    return {"mode": "features", "precision": precision, "batch": B, "examples": n,
            "s_epoch": stats([r["epoch"] for r in rows], 4),
            "s_extract": stats([r["extract"] for r in rows], 4),
            "s_head": stats([r["head"] for r in rows], 4),
            "examples_per_s": stats([n / r["epoch"] for r in rows], 3),
            "mfu": stats([flops / r["epoch"] / 1e9 / peak for r in rows], 4),
            "flops_per_epoch": flops,
            "head_loss_last_batch": round(rows[-1]["loss"], 6)}


def main(argv):
    opts = parse_args(argv)
    try:
        import torch
        import transformers
        from transformers import GPT2ForSequenceClassification  # noqa: F401
    except Exception as e:  # ImportError, or a broken install failing in its own way
        import json
        reason = "%s: %s" % (type(e).__name__, e)
        print("pytorch_seqcls: PyTorch not installed (%s); skipped" % reason, file=sys.stderr)
        json.dump({"benchmark": "pytorch_seqcls", "skipped": True, "reason": reason}, sys.stdout)
        print()
        return 0
    import json

    transformers.logging.set_verbosity_error()
    pinned = pin(opts["threads"])
    torch.set_num_threads(opts["threads"])
    m = MODELS[opts["model"]]
    precisions = ["fp32", "bf16"] if opts["precision"] == "both" else [opts["precision"]]
    modes = ["train", "features"] if opts["mode"] == "both" else [opts["mode"]]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    peaks = {p: [measure_peak(torch, dtypes[p])] for p in precisions}
    results, attn_impl, nparams = [], None, None
    B, n = opts["batch"], opts["examples"]
    for mode in modes:
        for p in precisions:
            print("pytorch_seqcls: %s %s" % (mode, p), file=sys.stderr)
            if mode == "train":
                rows, attn_impl, nparams = train_run(torch, m, opts, p)
                results.append((mode, p, rows))
            else:
                results.append((mode, p, features_run(torch, m, opts, p)))
    for p in precisions:
        peaks[p].append(measure_peak(torch, dtypes[p]))
    peak = {p: max(v) for p, v in peaks.items()}
    out = []
    for mode, p, rows in results:
        if mode == "train":
            out.append(summarize_train(p, rows, B, flops_train(m, B), peak[p]))
        else:
            out.append(summarize_features(p, rows, n, B, flops_features(m, n), peak[p]))
    config = dict(opts, seq_len=T, num_labels=NUM_LABELS, vocab_size=VOCAB, pad_token_id=PAD,
                  n_layer=m["n_layer"], n_embd=m["n_embd"], n_head=m["n_head"],
                  n_positions=m["n_positions"],
                  parameters=nparams, attn_implementation=attn_impl, pinned=pinned,
                  statistic="median over the timed steps (train) or epochs (features)",
                  flops_per_train_step=flops_train(m, B),
                  flops_per_features_epoch=flops_features(m, n),
                  peak_gflops={p: round(v, 1) for p, v in peak.items()},
                  peak_gflops_before_after={p: [round(x, 1) for x in v]
                                            for p, v in peaks.items()},
                  autocast="forward and loss under torch.autocast('cpu', torch.bfloat16) for "
                           "bf16; backward outside it; fp32 parameters and optimizer state")
    summary = {}
    for r in out:
        summary["%s_%s_examples_per_s" % (r["mode"], r["precision"])] = \
            r["examples_per_s"]["median"]
    doc = benchlib.document("pytorch_seqcls", config, out, **summary)
    doc["versions"]["torch"] = torch.__version__
    doc["versions"]["transformers"] = transformers.__version__
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
