"""Checks for the independent host (host.py), run with the standard library:

    python3 -m unittest tests/independent-host/test_host.py -v

The module comes from $TRAILTAG_WASM (default: the cargo output path); the data
from $TRAILTAG_DATA (default: ../shared/data/cloudtrail beside the repository). A missing module or
missing data is a failure, never a skip.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import wasmtime  # noqa: E402

import host  # noqa: E402

HOST = os.path.join(HERE, "host.py")
WASM = os.environ.get("TRAILTAG_WASM", os.path.normpath(host.DEFAULT_WASM))
DATA = os.environ.get("TRAILTAG_DATA", os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "cloudtrail")))
CORPUS = [os.path.join(DATA, "corpus", name) for name in (
    "elastic-integrations_cloudtrail-pipeline-tests.ndjson.gz",
    "invictus-ir_aws_dataset.ndjson.gz",
    "otrf_security-datasets_ec2-proxy-s3-exfiltration.ndjson.gz",
)]
CASES = os.path.join(DATA, "fixtures", "cases.jsonl")

CORPUS_RECORDS = 3027
CORPUS_PER_RULE = {
    "iam_group_created": 2,
    "iam_group_deleted": 1,
    "roles_anywhere_activity": 7,
    "roles_anywhere_profile_created": 1,
    "roles_anywhere_trust_anchor_external_ca": 1,
}
CORPUS_TAGGED = 10  # records with at least one detection

ABIS = ("raw", "fluent-bit")


def require_inputs(test: unittest.TestCase) -> None:
    """Fails (does not skip) when the module or the data is missing."""
    test.assertTrue(os.path.isfile(WASM),
                    f"module not found: {WASM} (build it with `cargo build -p trailtag-plugin "
                    f"--target wasm32-unknown-unknown --profile wasm` or set TRAILTAG_WASM)")
    for path in CORPUS + [CASES]:
        test.assertTrue(os.path.isfile(path), f"data file not found: {path}")


_CACHE = tempfile.TemporaryDirectory(prefix="trailtag-host-cache-")


def run_host(args: list[str], stdin: bytes = b"", wasm: str | None = None):
    # Compiled code is cached in a directory this test run owns, so that the
    # module is compiled once per interrupt mode rather than once per run.
    env = dict(os.environ, TRAILTAG_WASM=wasm or WASM, TRAILTAG_HOST_CACHE=_CACHE.name)
    proc = subprocess.run([sys.executable, HOST] + args, input=stdin, capture_output=True,
                          env=env, timeout=600)
    stderr = proc.stderr.decode("utf-8", errors="replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    summary = None
    if lines:
        try:
            summary = json.loads(lines[-1])
        except ValueError:
            summary = None
    return proc.returncode, proc.stdout, stderr, summary


def detection_ids(line: bytes) -> list[str]:
    doc = json.loads(line)
    tag = doc.get("trailtag")
    if not isinstance(tag, dict) or "detections" not in tag:
        return []
    return sorted(d["id"] for d in tag["detections"])


def corpus_lines() -> list[bytes]:
    lines = []
    for path in CORPUS:
        with gzip.open(path, "rb") as f:
            data = f.read()
        lines.extend(host.split_lines(data))
    return lines


def load_cases() -> list[dict]:
    with open(CASES, "rb") as f:
        return [json.loads(line) for line in f if line.strip()]


class InputsPresent(unittest.TestCase):
    def test_module_and_data_present(self):
        require_inputs(self)


class Corpus(unittest.TestCase):
    """The 3,027-record corpus through both ABIs."""

    def check_corpus(self, abi: str, extra: list[str] = ()) -> bytes:
        require_inputs(self)
        rc, out, err, summary = run_host(["--abi", abi, *extra, *CORPUS])
        self.assertEqual(rc, 0, err)
        self.assertIsNotNone(summary, err)
        self.assertEqual(summary["per_rule"], CORPUS_PER_RULE)
        self.assertEqual(summary["records_in"], CORPUS_RECORDS)
        self.assertEqual(summary["records_out"], CORPUS_RECORDS)
        self.assertEqual(summary["tagged"], CORPUS_TAGGED)
        self.assertEqual(summary["unreadable"], 0)
        self.assertEqual(summary["blank"], 0)
        inputs = corpus_lines()
        self.assertEqual(len(inputs), CORPUS_RECORDS)
        outputs = host.split_lines(out)
        self.assertTrue(out.endswith(b"\n"))
        self.assertEqual(len(outputs), len(inputs))
        counts = collections.Counter()
        tagged = 0
        for i, (src, dst) in enumerate(zip(inputs, outputs)):
            ids = detection_ids(dst)
            if ids:
                tagged += 1
                counts.update(ids)
                # abi.md section 4: the same bytes with one member inserted
                # before the closing brace (none of these records had one).
                self.assertTrue(src.endswith(b"}"), i)
                self.assertTrue(dst.startswith(src[:-1] + b',"trailtag":{'), i)
                self.assertTrue(dst.endswith(b"}}"), i)
                self.assertEqual(json.loads(dst)["trailtag"]["version"], 1)
            else:
                self.assertEqual(dst, src, f"untagged line {i + 1} changed")
        self.assertEqual(tagged, CORPUS_TAGGED)
        self.assertEqual(dict(counts), CORPUS_PER_RULE)
        return out

    def test_raw(self):
        out = self.check_corpus("raw")
        # Cutting the input into other batches changes nothing.
        rc, out_small, err, summary = run_host(["--batch-bytes", "65536", *CORPUS])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out_small, out)
        self.assertEqual(summary["per_rule"], CORPUS_PER_RULE)

    def test_fluent_bit(self):
        self.check_corpus("fluent-bit")

    def test_raw_and_fluent_bit_agree(self):
        require_inputs(self)
        outs = [run_host(["--abi", abi, *CORPUS])[1] for abi in ABIS]
        self.assertEqual(outs[0], outs[1])

    def test_epoch_interruption(self):
        self.check_corpus("raw", ["--interrupt", "epoch"])

    def test_only_matches(self):
        require_inputs(self)
        for abi in ABIS:
            with self.subTest(abi=abi):
                rc, out, err, summary = run_host(["--abi", abi, "--only-matches", *CORPUS])
                self.assertEqual(rc, 0, err)
                lines = host.split_lines(out)
                self.assertEqual(len(lines), CORPUS_TAGGED)
                self.assertTrue(all(detection_ids(line) for line in lines))
                self.assertEqual(summary["per_rule"], CORPUS_PER_RULE)
                self.assertEqual(summary["records_out"], CORPUS_TAGGED)
                self.assertEqual(summary["records_in"], CORPUS_RECORDS)

    def test_validate_finds_nothing_unreadable(self):
        require_inputs(self)
        rc, out, err, summary = run_host(["--validate", *CORPUS])
        self.assertEqual(rc, 0, err)
        self.assertEqual(summary["unreadable"], 0)
        self.assertEqual(summary["per_rule"], CORPUS_PER_RULE)


class Cases(unittest.TestCase):
    """fixtures/cases.jsonl: every record gets exactly its expected ids."""

    def check_cases(self, abi: str) -> None:
        require_inputs(self)
        cases = load_cases()
        self.assertEqual(len(cases), 100)
        inputs = [json.dumps(c["record"], ensure_ascii=False, separators=(",", ":")).encode()
                  for c in cases]
        rc, out, err, summary = run_host(["--abi", abi], stdin=b"\n".join(inputs) + b"\n")
        self.assertEqual(rc, 0, err)
        outputs = host.split_lines(out)
        self.assertEqual(len(outputs), len(cases))
        expected_counts = collections.Counter()
        for case, src, dst in zip(cases, inputs, outputs):
            with self.subTest(case=case["id"]):
                self.assertEqual(detection_ids(dst), case["expect"])
                if not case["expect"]:
                    self.assertEqual(dst, src)
            expected_counts.update(case["expect"])
        for rule_id, count in summary["per_rule"].items():
            self.assertEqual(count, expected_counts.get(rule_id, 0), rule_id)
        self.assertEqual(summary["tagged"], sum(1 for c in cases if c["expect"]))
        self.assertEqual(summary["records_in"], len(cases))

    def test_raw(self):
        self.check_cases("raw")

    def test_fluent_bit(self):
        self.check_cases("fluent-bit")


IAM_CREATE = b'{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup"}'
IAM_DELETE = b'{"eventSource":"iam.amazonaws.com","eventName":"DeleteGroup"}'


class Faults(unittest.TestCase):
    """abi.md section 8, driven by the module's fault_injection hooks."""

    def test_faults_pass_records_through(self):
        require_inputs(self)
        marker = "INDEPENDENT-HOST-FAULT"
        bad = b'{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","x":"' + \
            marker.encode() + b'"}'
        data = IAM_CREATE + b"\n" + bad + b"\n" + IAM_DELETE + b"\n"
        for abi in ABIS:
            for hook in ("trap", "spin", "grow"):
                with self.subTest(abi=abi, hook=hook):
                    # One line per batch, so only the marked record's call fails.
                    rc, out, err, summary = run_host(
                        ["--abi", abi, "--batch-bytes", "16", "--memory-limit", str(64 << 20),
                         f"--fault-{hook}", marker], stdin=data)
                    self.assertEqual(rc, 1, err)
                    self.assertIn("fault:", err)
                    lines = host.split_lines(out)
                    self.assertEqual(len(lines), 3)
                    self.assertEqual(detection_ids(lines[0]), ["iam_group_created"])
                    self.assertEqual(lines[1], bad)
                    # The recreated, reconfigured instance tags the next record.
                    self.assertEqual(detection_ids(lines[2]), ["iam_group_deleted"])
                    self.assertEqual(summary["per_rule"]["iam_group_created"], 1)
                    self.assertEqual(summary["per_rule"]["iam_group_deleted"], 1)
                    self.assertEqual(summary["records_in"], 3)
                    self.assertEqual(summary["records_out"], 3)

    def test_whole_batch_passes_through(self):
        require_inputs(self)
        data = IAM_CREATE + b"\n\nMARK\n" + IAM_DELETE  # last line without newline
        rc, out, err, summary = run_host(["--fault-trap", "MARK"], stdin=data)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, data + b"\n")
        self.assertEqual(summary["blank"], 1)
        self.assertEqual(summary["records_in"], 3)
        self.assertEqual(summary["tagged"], 0)

    def test_library_recreates_instance(self):
        require_inputs(self)
        s = host.Session.from_file(WASM, config={"fault_injection": {"trap": "BOOM"}})
        try:
            with self.assertRaises(host.ModuleFault):
                s.transform(b"BOOM\n")
            s.recreate()
            self.assertEqual(s.instances_created, 2)
            r = s.transform(IAM_CREATE + b"\n")
            self.assertEqual(r.stats.tagged, 1)
        finally:
            s.close()


