#!/usr/bin/env python3
"""Writes the test charts and values files of this directory (the corpora from a seeded random
generator, so the output is always the same). After a change: run this, then record.sh to get
the real Helm's output into expected.txt, then `cargo test -p ferry-helm --test schema_keywords`."""
import json, os
root = os.path.dirname(os.path.abspath(__file__))
def chart(name, schema, cases=None, raw=None):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "templates"), exist_ok=True)
    open(os.path.join(d, "Chart.yaml"), "w").write(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    open(os.path.join(d, "values.yaml"), "w").write("{}\n")
    open(os.path.join(d, "templates", "cm.yaml"), "w").write("kind: ConfigMap\n")
    text = raw if raw is not None else json.dumps(schema, indent=1) + "\n"
    open(os.path.join(d, "values.schema.json"), "w").write(text)
    if cases:
        vd = d + ".values"
        os.makedirs(vd, exist_ok=True)
        for k, v in cases.items():
            open(os.path.join(vd, k + ".json"), "w").write(json.dumps(v) + "\n")

D7 = "http://json-schema.org/draft-07/schema#"
chart("draft7", {
 "$schema": D7,
 "definitions": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}, "name": {"type": "string", "minLength": 2}},
 "properties": {
  "env": {"type": "object", "patternProperties": {"^[A-Z_]+$": {"type": "string"}, "_PORT$": {"$ref": "#/definitions/port"}}},
  "closed": {"type": "object", "properties": {"name": {"type": "string"}}, "patternProperties": {"^x-": {}}, "additionalProperties": False},
  "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 8}},
  "sized": {"type": "object", "minProperties": 1, "maxProperties": 2},
  "names": {"type": "object", "propertyNames": {"pattern": "^[a-z]+$", "maxLength": 5}},
  "tls": {"type": "object", "dependencies": {"enabled": ["cert", "key"], "cert": {"required": ["key"], "properties": {"cert": {"minLength": 3}}}}},
  "hosts": {"type": "array", "uniqueItems": True},
  "ports": {"type": "array", "contains": {"type": "integer", "minimum": 1024}, "minContains": 2},
  "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": False},
  "command": {"type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "boolean"}},
  "prefixed": {"type": "array", "prefixItems": [{"type": "string"}]},
  "all": {"type": "array", "items": {"type": "integer"}},
  "step": {"type": "number", "multipleOf": 0.1},
  "replicas": {"type": "integer", "multipleOf": 2, "minimum": 1000, "maximum": 1000000},
  "ratio": {"exclusiveMaximum": 1, "exclusiveMinimum": 0},
  "tiny": {"maximum": 0.0001},
  "both": {"allOf": [{"minLength": 3, "pattern": "^x"}, {"maxLength": 4}]},
  "one": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 1}, {"type": "integer", "maximum": 10}]},
  "email": {"type": "string", "format": "email", "minLength": 50},
  "ip": {"format": "ipv4"},
  "digits": {"pattern": "^\\d+$"},
 }}, {
  "pattern-properties": {"env": {"HOME": 1}},
  "pattern-properties-two-patterns": {"env": {"HTTP_PORT": 70000}},
  "additional-properties-false": {"closed": {"name": "a", "x-extra": 1, "other": 2, "zother": 3}},
  "additional-properties-schema": {"labels": {"app": "web", "tier": 3}},
  "min-properties": {"sized": {}},
  "max-properties": {"sized": {"a": 1, "b": 2, "c": 3}},
  "property-names-pattern": {"names": {"ok": 1, "Bad": 2}},
  "property-names-length": {"names": {"toolong": 1}},
  "dependencies-array": {"tls": {"enabled": True, "key": "k"}},
  "dependencies-schema": {"tls": {"cert": "ab"}},
  "unique-items": {"hosts": ["a", "b", "a"]},
  "unique-items-numbers": {"hosts": [{"k": [1, 2]}, 1, {"k": [1, 2.0]}]},
  "contains": {"ports": [80, 443]},
  "contains-one-match": {"ports": [80, 8080]},
  "items-tuple": {"pair": ["a", "b"]},
  "additional-items-false": {"pair": ["a", 1, 2, 3]},
  "additional-items-schema": {"command": ["run", True, "x"]},
  "prefix-items-ignored": {"prefixed": [1]},
  "items-schema": {"all": [1, 2.5, "x"]},
  "multiple-of-decimal": {"step": 0.35},
  "multiple-of-decimal-pass": {"step": 0.3},
  "multiple-of-integer": {"replicas": 1001},
  "minimum-grouping": {"replicas": 998},
  "maximum-exponent": {"replicas": 20000000},
  "exclusive-maximum": {"ratio": 1},
  "maximum-small": {"tiny": 0.00025},
  "all-of": {"both": "ab"},
  "one-of-several": {"one": 5},
  "one-of-none": {"one": 0.5},
  "format-before-other-keywords": {"email": "nope"},
  "format-ipv4": {"ip": "1.2.3.256"},
  "format-ignores-numbers": {"ip": 5},
  "pattern-ascii-digits": {"digits": "١٢٣"},
  "valid": {"env": {"HOME": "/root"}, "closed": {"name": "a", "x-y": 1}, "labels": {"app": "web"},
            "sized": {"a": 1}, "names": {"abc": 1}, "tls": {"enabled": True, "cert": "abc", "key": "k"}, "hosts": ["a", "b"],
            "ports": [80, 8080], "pair": ["a", 1], "command": ["run", True, False], "prefixed": [1], "all": [1, 2.0],
            "step": 0.3, "replicas": 1000000, "ratio": 0.5, "tiny": 0.0001, "both": "xab", "one": "abc",
            "email": "someone.with.a.rather.long.name@subdomain.example.com", "ip": "10.0.0.1", "digits": "123"},
})

