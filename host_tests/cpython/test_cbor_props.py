"""Property tests for lib/cbor.py (CPython only): round trips, cbor2 interop, robustness."""
from collections.abc import Mapping

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

import cbor
from host_tests.portable.test_cbor import same

# Tags that cbor2 6.x turns into Python objects (dates, bignums, decimals, sets, ...),
# found by probing 0..70000; the others stay CBORTag there and Tag here.
CBOR2_SEMANTIC_TAGS = {0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258,
                       260, 261, 1004, 43000, 55799}
TAGS = st.integers(0, 2**64 - 1).filter(lambda t: t not in CBOR2_SEMANTIC_TAGS)

SCALARS = st.one_of(
    st.none(), st.booleans(), st.just(cbor.undefined),
    st.integers(), st.integers(-(2**70), 2**70),
    st.floats(), st.floats(width=32), st.floats(width=16),
    st.text(), st.binary(),
    st.builds(cbor.Simple, st.integers(0, 19) | st.integers(32, 255)),
)
KEYS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary()
    | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=6,
)


def values(depth):
    """Nested values (lists, dicts, tags) at most `depth` containers deep."""
    if depth == 0:
        return SCALARS
    inner = values(depth - 1)
    return st.one_of(SCALARS, st.lists(inner, max_size=4),
                     st.dictionaries(KEYS, inner, max_size=4), st.builds(cbor.Tag, TAGS, inner))


VALUES = values(4)
DICT_FREE = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                         | st.builds(cbor.Tag, TAGS, inner), max_leaves=12)


def to_cbor2(x):
    if x is cbor.undefined:
        return cbor2.undefined
    if isinstance(x, cbor.Simple):
        return cbor2.CBORSimpleValue(x.value)
    if isinstance(x, cbor.Tag):
        return cbor2.CBORTag(x.tag, to_cbor2(x.value))
    if isinstance(x, (list, tuple)):
        return type(x)(to_cbor2(v) for v in x)
    if isinstance(x, dict):
        return {to_cbor2(k): to_cbor2(v) for k, v in x.items()}
    return x


def from_cbor2(x, key=False):
    """cbor2's types as ours; cbor2 also freezes tag contents (tuples, frozendicts)."""
    if x is cbor2.undefined:
        return cbor.undefined
    if isinstance(x, cbor2.CBORSimpleValue):
        return cbor.Simple(x.value)
    if isinstance(x, cbor2.CBORTag):
        return cbor.Tag(x.tag, from_cbor2(x.value, key))
    if isinstance(x, (list, tuple)):
        items = [from_cbor2(v, key) for v in x]
        return tuple(items) if key else items
    if isinstance(x, Mapping):
        return {from_cbor2(k, True): from_cbor2(v) for k, v in x.items()}
    return x


@settings(deadline=None)
@given(VALUES)
def test_round_trip(obj):
    assert same(cbor.loads(cbor.dumps(obj)), obj)
    assert same(cbor.loads(cbor.dumps(obj, deterministic=True)), obj)


@settings(deadline=None)
@given(VALUES)
def test_cbor2_decodes_our_output(obj):
    assert same(from_cbor2(cbor2.loads(cbor.dumps(obj))), obj)


@settings(deadline=None)
@given(VALUES)
def test_we_decode_cbor2_output(obj):
    assert same(cbor.loads(cbor2.dumps(to_cbor2(obj))), obj)


@settings(deadline=None)
@given(DICT_FREE)
def test_without_maps_our_bytes_equal_cbor2_canonical(obj):
    # cbor2's canonical map order is length-first, RFC 8949 4.2.1 is bytewise: skip maps.
    assert cbor.dumps(obj) == cbor2.dumps(to_cbor2(obj), canonical=True)


@settings(deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=8), st.randoms(use_true_random=False))
def test_deterministic_maps_ignore_insertion_order(obj, rnd):
    items = list(obj.items())
    rnd.shuffle(items)
    data = cbor.dumps(obj, deterministic=True)
    assert data == cbor.dumps(dict(items), deterministic=True)
    keys = [cbor.dumps(k, deterministic=True) for k in cbor.loads(data)]
    assert keys == sorted(keys)


@settings(deadline=None, max_examples=500)
@given(st.binary(max_size=64))
def test_random_bytes_only_raise_value_error(data):
    try:
        cbor.loads(data)
    except ValueError:
        pass


@settings(deadline=None)
@given(VALUES, st.data())
def test_truncated_or_mutated_encodings_only_raise_value_error(obj, data):
    encoded = cbor.dumps(obj)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        cbor.loads(encoded[:cut])
    except ValueError:
        pass
    else:
        raise AssertionError("a proper prefix decoded")
    mutated = bytearray(encoded)
    mutated[cut] = data.draw(st.integers(0, 255))
    try:
        cbor.loads(mutated)
    except ValueError:
        pass
