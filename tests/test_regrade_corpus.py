"""The regrade corpus: hostile exports (tests/regrade_corpus/<item>/) regraded for real, each held to its invariant.

An item's folder holds export.json and, usually, submission_metadata.yml; in both, {OUTSIDE} (a folder
beside --out that must stay empty) and {ROOT} (the repository) are filled in. export.json's keys:

    about         the invariant the item checks
    submissions   folder name -> "reference" | "student_template" | {"base", "files": {name: text}} | "link:<target>";
                  a name "hex:<hex>" is a folder name given as raw (non-UTF-8) bytes
    zip           the export is handed over as a zip of its folder, built here
    members       extra zip members: {"name", "text"} | {"name", "link"} | {"name", "fifo": true}
    zeros, noise  extra zip members of that many zero / random bytes (built here, never committed)
    limits        overrides of export.Limits for the unpacking
    grade_raises  folders on which the grader raises
    runs          regrade this many times (the later runs resume)
    notes         words that must appear in regrade-notes.txt
    expected      folder as grades.csv shows it -> {"total", "students", "emails", "sids", "submitted_at", "lateness",
                  "attempt", "flags" (words the flags must hold), "could_not_grade"}

Every item is also held to what holds for all: nothing outside --out is written or changed, every row's
output folder lies directly under --out with a results.json whose score is the row's total and an index.html
(the student's view, mode 0644, no live markup), no CSV cell starts like a formula, the disk used by unpacking
stays within its budget and is freed, and the report renders the rows with no live markup.
"""

import csv
import html
import json
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest

import autograder.regrade as regrade_module
from autograder.export import Limits
from autograder.registry import problem_points
from autograder.regrade import FORMULA_STARTS, regrade
from tests.helpers import ROOT

FULL_MARKS = sum(problem_points().values())  # derived from the homework's cases, never written out

CORPUS = ROOT / "tests" / "regrade_corpus"
SKIP = shutil.ignore_patterns("__pycache__", "*.ipynb")


def items():
    return sorted(folder.name for folder in CORPUS.iterdir() if (folder / "export.json").is_file())


def filled(text, outside):
    return text.replace("{OUTSIDE}", str(outside)).replace("{ROOT}", str(ROOT))


def folder_path(export, name):
    """The export's folder for `name`, as raw bytes when the name is given as hex."""
    if name.startswith("hex:"):
        return Path(os.fsdecode(os.path.join(os.fsencode(export), bytes.fromhex(name[4:]))))
    return export / name


def build_export(spec, source, tmp_path, outside):
    """The item's export folder (and its zip when the item says so); returns what to hand to regrade."""
    export = tmp_path / "export"
    export.mkdir()
    if (source / "submission_metadata.yml").exists():
        metadata = filled((source / "submission_metadata.yml").read_text(), outside)
        (export / "submission_metadata.yml").write_text(metadata)
    for name, recipe in spec["submissions"].items():
        target = folder_path(export, name)
        if isinstance(recipe, str) and recipe.startswith("link:"):
            os.symlink(filled(recipe[5:], outside), target)
            continue
        recipe = {"base": recipe} if isinstance(recipe, str) else recipe
        shutil.copytree(ROOT / recipe["base"], target, ignore=SKIP)
        for file, text in recipe.get("files", {}).items():
            (target / file).write_text(text)
    if not spec.get("zip"):
        return export
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(export.rglob("*")):
            bundle.write(path, path.relative_to(export))
        for member in spec.get("members", []):
            info = zipfile.ZipInfo(filled(member["name"], outside))
            if "link" in member:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                bundle.writestr(info, filled(member["link"], outside))
            elif member.get("fifo"):
                info.external_attr = (stat.S_IFIFO | 0o644) << 16
                bundle.writestr(info, "")
            else:
                bundle.writestr(info, member["text"])
        for name, size in spec.get("zeros", {}).items():
            with bundle.open(zipfile.ZipInfo(name), "w") as writer:
                for _ in range(size >> 20):
                    writer.write(bytes(1 << 20))
        for name, size in spec.get("noise", {}).items():
            bundle.writestr(zipfile.ZipInfo(name), os.urandom(size), compress_type=zipfile.ZIP_STORED)
    shutil.rmtree(export)
    return archive


