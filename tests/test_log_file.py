"""submission_log.json is read as untrusted data: every malformed log is refused with a reason, key by key."""

import json
import os
import threading

import numpy as np
import pytest

from autograder.homework import homework_module
from autograder.log_file import LogKeyError, LogUnreadable, infer_matrix, read_log
from tests.helpers import ROOT

logged_weights = homework_module("logged").logged_weights

REFERENCE_LOG = json.loads((ROOT / "reference" / "submission_log.json").read_text())
CAP = 1 << 20


def write(tmp_path, text, name="submission_log.json"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_reference_log_reads_without_errors(tmp_path):
    log = read_log(write(tmp_path, json.dumps(REFERENCE_LOG)), CAP)
    assert log.errors == {}
    assert log.values["torch_transformer_shape"] == [8, 3]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{not json", "not valid JSON"),  # truncated or invalid
        ('{"a": NaN}', "not valid JSON"),  # NaN is not JSON
        ('{"a": Infinity}', "not valid JSON"),
        ('{"time": 1, "time": 2}', "more than once"),  # duplicate keys
        ("[1, 2, 3]", "top level is not a JSON object"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(tmp_path, text, reason):
    with pytest.raises(LogUnreadable, match=reason):
        read_log(write(tmp_path, text), CAP)


def test_latin1_bytes_are_refused(tmp_path):
    with pytest.raises(LogUnreadable, match="not UTF-8"):
        read_log(write(tmp_path, b'{"torch_transformer_init": "caf\xe9"}'), CAP)


def test_a_byte_order_mark_is_tolerated(tmp_path):
    log = read_log(write(tmp_path, b"\xef\xbb\xbf" + json.dumps(REFERENCE_LOG).encode()), CAP)
    assert log.errors == {}


def test_size_cap_applies_before_reading(tmp_path):
    path = write(tmp_path, "{}")
    with open(path, "ab") as handle:
        handle.truncate(CAP + 1)
    with pytest.raises(LogUnreadable, match="more than"):
        read_log(path, CAP)


def test_links_are_not_followed(tmp_path):
    target = write(tmp_path, json.dumps(REFERENCE_LOG), name="elsewhere.json")
    os.symlink(target, tmp_path / "submission_log.json")
    with pytest.raises(LogUnreadable, match="not a regular file"):
        read_log(tmp_path / "submission_log.json", CAP)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "submission_log.json")  # nobody writes to it: a plain open would wait forever
    outcome = {}
    reader = threading.Thread(
        target=lambda: outcome.update(error=_raised(lambda: read_log(tmp_path / "submission_log.json", CAP)))
    )
    reader.start()
    reader.join(5)
    assert (
        not reader.is_alive() and isinstance(outcome["error"], LogUnreadable) and "named pipe" in str(outcome["error"])
    )


def test_a_device_is_refused_before_it_is_opened():
    with pytest.raises(LogUnreadable, match="device node"):
        read_log("/dev/zero", CAP)  # an endless file


def test_a_folder_link_on_the_way_is_not_followed(tmp_path):
    write(tmp_path, json.dumps(REFERENCE_LOG))
    os.symlink(tmp_path, tmp_path.parent / f"{tmp_path.name}-alias")
    with pytest.raises(LogUnreadable, match="not a regular file"):
        read_log(tmp_path.parent / f"{tmp_path.name}-alias" / "submission_log.json", CAP)


def _raised(function):
    try:
        function()
    except Exception as error:
        return error
    return None


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("torch_transformer_value", [1e400, 0, 0, 0, 0], "finite"),  # 1e400 parses to inf
        ("torch_transformer_value", [1, 2, 3], "at least 5"),  # wrong length
        ("torch_transformer_value", ["0.1", 0, 0, 0, 0], "valid number"),  # strings where numbers belong
        ("attention_by_content_Q", [True, 0, 0], "valid number"),  # bools are not numbers
        ("attention_by_content_K", {"a": 1}, "valid list"),  # a dict
        ("torch_transformer_init", 42, "valid string"),
        ("torch_transformer_shape", [8.5, 3], "valid integer"),
    ],
)
def test_a_bad_key_costs_only_that_key(tmp_path, key, value, message):
    log = read_log(write(tmp_path, json.dumps({**REFERENCE_LOG, key: value}).replace("Infinity", "1e400")), CAP)
    assert set(log.errors) == {key}
    assert message in log.errors[key]
    with pytest.raises(LogKeyError, match=key):
        log.get(key)