chart("draft7-misc", {
 "$schema": D7,
 "definitions": {"name": {"type": "string", "minLength": 2}, "two": {"minLength": 3, "pattern": "^x"}},
 "properties": {
  "mode": {"enum": ["fast", "slow", 1.0, 2.50, None, True]},
  "version": {"const": 1.50},
  "quoted": {"const": "it's"},
  "objectConst": {"const": {"a": 1}},
  "objectEnum": {"enum": [{"a": 1}, [1]]},
  "refConst": {"$ref": "#/definitions/name", "const": "abc", "maxLength": 1},
  "refSiblings": {"$ref": "#/definitions/name", "maxLength": 1, "type": "integer"},
  "size": {"type": ["integer", "string", "null"]},
  "big": {"maximum": 100},
  "nested": {"properties": {"a": {"minimum": 3}, "b": {"minimum": 3}}},
  "refTwo": {"$ref": "#/definitions/two"},
  "notString": {"not": {"type": "string"}},
  "req": {"required": ["a", "b", "c"]},
  "noKeys": {"propertyNames": False},
  "text": {"pattern": "^x"},
  "labels": {"additionalProperties": {"type": "string"}},
  "nothing": {"const": None},
  "huge": {"maximum": 1e300},
 }}, {
  "ref-two-violations": {"refTwo": "a"},
  "not": {"notString": "x"},
  "missing-properties": {"req": {"b": 1}},
  "property-names-false": {"noKeys": {"k": 1}},
  "quoting": {"text": "a\nb'c\"d\u00a0\u00e9\t"},
  "pointer-escapes": {"labels": {"app.kubernetes.io/name": 3, "a~b": 4}},
  "const-null": {"nothing": 0},
  "maximum-huge": {"huge": 1.5e300},
  "enum": {"mode": "medium"},
  "const-number-as-written": {"version": 1.5001},
  "const-quote": {"quoted": "its"},
  "const-object": {"objectConst": {"a": 2}},
  "enum-object": {"objectEnum": 3},
  "ref-const-sibling": {"refConst": "a"},
  "ref-other-siblings-ignored": {"refSiblings": "abc"},
  "ref-target": {"refSiblings": "a"},
  "type-list": {"size": 1.5},
  "maximum-large": {"big": 123456789012},
  "two-properties-top-level": {"nested": {"a": 1, "b": 2}},
  "two-properties-with-sibling": {"nested": {"a": 1, "b": 2}, "big": 101},
  "valid": {"mode": 1, "version": 1.5, "quoted": "it's", "objectConst": {"a": 1}, "objectEnum": [1],
            "refConst": "abc", "refSiblings": "abc", "size": None, "big": 100, "nested": {"a": 3}},
})

