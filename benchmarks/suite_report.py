"""Reads a run_suite.sh results directory: prints a summary, writes the performance table
(markdown, the README's "Performance" table) and the data files plot_suite.sh draws.

    suite_report.py DIR [--markdown FILE] [--plotdata PD]
    suite_report.py --merge-netns NETNS_DIR    # tests/netns/bench.sh points -> one JSON document

Goals (from the issue that asked for the suite), each reported with the figure it is judged on:
training step >= 70% MFU and >= 1.5x PyTorch DDP tokens/s (GPT-2 124M, T=256, 2 ranks x 1 thread),
in bf16 >= 1.5x PyTorch one process x 2 threads under bf16 autocast (global batch 8);
ring busbw >= MPI_Allreduce at >= 1 MiB; >= 80% of communication hidden; weak-scaling efficiency
>= 95% at every measured P; checkpoint save >= 80% of raw write. Standard library only.
"""
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def med(x):
    """The median of a stats object, or the number itself."""
    if isinstance(x, dict):
        return x.get("median")
    return x


def fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def human_bytes(n):
    for unit, k in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:g} {unit}"
    return f"{n} B"


class Suite:
    def __init__(self, d):
        self.d = d
        self.machine = load(os.path.join(d, "machine.json")) or {}
        self.suite = load(os.path.join(d, "suite.json")) or {"steps": []}
        self.docs = {}
        for f in sorted(glob.glob(os.path.join(d, "*.json"))):
            name = os.path.basename(f)[:-5]
            if name in ("machine", "suite"):
                continue
            j = load(f)
            if isinstance(j, dict) and "benchmark" in j:
                self.docs[name] = j

    def by_kind(self, kind):
        return [(n, j) for n, j in self.docs.items() if j.get("benchmark") == kind]

    def one(self, *names):
        for n in names:
            if n in self.docs:
                return self.docs[n]
        return None

    # ---- the table ------------------------------------------------------------------------------
    def rows(self):
        """(measurement, ringtune, baseline measured in the same run, ratio, goal, met)."""
        out = []
        for n, vs in sorted(self.by_kind("vs_pytorch"), key=lambda t: t[1]["config"]["model"]):
            c = vs["config"]
            what = f"training step, GPT-2 {c['model']}, {c['ranks']} ranks x 1 thread, tokens/s"
            rt = vs.get("ringtune", {})
            pt = vs.get("pytorch", {})
            base = ("PyTorch DDP: skipped (" + pt.get("reason", "") + ")" if pt.get("skipped")
                    else f"PyTorch DDP {fmt(med(pt.get('tokens_per_s')))}")
            g = vs.get("goal", {})
            out.append((what, fmt(med(rt.get("tokens_per_s"))), base,
                        fmt(vs.get("ratio_tokens_per_s")) + "x" if vs.get("ratio_tokens_per_s")
                        else "-", ">= 1.5x" if g.get("applies") else "-", g.get("met")))
            applies = c["model"] == "124m" and c["ranks"] == 2
            out.append((f"training step MFU, GPT-2 {c['model']}, {c['ranks']} x 1",
                        fmt(rt.get("mfu")), "sgemm peak measured in the run",
                        "-", ">= 0.70" if applies else "-",
                        (rt.get("mfu") >= 0.70) if applies and rt.get("mfu") else None))
            if not pt.get("skipped") and pt.get("mfu") is not None:
                out.append((f"PyTorch DDP MFU, GPT-2 {c['model']}, {c['ranks']} x 1",
                            fmt(pt.get("mfu")), "torch.mm peak measured in the run", "-", "-",
                            None))
            h = rt.get("communication_hidden_fraction")
            out.append((f"communication hidden, GPT-2 {c['model']}, {c['ranks']} ranks",
                        fmt(h), "overlap off in the same run (time blocked on communication)", "-",
                        ">= 0.80" if applies else "-", (h >= 0.8) if applies and h is not None
                        else None))
            out += self.vs_pytorch_precision_rows(vs)
        for n, j in sorted(self.by_kind("vs_pytorch_seqcls")):
            out += self.seqcls_rows(j)
        for n, j in sorted(self.by_kind("vs_pytorch_t5")):
            out += self.t5_rows(j)
        for n, j in sorted(self.by_kind("train_step")):
            c = j["config"]
            g = (j.get("goals") or {}).get("communication_hidden_fraction", {})
            out.append((f"`ringtune train` {c['model']}, {c['ranks']} x {c['threads_per_rank']}: "
                        "tokens/s, MFU", f"{fmt(j.get('tokens_per_s'))}, {fmt(j.get('mfu'))}",
                        "-", "-", "-", None))
            out.append((f"communication hidden, {c['model']}, {c['ranks']} ranks",
                        fmt(g.get("value")), "overlap off in the same run (time blocked on communication)", "-",
                        "-", None))
        for n, j in sorted(self.by_kind("allreduce"), key=lambda t: t[1]["config"]["ranks"]):
            P = j["config"]["ranks"]
            big = [r for r in j["results"] if r["bytes"] >= MIB and
                   r.get("busbw_ratio_ring_over_mpi") is not None]
            if not big:
                continue
            worst = min(big, key=lambda r: r["busbw_ratio_ring_over_mpi"])
            last = big[-1]
            out.append((f"all-reduce busbw, P={P}, {human_bytes(last['bytes'])} (GB/s)",
                        fmt(med(last["ring_busbw_GBps"])),
                        f"MPI_Allreduce {fmt(med(last['mpi_busbw_GBps']))}",
                        fmt(last["busbw_ratio_ring_over_mpi"]) + "x", "-", None))
            out.append((f"all-reduce busbw, P={P}, lowest ratio over 1 MiB..{human_bytes(last['bytes'])}",
                        f"at {human_bytes(worst['bytes'])}", "MPI_Allreduce",
                        fmt(worst["busbw_ratio_ring_over_mpi"]) + "x", ">= 1.0x",
                        worst["busbw_ratio_ring_over_mpi"] >= 1.0))
        sc = self.one("scaling")
        if sc:
            c = sc["config"]
            for mode in ("weak", "strong"):
                for r in sc["results"]:
                    if r.get("mode") != mode or r.get("skipped") or r["ranks"] == 1:
                        continue
                    eff = r.get("efficiency")
                    what = (f"{mode} scaling, {c['model']}, P={r['ranks']} "
                            f"(global batch {r['global_batch']}): tokens/s")
                    goal = ">= 0.95" if mode == "weak" else "-"
                    out.append((what, fmt(med(r["tokens_per_s"])), "P=1 in the same run",
                                f"efficiency {fmt(eff)}", goal,
                                (eff >= 0.95) if mode == "weak" and eff is not None else None))
        for n, j in sorted(self.by_kind("ckpt")):
            P = j["config"]["ranks"]
            t = {r["name"]: r for r in j["results"]}
            sv = t.get("save", {}).get("GBps")
            rw = t.get("raw_write_fsync", {}).get("GBps")
            ratio = j.get("save_over_raw_GBps")
            out.append((f"checkpoint save, {j['config']['model']['name']} + AdamW, P={P} (GB/s)",
                        fmt(med(sv)), f"raw write+fsync {fmt(med(rw))}",
                        fmt(ratio) + "x" if ratio else "-", ">= 0.80x",
                        (ratio >= 0.8) if ratio else None))
            rs = j.get("resharded_over_same_count_time_cold")
            if rs:
                out.append((f"checkpoint load resharded {j['config'].get('reshard_from_ranks')}"
                            f"->{P} vs same count (time, cold cache)", "-", "same-count load",
                            fmt(rs) + "x", "-", None))
        gm = self.one("gemm")
        if gm:
            for a in ("auto", "chosen"):
                if a not in gm.get("blis_arch", {}):
                    continue
                out.append((f"GEMMs of one {gm['config']['model']} step, BLIS '{gm['blis_arch'][a]}'"
                            f" ({a}), {gm['config']['threads']} thread(s), GFLOPS",
                            fmt(gm["gemm_gflops"][a]), f"sgemm peak {fmt(gm['peak_gflops'][a])}",
                            fmt(gm["gemm_efficiency"][a]), "-", None))
            sp = gm.get("speedup_chosen_over_auto", {})
            if sp:
                out.append(("BLIS kernels chosen by ringtune vs BLIS's own choice, step GEMMs",
                            "-", "-", fmt(sp.get("step_gemm")) + "x", "-", None))
        st = self.one("step")
        if st:
            for r in st["results"]:
                out.append((f"one process training step {r['name']} (B={r['B']}, T={r['T']}),"
                            f" {st['config']['threads']} thread(s): tokens/s, MFU",
                            f"{fmt(med(r['tokens_per_s']))}, {fmt(med(r['mfu']))}",
                            f"sgemm peak {fmt(st.get('sgemm_peak_gflops'))} GFLOPS", "-", "-",
                            None))
        net = self.one("netns_allreduce")
        if net:
            for r in net["results"]:
                if r["bytes"] != max(x["bytes"] for x in net["results"]):
                    continue
                out.append((f"all-reduce across {r['hosts']} emulated hosts, links {r['link']},"
                            f" {human_bytes(r['bytes'])} (GB/s)", fmt(r["ring_busbw_GBps"]),
                            f"MPI_Allreduce {fmt(r['mpi_busbw_GBps'])}",
                            fmt(r["busbw_ratio_ring_over_mpi"]) + "x", "-", None))
        return out

    @staticmethod
    def vs_pytorch_precision_rows(vs):
        """bench_vs_pytorch.sh's bf16 and one-process sides (documents older than them have
        none): ringtune bf16 against PyTorch one process under bf16 autocast (the headline),
        ringtune fp32 against PyTorch one process fp32, ringtune bf16 against fp32, bf16 MFU."""
        c = vs["config"]
        r16 = vs.get("ringtune_bf16")
        if not r16:
            return []
        P = c["ranks"]
        rt, ratios = vs.get("ringtune", {}), vs.get("ratios") or {}

        def x(v):
            return fmt(v) + "x" if v is not None else "-"

        def side(key, label):
            v = vs.get(key) or {}
            if v.get("skipped"):
                return f"{label}: skipped ({v.get('reason', '')})"
            return f"{label} {fmt(med(v.get('tokens_per_s')))}"

        g = (vs.get("goals") or {}).get("bf16_vs_pytorch_bf16_autocast", {})
        out = [(f"training step bf16, GPT-2 {c['model']}, {P} ranks x 1 thread, tokens/s",
                fmt(med(r16.get("tokens_per_s"))),
                side("pytorch_single_bf16", f"PyTorch bf16 autocast, 1 process x {P} threads"),
                x(ratios.get("ringtune_bf16_over_pytorch_single_bf16_autocast")),
                ">= 1.5x" if g.get("applies") else "-", g.get("met")),
               (f"training step fp32, GPT-2 {c['model']}, {P} ranks x 1 thread vs 1 process, "
                "tokens/s", fmt(med(rt.get("tokens_per_s"))),
                side("pytorch_single_fp32", f"PyTorch fp32, 1 process x {P} threads"),
                x(ratios.get("ringtune_fp32_over_pytorch_single_fp32")), "-", None),
               (f"training step bf16 / fp32, GPT-2 {c['model']}, {P} ranks x 1 thread, tokens/s",
                fmt(med(r16.get("tokens_per_s"))),
                f"ringtune fp32 {fmt(med(rt.get('tokens_per_s')))}",
                x(ratios.get("ringtune_bf16_over_ringtune_fp32")), "-", None),
               (f"training step bf16 MFU, GPT-2 {c['model']}, {P} x 1", fmt(r16.get("mfu")),
                "bf16 GEMM peak measured in the run", "-", "-", None)]
        p16 = vs.get("pytorch_single_bf16") or {}
        p32 = vs.get("pytorch_single_fp32") or {}
        if not p16.get("skipped") and p16.get("mfu") is not None:
            out.append((f"PyTorch 1 process x {P} threads MFU, GPT-2 {c['model']}, bf16 autocast "
                        "(fp32)", f"{fmt(p16.get('mfu'))} ({fmt(p32.get('mfu'))})",
                        "torch.mm peak of the same dtype and threads, measured in the run", "-",
                        "-", None))
        return out

    @staticmethod
    def seqcls_rows(j):
        """bench_seqcls.sh: full fine-tuning examples/s and MFU against PyTorch (bf16 autocast,
        fp32), feature extraction's epoch time with the cache against without, PyTorch's
        features mode. Any part may be missing (PyTorch skipped, an older document)."""
        c = j.get("config", {})
        tag = (f"GPT-2 {c.get('model')}, {c.get('ranks')} x 1, T={c.get('seq_len')}, "
               f"batch {c.get('global_batch')}")
        ff = j.get("full_finetune") or {}
        eps, mfu = ff.get("examples_per_s") or {}, ff.get("mfu") or {}
        pt = j.get("pytorch") or {}
        skipped = pt.get("skipped") or eps.get("pytorch_bf16") is None
        reason = "PyTorch: skipped (" + str(pt.get("reason", "no result")) + ")"
        r16, r32 = ff.get("ratio_vs_pytorch_bf16"), ff.get("ratio_vs_pytorch_fp32")
        out = [(f"seq. classification, full fine-tuning, {tag}: examples/s",
                fmt(eps.get("ringtune")),
                reason if skipped else (f"PyTorch bf16 {fmt(eps.get('pytorch_bf16'))}, "
                                        f"fp32 {fmt(eps.get('pytorch_fp32'))}"),
                "-" if r16 is None else (f"{fmt(r16)}x bf16, {fmt(r32)}x fp32"
                                         if r32 is not None else f"{fmt(r16)}x bf16"),
                "-", None),
               (f"seq. classification, full fine-tuning MFU, {tag}", fmt(mfu.get("ringtune")),
                reason if skipped else (f"PyTorch bf16 {fmt(mfu.get('pytorch_bf16'))}, "
                                        f"fp32 {fmt(mfu.get('pytorch_fp32'))}"),
                "-", "-", None)]
        fe = j.get("feature_extraction") or {}
        if fe.get("s_epoch_cached") is None:
            return out

        def sec(x):
            return "-" if x is None else f"{x:.3g} s"

        r = fe.get("ratio_epoch_uncached_over_cached")
        what = (f"seq. classification, feature extraction, GPT-2 {c.get('model')}, "
                f"{c.get('ranks')} x 1, {c.get('train_examples')} examples")
        out.append((f"{what}: s per epoch, feature cache on", sec(fe.get("s_epoch_cached")),
                    f"cache off {sec(fe.get('s_epoch_uncached'))}",
                    "-" if r is None else f"{fmt(r)}x", "-", None))
        r = fe.get("ratio_first_epoch_uncached_over_cached_with_build")
        out.append((f"{what}: first epoch, cache on with its build "
                    f"({sec(fe.get('cache_build_s'))})",
                    sec(fe.get("s_first_epoch_cached_with_build")),
                    f"cache off {sec(fe.get('s_first_epoch_uncached'))}",
                    "-" if r is None else f"{fmt(r)}x", "-", None))
        ptf = fe.get("pytorch") or {}
        if not ptf.get("skipped"):
            for p in ("bf16", "fp32"):
                v = ptf.get(p)
                if not v:
                    continue
                r = v.get("ratio_epoch_pytorch_over_ringtune_uncached")
                out.append((f"{what}: s per epoch, cache off vs PyTorch features mode {p} "
                            "(backbone every epoch)", sec(fe.get("s_epoch_uncached")),
                            f"PyTorch {p} {sec(v.get('s_epoch'))}",
                            "-" if r is None else f"{fmt(r)}x", "-", None))
        return out

    @staticmethod
    def t5_rows(j):
        """bench_t5.sh: a T5 training step's tokens/s (source + target; target alone in
        brackets), MFU and phase times against T5ForConditionalGeneration in bf16 autocast and
        fp32. The PyTorch side may be skipped, ringtune's may have failed."""
        c = j.get("config", {})
        tag = (f"{c.get('model')}, B={c.get('batch')}, {c.get('src_len')} + {c.get('tgt_len')} "
               f"tokens, {c.get('threads')} thread(s)")
        sm = j.get("summary") or {}
        pt = j.get("pytorch") or {}

        def get(key, who):
            return (sm.get(key) or {}).get(who)

        skipped = pt.get("skipped") or get("tokens_per_s", "pytorch_bf16") is None
        reason = "PyTorch: skipped (" + str(pt.get("reason", "no result")) + ")"

        def both(key, f=fmt):
            return (reason if skipped else
                    f"PyTorch bf16 {f(get(key, 'pytorch_bf16'))}, fp32 {f(get(key, 'pytorch_fp32'))}")

        def with_target(who):
            return f"{fmt(get('tokens_per_s', who))} (target {fmt(get('target_tokens_per_s', who))})"

        def phases(who):
            return " / ".join(fmt(get(k, who), 1) for k in ("ms_forward", "ms_backward",
                                                            "ms_optimizer"))

        r16, r32 = j.get("ratio_vs_pytorch_bf16"), j.get("ratio_vs_pytorch_fp32")
        ratio = "-" if r16 is None else (f"{fmt(r16)}x bf16, {fmt(r32)}x fp32" if r32 is not None
                                         else f"{fmt(r16)}x bf16")
        return [(f"T5 training step, {tag}: tokens/s, source + target (target alone)",
                 with_target("ringtune"),
                 reason if skipped else (f"PyTorch bf16 {with_target('pytorch_bf16')}, "
                                         f"fp32 {with_target('pytorch_fp32')}"),
                 ratio, "-", None),
                (f"T5 training step MFU, {tag}", fmt(get("mfu", "ringtune")), both("mfu"), "-",
                 "-", None),
                (f"T5 training step, {tag}: ms forward / backward / optimizer",
                 phases("ringtune"),
                 reason if skipped else (f"PyTorch bf16 {phases('pytorch_bf16')}, "
                                         f"fp32 {phases('pytorch_fp32')}"), "-", "-", None)]

    def markdown(self):
        m = self.machine.get("machine", {})
        v = self.machine.get("versions", {})
        s = self.machine.get("suite", {})
        lines = [f"Machine: {m.get('cpu_model', '?')}, {m.get('cpus_usable', '?')} usable CPUs, "
                 f"{(m.get('memory_bytes') or 0) / 2**30:.0f} GiB, Linux {m.get('kernel', '?')}; "
                 f"ringtune {v.get('ringtune')}, BLIS {v.get('blis')}, {v.get('openmpi')}, "
                 f"HDF5 {v.get('hdf5')}; suite {'quick' if s.get('quick') else 'full'}, "
                 f"ranks {s.get('ranks')}.", "",
                 "| measurement | ringtune | baseline (same run) | ratio | goal | met |",
                 "|---|---|---|---|---|---|"]
        for r in self.rows():
            lines.append("| " + " | ".join(str(x) if not isinstance(x, bool) and x is not None
                                             else ("yes" if x else ("no" if x is False else "-"))
                                             for x in r) + " |")
        pngs = sorted(f for f in os.listdir(self.d) if f.endswith(".png"))
        if pngs:
            lines += ["", "Plots: " + ", ".join(pngs)]
        return "\n".join(lines) + "\n"

    # ---- plot data -------------------------------------------------------------------------------
    def plotdata(self, pd):
        os.makedirs(pd, exist_ok=True)
        ps = []
        for n, j in self.by_kind("allreduce"):
            P = j["config"]["ranks"]
            ps.append(P)
            with open(os.path.join(pd, f"allreduce_p{P}.dat"), "w") as o:
                o.write("# bytes ring_busbw mpi_busbw (GB/s medians) ring_p25 ring_p75\n")
                for r in j["results"]:
                    o.write(f"{r['bytes']} {med(r['ring_busbw_GBps'])} "
                            f"{med(r['mpi_busbw_GBps'])} {r['ring_busbw_GBps']['p25']} "
                            f"{r['ring_busbw_GBps']['p75']}\n")
        with open(os.path.join(pd, "allreduce_ps.txt"), "w") as o:
            o.write(" ".join(map(str, sorted(ps))))
        net = self.one("netns_allreduce")
        series = []
        if net:
            keys = sorted({(r["hosts"], r["ranks_per_host"], r["link"]) for r in net["results"]})
            for h, per, link in keys:
                fn = f"netns_h{h}x{per}_{link}.dat"
                series.append(f"{fn}|{h} hosts x {per}, {link}")
                with open(os.path.join(pd, fn), "w") as o:
                    o.write("# bytes ring_busbw mpi_busbw\n")
                    for r in net["results"]:
                        if (r["hosts"], r["ranks_per_host"], r["link"]) == (h, per, link):
                            o.write(f"{r['bytes']} {r['ring_busbw_GBps']} {r['mpi_busbw_GBps']}\n")
        with open(os.path.join(pd, "netns_series.txt"), "w") as o:
            o.write("".join(s + "\n" for s in series))
        rows = []
        for n, j in sorted(self.by_kind("ckpt")):
            P = j["config"]["ranks"]
            t = {r["name"]: r for r in j.get("results", [])}
            for key, label in [("save", "save"), ("raw_write_fsync", "raw write+fsync"),
                               ("load_same_count_cold", "load cold"),
                               ("load_resharded_cold", "load resharded cold"),
                               ("raw_read_cold", "raw read cold")]:
                g = t.get(key, {}).get("GBps")
                if g and g.get("median"):
                    rows.append((f"{label} P={P}", g["median"], g["min"], g["max"]))
        with open(os.path.join(pd, "ckpt.dat"), "w") as o:
            o.write("# label GBps_median GBps_worst GBps_best\n")
            for r in rows:
                o.write(f"\"{r[0]}\" {r[1]:.4f} {r[2]:.4f} {r[3]:.4f}\n")
        rows = []
        st = self.one("step")
        if st:
            for r in st["results"]:
                rows.append((f"step {r['name']}", med(r["mfu"]), r["mfu"]["min"], r["mfu"]["max"]))
        for n, j in sorted(self.by_kind("train_step")):
            c = j["config"]
            for r in j["results"]:
                if r["mode"] in ("overlap_on", "compute_only"):
                    lab = (f"train {c['model']} P={r['ranks']}" if r["mode"] == "overlap_on"
                           else f"train {c['model']} compute only")
                    rows.append((lab, med(r["mfu"]), r["mfu"]["min"], r["mfu"]["max"]))
        for n, vs in sorted(self.by_kind("vs_pytorch"), key=lambda t: t[1]["config"]["model"]):
            m = vs["config"]["model"]
            for side, lab in (("ringtune", "ringtune"), ("ringtune_bf16", "ringtune bf16"),
                              ("pytorch", "PyTorch DDP"),
                              ("pytorch_single_fp32", "PyTorch 1 process"),
                              ("pytorch_single_bf16", "PyTorch 1 process bf16")):
                v = vs.get(side, {})
                if v.get("mfu") is not None:
                    rows.append((f"{lab} {m} P={vs['config']['ranks']}", v["mfu"], v["mfu"],
                                 v["mfu"]))
        with open(os.path.join(pd, "mfu.dat"), "w") as o:
            o.write("# label mfu_median mfu_min mfu_max\n")
            for r in rows:
                o.write(f"\"{r[0]}\" {r[1]:.4f} {r[2]:.4f} {r[3]:.4f}\n")
        sc = self.one("scaling")
        for mode in ("weak", "strong"):
            with open(os.path.join(pd, f"scaling_{mode}.dat"), "w") as o:
                o.write("# ranks efficiency tokens_per_s_median p25 p75 ideal_tokens_per_s\n")
                if not sc:
                    continue
                rs = [r for r in sc["results"] if r.get("mode") == mode and not r.get("skipped")]
                base = next((med(r["tokens_per_s"]) for r in rs if r["ranks"] == 1), None)
                for r in sorted(rs, key=lambda r: r["ranks"]):
                    t = r["tokens_per_s"]
                    ideal = base * r["ranks"] if base else 0
                    o.write(f"{r['ranks']} {r['efficiency']} {t['median']} {t['p25']} "
                            f"{t['p75']} {ideal}\n")
        gm = self.one("gemm")
        with open(os.path.join(pd, "gemm.dat"), "w") as o:
            o.write("# shape auto_gflops chosen_gflops (medians)\n")
            if gm:
                g = {}
                for r in gm["results"]:
                    g.setdefault(r["name"], {})[r["arch_config"]] = med(r["gflops"])
                for name, v in g.items():
                    o.write(f"\"{name}\" {v.get('auto', 0)} {v.get('chosen', 0)}\n")
        host = self.machine.get("machine", {})
        with open(os.path.join(pd, "title.txt"), "w") as o:
            o.write(f"{host.get('hostname', '')} - {host.get('cpu_model', '')}, "
                    f"{host.get('cpus_usable', '')} CPUs")

    def summary(self):
        print(f"results in {self.d}")
        for r in self.suite.get("steps", []):
            ok = "FAILED" if r["exit_status"] or not r["valid_json"] else "ok"
            print(f"  {r['step']:<24} {ok:<6} {r['seconds']:8.1f} s")
        for r in self.rows():
            verdict = {True: "  [goal met]", False: "  [goal MISSED]"}.get(r[5], "")
            print(f"  {r[0]}: {r[1]}  vs {r[2]}  {r[3]}{verdict}")


