#!/usr/bin/env python3
"""Per-record agreement between `mamori hunt --format json` and Chainsaw's
`hunt --jsonl` output over the same EVTX files and rules.

    bench/hunt-compare.py MAMORI.jsonl CHAINSAW.jsonl

A hit is (file, event record number, rule id). Prints how many of
Chainsaw's individual (non-aggregate) hits mamori also has, the ones it
misses grouped by rule, and the hits only mamori has, grouped by rule.
"""
import collections
import json
import os
import sys


def norm(path):
    return os.path.realpath(path)


def records(path):
    """JSON values one after another (tolerates line breaks inside them)."""
    text = open(path, encoding="utf-8", errors="replace").read()
    dec = json.JSONDecoder()
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return
        try:
            value, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            # Seen with Chainsaw 2.16.4 `-o FILE`: its last line is cut short.
            print(f"warning: {path}: unreadable from char {e.pos} on ({len(text) - i} bytes); "
                  "counted up to there", file=sys.stderr)
            return
        yield value


def mamori_hits(path):
    hits = set()
    titles = {}
    for h in records(path):
        if h.get("record_id") is None or not h.get("rule_id"):
            continue
        key = (norm(h["file"]), h["record_id"], h["rule_id"])
        hits.add(key)
        titles[h["rule_id"]] = h["rule"]
    return hits, titles


def chainsaw_hits(path):
    hits = set()
    titles = {}
    aggregates = 0
    for h in records(path):
        if h.get("kind") != "individual":
            aggregates += 1
            continue
        doc = h["document"]
        record = doc["data"]["Event"]["System"]["EventRecordID"]
        key = (norm(doc["path"]), record, h["id"])
        hits.add(key)
        titles[h["id"]] = h["name"]
    return hits, titles, aggregates


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    m, mt = mamori_hits(sys.argv[1])
    c, ct, aggregates = chainsaw_hits(sys.argv[2])
    both = m & c
    missed = c - m
    extra = m - c
    share = 100.0 * len(both) / len(c) if c else 100.0
    print(f"chainsaw individual hits: {len(c)} (aggregate hits left out: {aggregates})")
    print(f"mamori hits:              {len(m)}")
    print(f"chainsaw hits mamori also has: {len(both)} ({share:.1f}%)")
    print(f"chainsaw hits mamori misses:   {len(missed)}")
    for rule, n in collections.Counter(k[2] for k in missed).most_common():
        files = sorted({os.path.basename(k[0]) for k in missed if k[2] == rule})
        print(f"  {n:4d}  {ct.get(rule, rule)}  [{', '.join(files[:3])}{' …' if len(files) > 3 else ''}]")
    print(f"hits only mamori has:          {len(extra)}")
    for rule, n in collections.Counter(k[2] for k in extra).most_common(25):
        print(f"  {n:4d}  {mt.get(rule, rule)}")


if __name__ == "__main__":
    main()
