"""Telling an attempt from an empty upload or the untouched template, and finding files that do not parse."""

import shutil

from autograder.attempt import inspect_upload
from tests.helpers import ROOT

SKIP = shutil.ignore_patterns("__pycache__")


def template_copy(tmp_path):
    folder = tmp_path / "upload"
    shutil.copytree(ROOT / "student_template", folder, ignore=SKIP)
    return folder


def test_the_untouched_template_and_an_empty_upload_are_no_attempt(tmp_path):
    assert not inspect_upload(template_copy(tmp_path)).attempted
    (tmp_path / "empty").mkdir()
    assert not inspect_upload(tmp_path / "empty").attempted
    assert not inspect_upload(tmp_path / "absent").attempted


def test_the_template_one_folder_down_is_still_no_attempt(tmp_path):
    shutil.copytree(ROOT / "student_template", tmp_path / "zipped" / "hw9", ignore=SKIP)
    assert not inspect_upload(tmp_path / "zipped").attempted


def test_one_function_filled_in_is_an_attempt(tmp_path):
    folder = template_copy(tmp_path)
    purification = folder / "purification.py"
    stub = '    raise NotImplementedError("regularization_loss")'
    assert purification.read_text().count(stub) == 1
    purification.write_text(purification.read_text().replace(stub, "    return float((W ** 2).sum())"))
    assert inspect_upload(folder).attempted


def test_a_stub_that_only_passes_is_no_attempt_but_the_reference_is_one(tmp_path):
    folder = template_copy(tmp_path)
    purification = folder / "purification.py"
    stub = 'raise NotImplementedError("regularization_loss")'
    assert purification.read_text().count(stub) == 1
    purification.write_text(purification.read_text().replace(stub, "pass"))
    assert not inspect_upload(folder).attempted
    assert inspect_upload(ROOT / "reference").attempted


def test_a_log_alone_is_an_attempt(tmp_path):
    (tmp_path / "upload").mkdir()
    shutil.copy(ROOT / "reference" / "submission_log.json", tmp_path / "upload")
    found = inspect_upload(tmp_path / "upload")
    assert found.attempted and found.has_log
    assert not inspect_upload(ROOT / "student_template").has_log


def test_files_that_do_not_parse_are_named(tmp_path):
    folder = template_copy(tmp_path)
    (folder / "attention.py").write_text("def softmax(x:\n    return x\n")
    (folder / "kernel_attention.py").write_bytes(b"x = 1\0\n")  # a NUL byte: ast refuses it
    found = inspect_upload(folder)
    assert found.attempted and found.syntax_errors == ["attention.py", "kernel_attention.py"]
