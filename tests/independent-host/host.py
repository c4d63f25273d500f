#!/usr/bin/env python3
"""An independent host for the trailtag WebAssembly module.

Written from docs/abi.md (and docs/tag-schema.md) alone, without reading the
module's or the reference host's sources. See README.md beside this file.

Library use:

    from host import Session, Limits
    s = Session.from_file(path, config={"only_matches": True})
    result = s.transform(b'{"eventSource":"iam.amazonaws.com"}\\n')
    result.output, result.stats, result.unreadable

CLI use:

    python3 host.py [--abi raw|fluent-bit] [options] [FILES...] > out.ndjson

The summary (one JSON object, one line) is the last line written to stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import gzip
import hashlib
import importlib.metadata
import json
import os
import struct
import sys
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

import wasmtime

# --- constants taken from docs/abi.md -------------------------------------

ABI_VERSION = 1  # section 2, tt_abi_version

STATUS_NAMES = {  # section 2, "Status codes"
    0: "OK",
    1: "INVALID_ARGUMENT",
    2: "INVALID_CONFIG",
    3: "RULE_ERROR",
}
OK = 0

# Statistics block slots (section 5).
SLOT_RECORDS_IN = 0
SLOT_LINES_OUT = 1
SLOT_TAGGED = 2
SLOT_UNREADABLE = 3
SLOT_BLANK = 4
SLOT_N_RULES = 5
FIXED_SLOTS = 6

# Exports the host relies on (sections 2 and 7).
RAW_EXPORTS = (
    "tt_abi_version", "tt_alloc", "tt_free", "tt_configure", "tt_transform",
    "tt_output_ptr", "tt_output_len", "tt_stats_ptr", "tt_stats_len",
    "tt_unreadable_ptr", "tt_unreadable_len", "tt_rules_ptr", "tt_rules_len",
    "tt_error_ptr", "tt_error_len",
)
FLUENT_BIT_EXPORTS = ("malloc", "free", "trailtag_filter", "trailtag_filter_only_matches")
# Section 4, "Answering with edits": optional, used with --abi raw-edits.
EDITS_EXPORTS = ("tt_transform_edits", "tt_edits_ptr", "tt_edits_len")
EDIT_BYTES = 16

DEFAULT_WASM = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..",
    "target", "wasm32-unknown-unknown", "wasm", "trailtag_plugin.wasm",
)

BLANK_BYTES = b" \t\r"  # section 4: "blank (only spaces, tabs and \r)"

U32 = 0xFFFFFFFF


# --- errors ----------------------------------------------------------------

class HostError(Exception):
    """A problem that stops the host (bad module file, wrong ABI version)."""


class ConfigError(HostError):
    """tt_configure answered a non-zero status."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.status_name = STATUS_NAMES.get(status, f"UNKNOWN({status})")
        self.message = message
        super().__init__(f"tt_configure failed: {self.status_name} ({status}): {message}")


class ModuleFault(Exception):
    """A call trapped, ran out of fuel/time, hit the memory cap, or the module
    broke the ABI (a region outside memory, an unknown status, a malformed
    statistics block). Section 8: the instance must be discarded."""


# --- limits ----------------------------------------------------------------

@dataclass
class Limits:
    """How each call into the module is bounded (section 8)."""

    interrupt: str = "fuel"            # "fuel", "epoch" or "none"
    fuel_base: int = 1_000_000_000     # fuel for any call, plus ...
    fuel_per_byte: int = 10_000        # ... this much per input byte of the call
    timeout_base: float = 10.0         # seconds for any call (epoch mode), plus ...
    timeout_per_mib: float = 10.0      # ... this many seconds per MiB of input
    memory_bytes: int = 1 << 30        # cap on linear memory
    epoch_tick: float = 0.01           # seconds between epoch ticks


class _EpochTicker:
    """Advances an engine's epoch from a daemon thread (epoch mode only)."""

    def __init__(self, engine: wasmtime.Engine, tick: float):
        self._engine = engine
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trailtag-epoch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            self._engine.increment_epoch()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --- results ----------------------------------------------------------------

