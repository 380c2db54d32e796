#!/usr/bin/env python3
"""Converters from the real data samples to our examples format.

Reads a dataset from the path given (never copied into the project) and
writes JSON Lines in the shape `streamlearn replay` gives examples.jsonl:
{"labels": {"click": y}, "weight": 1, "idx": [...], "val": [...],
"field": [...]} in the data's order, so bench_models_file, VW and River
(bench/peers_convert.py) learn from the same hashed features. Each
categorical value is one feature: idx = hash(field, value) mod 2^bits
(blake2b, stable across runs), val 1, field = the column's number.

  avazu   FILE.csv        Avazu CTR sample (click, hour, C1 .. C21): hour
                          becomes hour of day; id is dropped
  criteo  FILE            Criteo sample: label, I1..I13, C1..C26, as the
                          Kaggle train.csv (Id,Label,... with a header), the
                          raw tab-separated train.txt, or DeepCTR's CSV;
                          integers bucketed ⌊ln(v)²⌋ (v > 2), as the
                          challenge winners did
  ipinyou DIR             make-ipinyou-data's train.fm.txt then test.fm.txt
                          ("y idx:1 ..."); fields from featindex.txt
  mind    DIR             MIND behaviors.tsv (+ news.tsv): one example per
                          (impression, candidate) in time order; user,
                          news, category, subcategory, hour, weekday, history
                          length bucket, up to 20 history news ids

A path that does not exist is reported and the converter exits 3 (the
script that calls it skips the dataset).
"""
import argparse
import csv
import datetime
import hashlib
import json
import math
import os
import sys

BITS = 22


def h(field, value):
    d = hashlib.blake2b(f"{field}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(d, "little") & ((1 << BITS) - 1)


def emit(out, y, feats):
    """feats: [(field number, value string)] (missing values left out)."""
    idx = [h(f, v) for f, v in feats]
    out.write(json.dumps({"labels": {"click": int(y)}, "weight": 1, "idx": idx,
                          "val": [1] * len(idx), "field": [f for f, _ in feats]},
                         separators=(",", ":")) + "\n")


def avazu(path, out):
    n = 0
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        cols = [c for c in r.fieldnames if c not in ("id", "click")]
        for row in r:
            feats = [(0, "bias")]
            for i, c in enumerate(cols):
                v = row[c][-2:] if c == "hour" else row[c]
                feats.append((i + 1, v))
            emit(out, int(row["click"]), feats)
            n += 1
    return n


def criteo_int(v):
    v = int(float(v))
    return f"b{int(math.log(v) ** 2)}" if v > 2 else str(v)


def criteo(path, out):
    n = 0
    with open(path, newline="") as f:
        first = f.readline()
        f.seek(0)
        if "\t" in first:  # raw train.txt: label, 13 ints, 26 cats, no header
            rows = (line.rstrip("\r\n").split("\t") for line in f)
        else:
            rd = csv.reader(f)
            head = next(rd)
            skip = 1 if head[0].lower() == "id" else 0  # Kaggle CSV has Id first
            rows = (row[skip:] for row in rd)
        for row in rows:
            if len(row) < 40:
                continue
            feats = [(0, "bias")]
            for i in range(13):
                if row[1 + i] != "":
                    feats.append((1 + i, criteo_int(row[1 + i])))
            for i in range(26):
                if row[14 + i] != "":
                    feats.append((14 + i, row[14 + i]))
            emit(out, int(float(row[0])), feats)
            n += 1
    return n


def ipinyou(d, out):
    field_of = {}
    with open(os.path.join(d, "featindex.txt")) as f:
        for line in f:
            key, _, idx = line.rstrip("\n").rpartition("\t")
            field_of[idx] = int(key.split(":", 1)[0]) if key.split(":", 1)[0].isdigit() else 99
    n = 0
    for name in ("train.fm.txt", "test.fm.txt"):
        with open(os.path.join(d, name)) as f:
            for line in f:
                parts = line.split()
                feats = [(0, "bias")]
                for p in parts[1:]:
                    i = p.split(":", 1)[0]
                    feats.append((1 + field_of.get(i, 99) % 120, i))
                emit(out, int(parts[0]), feats)
                n += 1
    return n


def mind(d, out):
    news = {}
    p = os.path.join(d, "news.tsv")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                c = line.split("\t")
                if len(c) > 2:
                    news[c[0]] = (c[1], c[2])
    rows = []
    with open(os.path.join(d, "behaviors.tsv")) as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            if len(c) < 5:
                continue
            t = datetime.datetime.strptime(c[2], "%m/%d/%Y %I:%M:%S %p")
            rows.append((t, c[1], c[3].split(), c[4].split()))
    rows.sort(key=lambda r: r[0])  # a stream in time order
    n = 0
    for t, user, hist, imps in rows:
        hb = str(min(10, int(2 * math.log2(1 + len(hist)))))
        for imp in imps:
            nid, _, y = imp.rpartition("-")
            cat, sub = news.get(nid, ("?", "?"))
            feats = [(0, "bias"), (1, user), (2, nid), (3, cat), (4, sub), (5, str(t.hour)),
                     (6, str(t.weekday())), (7, hb), (8, str(len(imps) // 5))]
            feats += [(9, hn) for hn in hist[-20:]]
            emit(out, int(y), feats)
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", choices=["avazu", "criteo", "ipinyou", "mind"])
    ap.add_argument("path")
    ap.add_argument("out")
    a = ap.parse_args()
    if not os.path.exists(a.path):
        print(f"peers_data: {a.dataset}: {a.path} not found, skipped", file=sys.stderr)
        sys.exit(3)
    with open(a.out, "w") as out:
        n = globals()[a.dataset](a.path, out)
    print(f"peers_data: {a.dataset}: {n} examples from {a.path} to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