class Configuration(unittest.TestCase):
    def test_rule_error_is_reported(self):
        require_inputs(self)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "broken_rule.toml")
            with open(path, "w") as f:
                f.write('[rule]\nid = "broken_rule"\nquery = \'\'\'\neventName === "X"\n\'\'\'\n')
            rc, out, err, summary = run_host(["--rules", path, "--", "-"], stdin=IAM_CREATE)
            self.assertEqual(rc, 2, err)
            self.assertIn("RULE_ERROR", err)
            self.assertIn("broken_rule.toml", err)  # the module's message reaches the user
            self.assertEqual(out, b"")

    def test_extra_rule_file(self):
        require_inputs(self)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "ec2_run_instances.toml")
            with open(path, "w") as f:
                f.write('[rule]\nid = "ec2_run_instances"\nname = "EC2 RunInstances"\n'
                        'description = "test rule"\nseverity = "high"\nrisk_score = 73\n'
                        'author = ["independent-host"]\n'
                        'query = \'\'\'\neventSource == "ec2.amazonaws.com" and '
                        'eventName == "RunInstances"\n\'\'\'\n')
            record = b'{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances"}\n'
            for abi in ABIS:
                with self.subTest(abi=abi):
                    rc, out, err, summary = run_host(
                        ["--abi", abi, "--no-builtin-rules", "--rules", path, "--", "-"],
                        stdin=record + IAM_CREATE + b"\n")
                    self.assertEqual(rc, 0, err)
                    self.assertEqual(summary["per_rule"], {"ec2_run_instances": 1})
                    lines = host.split_lines(out)
                    self.assertEqual(detection_ids(lines[0]), ["ec2_run_instances"])
                    self.assertEqual(lines[1], IAM_CREATE)

    def test_invalid_config_status(self):
        require_inputs(self)
        with self.assertRaises(host.ConfigError) as ctx:
            host.Session.from_file(WASM, config={"builtin_rule": True})
        self.assertEqual(ctx.exception.status_name, "INVALID_CONFIG")
        self.assertTrue(ctx.exception.message)