@dataclass
class Stats:
    records_in: int
    lines_out: int
    tagged: int
    unreadable: int
    blank: int
    per_rule: list[int]

    @classmethod
    def parse(cls, block: bytes) -> "Stats":
        if len(block) % 8 != 0 or len(block) < 8 * FIXED_SLOTS:
            raise ModuleFault(f"broken module: statistics block of {len(block)} bytes")
        slots = struct.unpack(f"<{len(block) // 8}Q", block)
        n = slots[SLOT_N_RULES]
        if len(block) != 8 * (FIXED_SLOTS + n):
            raise ModuleFault(
                f"broken module: statistics block of {len(block)} bytes for N = {n} rules")
        return cls(slots[SLOT_RECORDS_IN], slots[SLOT_LINES_OUT], slots[SLOT_TAGGED],
                   slots[SLOT_UNREADABLE], slots[SLOT_BLANK], list(slots[FIXED_SLOTS:]))


@dataclass
class BatchResult:
    output: bytes
    stats: Stats
    unreadable: list[tuple[int, str]]  # (0-based line index in the batch, reason)


# --- the session --------------------------------------------------------------

class Session:
    """One module instance plus everything needed to rebuild it after a fault."""

    def __init__(self, engine: wasmtime.Engine, module: wasmtime.Module,
                 config: dict | None = None, limits: Limits | None = None):
        self.engine = engine
        self.module = module
        self.limits = limits or Limits()
        self.config = config
        self._ticker = None
        if self.limits.interrupt == "epoch":
            self._ticker = _EpochTicker(engine, self.limits.epoch_tick)
        self.rules: list[dict] = []
        self.instances_created = 0
        try:
            self._instantiate()
            if config is not None:
                self.configure(config)
            else:
                self._load_rules()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_file(cls, path: str, config: dict | None = None,
                  limits: Limits | None = None, cache_dir: str | None = None) -> "Session":
        limits = limits or Limits()
        engine = make_engine(limits)
        module = load_module(engine, path, limits, cache_dir)
        return cls(engine, module, config, limits)

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    # -- instance management --

    def _instantiate(self) -> None:
        store = wasmtime.Store(self.engine)
        if self.limits.memory_bytes > 0:
            store.set_limits(memory_size=self.limits.memory_bytes)
        self.store = store
        # Section 1: instantiate with an empty import set.
        if len(self.module.imports) != 0:
            names = ", ".join(f"{i.module}.{i.name}" for i in self.module.imports)
            raise HostError(f"module has imports ({names}); the ABI says it has none")
        self._budget(0)
        try:
            instance = wasmtime.Instance(store, self.module, [])
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            raise HostError(f"cannot instantiate module: {e}") from e
        self.instances_created += 1
        exports = instance.exports(store)
        # Section 2: check tt_abi_version first; refuse any other value.
        version_fn = exports.get("tt_abi_version") if hasattr(exports, "get") else None
        if not isinstance(version_fn, wasmtime.Func):
            raise HostError("module does not export tt_abi_version")
        self.fn = {"tt_abi_version": version_fn}
        version = self._call("tt_abi_version")
        if version != ABI_VERSION:
            raise HostError(
                f"module speaks raw ABI version {version}; this host speaks only {ABI_VERSION}")
        missing = [n for n in ("memory",) + RAW_EXPORTS + FLUENT_BIT_EXPORTS if n not in exports]
        if missing:
            raise HostError("module lacks export(s): " + ", ".join(missing))
        self.memory = exports["memory"]
        if not isinstance(self.memory, wasmtime.Memory):
            raise HostError("export `memory` is not a memory")
        self.fn = {n: exports[n] for n in RAW_EXPORTS + FLUENT_BIT_EXPORTS}
        self.has_edits = all(n in exports for n in EDITS_EXPORTS)
        if self.has_edits:
            self.fn.update({n: exports[n] for n in EDITS_EXPORTS})

    def recreate(self) -> None:
        """Section 8: discard the instance, create a new one, configure it."""
        self._instantiate()
        if self.config is not None:
            self.configure(self.config)
        else:
            self._load_rules()

    # -- calls --

    def _budget(self, nbytes: int) -> None:
        lim = self.limits
        if lim.interrupt == "fuel":
            self.store.set_fuel(lim.fuel_base + lim.fuel_per_byte * nbytes)
        elif lim.interrupt == "epoch":
            seconds = lim.timeout_base + lim.timeout_per_mib * nbytes / (1 << 20)
            self.store.set_epoch_deadline(max(1, int(seconds / lim.epoch_tick)))

    def _call(self, name: str, *args: int, budget_bytes: int = 0) -> int | None:
        """Calls one export with a fresh budget; any trap becomes ModuleFault."""
        self._budget(budget_bytes)
        try:
            return self.fn[name](self.store, *args)
        except wasmtime.Trap as e:
            raise ModuleFault(f"{name} trapped: {self._describe_trap(e)}") from e
        except wasmtime.WasmtimeError as e:
            raise ModuleFault(f"{name} failed: {_one_line(e)}") from e

    def _describe_trap(self, e: wasmtime.Trap) -> str:
        lines = [s.strip() for s in str(e).splitlines() if s.strip()]
        cause = lines[-1] if lines else "trap"
        code = getattr(e, "trap_code", None)
        text = f"{code.name if code is not None else 'trap'} ({cause})"
        if code is not None and code.name == "OUT_OF_FUEL":
            text += ": call exceeded its fuel budget"
        elif code is not None and code.name == "INTERRUPT":
            text += ": call exceeded its time budget (epoch deadline)"
        cap = self.limits.memory_bytes
        try:
            size = self._mem_size()
        except wasmtime.WasmtimeError:
            size = 0
        if cap > 0 and code is not None and code.name == "UNREACHABLE":
            # A Rust module aborts with `unreachable` when an allocation fails.
            text += f"; linear memory {size} bytes, cap {cap} bytes"
        return text

    def _call_u32(self, name: str, *args: int, budget_bytes: int = 0) -> int:
        value = self._call(name, *args, budget_bytes=budget_bytes)
        if not isinstance(value, int):
            raise ModuleFault(f"broken module: {name} returned {value!r}")
        return value & U32

    def _check_status(self, name: str, status: int) -> int:
        # i32 results come back signed; statuses are small non-negative numbers.
        if status not in STATUS_NAMES:
            raise ModuleFault(f"broken module: {name} returned unknown status {status}")
        return status

    # -- memory --

    def _mem_size(self) -> int:
        return self.memory.data_len(self.store)

    def _read(self, ptr: int, length: int, what: str) -> bytes:
        """Copies a region out of guest memory after checking its bounds."""
        size = self._mem_size()
        if ptr + length > size:
            raise ModuleFault(
                f"broken module: {what} region {ptr}+{length} outside memory of {size} bytes")
        if length == 0:
            return b""
        base = ctypes.addressof(self.memory.data_ptr(self.store).contents)
        return ctypes.string_at(base + ptr, length)

    def _write(self, ptr: int, data: bytes, what: str) -> None:
        size = self._mem_size()
        if ptr + len(data) > size:
            raise ModuleFault(
                f"broken module: {what} block {ptr}+{len(data)} outside memory of {size} bytes")
        if data:
            base = ctypes.addressof(self.memory.data_ptr(self.store).contents)
            ctypes.memmove(base + ptr, data, len(data))

    def _region(self, prefix: str) -> bytes:
        """Reads one *_ptr/*_len pair and copies the region at once (section 2:
        a region is valid only until the next call into the instance)."""
        ptr = self._call_u32(prefix + "_ptr")
        length = self._call_u32(prefix + "_len")
        return self._read(ptr, length, prefix)

    def _read_cstring(self, ptr: int, hint: int) -> bytes:
        """Reads the NUL-terminated string at ptr, never past the end of memory."""
        size = self._mem_size()
        if ptr >= size:
            raise ModuleFault(f"broken module: answer pointer {ptr} outside memory of {size} bytes")
        base = ctypes.addressof(self.memory.data_ptr(self.store).contents)
        chunk = max(4096, hint)
        parts = []
        pos = ptr
        while pos < size:
            n = min(chunk, size - pos)
            data = ctypes.string_at(base + pos, n)
            nul = data.find(b"\0")
            if nul >= 0:
                parts.append(data[:nul])
                return b"".join(parts)
            parts.append(data)
            pos += n
            chunk *= 2
        raise ModuleFault(f"broken module: answer at {ptr} has no NUL before the end of memory")

    def _error_message(self) -> str:
        return self._region("tt_error").decode("utf-8", errors="replace")

    # -- raw ABI --

    def configure(self, config: dict) -> None:
        """Section 3. Raises ConfigError on a non-zero status."""
        doc = json.dumps(config, ensure_ascii=False).encode("utf-8")
        # On a ModuleFault the instance is discarded, so nothing is freed then.
        ptr = self._alloc(len(doc))
        self._write(ptr, doc, "configuration")
        status = self._check_status(
            "tt_configure", self._call("tt_configure", ptr, len(doc), budget_bytes=len(doc)))
        message = self._error_message() if status != OK else ""
        self._call("tt_free", ptr, len(doc))
        if status != OK:
            raise ConfigError(status, message)
        self.config = config
        self._load_rules()

    def _alloc(self, length: int) -> int:
        ptr = self._call_u32("tt_alloc", length, budget_bytes=length)
        if ptr == 0:
            raise ModuleFault(f"tt_alloc({length}) returned 0 (memory cannot grow)")
        return ptr

    def _load_rules(self) -> None:
        text = self._region("tt_rules")
        try:
            rules = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ModuleFault(f"broken module: rules document is not JSON: {e}") from e
        if not isinstance(rules, list) or not all(
                isinstance(r, dict) and isinstance(r.get("id"), str) for r in rules):
            raise ModuleFault("broken module: rules document is not an array of objects with an id")
        self.rules = rules

    @property
    def rule_ids(self) -> list[str]:
        return [r["id"] for r in self.rules]

    def transform(self, batch: bytes, edits: bool = False) -> BatchResult:
        """Section 4 and 5: one batch through tt_transform, or through tt_transform_edits with
        the output rebuilt from the batch and the edits. Raises ModuleFault."""
        export = "tt_transform_edits" if edits else "tt_transform"
        if edits and not self.has_edits:
            raise HostError("module does not export tt_transform_edits")
        ptr = self._alloc(len(batch))
        self._write(ptr, batch, "batch")
        status = self._check_status(
            export, self._call(export, ptr, len(batch), budget_bytes=len(batch)))
        if status != OK:
            message = self._error_message()
            self._call("tt_free", ptr, len(batch))
            # Section 4: "any byte sequence yields OK".
            raise ModuleFault(
                f"broken module: {export} returned {STATUS_NAMES[status]}: {message}")
        output = self._region("tt_output")
        if edits:
            output = apply_edits(batch, self._region("tt_edits"), output)
        stats = Stats.parse(self._region("tt_stats"))
        report = self._region("tt_unreadable")
        self._call("tt_free", ptr, len(batch))
        if len(stats.per_rule) != len(self.rules):
            raise ModuleFault(
                f"broken module: statistics block counts {len(stats.per_rule)} rules, "
                f"the rules document lists {len(self.rules)}")
        unreadable = parse_unreadable(report)
        if len(unreadable) != stats.unreadable:
            raise ModuleFault(
                f"broken module: {len(unreadable)} unreadable lines reported, "
                f"statistics say {stats.unreadable}")
        newlines = output.count(b"\n")
        if newlines != stats.lines_out or (output and not output.endswith(b"\n")):
            raise ModuleFault(
                f"broken module: output has {newlines} lines, "
                f"statistics say {stats.lines_out}")
        return BatchResult(output, stats, unreadable)

    # -- Fluent Bit filter ABI (section 7) --

    def filter(self, tag: bytes, record: bytes, only_matches: bool = False,
               time_sec: int = 0, time_nsec: int = 0) -> bytes:
        """Calls trailtag_filter[_only_matches] for one record; returns the
        answer (b"" means: drop the record). Raises ModuleFault."""
        name = "trailtag_filter_only_matches" if only_matches else "trailtag_filter"
        # On a ModuleFault the instance is discarded, so nothing is freed then.
        tag_ptr = self._malloc_copy(tag)
        rec_ptr = self._malloc_copy(record)
        answer_ptr = self._call_u32(name, tag_ptr, len(tag), time_sec, time_nsec,
                                    rec_ptr, len(record), budget_bytes=len(record))
        answer = self._read_cstring(answer_ptr, 2 * len(record) + 8192)
        # Free both copies; never the answer (section 7).
        self._call("free", rec_ptr)
        self._call("free", tag_ptr)
        return answer

    def _malloc_copy(self, data: bytes) -> int:
        ptr = self._call_u32("malloc", len(data) + 1, budget_bytes=len(data))
        if ptr == 0:
            raise ModuleFault(f"malloc({len(data) + 1}) returned 0")
        self._write(ptr, data + b"\0", "malloc")
        return ptr