def merge_netns(nd):
    """tests/netns/bench.sh writes hH x N-RATE.json per point; one document of all of them."""
    sys.path.insert(0, HERE)
    import benchlib
    results, hosts, rates = [], set(), set()
    for f in sorted(glob.glob(os.path.join(nd, "h*x*-*.json"))):
        m = re.match(r"h(\d+)x(\d+)-([A-Za-z0-9]+)", os.path.basename(f))
        j = load(f)
        if not m or not j or j.get("benchmark") != "allreduce":
            continue
        h, per, link = int(m.group(1)), int(m.group(2)), m.group(3)
        hosts.add(h)
        rates.add(link)
        for r in j["results"]:
            results.append({"hosts": h, "ranks_per_host": per, "link": link,
                            "ranks": j["config"]["ranks"], "bytes": r["bytes"],
                            "ring_busbw_GBps": med(r["ring_busbw_GBps"]),
                            "mpi_busbw_GBps": med(r["mpi_busbw_GBps"]),
                            "busbw_ratio_ring_over_mpi": r.get("busbw_ratio_ring_over_mpi")})
    if not results:
        print(f"suite_report: no all-reduce results under {nd}", file=sys.stderr)
        return 1
    config = {"hosts": sorted(hosts), "links": sorted(rates),
              "emulation": "network namespaces on one machine, veth pairs, TBF-shaped links "
                           "(tests/netns)", "files": os.path.basename(nd.rstrip("/")) + "/"}
    json.dump(benchlib.document("allreduce_netns", config, results), sys.stdout, indent=2)
    print()
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--merge-netns":
        return merge_netns(argv[2])
    if len(argv) < 2 or not os.path.isdir(argv[1]):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    s = Suite(argv[1])
    args = argv[2:]
    while args:
        if args[0] == "--markdown" and len(args) > 1:
            with open(args[1], "w") as f:
                f.write(s.markdown())
            args = args[2:]
        elif args[0] == "--plotdata" and len(args) > 1:
            s.plotdata(args[1])
            args = args[2:]
        else:
            print(f"suite_report: unknown argument {args[0]}", file=sys.stderr)
            return 2
    s.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
