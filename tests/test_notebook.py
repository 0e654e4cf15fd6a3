"""The student notebook of problem 2 runs end to end with the reference transformer.py.

The notebook, notebook_helpers.py (dereferenced) and reference/transformer.py are copied into a
temporary folder, the notebook is executed once per session with nbclient, and the
submission_log.json it writes must equal the reference's own log.
"""

import json
import shutil
import time
from pathlib import Path

import nbclient
import nbformat
import numpy as np
import pytest

import reference.notebook_helpers as ref_helpers
import reference.transformer as ref_transformer

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "student_template" / "hand_design_transformers.ipynb"
HELPERS = ROOT / "student_template" / "notebook_helpers.py"
REFERENCE_TRANSFORMER = ROOT / "reference" / "transformer.py"

# The course's published torch_transformer_value for PytorchTransformer(7, 4, 3, 2, 9) under seed 1998.
PUBLISHED_TORCH_VALUE = [0.02820, -0.14532, 0.23664, 0.02615, -0.09656]
SOURCE_KEYS = {"torch_transformer_init", "torch_transformer_forward"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run the notebook once in a fresh folder; return (executed notebook, folder, seconds)."""
    folder = tmp_path_factory.mktemp("notebook")
    shutil.copyfile(NOTEBOOK, folder / NOTEBOOK.name)
    (folder / "notebook_helpers.py").write_bytes(HELPERS.read_bytes())  # the content, not the link
    shutil.copyfile(REFERENCE_TRANSFORMER, folder / "transformer.py")
    nb = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPLBACKEND", "Agg")  # no display; the notebook's %matplotlib inline still yields PNGs
        client = nbclient.NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    print(f"\nnotebook executed in {seconds:.1f} s")
    return nb, folder, seconds


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def _stream_text(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def test_notebook_writes_the_reference_log(executed):
    nb, folder, _ = executed
    path = folder / "submission_log.json"
    assert path.is_file(), "the notebook did not write submission_log.json"
    log = json.loads(path.read_text())
    expected = ref_helpers.submission_log(ref_transformer)

    assert set(log) == set(expected)
    for key, want in expected.items():
        if key == "time":
            continue
        got = log[key]
        if isinstance(want, str):
            assert got == want, key
        elif key == "torch_transformer_shape":
            assert got == want, key
        else:
            got_array, want_array = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
            assert got_array.shape == want_array.shape, key
            assert np.allclose(got_array, want_array, rtol=0, atol=1e-12), key

    assert log["torch_transformer_shape"] == [8, 3]
    assert np.allclose(log["torch_transformer_value"], PUBLISHED_TORCH_VALUE, rtol=0, atol=1e-5)
    for key in SOURCE_KEYS:
        assert log[key] == expected[key], key


def test_notebook_checks_and_figures_ran(executed):
    nb, _, _ = executed
    streams = [_stream_text(cell) for cell in _code_cells(nb)]
    assert any("10/10" in text for text in streams), "the numpy-vs-torch checks did not report 10/10"
    assert any("0 of 1092 sequences wrong" in text for text in streams)
    assert any("0 of 120 sequences wrong" in text for text in streams)

    # Outside the course's bundle (no autograder package next to the notebook) the self-check cells only say so.
    check_cells = [cell for cell in _code_cells(nb) if cell.source.strip() in ("check(2)", "check()")]
    assert len(check_cells) == 2
    assert all("The self-check is not here" in _stream_text(cell) for cell in check_cells)

    figure_cells = [cell for cell in _code_cells(nb) if "plot_side_by_side" in cell.source]
    assert len(figure_cells) == 2
    for cell in figure_cells:
        assert any("image/png" in out.get("data", {}) for out in cell.outputs), cell.source


def test_committed_notebook_is_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for cell in _code_cells(nb):
        assert cell.outputs == [], cell.source
        assert cell.execution_count is None, cell.source