def load_module(engine: wasmtime.Engine, path: str, limits: Limits,
                cache_dir: str | None = None) -> wasmtime.Module:
    """Compiles the module, or reuses machine code this host compiled before
    into cache_dir (a directory the caller owns; compiled code is trusted)."""
    try:
        with open(path, "rb") as f:
            wasm = f.read()
    except OSError as e:
        raise HostError(f"cannot read module {path}: {e}") from e
    cached = None
    if cache_dir:
        try:
            runtime = importlib.metadata.version("wasmtime")
        except importlib.metadata.PackageNotFoundError:
            runtime = "unknown"
        key = hashlib.sha256(wasm + repr((runtime, limits.interrupt)).encode()).hexdigest()
        cached = os.path.join(cache_dir, f"{key}.cwasm")
        if os.path.isfile(cached):
            try:
                return wasmtime.Module.deserialize_file(engine, cached)
            except wasmtime.WasmtimeError:
                pass  # stale or foreign: compile again
    try:
        module = wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as e:
        raise HostError(f"cannot compile module {path}: {_one_line(e)}") from e
    if cached:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f"{cached}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(module.serialize())
            os.replace(tmp, cached)
        except OSError:
            pass
    return module


def make_engine(limits: Limits) -> wasmtime.Engine:
    cfg = wasmtime.Config()
    if limits.interrupt == "fuel":
        cfg.consume_fuel = True
    elif limits.interrupt == "epoch":
        cfg.epoch_interruption = True
    elif limits.interrupt != "none":
        raise HostError(f"unknown interrupt mode {limits.interrupt!r}")
    # Section 1: no SIMD.
    cfg.wasm_simd = False
    cfg.wasm_relaxed_simd = False
    return wasmtime.Engine(cfg)


