"""Building records that make a rule fire, from the rule's own values, and near misses.

Every rule language is first read into one small tree: `("and", [..])`, `("or", [..])`,
`("not", x)` and `("test", Test)`. `alternatives` turns the tree into assignments (field ->
the tests its value must pass): the first alternative of every `or`, then one assignment per
other alternative of each `or`, so every branch of a rule gets a record of its own. A `not`
adds no test; each one is kept so that a variant can make it hold.

`variants` then builds, for one rule (labels after `synth:<rule>:`):

- `match<i>`: one record per buildable alternative;
- `nearmiss:<field>:changed`: `match0` with that field's value damaged (`Delete#Bucket`), when
  damage makes a test fail (a bare `*` cannot be damaged);
- `nearmiss:<field>:absent`: `match0` without that field;
- `filter<j>.<k>`: `match0` plus values making the j-th `not` hold (its k-th alternative);
- with `fill_negated`, `match0` gives the fields a `not` reads a value the `not` does not
  exclude (CloudTrail records carry a user agent and a source address), and
  `negated:<field>:absent` leaves such a field out;
- with `case`, `case:<field>`: `match0` with the case of that field's value swapped (for each
  field tested by globs or regular expressions only, and not in `keep_value` or `keep_field`);
- `lucene`: `match0` with the tests that have a second reading (`Test.alt_parts`) built the
  second way.

Values come from the tests (`value_for`) and are checked with a small matcher of the same
tests (`Test.holds`); that matcher only decides which records to build, never a verdict.
"""

import copy
import re
from dataclasses import dataclass, field

try:
    import re._parser as sre_parse  # re's own parser: private, but there since Python 3.11
except ImportError:  # pragma: no cover
    import sre_parse

MULTI = ("*",)
SINGLE = ("?",)


@dataclass(frozen=True)
class Test:
    """One test on one field.

    kind: `glob` (`parts`: literal strings and the markers MULTI/SINGLE), `regex` (`pattern`,
    searched), `null` (JSON null or absent), `exists`, `equals_field` or `contains_field`
    (`other`: the field whose value must equal / be inside this one's). `alt_parts` is a
    second reading of a glob (Elasticsearch reading `stringContains`'s text as a wildcard).
    """

    field: str
    kind: str
    parts: tuple = ()
    pattern: str = ""
    other: str = ""
    cased: bool = False
    alt_parts: tuple = ()

    def holds(self, value):
        """Whether `value` (a string, or None for null) passes this test."""
        if self.kind == "null":
            return value is None
        if self.kind in ("exists", "equals_field", "contains_field"):
            return value is not None
        if not isinstance(value, str):
            return False
        if self.kind == "glob":
            return glob_regex(self.parts, self.cased).fullmatch(value) is not None
        flags = re.DOTALL | (0 if self.cased else re.IGNORECASE)
        return re.search(self.pattern, value, flags) is not None

    def second_reading(self):
        return Test(self.field, self.kind, self.alt_parts, cased=self.cased)


def glob_regex(parts, cased):
    pieces = [".*" if p is MULTI else "." if p is SINGLE else re.escape(p) for p in parts]
    return re.compile("".join(pieces), re.DOTALL | (0 if cased else re.IGNORECASE))


def glob_example(parts):
    """A string the glob matches: each wildcard stands for `x`."""
    return "".join("x" if part is MULTI or part is SINGLE else part for part in parts)


def regex_example(pattern):
    """A short string the regular expression matches (the subset rules use)."""
    return _example(sre_parse.parse(pattern))