def test_extra_keys_are_ignored_and_missing_keys_reported(tmp_path):
    data = {**REFERENCE_LOG, "extra": [1, 2]}
    del data["attention_by_position_pos"]
    log = read_log(write(tmp_path, json.dumps(data)), CAP)
    assert set(log.errors) == {"attention_by_position_pos"} and "missing" in log.errors["attention_by_position_pos"]


@pytest.mark.parametrize(
    "flat, rows, cols, shape",
    [
        (range(6), 3, None, (3, 2)),  # qk_dim inferred from the length
        (range(9), 3, 3, (3, 3)),
        (range(12), None, 3, (4, 3)),
    ],
)
def test_matrices_are_reshaped_from_their_lengths(flat, rows, cols, shape):
    matrix = infer_matrix(list(flat), rows=rows, cols=cols)
    assert matrix.shape == shape and matrix.ravel().tolist() == list(flat)


@pytest.mark.parametrize(
    "flat, rows, cols, message",
    [
        (range(7), 3, None, "not a multiple of its 3 rows"),
        (range(8), 3, 3, "expected 3 x 3 = 9"),
    ],
)
def test_impossible_lengths_are_rejected_with_a_message(flat, rows, cols, message):
    with pytest.raises(ValueError, match=message):
        infer_matrix(list(flat), rows=rows, cols=cols)


def test_logged_weights_recover_the_reference_matrices(tmp_path):
    from reference import transformer

    log = read_log(write(tmp_path, json.dumps(REFERENCE_LOG)), CAP)
    for task, weights in (
        ("content", transformer.attention_by_content()),
        ("position", transformer.attention_by_position()),
    ):
        recovered = logged_weights(log, task)
        assert set(recovered) == set(weights)
        for name in weights:
            assert np.array_equal(recovered[name], weights[name]), (task, name)


def many_keys_log(count):
    """A log of `count` distinct extra keys besides the reference's, about 1 MiB for 50,000 keys."""
    data = dict(REFERENCE_LOG)
    data.update({f"extra_{index:06d}": 10 for index in range(count)})
    return json.dumps(data)


def test_a_log_of_50000_keys_checks_each_key_once(tmp_path, monkeypatch):
    from autograder import log_file

    text = many_keys_log(50_000)
    assert 900_000 < len(text) <= CAP
    seen_counts = []
    real_set = set

    class CountingSet(real_set):
        def __contains__(self, key):
            seen_counts.append(1)
            return real_set.__contains__(self, key)

    monkeypatch.setattr(log_file, "set", CountingSet, raising=False)
    log = read_log(write(tmp_path, text), CAP)
    assert log.errors == {}
    assert len(seen_counts) == len(json.loads(text))  # one membership test per key: linear, not quadratic


def test_a_log_of_50000_keys_parses_quickly(tmp_path):
    import time

    path = write(tmp_path, many_keys_log(50_000))
    started = time.monotonic()
    read_log(path, CAP)
    assert time.monotonic() - started < 5  # a sanity bound; bench/bench.py prints the real figure (well under 1 s)


def test_a_duplicate_among_50000_keys_is_found(tmp_path):
    text = many_keys_log(50_000)[:-1] + ', "extra_049999": 2}'
    with pytest.raises(LogUnreadable, match="extra_049999"):
        read_log(write(tmp_path, text), CAP)


def test_the_manifests_logged_run_is_the_one_the_notebook_logs():
    # The grader recomputes torch_transformer_value from the manifest's constants: they must be the notebook's own.
    from autograder.homework import manifest

    helpers = homework_module("reference_model").notebook_helpers()
    run = manifest().log.constants
    assert run["seed"] == helpers.TORCH_SEED and tuple(run["model_dims"]) == tuple(helpers.TORCH_CHECK_ARGS)
    assert tuple(run["input_shape"]) == tuple(helpers.TORCH_CHECK_INPUT)
    start, stop = run["value_slice"]
    assert len(REFERENCE_LOG["torch_transformer_value"]) == stop - start
    assert REFERENCE_LOG["torch_transformer_shape"] == run["output_shape"]
