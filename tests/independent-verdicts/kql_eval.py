"""A small KQL (Kibana Query Language) reader and evaluator, written for this comparison from
Elastic's grammar (Kibana's `kuery` grammar, detection-rules' `kql.g`) and Elasticsearch's
query semantics, not from trailtag's code or docs. No KQL evaluator installs from PyPI
(detection-rules' `kql` package is not published there).

The subset is what Elastic's AWS `kuery` rules use:

    query      := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" or ")" | field ":" values
    values     := "(" vor ")" | value
    vor        := vand ("or" vand)* ;  vand := vnot ("and" vnot)*
    vnot       := "not" vnot | "(" vor ")" | value
    value      := "quoted" | bare

The lexical rules are those of Kibana's grammar (`packages/kbn-es-query/grammar/
grammar.peggy`): `or`/`and` (any case) stand between whitespace, `not` is followed by
whitespace. A quoted value is literal text; `\\t` `\\r` `\\n` `\\uXXXX` `\\\\` `\\"`
are escapes, any other backslash is itself. A bare value runs over any character but the
special ones (`\\ ( ) : < > " * { }`) and stops where `or`/`and`/`not` would start; it is
then trimmed (escaped whitespace included, as JavaScript's `trim` does). In it `*` is a
wildcard, and a backslash makes, in this order of trial: `\\t` `\\r` `\\n` (so `\\not`
is a newline and `ot`), an escaped special character, `\\uXXXX`, or `\\or` `\\and`
`\\not` spelling the word; anything else (`\\ `, a backslash and a space) is a syntax
error. A bare `*` alone is "the field exists". Free text (a value without a field), ranges,
nested `{}` queries and wildcards in field names are rejected with `Unsupported`.

Semantics, per document (a nested JSON object, e.g. what `trailtag ecs` prints):

- the values of a field are every non-null scalar found at its dotted path, entering arrays
  at every step (a key may itself contain dots); Elasticsearch indexes arrays as multi-valued
  fields, so a test holds when **any** value passes it;
- keyword fields (all fields but the typed ones below) compare the value's text exactly, case
  included; JSON numbers and booleans are their JSON text (`21`, `true`), as Elasticsearch
  indexes them into a keyword (or `flattened`) field; a wildcard is matched against that text,
  case-sensitively, `*` standing for any run of characters (newlines included);
- `ip` fields (`source.ip`, ...) compare addresses, and a value may be a CIDR network;
  `long` fields compare numbers;
- `field: *` holds when the field has a value (an empty string counts); an object counts
  when anything under it has a value (Elasticsearch's `exists` on an object field);
- `not` is `must_not`: it holds when the inner query does not match, a missing field included;
- `aws.cloudtrail.request_parameters` and `.response_elements` are mapped with
  `ignore_above: 8191`: a longer string is not indexed, so it matches nothing and does not
  exist for a query.
"""

import ipaddress
import re
from dataclasses import dataclass

WILD = ("*",)
SPECIAL = set('\\():<>"{}*')
SPACE = " \t\r\n\u00a0"
KEYWORDS = ("or", "and", "not")
IP_FIELDS = {"source.ip", "destination.ip", "client.ip", "server.ip", "host.ip"}
LONG_FIELDS = {"source.as.number", "destination.as.number", "client.as.number"}
IGNORE_ABOVE = {"aws.cloudtrail.request_parameters": 8191,
                "aws.cloudtrail.response_elements": 8191}


class Unsupported(ValueError):
    """Valid KQL this evaluator does not implement."""


class KqlSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Value:
    """A value to compare: `parts` are literal strings and WILD; `quoted` values have none."""

    parts: tuple
    quoted: bool

    @property
    def is_exists(self):
        return not self.quoted and self.parts == (WILD,)

    @property
    def has_wildcard(self):
        return any(p is WILD for p in self.parts)

    def text(self):
        return "".join(p for p in self.parts if p is not WILD)