def _example(parsed):
    out = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name in ("ANY", "NOT_LITERAL"):
            out.append("x" if name == "ANY" or chr(arg) != "x" else "y")
        elif name == "IN":
            out.append(_class_example(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            out.append(_example(sub) * max(low, 1))
        elif name == "SUBPATTERN":
            out.append(_example(arg[-1]))
        elif name == "BRANCH":
            out.append(_example(arg[1][0]))
        elif name != "AT":
            raise ValueError(f"no example for regex construct {name}")
    return "".join(out)


def _class_example(items):
    if any(str(op) == "NEGATE" for op, _ in items):
        banned = {chr(a) for op, a in items if str(op) == "LITERAL"}
        return next(c for c in "xyz0" if c not in banned)
    for op, arg in items:
        if str(op) == "LITERAL":
            return chr(arg)
        if str(op) == "RANGE":
            return chr(arg[0])
    return "x"


def value_for(tests):
    """A value passing every test of one field, or raises ValueError."""
    if tests and all(t.kind == "null" for t in tests):
        return None
    examples = []
    for test in tests:
        if test.kind == "glob":
            examples.append(glob_example(test.parts))
        elif test.kind == "regex":
            examples.append(regex_example(test.pattern))
        elif test.kind == "exists":
            examples.append("present")
    for candidate in [*examples, "".join(examples), " ".join(examples)]:
        if all(t.holds(candidate) for t in tests):
            return candidate
    raise ValueError(f"no value passes {tests}")


def near_miss(value, tests):
    """A value close to `value` that fails one of `tests`, or None."""
    candidates = ["NearMiss"] if value is None else [_break_runs(value), "NearMiss"]
    for candidate in candidates:
        if candidate != value and not all(t.holds(candidate) for t in tests):
            return candidate
    return None


def _break_runs(value):
    """`#` in the middle of every run of two or more letters and digits (`Delete#Bucket`):
    damage that breaks every literal of two characters or more, whatever the case rules."""
    def cut(run):
        text = run.group(0)
        return text[: len(text) // 2] + "#" + text[len(text) // 2:]
    return re.sub(r"[A-Za-z0-9]{2,}", cut, value)


@dataclass
class Assignment:
    """Field -> tests its value must pass."""

    tests: dict = field(default_factory=dict)

    def merged(self, other):
        out = Assignment({k: list(v) for k, v in self.tests.items()})
        for name, tests in other.tests.items():
            out.tests.setdefault(name, []).extend(tests)
        return out


def alternatives(node, negations):
    """Assignments satisfying `node`; every `not` met is appended to `negations`."""
    kind, arg = node
    if kind == "test":
        return [Assignment({arg.field: [arg]})]
    if kind == "or":
        return [a for child in arg for a in alternatives(child, negations)]
    if kind == "not":
        negations.append(arg)
        return [Assignment()]
    children = [alternatives(child, negations) for child in arg]
    out = [_merge_all(options[0] for options in children)]
    for i, options in enumerate(children):
        for option in options[1:]:
            out.append(_merge_all(option if j == i else other[0]
                                  for j, other in enumerate(children)))
    return out


def _merge_all(assignments):
    out = Assignment()
    for assignment in assignments:
        out = out.merged(assignment)
    return out


def tests_in(node):
    """Every Test under `node`."""
    kind, arg = node
    if kind == "test":
        return [arg]
    if kind == "not":
        return tests_in(arg)
    return [t for child in arg for t in tests_in(child)]


def values(assignment, reading=lambda t: t):
    """Field -> value for an assignment, or raises ValueError. Field references are resolved
    last: `equals_field` copies the other field's value, `contains_field` appends it."""
    out = {}
    refs = []
    for name, tests in assignment.tests.items():
        plain = [reading(t) for t in tests if t.kind not in ("equals_field", "contains_field")]
        refs.extend(t for t in tests if t.kind in ("equals_field", "contains_field"))
        if plain:
            out[name] = value_for(plain)
    for ref in refs:
        if ref.kind == "equals_field":
            shared = out.get(ref.other, out.get(ref.field, "same-value"))
            out[ref.field] = out[ref.other] = shared
        else:
            other = out.setdefault(ref.other, "111122223333")
            out[ref.field] = f"{out.get(ref.field, '')} {other}".strip()
    return out


def variants(node, build, *, case=False, fill_negated=False, keep_value=(), keep_field=(),
             writable=lambda name: True, more=lambda fields: []):
    """[(label, record)] for the condition `node`; `build(fields)` makes the record (or raises
    ValueError when a field cannot be written). Empty when no alternative can be built.
    Fields in `keep_value` get no `changed` near miss, those in `keep_field` no `absent` one
    (a constant, or a value the record always has); `fill_negated` fills only fields for which
    `writable(name)`; `more(fields)` adds a language's own variants of `match0`."""
    negations = []
    options = alternatives(node, negations)
    made, first = [], None
    for i, option in enumerate(options):
        try:
            fields = values(option)
            if fill_negated:
                filled = negated_values(negations, fields)
                fields = {**{k: v for k, v in filled.items() if writable(k)}, **fields}
            record = build(fields)
        except ValueError:
            continue
        made.append((f"match{i}", record))
        first = first or (option, fields)
    if first is None:
        return []
    option, fields = first
    made += _near_misses(option, fields, build, set(keep_value), set(keep_field))
    if fill_negated:
        for name in fields.keys() - option.tests.keys():
            made += _built(f"negated:{name}:absent", build,
                           {k: v for k, v in fields.items() if k != name})
    for j, negated in enumerate(negations):
        for k, inner in enumerate(alternatives(negated, [])):
            try:
                extra = values(inner)
            except ValueError:
                continue
            made += _built(f"filter{j}.{k}", build, {**fields, **extra})
    if case:
        for name, tests in option.tests.items():
            value = fields.get(name)
            if (name in keep_value or name in keep_field or not isinstance(value, str)
                    or value.swapcase() == value
                    or any(t.kind not in ("glob", "regex") for t in tests)):
                continue
            made += _built(f"case:{name}", build, {**fields, name: value.swapcase()})
    if any(t.alt_parts for tests in option.tests.values() for t in tests):
        second = values(option, lambda t: t.second_reading() if t.alt_parts else t)
        made += _built("lucene", build, {**fields, **second})
    return made + more(fields)


def _near_misses(option, fields, build, keep_value, keep_field):
    made = []
    for name, tests in option.tests.items():
        if name not in fields or any(t.kind.endswith("_field") for t in tests):
            continue
        changed = near_miss(fields[name], tests)
        if changed is not None and name not in keep_value:
            made += _built(f"nearmiss:{name}:changed", build, {**fields, name: changed})
        if name not in keep_field:
            made += _built(f"nearmiss:{name}:absent", build,
                           {k: v for k, v in fields.items() if k != name})
    return made


def _built(label, build, fields):
    try:
        return [(label, build(fields))]
    except ValueError:
        return []


def negated_values(negations, fields):
    """For each field a `not` reads and the assignment leaves unset, a value that fails the
    negated tests on it (so the `not` holds with the field present)."""
    out = {}
    for negated in negations:
        for test in tests_in(negated):
            if test.field in fields or test.field in out or test.kind not in ("glob", "regex"):
                continue
            on_field = [t for t in tests_in(negated)
                        if t.field == test.field and t.kind in ("glob", "regex")]
            try:
                value = near_miss(value_for([test]), on_field)
            except ValueError:
                continue
            if value is not None and not any(t.holds(value) for t in on_field):
                out[test.field] = value
    return out


def nest(values, shapes=None, base=None):
    """A nested record with each dotted path set to its value. `shapes` maps a path to `list`
    (the value there, or the object on the way, is wrapped in a one-element list, as CloudTrail
    writes arrays) or `object` (the value becomes `{"item": value}`, for a test that reads a
    whole object). Raises ValueError when two paths collide."""
    record = copy.deepcopy(base) if base else {}
    shapes = shapes or {}
    for path, value in values.items():
        keys = path.split(".")
        node = record
        for depth, key in enumerate(keys[:-1]):
            prefix = ".".join(keys[: depth + 1])
            child = node.get(key)
            if child is None:
                child = {}
                node[key] = [child] if shapes.get(prefix) == "list" else child
            elif isinstance(child, list) and child and isinstance(child[0], dict):
                child = child[0]
            elif not isinstance(child, dict):
                raise ValueError(f"{path}: {prefix} is already a value")
            node = child
        if isinstance(node.get(keys[-1]), (dict, list)):
            raise ValueError(f"{path} is already an object")
        shape = shapes.get(path)
        node[keys[-1]] = [value] if shape == "list" else {"item": value} if shape == "object" \
            else value
    return record