def parse_unreadable(report: bytes) -> list[tuple[int, str]]:
    """Section 5: `<0-based line index>\\t<reason>\\n` per unreadable record."""
    try:
        text = report.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModuleFault(f"broken module: unreadable report is not UTF-8: {e}") from e
    if text and not text.endswith("\n"):
        raise ModuleFault("broken module: unreadable report does not end with a newline")
    out = []
    for line in text.splitlines():
        index, sep, reason = line.partition("\t")
        if not sep or not index.isdigit():
            raise ModuleFault(f"broken module: unreadable report line {line!r}")
        out.append((int(index), reason))
    return out


def _one_line(e: BaseException) -> str:
    return " | ".join(s.strip() for s in str(e).splitlines() if s.strip())


# --- input ------------------------------------------------------------------

def open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def batches(stream: BinaryIO, batch_bytes: int) -> Iterator[bytes]:
    """Cuts a byte stream into batches that end at a newline. A batch holds at
    most batch_bytes unless one line alone is longer; the stream's last batch
    may lack its final newline."""
    buf = bytearray()
    scan = 0  # no newline in buf[batch_bytes:scan] (a long line being read)
    while True:
        chunk = stream.read(batch_bytes)
        eof = not chunk
        buf += chunk
        while buf:
            if len(buf) <= batch_bytes:
                if eof:
                    yield bytes(buf)
                    buf.clear()
                break
            cut = buf.rfind(b"\n", 0, batch_bytes)
            if cut < 0:
                cut = buf.find(b"\n", max(batch_bytes, scan))
                if cut < 0:
                    if not eof:
                        scan = len(buf)
                        break  # one line longer than a batch: read more of it
                    cut = len(buf) - 1
            scan = 0
            yield bytes(buf[:cut + 1])
            del buf[:cut + 1]
        if eof:
            return