class RawSemantics(unittest.TestCase):
    """A few abi.md section 4/5 statements checked through the library."""

    @classmethod
    def setUpClass(cls):
        require_inputs(cls())  # fails in setUpClass (an error, not a skip)
        cls.s = host.Session.from_file(WASM)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_blank_unreadable_and_missing_final_newline(self):
        batch = IAM_CREATE + b"\r\n \t\r\nnot json\n[1]\n" + IAM_DELETE
        r = self.s.transform(batch)
        lines = host.split_lines(r.output)
        self.assertEqual(len(lines), 5)
        self.assertTrue(lines[0].endswith(b"}\r"))
        self.assertEqual(lines[1:4], [b" \t\r", b"not json", b"[1]"])
        self.assertEqual((r.stats.records_in, r.stats.blank, r.stats.unreadable,
                          r.stats.tagged, r.stats.lines_out), (4, 1, 2, 2, 5))
        self.assertEqual([i for i, _ in r.unreadable], [2, 3])

    def test_existing_trailtag_member_is_replaced(self):
        r = self.s.transform(b'{"trailtag":1,"eventSource":"iam.amazonaws.com",'
                             b'"eventName":"CreateGroup"}\n')
        doc = json.loads(r.output)
        self.assertEqual(doc["trailtag"]["version"], 1)
        self.assertEqual(r.output.count(b'"trailtag"'), 1)

    def test_empty_batch(self):
        r = self.s.transform(b"")
        self.assertEqual(r.output, b"")
        self.assertEqual(r.stats.records_in, 0)