class Parser:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def parse(self):
        node = self.or_query()
        self.skip()
        if self.pos != len(self.text):
            raise KqlSyntaxError(f"unexpected {self.text[self.pos:self.pos + 20]!r} at {self.pos}")
        return node

    # -- lexical helpers
    def skip(self):
        while self.pos < len(self.text) and self.text[self.pos] in SPACE:
            self.pos += 1

    def or_and_at(self, pos):
        """`or`/`and` as Kibana's `Or`/`And` read them: whitespace, the word, whitespace."""
        if pos >= len(self.text) or self.text[pos] not in SPACE:
            return None
        while pos < len(self.text) and self.text[pos] in SPACE:
            pos += 1
        for word in ("or", "and"):
            end = pos + len(word)
            if self.text[pos:end].lower() == word and end < len(self.text) \
                    and self.text[end] in SPACE:
                return word
        return None

    def not_at(self, pos):
        """`not` as Kibana's `Not` reads it: the word, then whitespace."""
        return self.text[pos:pos + 3].lower() == "not" and pos + 3 < len(self.text) \
            and self.text[pos + 3] in SPACE

    def accept(self, word):
        """Consumes the keyword `word` (and the whitespace before it) when it stands here."""
        if word == "not":
            self.skip()
            if self.not_at(self.pos):
                self.pos += 3
                return True
            return False
        if self.or_and_at(self.pos) == word:
            self.skip()
            self.pos += len(word)
            return True
        return False

    def accept_char(self, char):
        self.skip()
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    # -- queries
    def or_query(self):
        terms = [self.and_query()]
        while self.accept("or"):
            terms.append(self.and_query())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def and_query(self):
        terms = [self.not_query()]
        while self.accept("and"):
            terms.append(self.not_query())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def not_query(self):
        if self.accept("not"):
            return ("not", self.not_query())
        if self.accept_char("("):
            node = self.or_query()
            if not self.accept_char(")"):
                raise KqlSyntaxError(f"missing ) at {self.pos}")
            return node
        return self.field_query()

    def field_query(self):
        self.skip()
        start = self.pos
        name = self.value()
        self.skip()
        if self.text.startswith(("<", ">"), self.pos):
            raise Unsupported(f"range query at {start}")
        if not self.accept_char(":"):
            raise Unsupported(f"free text {self.text[start:self.pos]!r} at {start}")
        if name.has_wildcard:
            raise Unsupported(f"wildcard in field name at {start}")
        self.skip()
        if self.text.startswith("{", self.pos):
            raise Unsupported(f"nested query at {self.pos}")
        return ("field", name.text(), self.values())

    # -- value lists
    def values(self):
        if self.accept_char("("):
            node = self.value_or()
            if not self.accept_char(")"):
                raise KqlSyntaxError(f"missing ) at {self.pos}")
            return node
        return ("value", self.value())

    def value_or(self):
        terms = [self.value_and()]
        while self.accept("or"):
            terms.append(self.value_and())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def value_and(self):
        terms = [self.value_not()]
        while self.accept("and"):
            terms.append(self.value_not())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def value_not(self):
        if self.accept("not"):
            return ("not", self.value_not())
        if self.accept_char("("):
            node = self.value_or()
            if not self.accept_char(")"):
                raise KqlSyntaxError(f"missing ) at {self.pos}")
            return node
        return ("value", self.value())

    def value(self):
        self.skip()
        if self.text.startswith('"', self.pos):
            return self.quoted()
        return self.bare()

    def quoted(self):
        out = []
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return Value(("".join(out),), quoted=True)
            if char == "\\":
                escaped = self.escaped_whitespace() or self.escaped_unicode()
                if escaped is not None:
                    out.append(escaped)
                    continue
                if self.text[self.pos + 1:self.pos + 2] in ("\\", '"'):
                    out.append(self.text[self.pos + 1])
                    self.pos += 2
                    continue
            out.append(char)
            self.pos += 1
        raise KqlSyntaxError("unterminated quoted value")

    def escaped_whitespace(self):
        """`\\t` `\\r` `\\n` at the backslash under `pos`, consumed; else None."""
        nxt = self.text[self.pos + 1:self.pos + 2]
        if nxt and nxt in "trn":
            self.pos += 2
            return {"t": "\t", "r": "\r", "n": "\n"}[nxt]
        return None

    def escaped_unicode(self):
        """`\\uXXXX` at the backslash under `pos`, consumed; else None."""
        digits = self.text[self.pos + 2:self.pos + 6]
        if self.text[self.pos + 1:self.pos + 2] == "u" and len(digits) == 4 \
                and all(c in "0123456789abcdefABCDEF" for c in digits):
            self.pos += 6
            return chr(int(digits, 16))
        return None

    def bare(self):
        """An unquoted literal: Kibana's `UnquotedCharacter+`, then trimmed."""
        chars = []
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if self.or_and_at(self.pos) or self.not_at(self.pos):
                break
            if char == "\\":
                chars.append(self.escape())
            elif char == "*":
                chars.append(WILD)
                self.pos += 1
            elif char in SPECIAL:
                break
            else:
                chars.append(char)
                self.pos += 1
        text = "".join("\0" if c is WILD else c for c in chars).strip()
        if not text:
            raise KqlSyntaxError(f"expected a value at {start}")
        parts = []
        for i, piece in enumerate(text.split("\0")):
            if i:
                parts.append(WILD)
            if piece:
                parts.append(piece)
        return Value(tuple(parts), quoted=False)

    def escape(self):
        """One escape at the backslash under `pos`, tried in the order of Kibana's grammar:
        `\\t` `\\r` `\\n` (so `\\not` is a newline and `ot`), a special character,
        `\\uXXXX`, then `\\or` `\\and` `\\not` spelling the word."""
        escaped = self.escaped_whitespace()
        if escaped is None:
            nxt = self.text[self.pos + 1:self.pos + 2]
            if nxt and nxt in SPECIAL:
                self.pos += 2
                return nxt
            escaped = self.escaped_unicode()
        if escaped is not None:
            return escaped
        for word in KEYWORDS:
            found = self.text[self.pos + 1:self.pos + 1 + len(word)]
            if found.lower() == word:
                self.pos += 1 + len(word)
                return found
        raise KqlSyntaxError(f"bad escape at {self.pos}: {self.text[self.pos:self.pos + 2]!r}")


