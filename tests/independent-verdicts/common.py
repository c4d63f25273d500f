"""What every comparison needs: the paths, the corpus, trailtag run as a program, and the
verdict comparison with its list of allowed differences.

A verdict is the set of record indices a rule matched. Each record carries a label that says
where it came from (`corpus:<file>:<line>` or `synth:<rule>:<variant>`), so a difference is
named by rule id and record label, never by position alone.
"""

import gzip
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SHARED = REPO.parent / "shared"
CORPUS = sorted((SHARED / "data" / "cloudtrail" / "corpus").glob("*.ndjson.gz"))
SIGMA_RULES = SHARED / "rules" / "sigma-aws"
ELASTIC_RULES = SHARED / "rules" / "elastic-aws"
TRAILTAG = REPO / "target" / "debug" / "trailtag"


def require_inputs():
    """Fails with what to do when the binary or the shared data is missing."""
    if not TRAILTAG.is_file():
        raise FileNotFoundError(
            f"{TRAILTAG} is missing: build it first with `cargo build -p trailtag` "
            "(scripts/test-all runs `cargo test --workspace`, which builds it)"
        )
    if not CORPUS:
        raise FileNotFoundError(
            f"no corpus in {SHARED}/data/cloudtrail/corpus: the tests read the shared data "
            "in ../shared beside the repository"
        )


@dataclass
class Records:
    """Raw CloudTrail records, each with a label saying where it came from."""

    labels: list = field(default_factory=list)
    records: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # the text trailtag reads, one line each

    def add(self, label, record, line=None):
        """A record; `line` is its original text (a corpus line is passed on byte for byte, so
        number spellings and escapes reach trailtag as the producer wrote them)."""
        self.labels.append(label)
        self.records.append(record)
        self.lines.append(line if line is not None else
                          json.dumps(record, ensure_ascii=False, separators=(",", ":")))

    def ndjson(self):
        return ("\n".join(self.lines) + "\n").encode()

    def __len__(self):
        return len(self.records)


def corpus():
    """The whole real corpus, every record of the three files, labelled by file and line."""
    records = Records()
    for path in CORPUS:
        stem = path.name.removesuffix(".ndjson.gz")
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    records.add(f"corpus:{stem}:{number}", json.loads(line), line.rstrip("\n"))
    return records


@dataclass
class TrailtagRun:
    """What `trailtag tag` said: the rules it loaded and the rule ids each record matched."""

    loaded: set
    matched: list  # one set of rule ids per record
    skipped_files: int
    stderr: str


def run_trailtag_tag(records, rules_dir, skip_invalid=False):
    """Tags `records` with only the rules in `rules_dir`; checks that no record is lost."""
    command = [str(TRAILTAG), "tag", "--no-builtin-rules", "--rules", str(rules_dir),
               "--summary", "json", "--progress", "never", "-"]
    if skip_invalid:
        command.insert(2, "--skip-invalid-rules")
    done = subprocess.run(command, input=records.ndjson(), capture_output=True, check=False)
    stderr = done.stderr.decode()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{stderr}")
    summary = json.loads(stderr.strip().splitlines()[-1])
    lines = done.stdout.decode().splitlines()
    if len(lines) != len(records) or summary["records_out"] != len(records):
        raise RuntimeError(f"trailtag wrote {len(lines)} records for {len(records)}")
    if summary["unreadable"] or summary["guest_faults"] or summary["oversized"]:
        raise RuntimeError(f"trailtag could not read every record: {summary}")
    matched = []
    for line in lines:
        tag = json.loads(line).get("trailtag")
        matched.append({d["id"] for d in tag["detections"]} if tag else set())
    skipped = sum(int(l.split()[1]) for l in stderr.splitlines()
                  if l.startswith("trailtag: ") and "rule file(s) skipped" in l)
    return TrailtagRun(set(summary["per_rule"]), matched, skipped, stderr)


def run_trailtag_ecs(records):
    """The ECS document trailtag builds for each record (the view Elastic rules read)."""
    command = [str(TRAILTAG), "ecs", "-"]
    done = subprocess.run(command, input=records.ndjson(), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"trailtag ecs failed ({done.returncode}):\n{done.stderr.decode()}")
    documents = [json.loads(line) for line in done.stdout.decode().splitlines()]
    if len(documents) != len(records):
        raise RuntimeError(f"trailtag ecs wrote {len(documents)} documents for {len(records)}")
    return documents


@dataclass(frozen=True)
class Difference:
    """One rule, one record, the two verdicts."""

    rule: str
    record: str
    trailtag: bool

    def __str__(self):
        them = "no match" if self.trailtag else "match"
        us = "match" if self.trailtag else "no match"
        return f"{self.rule} on {self.record}: trailtag {us}, independent {them}"


@dataclass
class Comparison:
    """Per-rule verdicts of trailtag and of the independent implementation, side by side."""

    labels: list
    rules: list  # (rule id, name) compared
    differences: set = field(default_factory=set)
    agreed_matches: int = 0
    trailtag_matches: dict = field(default_factory=dict)
    independent_matches: dict = field(default_factory=dict)

    def add(self, rule, trailtag, independent):
        """`trailtag` and `independent` are the sets of record indices the rule matched."""
        self.trailtag_matches[rule] = len(trailtag)
        self.independent_matches[rule] = len(independent)
        self.agreed_matches += len(trailtag & independent)
        for index in trailtag ^ independent:
            self.differences.add(Difference(rule, self.labels[index], index in trailtag))

    def unexplained(self, allowed):
        """Differences not in `allowed`, and allowed ones that no longer occur (the list must
        not rot): both must be empty."""
        seen = {(d.rule, d.record, d.trailtag) for d in self.differences}
        extra = sorted(str(d) for d in self.differences
                       if (d.rule, d.record, d.trailtag) not in allowed)
        stale = sorted(f"{r} on {rec} (trailtag {'match' if t else 'no match'}): {allowed[(r, rec, t)]}"
                       for (r, rec, t) in allowed if (r, rec, t) not in seen)
        return extra, stale

    def silent_rules(self):
        """Rules that matched no record in one of the two implementations."""
        return sorted(r for r, _ in self.rules
                      if not self.trailtag_matches.get(r) or not self.independent_matches.get(r))

    def summary(self, title, records, allowed):
        """Counts, then each difference with the title of its reason (the text before `:`)."""
        both = sum(1 for r, _ in self.rules
                   if self.trailtag_matches.get(r) and self.independent_matches.get(r))
        lines = [
            f"{title}: {len(self.rules)} rules compared over {records} records "
            f"({sum(1 for l in self.labels if l.startswith('corpus:'))} real, "
            f"{sum(1 for l in self.labels if l.startswith('synth:'))} synthesized)",
            f"  matches agreed: {self.agreed_matches}; trailtag matches: "
            f"{sum(self.trailtag_matches.values())}; independent matches: "
            f"{sum(self.independent_matches.values())}",
            f"  rules matching in both: {both} of {len(self.rules)}; "
            f"differences: {len(self.differences)} (allowed: {len(allowed)})",
        ]
        for d in sorted(self.differences, key=str):
            reason = allowed.get((d.rule, d.record, d.trailtag), "NOT ALLOWED")
            lines.append(f"    {d} [{reason.split(':')[0]}]")
        return "\n".join(lines)
