"""lib/cbor.py against RFC 8949 Appendix A, hand-picked encodings and malformed input."""
import array
import binascii
import json
import math
import sys
from collections import OrderedDict

import cbor
from cbor import MAX_DEPTH, Simple, Tag, dumps, loads, undefined
from host_tests.support.check import load_vectors, raises, unhex

VECTORS = load_vectors("cbor-rfc8949-appendix-a.json")
INF = float("inf")
NAN = float("nan")
# RFC 7049's Appendix A lists simple(24) as f818, but RFC 8949 section 3.3 makes 0xf8
# followed by a byte below 0x20 not well-formed (cbor/test-vectors issue #7).
NOT_WELL_FORMED = ("f818",)
ON_MICROPYTHON = sys.implementation.name == "micropython"


def same(a, b):
    """Equality that also checks types, tells -0.0 from 0.0 and matches NaN with NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if a != a or b != b:
            return a != a and b != b
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            any(same(k, k2) and same(v, v2) for k2, v2 in b.items()) for k, v in a.items())
    if isinstance(a, Tag):
        return a.tag == b.tag and same(a.value, b.value)
    return a == b


# ---- the subset of diagnostic notation (RFC 8949 section 8) the vector file uses

_WORDS = (("-Infinity", -INF), ("Infinity", INF), ("NaN", NAN), ("undefined", undefined),
          ("true", True), ("false", False), ("null", None))


def diag(text):
    value, rest = _diag(text)
    assert rest == "", "unparsed diagnostic text: %r" % rest
    return value


def _items(s, close):
    """Parse `item, item, ...close` (items may be `key: value` pairs)."""
    out = []
    s = s.lstrip()
    while not s.startswith(close):
        item, s = _diag(s)
        if s.startswith(":"):
            value, s = _diag(s[1:])
            item = (item, value)
        out.append(item)
        s = s[1:].lstrip() if s.startswith(",") else s
    return out, s[len(close):].lstrip()


def _diag(s):
    s = s.lstrip()
    for word, value in _WORDS:
        if s.startswith(word):
            return value, s[len(word):].lstrip()
    if s.startswith("h'"):
        end = s.index("'", 2)
        return unhex(s[2:end]), s[end + 1:].lstrip()
    if s.startswith('"'):
        end = s.index('"', 1)
        return json.loads(s[:end + 1]), s[end + 1:].lstrip()
    if s.startswith("(_"):
        chunks, s = _items(s[2:], ")")
        return chunks[0][:0].join(chunks), s
    if s.startswith("["):
        return _items(s[1:], "]")
    if s.startswith("{"):
        pairs, s = _items(s[1:], "}")
        return dict(pairs), s
    if s.startswith("simple("):
        end = s.index(")")
        return Simple(int(s[7:end])), s[end + 1:].lstrip()
    end = 0
    while end < len(s) and s[end] in "0123456789+-.e":
        end += 1
    number, s = s[:end], s[end:].lstrip()
    if s.startswith("("):  # tag number(content)
        content, s = _diag(s[1:])
        assert s.startswith(")")
        return Tag(int(number), content), s[1:].lstrip()
    return (float(number) if "." in number or "e" in number else int(number)), s


def expected(vector):
    return vector["decoded"] if "decoded" in vector else diag(vector["diagnostic"])


def well_formed_vectors():
    return [v for v in VECTORS if v["hex"] not in NOT_WELL_FORMED]


# ---- RFC 8949 Appendix A


def test_diag_parser_parses_each_form():
    assert same(diag("[1, [2, 3], {4: h'05'}]"), [1, [2, 3], {4: b"\x05"}])
    assert same(diag("(_ h'0102', h'030405')"), b"\x01\x02\x03\x04\x05")
    assert same(diag('1(-2.5e3)'), Tag(1, -2500.0))
    assert same(diag("-Infinity"), -INF) and not same(diag("Infinity"), -INF)
    assert same(diag("simple(16)"), Simple(16)) and diag("undefined") is undefined


def test_vector_hex_matches_base64():
    for v in VECTORS:
        assert binascii.a2b_base64(v["cbor"]) == unhex(v["hex"]), v["hex"]


def test_every_vector_decodes_to_its_expected_value():
    checked = 0
    for v in well_formed_vectors():
        got = loads(unhex(v["hex"]))
        assert same(got, expected(v)), "%s -> %r" % (v["hex"], got)
        checked += 1
    assert checked == len(VECTORS) - len(NOT_WELL_FORMED) > 80


def test_simple_24_vector_is_rejected_as_not_well_formed():
    assert [v["hex"] for v in VECTORS if v["hex"] in NOT_WELL_FORMED] == ["f818"]
    for bad in ("f818", "f800", "f813", "f814", "f817", "f81f"):
        with raises(ValueError):
            loads(unhex(bad))
    assert loads(unhex("f820")) == Simple(32)


def test_roundtrip_vectors_reencode_byte_exact():
    checked = 0
    for v in well_formed_vectors():
        if not v["roundtrip"]:
            continue
        data = unhex(v["hex"])
        assert dumps(loads(data), deterministic=True) == data, v["hex"]
        # A MicroPython dict does not keep insertion order, so only CPython can
        # reproduce multi-key maps in their original order without sorting.
        if not ON_MICROPYTHON:
            assert dumps(loads(data)) == data, v["hex"]
        checked += 1
    assert checked > 60


def test_non_roundtrip_vectors_reencode_in_preferred_form():
    preferred = {
        "fa7f800000": "f97c00", "fa7fc00000": "f97e00", "faff800000": "f9fc00",
        "fb7ff0000000000000": "f97c00", "fb7ff8000000000000": "f97e00",
        "fbfff0000000000000": "f9fc00", "5f42010243030405ff": "450102030405",
        "7f657374726561646d696e67ff": "6973747265616d696e67", "9fff": "80",
        "9f018202039f0405ffff": "8301820203820405",
        "bf6346756ef563416d7421ff": "a263416d74216346756ef5",
    }
    seen = 0
    for v in VECTORS:
        if v["hex"] in preferred:
            assert dumps(loads(unhex(v["hex"])), deterministic=True) == unhex(preferred[v["hex"]])
            seen += 1
    assert seen == len(preferred)


def test_every_proper_prefix_of_a_vector_is_truncated():
    for v in well_formed_vectors():
        data = unhex(v["hex"])
        for end in range(len(data)):
            with raises(ValueError):
                loads(data[:end])


# ---- encoding


def test_integers_take_their_shortest_form():
    cases = ((0, "00"), (23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"),
             (65535, "19ffff"), (65536, "1a00010000"), (2**32 - 1, "1affffffff"),
             (2**32, "1b0000000100000000"), (2**64 - 1, "1bffffffffffffffff"),
             (2**64, "c249010000000000000000"), (-1, "20"), (-24, "37"), (-25, "3818"),
             (-257, "390100"), (-2**64, "3bffffffffffffffff"),
             (-2**64 - 1, "c349010000000000000000"), (2**72, "c24a01" + "00" * 9))
    for value, hexed in cases:
        assert dumps(value) == unhex(hexed), value
        assert same(loads(unhex(hexed)), value)
    big = 3**100
    assert loads(dumps(big)) == big and loads(dumps(-big)) == -big


def test_floats_take_the_shortest_exact_width():
    cases = ((0.0, "f90000"), (-0.0, "f98000"), (1.5, "f93e00"), (65504.0, "f97bff"),
             (-65504.0, "f9fbff"), (65520.0, "fa477ff000"), (65505.0, "fa477fe100"),
             (65536.0, "fa47800000"), (2.0**-14, "f90400"), (2.0**-24, "f90001"),
             (3 * 2.0**-24, "f90003"), (1023 * 2.0**-24, "f903ff"), (-(2.0**-15), "f98200"),
             (2.0**-15 + 2.0**-24, "f90201"), (2.0**-25, "fa33000000"),
             (1.5 * 2.0**-24, "fa33c00000"), (2.0**-149, "fa00000001"),
             (100000.0, "fa47c35000"), (3.4028234663852886e38, "fa7f7fffff"),
             (3.4028235677973366e38, "fb47effffff0000000"), (1.1, "fb3ff199999999999a"),
             (1e300, "fb7e37e43c8800759c"), (2.0**-1074, "fb0000000000000001"),
             (INF, "f97c00"), (-INF, "f9fc00"), (NAN, "f97e00"))
    for value, hexed in cases:
        assert dumps(value) == unhex(hexed), (value, dumps(value))
        assert same(loads(unhex(hexed)), value), hexed


def test_half_floats_decode_by_hand():
    cases = (("f90001", 2.0**-24), ("f903ff", 1023 * 2.0**-24), ("f98001", -(2.0**-24)),
             ("f90400", 2.0**-14), ("f93555", 0.333251953125), ("f9c000", -2.0),
             ("f97bff", 65504.0), ("f9fc00", -INF), ("f97c01", NAN), ("f9fe00", NAN))
    for hexed, value in cases:
        assert same(loads(unhex(hexed)), value), hexed


def test_strings_and_byte_strings():
    assert dumps("") == unhex("60") and dumps("\u00fc") == unhex("62c3bc")
    assert dumps(b"\x01\x02") == unhex("420102")
    assert dumps(bytearray(b"\x01\x02")) == unhex("420102")
    assert dumps(memoryview(b"\x00\x01\x02")[1:]) == unhex("420102")
    words = array.array("H", [1, 2])
    assert dumps(memoryview(words)) == b"\x44" + bytes(words)  # counts bytes, not items
    assert dumps("a" * 24) == unhex("7818" + "61" * 24)
    assert loads(unhex("420102")) == b"\x01\x02" and isinstance(loads(unhex("40")), bytes)


def test_tuples_encode_as_arrays_and_decode_as_lists():
    assert dumps((1, (2, 3))) == dumps([1, [2, 3]]) == unhex("8201820203")
    assert same(loads(dumps((1, (2, 3)))), [1, [2, 3]])


def test_map_with_array_keys_round_trips():
    acl = {(3342, 0): 1}
    data = dumps(acl)
    assert data == unhex("a182190d0e0001")
    assert same(loads(data), acl)
    nested = {(1, (2, 3)): [4, [5]]}
    assert same(loads(dumps(nested)), nested)  # keys become tuples, values stay lists
    assert same(loads(unhex("a1c782010200")), {Tag(7, (1, 2)): 0})


def test_maps_keep_iteration_order_or_sort_when_deterministic():
    ordered = OrderedDict()
    ordered[3] = "a"
    ordered[1] = "b"
    assert dumps(ordered) == unhex("a2036161016162")
    assert dumps(ordered, deterministic=True) == unhex("a2016162036161")
    # Bytewise order of encoded keys (RFC 8949 4.2.1), not the older length-first order.
    mixed = OrderedDict()
    for key in ("b", -1, 256):
        mixed[key] = 0
    assert dumps(mixed, deterministic=True) == unhex("a3190100002000616200")
    nested = {"z": {"y": 1, "x": 2}}
    assert dumps(nested, deterministic=True) == unhex("a1617aa2617802617901")


def test_true_false_null_undefined_and_simple_values():
    assert dumps([False, True, None, undefined]) == unhex("84f4f5f6f7")
    assert loads(unhex("f7")) is undefined and undefined is not None
    assert repr(undefined) == "undefined"
    assert dumps(Simple(16)) == unhex("f0") and dumps(Simple(255)) == unhex("f8ff")
    assert Simple(16) == Simple(16) and Simple(16) != Simple(17) and Simple(16) != 16
    assert hash(Simple(16)) == hash(Simple(16)) and repr(Simple(16)) == "Simple(16)"
    for bad in (-1, 20, 23, 24, 31, 256):
        with raises(ValueError):
            Simple(bad)


def test_tags():
    assert Tag(1, 2) == Tag(1, 2) and Tag(1, 2) != Tag(1, 3) and Tag(1, 2) != Tag(2, 2)
    assert hash(Tag(1, (2,))) == hash(Tag(1, (2,))) and repr(Tag(32, "x")) == "Tag(32, 'x')"
    assert dumps(Tag(32, "x")) == unhex("d8206178")
    assert dumps(Tag(2**64 - 1, None)) == unhex("dbfffffffffffffffff6")
    assert loads(unhex("dbfffffffffffffffff6")) == Tag(2**64 - 1, None)
    assert same(loads(unhex("c240")), 0) and same(loads(unhex("c34100")), -1)
    assert same(loads(unhex("c25f4101ff")), 1)
    for bad in (-1, 2**64, 1.0, "1"):
        with raises(ValueError):
            Tag(bad, None)


def test_unsupported_types_raise_type_error():
    for value in (object(), {1, 2}, [1, object()], {"k": range(3)}):
        with raises(TypeError) as caught:
            dumps(value)
        assert "cannot encode" in str(caught.value)
    with raises(TypeError):
        loads("a0")


def test_loads_accepts_bytes_bytearray_and_memoryview():
    data = unhex("82016161")
    for buf in (data, bytearray(data), memoryview(data), memoryview(b"\xff" + data)[1:]):
        assert same(loads(buf), [1, "a"])
    assert isinstance(loads(memoryview(unhex("420102"))), bytes)


def test_mixed_objects_round_trip():
    obj = {"a": [1, -2, 2**70, -(2**70), 1.5, -0.0, 1.1, True, None, undefined],
           "k": {b"n": Tag(1000, [b"", "", Simple(99)])}, 7: [], (1, "x"): {}}
    assert same(loads(dumps(obj)), obj)
    assert same(loads(dumps(obj, deterministic=True)), obj)


# ---- malformed input


MALFORMED = {
    "truncated": ("", "18", "1901", "1a000000", "1b00000000000000", "4201", "6261",
                  "8201", "9f01", "a101", "bf0102", "c1", "f900", "fa000000",
                  "fb00000000000000", "5f4100", "7f"),
    "reserved additional information": ("1c", "1d", "1e", "3c", "5d", "7e", "9c", "bd",
                                        "de", "fc", "fd", "fe"),
    "break outside an indefinite item": ("ff", "81ff", "a1ff", "a101ff", "bf01ff", "c1ff",
                                         "8201ff"),
    "indefinite length for int or tag": ("1f", "3f", "df00"),
    "wrong chunk in indefinite string": ("5f6161ff", "7f4161ff", "5f01ff", "5f5f4100ffff",
                                         "7f7fffff", "5f80ff", "7fc16161ff"),
    "length beyond the buffer": ("5bffffffffffffffff", "7affffffff61", "9bffffffffffffffff",
                                 "bbffffffffffffffff", "9a7fffffff00", "5a0000000200"),
    "trailing bytes": ("0000", "8000", "a0ff", "f600"),
    "invalid UTF-8": ("61ff", "62c328", "62c080", "63eda080", "64f4908080", "61c3",
                      "7f61c361bcff"),
    "map as map key": ("a1a000", "a181a000", "a1c1a000", "a19fa0ff00"),
    "duplicate map key": ("a2010001f5", "a20100f93c0000", "a2616100616101", "bf0100010100ff",
                          "bf8201020082010200ff", "bfc10100c101f6ff"),
    "bignum without byte string": ("c201", "c360", "c280"),
}


def test_reserved_additional_information_is_not_taken_for_indefinite():
    bodies = {2: "4100ff", 3: "6161ff", 4: "00ff", 5: "0000ff"}
    for major, body in bodies.items():
        assert loads(unhex("%02x" % (major << 5 | 31) + body))  # the well-formed form
        for ai in (28, 29, 30):
            with raises(ValueError):
                loads(unhex("%02x" % (major << 5 | ai) + body))


def test_malformed_input_raises_value_error():
    count = 0
    for reason, cases in MALFORMED.items():
        for hexed in cases:
            try:
                value = loads(unhex(hexed))
            except ValueError:
                count += 1
                continue
            raise AssertionError("%s: %s decoded to %r" % (reason, hexed, value))
    assert count > 70


def test_nesting_depth_is_bounded():
    assert MAX_DEPTH == 16
    for opener in ("81", "a101", "c1", "9f"):
        closer = "ff" if opener == "9f" else ""
        ok = unhex(opener * MAX_DEPTH + "00" + closer * MAX_DEPTH)
        loads(ok)
        with raises(ValueError):
            loads(unhex(opener * (MAX_DEPTH + 1) + "00" + closer * (MAX_DEPTH + 1)))
    with raises(ValueError):
        loads(b"\x81" * 100000)  # far past any recursion limit: still only ValueError
    value = 0
    for _ in range(MAX_DEPTH):
        value = [value]
    assert loads(dumps(value)) == value
    with raises(ValueError):
        dumps([value])
    loop = []
    loop.append(loop)
    with raises(ValueError):
        dumps(loop)


def test_mutated_vectors_only_raise_value_error():
    seed = 12345
    tried = 0
    for v in VECTORS:
        data = unhex(v["hex"])
        for _ in range(30):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            buf = bytearray(data + bytes([seed & 0xFF, (seed >> 8) & 0xFF]))
            buf[(seed >> 4) % len(buf)] = (seed >> 16) & 0xFF
            try:
                loads(buf[: (seed >> 12) % (len(buf) + 1)])
            except ValueError:
                pass
            tried += 1
    assert tried == 30 * len(VECTORS)


def test_module_exports():
    for name in ("dumps", "loads", "Tag", "Simple", "undefined", "MAX_DEPTH"):
        assert hasattr(cbor, name), name


def test_dump_into_appends_what_dumps_returns():
    out = bytearray(b"\x82")
    for obj in (-2, "/3303/0/5700", 21.5, [1, {"a": b"x"}]):
        cbor.dump_into(out, obj)
    assert bytes(out) == b"\x82" + b"".join(dumps(o) for o in (-2, "/3303/0/5700", 21.5,
                                                                [1, {"a": b"x"}]))
