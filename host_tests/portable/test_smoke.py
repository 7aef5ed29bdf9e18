from host_tests.support.check import raises, load_vectors


def test_raises_catches_expected_exception():
    with raises(ValueError):
        int("x")


def test_raises_fails_when_nothing_raised():
    failed = False
    try:
        with raises(ValueError):
            pass
    except AssertionError:
        failed = True
    assert failed


def test_vectors_are_readable():
    assert len(load_vectors("cbor-rfc8949-appendix-a.json")) > 50
