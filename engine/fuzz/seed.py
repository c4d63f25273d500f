#!/usr/bin/env python3
"""Writes a fuzz target's seed corpus from the shared data and the repository's rules.

usage: seed.py TARGET CORPUS_DIR

Seeds are generated at run time into the (git-ignored) corpus folder, one file per input named
by its SHA-1 as libFuzzer names them, so running this again adds nothing twice. The shared data
lives in `../shared` beside the repository and is never copied into it.
"""

import gzip
import hashlib
import json
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CLOUDTRAIL = SHARED / "data" / "cloudtrail"

# Header bytes of the envelope target: framing index (Lines, RecordsArray, Concatenated) and
# limit index (0 = no limit, 3 = 16 bytes).
FRAMINGS = {"lines": 0, "records": 1, "concatenated": 2}


def records():
    """Every real record and labelled case, one compact JSON line each."""
    for path in sorted((CLOUDTRAIL / "corpus").glob("*.ndjson.gz")):
        with gzip.open(path, "rb") as f:
            yield from (line.rstrip(b"\r\n") for line in f if line.strip())
    for name in ("cases.jsonl", "ambiguous.jsonl"):
        for line in (CLOUDTRAIL / "fixtures" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)["record"]
                yield json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def rule_files():
    """(path, parsed TOML) of the repository's rules and Elastic's AWS rules."""
    paths = sorted((REPO / "rules").glob("*.toml"))
    paths += sorted((SHARED / "rules" / "elastic-aws").glob("*.toml"))
    for path in paths:
        yield path, tomllib.loads(path.read_text(encoding="utf-8"))


def envelopes():
    for path in sorted((CLOUDTRAIL / "fixtures" / "envelopes").glob("*.json*")):
        data = path.read_bytes()
        yield gzip.decompress(data) if path.suffix == ".gz" else data


def batches(lines, size):
    for start in range(0, len(lines), size):
        yield b"\n".join(lines[start : start + size]) + b"\n"


def seeds_transform():
    lines = list(records())
    for i, record in enumerate(lines):
        yield bytes([i % 3]) + record + b"\n"
    mixed = [b"", b"  \r", b"not json", b"[1,2]", b'{"eventName":"CreateGroup"'] + lines[:60]
    for i, batch in enumerate(batches(mixed, 13)):
        yield bytes([i % 3]) + batch
        yield bytes([i % 3]) + batch.replace(b"\n", b"\r\n")


def seeds_fast_path():
    yield from records()
    for _, rule in rule_files():
        for example in rule.get("example", []):
            yield example["record"].encode()


def seeds_envelope():
    for data in envelopes():
        for framing in FRAMINGS.values():
            for limit in (0, 3):
                yield bytes([framing, limit, 0]) + data
        yield bytes([FRAMINGS["records"], 0, 2, 7, 0, 200, 1]) + data
    lines = list(records())[:40]
    for batch in batches(lines, 8):
        yield bytes([FRAMINGS["lines"], 0, 0]) + batch
        yield bytes([FRAMINGS["concatenated"], 0, 0]) + batch


def queries():
    for _, rule in rule_files():
        query = rule.get("rule", {}).get("query")
        if isinstance(query, str):
            yield query


def seeds_query_parser():
    for query in queries():
        yield query.encode()


def seeds_rule_file():
    for path, _ in rule_files():
        yield path.read_bytes()


def seeds_rule_query():
    for _, rule in rule_files():
        spec = rule.get("rule", {})
        query = spec.get("query")
        if not isinstance(query, str):
            continue
        paths = [p for v in spec.get("context", {}).values() for p in context_paths(v)]
        context = (paths[0] if paths else "").encode()
        examples = rule.get("example", []) or [{"record": "{}", "matches": False}]
        for example in examples:
            flags = 2 if example["matches"] else 0
            body = query.encode() + b"\0" + example["record"].encode() + b"\0" + context
            yield bytes([flags]) + body
            yield bytes([flags | 4 | 1]) + body
            yield bytes([flags | 8]) + body


def context_paths(value):
    if isinstance(value, str):
        return [value]
    return list(value.get("from", []))


SEEDS = {
    "transform": seeds_transform,
    "fast_path": seeds_fast_path,
    "envelope": seeds_envelope,
    "query_parser": seeds_query_parser,
    "rule_file": seeds_rule_file,
    "rule_query": seeds_rule_query,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SEEDS:
        sys.exit(f"usage: seed.py {{{','.join(SEEDS)}}} CORPUS_DIR")
    if not CLOUDTRAIL.is_dir():
        sys.exit(f"the shared data is missing: expected {CLOUDTRAIL}")
    corpus = Path(sys.argv[2])
    corpus.mkdir(parents=True, exist_ok=True)
    written = 0
    for seed in SEEDS[sys.argv[1]]():
        path = corpus / hashlib.sha1(seed).hexdigest()
        if not path.exists():
            path.write_bytes(seed)
            written += 1
    print(f"{sys.argv[1]}: {written} new seed(s) in {corpus}")


if __name__ == "__main__":
    main()