def split_lines(batch: bytes) -> list[bytes]:
    """The batch's lines without their newlines (section 4)."""
    if not batch:
        return []
    lines = batch.split(b"\n")
    if batch.endswith(b"\n"):
        lines.pop()
    return lines


def is_blank(line: bytes) -> bool:
    return not line.strip(BLANK_BYTES)


# --- the CLI's run loops --------------------------------------------------------

@dataclass
class Summary:
    records_in: int = 0
    records_out: int = 0
    tagged: int = 0
    unreadable: int = 0
    blank: int = 0
    per_rule: dict = field(default_factory=dict)
    faults: int = 0

    def as_json(self) -> str:
        return json.dumps({
            "records_in": self.records_in,
            "records_out": self.records_out,
            "tagged": self.tagged,
            "unreadable": self.unreadable,
            "blank": self.blank,
            "per_rule": self.per_rule,
        }, separators=(",", ":"))


def _say(msg: str) -> None:
    sys.stderr.write(f"host.py: {msg}\n")
    sys.stderr.flush()


def _pass_through(lines: list[bytes], summary: Summary, out: BinaryIO) -> None:
    """Section 8: the records of a failed call are passed on unchanged."""
    for line in lines:
        out.write(line + b"\n")
        summary.records_out += 1
        if is_blank(line):
            summary.blank += 1
        else:
            summary.records_in += 1


