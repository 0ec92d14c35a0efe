"""Tests for analysis.validation: one checker per input kind, one clear error."""

import ast
import pathlib

import numpy as np
import pytest

from analysis import concepts, language, shortcut, symbols
from analysis.validation import (
    MAX_DENSE_SYMBOLS,
    check_base,
    check_binary_labels,
    check_counts,
    check_matrix,
    check_meanings,
    check_messages,
    check_positive_int,
    check_positive_number,
    check_probability,
    check_same_length,
    check_vector,
    dense_symbol_ids,
)


def test_check_positive_int():
    assert check_positive_int(3, "n") == 3
    assert check_positive_int(np.int64(2), "n") == 2
    with pytest.raises(TypeError, match="n must be an int, got float"):
        check_positive_int(2.0, "n")
    with pytest.raises(TypeError, match="n must be an int, got bool"):
        check_positive_int(True, "n")
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        check_positive_int(0, "n")
    assert check_positive_int(1e4, "n_steps", integral_floats=True) == 10_000
    with pytest.raises(ValueError, match="n_steps must be a positive integer, got 1.5"):
        check_positive_int(1.5, "n_steps", integral_floats=True)
    with pytest.raises(ValueError, match="positive integer"):
        check_positive_int(float("nan"), "n_steps", integral_floats=True)


def test_check_positive_number_and_probability_and_base():
    assert check_positive_number(2, "eps") == 2.0
    for bad in (0, -1.0, float("inf"), "x", None, True):
        with pytest.raises(ValueError, match="eps must be a positive"):
            check_positive_number(bad, "eps")
    assert check_probability(0.1, "level") == 0.1
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\), got 0"):
        check_probability(0, "level")
    assert check_probability(0, "p", open_interval=False) == 0.0
    with pytest.raises(TypeError, match="level must be a number"):
        check_probability("0.1", "level")
    with pytest.raises(ValueError, match="base must be positive and != 1"):
        check_base(1)


def test_check_messages_rejects_huge_float_ids_and_uint64():
    with pytest.raises(ValueError, match="above the int64 range"):
        check_messages(np.array([[2.0**70]]))
    with pytest.raises(ValueError, match="above the int64 range"):
        check_messages(np.array([[2**64 - 1]], dtype=np.uint64))


def test_check_counts_and_same_length():
    with pytest.raises(ValueError, match="usage sum to zero"):
        check_counts([0, 0], name="usage")
    with pytest.raises(ValueError, match="negative value -1"):
        check_counts([1, -1])
    assert check_same_length(("a", 2), ("b", 2)) == 2
    with pytest.raises(ValueError, match="a has 2 and b has 3"):
        check_same_length(("a", 2), ("b", 3))


def test_check_matrix_vector_meanings():
    with pytest.raises(ValueError, match=r"X must be 2-D .* got shape \(3,\)"):
        check_matrix(np.ones(3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        check_matrix(np.ones((1, 3)), min_rows=2)
    with pytest.raises(ValueError, match="numeric"):
        check_matrix([["a"]])
    with pytest.raises(ValueError, match="NaN or inf"):
        check_vector([1.0, np.inf])
    with pytest.raises(ValueError, match="real"):
        check_meanings(np.array([1 + 1j, 2]))


def test_check_binary_labels_and_deprecated_alias():
    np.testing.assert_array_equal(check_binary_labels([0, 1], 2), [-1, 1])
    with pytest.raises(ValueError, match="labels in"):
        check_binary_labels([0, 2], 2)
    with pytest.warns(DeprecationWarning, match="check_binary_labels"):
        np.testing.assert_array_equal(shortcut.check_labels([0, 1], 2), [-1, 1])


def test_dense_symbol_ids_reindexes_without_vocab_size():
    m = np.array([[10**9, 5], [5, 10**9 + 7]])
    dense, k = dense_symbol_ids(m, None)
    assert k == 3 and dense.tolist() == [[1, 0], [0, 2]]
    kept, k = dense_symbol_ids(np.array([[0, 3]]), 8)
    assert k == 8 and kept.tolist() == [[0, 3]]


def test_symbol_counts_bounds_its_table_for_huge_ids():
    with pytest.raises(ValueError, match="re-index the symbols densely"):
        symbols.symbol_counts([[10**9]])
    with pytest.raises(ValueError, match=f"limit is {MAX_DENSE_SYMBOLS}"):
        symbols.symbol_counts([[1]], vocab_size=MAX_DENSE_SYMBOLS + 1)
    # whole-message counts never index by id
    assert symbols.symbol_counts([[10**9], [10**9]], unit="message").tolist() == [2]


def test_old_public_names_are_reexported():
    assert symbols.check_messages is check_messages
    assert language.check_meanings is check_meanings
    assert symbols.check_symbol_counts is check_counts
    assert concepts.check_vector is check_vector


def test_no_cross_module_private_imports_inside_analysis():
    root = pathlib.Path(language.__file__).parent
    offenders = []
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "analysis"
            ):
                offenders += [
                    f"{path.name}: {a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    assert not offenders, offenders


def test_analysis_never_imports_envs():
    root = pathlib.Path(language.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "envs" or n.startswith("envs.") for n in names), (
                path.name
            )