FAKE_WAT = """
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "[]")
  (data (i32.const 65532) "abcd")
  (global $heap (mut i32) (i32.const 1024))
  (func (export "tt_abi_version") (result i32) (i32.const %(version)d))
  (func (export "tt_alloc") (param i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.add (local.get 0) (i32.const 8))))
    (local.get $p))
  (func (export "tt_free") (param i32 i32))
  (func (export "tt_configure") (param i32 i32) (result i32) (i32.const 0))
  (func (export "tt_transform") (param i32 i32) (result i32) (i32.const 0))
  (func (export "tt_output_ptr") (result i32) (i32.const 65000))
  (func (export "tt_output_len") (result i32) (i32.const 4096))
  (func (export "tt_stats_ptr") (result i32) (i32.const 64))
  (func (export "tt_stats_len") (result i32) (i32.const 48))
  (func (export "tt_unreadable_ptr") (result i32) (i32.const 0))
  (func (export "tt_unreadable_len") (result i32) (i32.const 0))
  (func (export "tt_rules_ptr") (result i32) (i32.const 16))
  (func (export "tt_rules_len") (result i32) (i32.const 2))
  (func (export "tt_error_ptr") (result i32) (i32.const 0))
  (func (export "tt_error_len") (result i32) (i32.const 0))
  (func (export "malloc") (param i32) (result i32) (i32.const 2048))
  (func (export "free") (param i32))
  (func (export "trailtag_filter") (param i32 i32 i32 i32 i32 i32) (result i32) (i32.const 65532))
  (func (export "trailtag_filter_only_matches") (param i32 i32 i32 i32 i32 i32) (result i32)
    (i32.const 65532))
)
"""


class BrokenModules(unittest.TestCase):
    """Version refusal and bounds checks, against small hand-written modules."""

    def write_module(self, tmp: str, version: int) -> str:
        path = os.path.join(tmp, f"fake{version}.wasm")
        with open(path, "wb") as f:
            f.write(wasmtime.wat2wasm(FAKE_WAT % {"version": version}))
        return path

    def test_other_abi_version_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            rc, out, err, _ = run_host([], stdin=IAM_CREATE, wasm=self.write_module(tmp, 2))
            self.assertEqual(rc, 2)
            self.assertIn("version 2", err)
            self.assertEqual(out, b"")

    def test_region_outside_memory_is_a_fault(self):
        with tempfile.TemporaryDirectory() as tmp:
            wasm = self.write_module(tmp, 1)
            for abi in ABIS:
                with self.subTest(abi=abi):
                    rc, out, err, summary = run_host(["--abi", abi], stdin=IAM_CREATE + b"\n",
                                                     wasm=wasm)
                    self.assertEqual(rc, 1, err)
                    self.assertIn("outside memory" if abi == "raw" else "no NUL", err)
                    self.assertEqual(out, IAM_CREATE + b"\n")
                    self.assertEqual(summary["records_in"], 1)


if __name__ == "__main__":
    unittest.main()