def _fault(session: Session, what: str, err: ModuleFault, summary: Summary) -> None:
    summary.faults += 1
    _say(f"fault: {what} passed through unchanged: {err}")
    session.recreate()


def apply_edits(batch: bytes, table: bytes, replacements: bytes) -> bytes:
    """Section 4, "Answering with edits": the batch with every edit applied. An edit out of
    order or out of bounds means a broken module."""
    if len(table) % EDIT_BYTES:
        raise ModuleFault(f"broken module: edit table of {len(table)} bytes")
    out, copied = [], 0
    for at in range(0, len(table), EDIT_BYTES):
        in_start, in_end, out_start, out_end = struct.unpack_from("<4I", table, at)
        if not (copied <= in_start <= in_end <= len(batch) and out_start <= out_end <= len(replacements)):
            raise ModuleFault(f"broken module: edit {(in_start, in_end, out_start, out_end)} "
                              f"does not fit a batch of {len(batch)} bytes after byte {copied}")
        out += [batch[copied:in_start], replacements[out_start:out_end]]
        copied = in_end
    out.append(batch[copied:])
    return b"".join(out)


def run_raw(session: Session, name: str, stream: BinaryIO, out: BinaryIO,
            summary: Summary, batch_bytes: int, edits: bool = False) -> None:
    line_no = 0  # lines of this input before the current batch
    for batch in batches(stream, batch_bytes):
        try:
            result = session.transform(batch, edits)
        except ModuleFault as err:
            lines = split_lines(batch)
            _fault(session, f"{name}: lines {line_no + 1}-{line_no + len(lines)}", err, summary)
            _pass_through(lines, summary, out)
            line_no += len(lines)
            continue
        out.write(result.output)
        st = result.stats
        summary.records_in += st.records_in
        summary.records_out += st.lines_out
        summary.tagged += st.tagged
        summary.unreadable += st.unreadable
        summary.blank += st.blank
        for rule_id, count in zip(session.rule_ids, st.per_rule):
            summary.per_rule[rule_id] = summary.per_rule.get(rule_id, 0) + count
        for index, reason in result.unreadable:
            _say(f"unreadable: {name}:{line_no + index + 1}: {reason}")
        line_no += st.records_in + st.blank