chart("draft2020", {
 "$defs": {"port": {"type": "integer", "maximum": 65535}, "anchored": {"$anchor": "portAnchor", "type": "integer"}},
 "properties": {
  "tuple": {"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": {"type": "boolean"}},
  "closedTuple": {"prefixItems": [{"type": "string"}], "items": False},
  "ports": {"contains": {"minimum": 1024}, "minContains": 2, "maxContains": 3},
  "tls": {"dependentRequired": {"enabled": ["cert", "key"]}, "dependentSchemas": {"cert": {"required": ["key"], "properties": {"cert": {"minLength": 3}}}}},
  "legacyDeps": {"dependencies": {"a": ["b"]}},
  "email": {"format": "email"},
  "refSiblings": {"$ref": "#/$defs/port", "minimum": 10},
  "anchored": {"$ref": "#portAnchor"},
  "legacyTuple": {"items": {"type": "string"}, "additionalItems": False},
 }}, {
  "prefix-items": {"tuple": [1]},
  "items-after-prefix": {"tuple": ["a", 1, True, "x"]},
  "items-false": {"closedTuple": ["a", 1, 2]},
  "min-contains": {"ports": [80, 8080]},
  "min-contains-none": {"ports": [80]},
  "max-contains": {"ports": [2000, 3000, 4000, 5000]},
  "dependent-required": {"tls": {"enabled": True}},
  "dependent-schemas": {"tls": {"cert": "abc"}},
  "dependent-schemas-two": {"tls": {"cert": "x"}},
  "dependencies-still-checked": {"legacyDeps": {"a": 1}},
  "format-not-asserted": {"email": "nope"},
  "ref-with-sibling": {"refSiblings": 5},
  "ref-and-sibling-fail": {"refSiblings": 5.5},
  "anchor-ref": {"anchored": "x"},
  "additional-items-ignored": {"legacyTuple": ["a", "b"]},
  "valid": {"tuple": ["a", 1, True], "closedTuple": ["a"], "ports": [2000, 3000], "tls": {"enabled": 1, "cert": "abc", "key": "k"},
            "legacyDeps": {"a": 1, "b": 2}, "email": "x", "refSiblings": 10, "anchored": 1, "legacyTuple": ["a"]},
})

chart("draft2019", {
 "$schema": "https://json-schema.org/draft/2019-09/schema",
 "properties": {
  "pair": {"items": [{"type": "string"}], "additionalItems": False},
  "extra": {"items": [{"type": "string"}], "additionalItems": {"type": "integer"}},
  "ports": {"contains": {"minimum": 1024}, "minContains": 2},
  "email": {"format": "email"},
  "prefixed": {"prefixItems": [{"type": "string"}]},
  "tls": {"dependentRequired": {"enabled": ["cert"]}},
 }}, {
  "additional-items-false": {"pair": ["a", "b"]},
  "additional-items-schema": {"extra": ["a", 1, "b"]},
  "min-contains": {"ports": [1, 2000]},
  "format-not-asserted": {"email": "nope"},
  "prefix-items-ignored": {"prefixed": [1]},
  "dependent-required": {"tls": {"enabled": True}},
})

chart("draft4", {
 "$schema": "http://json-schema.org/draft-04/schema#",
 "properties": {
  "port": {"minimum": 1, "exclusiveMinimum": True, "maximum": 10, "exclusiveMaximum": True},
  "names": {"propertyNames": {"maxLength": 1}},
  "c": {"const": 1},
  "ip": {"format": "ipv4"},
 }}, {
  "exclusive-minimum-boolean": {"port": 1},
  "exclusive-maximum-boolean": {"port": 10},
  "draft6-keywords-ignored": {"names": {"long": 1}, "c": 2, "port": 5},
  "format": {"ip": "x"},
})

# Formats (draft-07 asserts them): one property per format.
FORMATS = ["date", "time", "date-time", "duration", "period", "email", "hostname", "ipv4", "ipv6", "uri",
           "uri-reference", "iri", "iri-reference", "uri-template", "json-pointer", "relative-json-pointer",
           "uuid", "semver", "regex", "idn-email", "idn-hostname", "unknown-format"]