def parse(text):
    """The syntax tree of a KQL query: ("or"|"and", [..]), ("not", x), ("field", name, values)
    where values is ("or"|"and", [..]), ("not", x) or ("value", Value)."""
    return Parser(text).parse()


# -- evaluation

def field_values(doc, name):
    """Every non-null scalar at dotted `name`, arrays entered, dotted keys allowed; objects
    found at the end are returned as they are (for `exists`)."""
    return list(_walk(doc, name.split(".")))


def _walk(node, keys):
    if isinstance(node, list):
        for element in node:
            yield from _walk(element, keys)
        return
    if not keys:
        if node is not None:
            yield node
        return
    if not isinstance(node, dict):
        return
    for n in range(len(keys), 0, -1):
        key = ".".join(keys[:n])
        if key in node:
            yield from _walk(node[key], keys[n:])


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return repr(value) if isinstance(value, float) else str(value)


def _has_leaf(value):
    if isinstance(value, dict):
        return any(_has_leaf(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_leaf(v) for v in value)
    return value is not None


def _indexed(name, values):
    limit = IGNORE_ABOVE.get(name)
    if limit is None:
        return values
    # Lucene counts a string's length in UTF-16 units, as Java does.
    return [v for v in values if not (isinstance(v, str) and len(v.encode("utf-16-le")) // 2 > limit)]


def _glob(parts):
    pattern = "".join(".*" if p is WILD else re.escape(p) for p in parts)
    return re.compile(pattern, re.DOTALL)


def value_matches(name, value, scalar):
    """Whether one indexed scalar of field `name` matches `value` (not `*`)."""
    if isinstance(scalar, (dict, list)):
        return False
    if name in IP_FIELDS:
        if value.has_wildcard:
            raise Unsupported(f"wildcard on ip field {name}")
        try:
            return ipaddress.ip_address(_text(scalar)) in ipaddress.ip_network(value.text(), strict=False)
        except ValueError:
            return False
    if name in LONG_FIELDS:
        try:
            return float(_text(scalar)) == float(value.text())
        except ValueError:
            return False
    text = _text(scalar)
    if value.has_wildcard:
        return _glob(value.parts).fullmatch(text) is not None
    return text == value.text()


def _value_holds(name, values, node):
    kind = node[0]
    if kind == "or":
        return any(_value_holds(name, values, n) for n in node[1])
    if kind == "and":
        return all(_value_holds(name, values, n) for n in node[1])
    if kind == "not":
        return not _value_holds(name, values, node[1])
    value = node[1]
    if value.is_exists:
        return any(_has_leaf(v) for v in values)
    return any(value_matches(name, value, v) for v in values)


def evaluate(tree, doc):
    """Whether the document matches the query tree."""
    kind = tree[0]
    if kind == "or":
        return any(evaluate(t, doc) for t in tree[1])
    if kind == "and":
        return all(evaluate(t, doc) for t in tree[1])
    if kind == "not":
        return not evaluate(tree[1], doc)
    _, name, values = tree
    return _value_holds(name, _indexed(name, field_values(doc, name)), values)


class Query:
    """A parsed query, ready to evaluate documents."""

    def __init__(self, text):
        self.text = text
        self.tree = parse(text)

    def matches(self, doc):
        return evaluate(self.tree, doc)