def classify_answer(session: Session, tag: bytes, record: bytes, answer: bytes,
                    only_matches: bool) -> tuple[str, list[str], str]:
    """What a Fluent Bit answer means: ("dropped"|"untagged"|"tagged"|"unreadable",
    detection ids, error reason)."""
    if answer == b"":
        return "dropped", [], ""
    if answer == record and not only_matches:
        # Unchanged: no rule matched -- unless the record already carried the
        # very tag it gets now (tag-schema.md: tagging twice gives the same
        # bytes). Only then ask the only-matches export, which answers "" for
        # a record that matches nothing.
        if b'"trailtag"' not in record:
            return "untagged", [], ""
        if session.filter(tag, record, only_matches=True) == b"":
            return "untagged", [], ""
    try:
        doc = json.loads(answer.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModuleFault(f"broken module: filter answer is not JSON: {e}") from e
    tt = doc.get("trailtag") if isinstance(doc, dict) else None
    if not isinstance(tt, dict):
        raise ModuleFault("broken module: changed filter answer has no trailtag object")
    if "error" in tt and list(doc) == ["trailtag"] and (
            "original" in tt or "original_base64" in tt):
        return "unreadable", [], str(tt["error"])
    detections = tt.get("detections")
    if not isinstance(detections, list) or not detections:
        raise ModuleFault("broken module: filter answer's trailtag has no detections")
    return "tagged", [d.get("id") for d in detections if isinstance(d, dict)], ""


def run_fluent_bit(session: Session, name: str, stream: BinaryIO, out: BinaryIO,
                   summary: Summary, batch_bytes: int, only_matches: bool,
                   tag: bytes) -> None:
    line_no = 0
    for batch in batches(stream, batch_bytes):
        for line in split_lines(batch):
            line_no += 1
            if is_blank(line):
                # Not a record (section 4); Fluent Bit never sees blank lines.
                # Written through so that output lines match input lines.
                summary.blank += 1
                summary.records_out += 1
                out.write(line + b"\n")
                continue
            summary.records_in += 1
            try:
                answer = session.filter(tag, line, only_matches)
                kind, ids, reason = classify_answer(session, tag, line, answer, only_matches)
            except ModuleFault as err:
                _fault(session, f"{name}: line {line_no}", err, summary)
                out.write(line + b"\n")
                summary.records_out += 1
                continue
            if kind == "dropped":
                continue
            out.write(answer + b"\n")
            summary.records_out += 1
            if kind == "tagged":
                summary.tagged += 1
                for rule_id in ids:
                    summary.per_rule[rule_id] = summary.per_rule.get(rule_id, 0) + 1
            elif kind == "unreadable":
                summary.unreadable += 1
                _say(f"unreadable: {name}:{line_no}: {reason}")


def build_config(args: argparse.Namespace) -> dict | None:
    config: dict = {}
    if args.no_builtin_rules:
        config["builtin_rules"] = False
    if args.rules:
        rules = []
        for path in args.rules:
            with open(path, "rb") as f:
                data = f.read()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise HostError(f"rule file {path} is not UTF-8: {e}") from e
            rules.append({"name": path, "text": text})
        config["rules"] = rules
    if args.only_matches and args.abi in ("raw", "raw-edits"):
        config["only_matches"] = True
    if args.validate:
        config["validate"] = True
    hooks = {key: value for key, value in (("trap", args.fault_trap), ("spin", args.fault_spin),
                                           ("grow", args.fault_grow)) if value is not None}
    if hooks:
        config["fault_injection"] = hooks
    return config or None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="host.py",
        description="Independent Python host for the trailtag module (docs/abi.md).")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="NDJSON input files (.gz is decompressed; '-' or none: stdin)")
    p.add_argument("--abi", choices=("raw", "raw-edits", "fluent-bit"), default="raw",
                   help="raw: tt_transform; raw-edits: tt_transform_edits; fluent-bit: the filter")
    p.add_argument("--module", default=os.environ.get("TRAILTAG_WASM", DEFAULT_WASM),
                   help="the module (default: $TRAILTAG_WASM, else the cargo output path)")
    p.add_argument("--rules", nargs="+", action="extend", default=[], metavar="FILE",
                   help="extra rule files (end the list with -- before input files)")
    p.add_argument("--no-builtin-rules", action="store_true")
    p.add_argument("--only-matches", action="store_true")
    p.add_argument("--validate", action="store_true")
    p.add_argument("--fault-trap", metavar="MARKER",
                   help="test hook: batches/records containing MARKER trap (abi.md section 8)")
    p.add_argument("--fault-spin", metavar="MARKER",
                   help="test hook: batches/records containing MARKER loop until interrupted")
    p.add_argument("--fault-grow", metavar="MARKER",
                   help="test hook: batches/records containing MARKER grow memory until it traps")
    p.add_argument("--batch-bytes", type=int, default=1 << 20)
    p.add_argument("--compile-cache", metavar="DIR",
                   default=os.environ.get("TRAILTAG_HOST_CACHE") or None,
                   help="keep compiled machine code in DIR (default: $TRAILTAG_HOST_CACHE; none)")
    p.add_argument("--tag", default="trailtag", help="Fluent Bit tag passed to the filter")
    p.add_argument("--interrupt", choices=("fuel", "epoch", "none"), default="fuel")
    p.add_argument("--fuel-base", type=int, default=Limits.fuel_base)
    p.add_argument("--fuel-per-byte", type=int, default=Limits.fuel_per_byte)
    p.add_argument("--timeout-base", type=float, default=Limits.timeout_base)
    p.add_argument("--timeout-per-mib", type=float, default=Limits.timeout_per_mib)
    p.add_argument("--memory-limit", type=int, default=Limits.memory_bytes,
                   help="cap on the module's linear memory in bytes (0: none)")
    args = p.parse_args(argv)
    if args.batch_bytes < 1:
        p.error("--batch-bytes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limits = Limits(interrupt=args.interrupt, fuel_base=args.fuel_base,
                    fuel_per_byte=args.fuel_per_byte, timeout_base=args.timeout_base,
                    timeout_per_mib=args.timeout_per_mib, memory_bytes=args.memory_limit)
    try:
        config = build_config(args)
        session = Session.from_file(args.module, config=config, limits=limits,
                                    cache_dir=args.compile_cache)
    except ConfigError as e:
        _say(f"tt_configure failed: {e.status_name} ({e.status})")
        sys.stderr.write(e.message.rstrip("\n") + "\n")
        return 2
    except (HostError, OSError) as e:
        _say(str(e))
        return 2
    except ModuleFault as e:
        _say(f"module fault while starting: {e}")
        return 3

    summary = Summary(per_rule={rule_id: 0 for rule_id in session.rule_ids})
    out = sys.stdout.buffer
    try:
        for path in args.files or ["-"]:
            name = "<stdin>" if path == "-" else path
            stream = open_input(path)
            try:
                if args.abi in ("raw", "raw-edits"):
                    run_raw(session, name, stream, out, summary, args.batch_bytes,
                            edits=args.abi == "raw-edits")
                else:
                    run_fluent_bit(session, name, stream, out, summary, args.batch_bytes,
                                   args.only_matches, args.tag.encode("utf-8"))
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()
        out.flush()
    except (HostError, OSError) as e:
        _say(str(e))
        return 2
    except ModuleFault as e:  # a fault while recreating the instance
        _say(f"module fault while recovering: {e}")
        return 3
    finally:
        session.close()
    sys.stderr.write(summary.as_json() + "\n")
    return 1 if summary.faults else 0


if __name__ == "__main__":
    sys.exit(main())