def snapshot(top, out):
    """Every path under `top` except `out`, with its kind and size: what regrade must leave as it was."""
    seen = {}
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if Path(folder, d) != out]
        for name in dirs + files:
            info = os.lstat(Path(folder, name))
            size = 0 if stat.S_ISDIR(info.st_mode) else info.st_size
            seen[str(Path(folder, name))] = (stat.S_IFMT(info.st_mode), size)
    return seen


def original(cell):
    """A neutralised CSV cell back as the text it stands for."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def disk_use(folder):
    return sum(os.lstat(Path(root, name)).st_size for root, _, files in os.walk(folder) for name in files)


@pytest.mark.parametrize("item", items())
def test_regrade_corpus_item(item, tmp_path, monkeypatch):
    source = CORPUS / item
    spec = json.loads((source / "export.json").read_text())
    assert spec.get("about") and spec.get("expected"), f"{item}: export.json needs 'about' and 'expected'"
    outside, out = tmp_path / "outside", tmp_path / "out"
    outside.mkdir()
    export = build_export(spec, source, tmp_path, outside)
    limits = Limits(**spec.get("limits", {}))

    raising = set(spec.get("grade_raises", []))
    honest_grade = regrade_module.grade

    def grade(folder, **options):
        if Path(folder).name in raising:
            raise RuntimeError("the grader broke on this one")
        return honest_grade(folder, **options)

    unpacked_sizes = []
    honest_unpack = regrade_module.unpack_zip

    def unpack_zip(archive, target, notes, limits):
        honest_unpack(archive, target, notes, limits)
        unpacked_sizes.append(disk_use(target))

    monkeypatch.setattr(regrade_module, "grade", grade)
    monkeypatch.setattr(regrade_module, "unpack_zip", unpack_zip)
    before = snapshot(tmp_path, out)
    expected = {filled(name, outside): want for name, want in spec["expected"].items()}
    gradable = sum(not want.get("could_not_grade") for want in expected.values())
    for run in range(spec.get("runs", 1)):
        graded, skipped = regrade(export, out, jobs=2, limits=limits)
        if run:  # a resumed run skips exactly what was really graded, and only that
            assert (graded, skipped) == (len(expected) - gradable, gradable)
        assert snapshot(tmp_path, out) == before, "regrade wrote or changed something outside --out"
        assert not any(outside.iterdir())

    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    header, rows = table[0], [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    assert not any(cell.startswith(FORMULA_STARTS) for row in table for cell in row)
    by_folder = {original(row["folder"]): row for row in rows}
    assert sorted(by_folder) == sorted(expected) and len(rows) == len(expected), header
    for name, want in expected.items():
        row = by_folder[name]
        for key in ("students", "emails", "sids", "submitted_at", "lateness", "attempt"):
            if key in want:
                assert original(row[key]) == want[key], (name, key)
        target = out / row["submission"]
        assert target.parent == out and not target.is_symlink() and row["submission"] not in (".", "..")
        results = json.loads((target / "results.json").read_text())
        assert results["score"] == float(row["total"])
        assert all(word in row["flags"] for word in want.get("flags", [])), (name, row["flags"])
        student_page = target / "index.html"
        assert stat.S_IMODE(student_page.lstat().st_mode) == 0o644 and "<script" not in student_page.read_text()
        if want.get("could_not_grade"):
            assert float(row["total"]) == 0 and "could not be graded" in row["flags"]
            assert results["tests"][0]["name"] == "Autograder error"
        else:
            assert float(row["total"]) == want["total"], (name, row)
            assert sum(test["max_score"] for test in results["tests"]) == FULL_MARKS
    notes = (out / "regrade-notes.txt").read_text() if (out / "regrade-notes.txt").exists() else ""
    for word in spec.get("notes", []):
        assert filled(word, outside) in notes, word
    assert all(size <= limits.total_bytes for size in unpacked_sizes)
    assert not [p for p in out.iterdir() if p.name.startswith(".unpacked-")] and disk_use(out) < 5 << 20
    page = (out / "report.html").read_text()
    assert "<script" not in page and f"{len(expected)} submissions" in page
    for want in expected.values():  # the export's times, escaped, in the report too
        assert all(html.escape(want[key]) in page for key in ("submitted_at", "lateness") if want.get(key))
    links = {unquote(html.unescape(link)) for link in re.findall(r'href="([^"]*)"', page)}
    assert links == {f"{row['submission']}/index.html" for row in rows}  # the safe names, each a student's page in out
    assert all((out / link).is_file() for link in links)