bad = {
 "date": ["2020-13-01", "2021-02-29", "20200101", "2020-1-01", "2020-01-01x", "abcd-01-01"],
 "time": ["12:00:00", "25:00:00Z", "12:00:00.Z", "12:00:00+0100", "12:00:60Z", "aa:00:00Z", "12:00:00x01:00"],
 "date-time": ["2020-01-01 12:00:00Z", "2020-01-01", "2020-13-01T12:00:00Z", "2020-01-01T25:00:00Z"],
 "duration": ["1D", "P", "PW", "PT", "P1DT1H1MT1S", "P1", "P1H", "P1D1Y"],
 "period": ["2020", "P1D/2020", "2020-01-01T00:00:00Z/PX"],
 "email": ["nope", "a..b@x.com", ".a@x.com", "a@-x.com", "a b@x.com", "a@[1.2.3]", "a@[IPv6:zz]", "\"a\"b\"@x.com", "é@x.com"],
 "hostname": ["-a.com", "a-.com", "a_b.com", "a..com", "x" * 64],
 "ipv4": ["1.2.3", "1.2.3.x", "1.2.3.256", "01.2.3.4", "1.2.3.-1", "1.2.3."],
 "ipv6": ["1.2.3.4", "::zz", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7", "::1.2.3.04"],
 "uri": ["relative/path", "http://[::1", "http://a b.com", "http://[zz::1]/", "http://::1/", "%zz", ":foo", "http://a.com/%zz", "http://a.com#%zz", "http://[1.2.3.4]/", "http://a[b]/", "foo://a:1:2/", "http://a:b@c/"],
 "uri-reference": ["a\\b", "http://[::1", "%zz"],
 "iri": ["rel"],
 "iri-reference": ["%x"],
 "uri-template": ["http://a.com/{x", "http://a.com/{{x}}"],
 "json-pointer": ["a/b", "/a~2", "/a~"],
 "relative-json-pointer": ["/a", "01/a", "1a"],
 "uuid": ["123", "1234567-1234-1234-1234-123456789012", "12345678-1234-1234-1234-12345678901g"],
 "semver": ["1.2", "1.2.3+", "1.2.3+a..b", "1.2.3+a_b", "1.2.3-", "1.2.3-01", "01.2.3", "1..3", "1.x.3"],
 "regex": ["(", "[a", "a**", "*a", "\\", "\\q", "a{2,1}", "x{1001}", "[z-a]", "(?P<>a)", "a)", "(?i", "[[:foo:]]", "\\pX", "(a{100}){100}", "\\8", "\\x{zz}", "a|*"],
}
good = {"date": "2020-02-29", "time": "23:59:60Z", "date-time": "2020-01-01T12:00:00.5+01:00", "duration": "P1Y2M3DT4H5M6S",
        "period": "2020-01-01T00:00:00Z/P1D", "email": "a.b+c@example.com", "hostname": "a-b.example.com", "ipv4": "10.0.0.1",
        "ipv6": "fe80::1:2", "uri": "https://example.com/a?b#c", "uri-reference": "../a", "iri": "urn:x", "iri-reference": "#frag",
        "uri-template": "http://a.com/{x}", "json-pointer": "/a~0b/c", "relative-json-pointer": "1#", "uuid": "123e4567-e89b-12d3-a456-426614174000",
        "semver": "1.2.3-rc.1+build.5", "regex": "^(?P<name>[a-z]+)\\d{2,3}$", "idn-email": "not checked", "idn-hostname": "-", "unknown-format": "x"}
props = {f.replace("-", "_"): {"format": f} for f in FORMATS}
cases = {}
for f, vals in bad.items():
    for i, v in enumerate(vals):
        cases[f"{f}-{i+1}"] = {f.replace("-", "_"): v}
cases["valid"] = {f.replace("-", "_"): good[f] for f in FORMATS}
chart("formats", {"$schema": D7, "properties": props}, cases)

# Schemas Helm cannot compile (or compiles specially): one chart each, checked with the chart's own values.
chart("ref-https", {"properties": {"a": {"$ref": "https://example.com/schemas/a.json"}}})
chart("ref-http-fragment", {"$schema": D7, "properties": {"a": {"$ref": "http://example.com/defs.json#/definitions/x"}}})
chart("ref-relative-to-id", {"$id": "https://example.com/root.json", "properties": {"a": {"$ref": "#/$defs/x"}, "b": {"$ref": "other.json"}}, "$defs": {"x": {"type": "string"}}})
chart("ref-file", {"properties": {"a": {"$ref": "other.json"}}})
chart("ref-unknown-scheme", {"properties": {"a": {"$ref": "tag:example.com,2020:thing"}}})
chart("ref-missing-pointer", {"properties": {"a": {"$ref": "#/definitions/missing"}}})
chart("ref-missing-anchor", {"properties": {"a": {"$ref": "#nowhere"}}})
chart("ref-urn", {"properties": {"a": {"$ref": "urn:example:thing"}}}, {"any-value": {"a": 1}})
chart("ref-remote-unused", {"definitions": {"x": {"$ref": "https://example.com/a.json"}}, "properties": {"a": {"type": "string"}}}, {"type": {"a": 1}})
chart("ref-ids", {"$id": "https://example.com/root.json",
                  "$defs": {"x": {"$id": "x.json", "type": "string"}, "y": {"$anchor": "yy", "type": "integer"}},
                  "properties": {"a": {"$ref": "x.json"}, "b": {"$ref": "#yy"}, "c": {"$ref": "https://example.com/root.json#/$defs/x"}}},
      {"violations": {"a": 1, "b": "s", "c": 2}})
chart("meta-schema-remote", {"$schema": "https://example.com/my-meta-schema", "properties": {"a": {"type": "string"}}})
chart("invalid-json-eof", None, raw='{"properties": {"a": {"type": "string"}}\n')
chart("invalid-json-character", None, raw='{"properties": {"a" {"type": "string"}}}\n')
chart("false-schema", False)

# Numbers as written (Helm prints schema constants verbatim): json.dumps normalizes them.
p = os.path.join(root, "draft7-misc", "values.schema.json")
t = open(p).read()
t = t.replace('"const": 1.5\n', '"const": 1.50\n').replace('  2.5,\n', '  2.50,\n  1E+3,\n')
open(p, "w").write(t)

chart("ref-cycle-root", {"$ref": "#"})
chart("ref-cycles", {"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"},
                                     "c": {"allOf": [{"$ref": "#/definitions/c"}]},
                                     "tree": {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/definitions/tree"}}}}},
                     "properties": {"x": {"$ref": "#/definitions/a"}, "y": {"$ref": "#/definitions/c"}, "t": {"$ref": "#/definitions/tree"}}},
      {"cycles": {"x": 1, "y": 2},
       "recursive-values": {"t": {"name": "root", "children": [{"name": "a", "children": [{"name": 3}]}]}}})
chart("ref-cycle-draft7", {"$schema": D7, "definitions": {"a": {"$ref": "#/definitions/a"}}, "properties": {"x": {"$ref": "#/definitions/a"}}},
      {"cycle": {"x": 1}})

chart("draft2020-unevaluated", {
 "$defs": {"base": {"properties": {"name": {"type": "string"}}}},
 "properties": {
   "strict": {"properties": {"a": {}}, "unevaluatedProperties": False},
   "viaAllOf": {"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False},
   "viaRef": {"$ref": "#/$defs/base", "unevaluatedProperties": False},
   "viaAnyOf": {"anyOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": {}}}], "unevaluatedProperties": False},
   "viaOneOf": {"oneOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"properties": {"b": {}}, "required": ["b"]}], "unevaluatedProperties": False},
   "viaIf": {"if": {"properties": {"kind": {"const": "x"}}}, "then": {"properties": {"x": {}}}, "else": {"properties": {"y": {}}}, "unevaluatedProperties": False},
   "viaDependentSchemas": {"dependentSchemas": {"a": {"properties": {"b": {}}}}, "properties": {"a": {}}, "unevaluatedProperties": False},
   "schemaForRest": {"properties": {"a": {}}, "unevaluatedProperties": {"type": "integer"}},
   "patterned": {"patternProperties": {"^x": {}}, "unevaluatedProperties": False},
   "withAdditional": {"additionalProperties": True, "unevaluatedProperties": False},
   "items": {"prefixItems": [{"type": "string"}], "unevaluatedItems": False},
   "itemsViaAllOf": {"allOf": [{"prefixItems": [{}, {}]}], "unevaluatedItems": False},
   "itemsContains": {"contains": {"type": "string"}, "unevaluatedItems": False},
   "itemsSchema": {"prefixItems": [{}], "unevaluatedItems": {"type": "integer"}},
   "nested": {"properties": {"inner": {"unevaluatedProperties": False}}, "unevaluatedProperties": False},
 }}, {
  "properties-extra": {"strict": {"a": 1, "b": 2, "c": 3}},
  "all-of": {"viaAllOf": {"a": 1, "z": 1}},
  "ref": {"viaRef": {"name": "x", "z": 1}},
  "any-of-both-branches": {"viaAnyOf": {"a": "s", "b": 1, "z": 1}},
  "any-of-failed-branch": {"viaAnyOf": {"a": 1, "b": 1}},
  "one-of": {"viaOneOf": {"a": "s", "z": 1}},
  "if-then": {"viaIf": {"kind": "x", "x": 1, "y": 1}},
  "if-else": {"viaIf": {"kind": "z", "x": 1, "y": 1}},
  "dependent-schemas": {"viaDependentSchemas": {"a": 1, "b": 1, "c": 1}},
  "schema-for-rest": {"schemaForRest": {"a": "s", "b": "s"}},
  "pattern-properties": {"patterned": {"x1": 1, "y": 2}},
  "additional-properties-evaluates-all": {"withAdditional": {"q": 1}},
  "items": {"items": ["a", 1, 2]},
  "items-all-of": {"itemsViaAllOf": [1, 2, 3]},
  "items-contains": {"itemsContains": ["a", 1, "b"]},
  "items-schema": {"itemsSchema": ["x", "y"]},
  "nested": {"nested": {"inner": {"q": 1}, "z": 1}},
  "valid": {"strict": {"a": 1}, "viaAllOf": {"a": 1}, "viaRef": {"name": "n"}, "viaAnyOf": {"a": "s", "b": 1},
            "viaOneOf": {"b": 1}, "viaIf": {"kind": "x", "x": 1}, "viaDependentSchemas": {"a": 1, "b": 2},
            "schemaForRest": {"a": "s", "b": 1}, "patterned": {"x": 1}, "items": ["a"], "itemsViaAllOf": [1, 2],
            "itemsContains": ["a", "b"], "itemsSchema": ["x", 1], "nested": {"inner": {}}},
})
chart("draft2019-unevaluated", {
 "$schema": "https://json-schema.org/draft/2019-09/schema",
 "properties": {
   "tuple": {"items": [{}], "unevaluatedItems": False},
   "tupleAllOf": {"allOf": [{"items": [{}, {}]}], "unevaluatedItems": False},
   "strict": {"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False},
 }}, {
  "items": {"tuple": [1, 2]},
  "items-all-of": {"tupleAllOf": [1, 2, 3]},
  "properties": {"strict": {"a": 1, "b": 2}},
})
chart("draft7-unevaluated", {"$schema": D7, "properties": {"strict": {"properties": {"a": {}}, "unevaluatedProperties": False}}},
      {"ignored": {"strict": {"a": 1, "b": 2}}})

# A corpus per format: many strings near the edges of each parser, checked in one run.
import random
rnd = random.Random(7)
def sample(alphabet, n, maxlen):
    out = set()
    while len(out) < n:
        out.add("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, maxlen))))
    return sorted(out)
def mutate(seeds, n):
    out = set(seeds)
    alphabet = "0123456789:.-TZtz+/%[]@\"a~#{}éP1W "
    while len(out) < n:
        s = list(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 3)):
            op = rnd.randint(0, 2)
            i = rnd.randint(0, len(s))
            if op == 0 and s:
                del s[min(i, len(s) - 1)]
            elif op == 1:
                s.insert(i, rnd.choice(alphabet))
            elif s:
                s[min(i, len(s) - 1)] = rnd.choice(alphabet)
        out.add("".join(s))
    return sorted(out)
corpus = {
 "regex": sample("()[]{}*+?|\\^$.-:aP<>0x1,pEQ", 250, 5) + ["[[:alpha:]]", "[[:^space:]x]", "\\p{Greek}", "\\pL", "\\PN", "\\p{^L}", "(?i)a", "(?i:a)", "(?-i)a", "(?i-)a", "(?P=n)", "(?<n>a)", "(?'n'a)", "a{,3}", "a{3,}", "a{3}{2}", "\\Qa*\\E", "\\Q(", "\\x{10FFFF}", "\\x{110000}", "\\x4", "\\0", "\\07", "\\777", "[\\d-z]", "[a-\\d]", "[]a]", "[^]a]", "(?U)a*", "x{2}{3}", "(a|b|)*", "\\z\\A\\b\\B", "\\C"],
 "date": mutate(["2020-02-29", "2021-12-31", "0000-01-01", "9999-12-31"], 150),
 "time": mutate(["23:59:60Z", "12:00:00+01:00", "00:00:00.123-23:59", "12:34:56z"], 150),
 "date-time": mutate(["2020-01-01T12:00:00Z", "2020-12-31t23:59:60.5+00:00"], 120),
 "duration": mutate(["P1Y2M3DT4H5M6S", "P1W", "PT1M", "P1D"], 120),
 "period": mutate(["2020-01-01T00:00:00Z/P1D", "P1D/2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z/2021-01-01T00:00:00Z"], 80),
 "email": mutate(["a.b+c@example.com", "\"quoted\"@x.org", "a@[1.2.3.4]", "a@[IPv6:::1]"], 150),
 "hostname": mutate(["a-b.example.com", "localhost", "x.y.", "1.2.3.4"], 100),
 "ipv4": mutate(["10.0.0.1", "255.255.255.255", "0.0.0.0"], 100),
 "ipv6": mutate(["fe80::1:2", "::", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "2001:db8::"], 150),
 "uri": mutate(["https://example.com/a?b#c", "http://[::1]:80/", "mailto:a@b", "http://u:p@h:1/p", "file:///x", "urn:a:b"], 200),
 "uri-reference": mutate(["../a", "#frag", "//host/p", "?q", "a:b/c", "http://[fe80::1%25en0]/"], 120),
 "uri-template": mutate(["http://a.com/{x}", "/{a}/{b}", "http://a/%7Bx%7D"], 80),
 "json-pointer": mutate(["/a~0b/c", "", "/", "/~1"], 60),
 "relative-json-pointer": mutate(["1#", "0/a", "10/b~1"], 60),
 "uuid": mutate(["123e4567-e89b-12d3-a456-426614174000"], 60),
 "semver": mutate(["1.2.3-rc.1+build.5", "0.0.0", "10.20.30-alpha-1.0+001"], 100),
}
chart("formats-corpus", {"$schema": D7, "properties": {f: {"additionalProperties": {"format": f}} for f in corpus}},
      {"corpus": {f: {f"c{i}": v for i, v in enumerate(vals)} for f, vals in corpus.items()}})

# Numbers: printing (x/text) and exact multipleOf, over many magnitudes.
def numbers(n):
    out = set()
    while len(out) < n:
        kind = rnd.randint(0, 4)
        if kind == 0:
            out.add(rnd.randint(-10**7, 10**7))
        elif kind == 1:
            out.add(round(rnd.uniform(-10000, 10000), rnd.randint(0, 4)))
        elif kind == 2:
            out.add(float(f"{rnd.randint(1, 99999)}e{rnd.randint(-30, 30)}") * rnd.choice([1, -1]))
        elif kind == 3:
            out.add(rnd.randint(0, 2000) / 100)
        else:
            out.add(rnd.choice([0.1, 0.2, 0.3, 0.7, 1.4, 2.1, 1e21, 1e-7, 123456.789, 999999.5, 1000000.0, 0.0001, 0.00001]) * rnd.randint(1, 9))
    return sorted(out)
nums = numbers(300)
chart("numbers-corpus", {"$schema": D7, "properties": {
   "max": {"additionalProperties": {"maximum": -1e308}},
   "min": {"additionalProperties": {"minimum": 1.5e300}},
   "cents": {"additionalProperties": {"multipleOf": 0.01}},
   "three": {"additionalProperties": {"multipleOf": 3}},
   "sevenTenths": {"additionalProperties": {"multipleOf": 0.7}},
   "big": {"additionalProperties": {"exclusiveMaximum": 12345.678}},
   "int": {"additionalProperties": {"type": "integer"}},
  }}, {"corpus": {k: {f"n{i}": v for i, v in enumerate(nums)} for k in ["max", "min", "cents", "three", "sevenTenths", "big", "int"]}})
