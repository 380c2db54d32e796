#!/usr/bin/env python3
"""The peers of bench/models_peers.sh over our examples files.

An examples file is JSON Lines as `streamlearn replay` writes
DIR/examples.jsonl (or bench/peers_data.py writes from the real data): one
object per view with "labels", "weight", "idx", "val", "field". Every
learner sees the same hashed sparse features in the same order; the dense
vector is not used.

  vw-text  EXAMPLES OUT.vw [--label click] [--drop-fields-from F]
      Vowpal Wabbit text: `±1 weight |a i<idx>[:val] ...` (one namespace,
      so `-q aa` is every pair and `--lrq aa8` a factorization machine).
  vw       DATA.vw [--cache] --args "VW OPTIONS"
      Runs VW (the pip package's Workspace over `-d DATA.vw`: VW's own
      parser and driver, one pass): progressive log loss from its sum of
      losses (predict before learn), examples/s of the run. With --cache, a
      first run writes VW's binary cache and the timed run reads it, so the
      figure is mostly learning, not text parsing.
  river    EXAMPLES --model lr|fm [--alpha A] [--lr LR] [--limit N] ...
      River, one dict per example (predict_proba_one, then learn_one);
      only those two calls are timed.

Each run prints one line `RESULT learner=... loss=... ex_per_s=... n=...`
for bench/models_peers.sh to collect.
"""
import argparse
import json
import math
import os
import sys
import time


def logloss(p, y):
    p = min(max(p, 1e-15), 1 - 1e-15)
    return -math.log(p) if y > 0.5 else -math.log(1 - p)


def examples(path, label, drop_from, limit):
    """Yields (y, weight, [(idx, val, field)]) per example line."""
    n = 0
    with open(path) as f:
        for line in f:
            if limit is not None and n >= limit:
                return
            o = json.loads(line)
            y = o.get("labels", {}).get(label)
            if y is None:
                continue
            feats = [(i, v, fl) for i, v, fl in zip(o["idx"], o["val"], o["field"])
                     if fl < drop_from]
            n += 1
            yield float(y), float(o.get("weight", 1)), feats


def cmd_vw_text(a):
    n = 0
    with open(a.out, "w") as out:
        for y, w, feats in examples(a.examples, a.label, a.drop_fields_from, a.limit):
            fs = " ".join(f"i{i}" if v == 1 else f"i{i}:{v:g}" for i, v, _ in feats)
            out.write(f"{1 if y > 0.5 else -1} {w:g} |a {fs}\n")
            n += 1
    print(f"vw-text: {n} examples to {a.out}", file=sys.stderr)


def cmd_vw(a):
    from vowpalwabbit import Workspace

    args = a.args
    base = f"-d {a.data} --loss_function logistic --link logistic --quiet {args}"
    cache = a.data + ".cache"
    if a.cache:
        if os.path.exists(cache):
            os.remove(cache)
        base += f" --cache_file {cache}"
        Workspace(base).finish()  # parses the text once and writes the cache
    # With -d, the Workspace runs VW's parser and learner over the whole
    # file as it is built: that is the timed part.
    t0, c0 = time.perf_counter(), time.process_time()
    vw = Workspace(base)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    loss, n = vw.get_sum_loss(), vw.get_weighted_examples()
    vw.finish()
    if a.cache:
        os.remove(cache)
    print(f"RESULT learner=vw args='{args}{' (from cache)' if a.cache else ''}' "
          f"loss={loss / n:.5f} ex_per_s={n / dt:.0f} cpu_ex_per_s={n / dc:.0f} n={n:.0f}")


def cmd_river(a):
    from river import facto, linear_model, optim

    if a.model == "lr":
        model = linear_model.LogisticRegression(
            optimizer=optim.FTRLProximal(alpha=a.alpha, beta=a.beta, l1=a.l1, l2=a.l2),
            intercept_lr=a.intercept_lr)
    else:
        model = facto.FMClassifier(
            n_factors=a.k, weight_optimizer=optim.AdaGrad(a.lr),
            latent_optimizer=optim.AdaGrad(a.lr), l2_latent=a.l2_latent,
            intercept_lr=a.intercept_lr, seed=1)
    loss = wsum = spent = 0.0
    n = 0
    for y, w, feats in examples(a.examples, a.label, a.drop_fields_from, a.limit):
        x = {f"i{i}": v for i, v, _ in feats}
        yb = y > 0.5
        t0 = time.perf_counter()
        p = model.predict_proba_one(x).get(True, 0.5)
        model.learn_one(x, yb, w)
        spent += time.perf_counter() - t0
        loss += w * logloss(p, y)
        wsum += w
        n += 1
    what = (f"lr alpha={a.alpha} l1={a.l1} l2={a.l2}" if a.model == "lr"
            else f"fm k={a.k} adagrad lr={a.lr}")
    print(f"RESULT learner=river args='{what}' loss={loss / wsum:.5f} "
          f"ex_per_s={n / spent:.0f} n={n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("vw-text")
    t.add_argument("examples")
    t.add_argument("out")
    v = sub.add_parser("vw")
    v.add_argument("data")
    v.add_argument("--cache", action="store_true")
    v.add_argument("--args", default="", help="VW's options, one string")
    r = sub.add_parser("river")
    r.add_argument("examples")
    r.add_argument("--model", choices=["lr", "fm"], default="lr")
    r.add_argument("--alpha", type=float, default=0.05)
    r.add_argument("--beta", type=float, default=1.0)
    r.add_argument("--l1", type=float, default=0.0)
    r.add_argument("--l2", type=float, default=1.0)
    r.add_argument("--intercept-lr", type=float, default=0.01)
    r.add_argument("--k", type=int, default=8)
    r.add_argument("--lr", type=float, default=0.05)
    r.add_argument("--l2-latent", type=float, default=1e-4)
    for p in (t, r):
        p.add_argument("--label", default="click")
        p.add_argument("--drop-fields-from", type=int, default=1 << 30)
        p.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    {"vw-text": cmd_vw_text, "vw": cmd_vw, "river": cmd_river}[a.cmd](a)


if __name__ == "__main__":
    main()
