"""Synthesized CloudTrail records for Sigma rules, from the values in each rule's detection
as pySigma parses it (selections resolved, modifiers applied to the values).

The variants are `witness.variants` (with `case`: Sigma compares case-insensitively), plus:

- `shape`: `match0` with the fields CloudTrail writes as arrays or objects written that way
  (`CLOUDTRAIL_SHAPES`);
- `shape:<field>:empty`: `shape` with that list-valued field an empty list (a Lambda update
  that removes every layer writes `"layers": []`).

Values are nested per the dotted path into a small record skeleton.
"""

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

import witness
from witness import MULTI, SINGLE, Test

# How CloudTrail writes fields the SigmaHQ rules name: an ECS task definition's container
# definitions and their commands, and a Lambda function's layers, are lists; requestParameters
# and responseElements (named whole by three rules) are objects.
CLOUDTRAIL_SHAPES = {
    "requestParameters.containerDefinitions": "list",
    "requestParameters.containerDefinitions.command": "list",
    "requestParameters.layers": "list",
    "requestParameters": "object",
    "responseElements": "object",
}

SKELETON = {"eventVersion": "1.08", "eventTime": "2024-01-01T00:00:00Z", "awsRegion": "us-east-1"}


def _test(node):
    name, value = node.field, node.value
    if isinstance(value, SigmaNull):
        return Test(name, "null")
    if isinstance(value, SigmaFieldReference):
        return Test(name, "equals_field", other=value.field)
    if isinstance(value, SigmaRegularExpression):
        flags = {str(f).lower() for f in value.flags}
        return Test(name, "regex", pattern=str(value.regexp),
                    cased=not any("ignorecase" in f for f in flags))
    if isinstance(value, SigmaString):
        parts = tuple(MULTI if p is SpecialChars.WILDCARD_MULTI else
                      SINGLE if p is SpecialChars.WILDCARD_SINGLE else p for p in value.s)
        return Test(name, "glob", parts=parts, cased=isinstance(value, SigmaCasedString))
    if isinstance(value, (SigmaNumber, SigmaBool)):
        text = str(value.boolean).lower() if isinstance(value, SigmaBool) else str(value)
        return Test(name, "glob", parts=(text,))
    raise NotImplementedError(f"no synthesis for {type(value).__name__} on {name}")


def tree(node):
    """A pySigma parsed condition as a `witness` tree."""
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return ("test", _test(node))
    if isinstance(node, ConditionOR):
        return ("or", [tree(a) for a in node.args])
    if isinstance(node, ConditionAND):
        return ("and", [tree(a) for a in node.args])
    if isinstance(node, ConditionNOT):
        return ("not", tree(node.args[0]))
    raise NotImplementedError(f"no synthesis for {type(node).__name__}")


def _build(fields, shapes=None):
    return witness.nest(fields, shapes=shapes, base=SKELETON)


def _shapes(fields):
    """The `shape` variants of `match0`."""
    shapes = {k: v for k, v in CLOUDTRAIL_SHAPES.items()
              if k in fields or (v == "list" and any(n.startswith(k + ".") for n in fields))}
    if not shapes:
        return []
    made = [("shape", _build(fields, shapes))]
    for name in fields:
        if shapes.get(name) == "list":
            rest = {k: v for k, v in shapes.items() if k != name}
            made.append((f"shape:{name}:empty", _build({**fields, name: []}, rest)))
    return made


def records_for(stem, rule):
    """[(label, record)] for one rule, labelled `synth:<stem>:<variant>`."""
    condition = tree(rule.detection.parsed_condition[0].parsed)
    made = witness.variants(condition, _build, case=True, more=_shapes)
    if not made:
        raise ValueError(f"{stem}: no alternative of the condition could be built")
    return [(f"synth:{stem}:{label}", record) for label, record in made]
