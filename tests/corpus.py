"""The corpus of fixture submissions: real folders under tests/corpus/, each with its expected outcome.

An item's folder holds the files that replace the base's (the reference unless it says
otherwise) and `expected.json`:

    about        what the submission does, in a line
    base         "reference" or "student_template"
    files_from   another corpus item whose files are laid over the base first (this item's own files go on top):
                 the same submission judged under another expectation
    remove       base files deleted; keep_as: base files renamed first (e.g. attention.py ->
                 _honest_attention.py, so that an overlay can import the honest functions)
    patches      [file, old, new]: a one-line bug (old must occur exactly once)
    replace_everywhere  [old, new] in every .py file
    log          edits of the reference's submission_log.json (see write_log; fill: key -> [value, count] sets a list of
                 count copies; extra_keys: that many more keys)
    symlinks     name -> target ({ROOT} is the repository)
    nest         put everything one folder down, as a zipped upload does
    lost         problems that must lose points; every other problem keeps full marks
    zero         problems that must score exactly 0 (pure attacks)
    categories   case number -> expected failure category, or a list of acceptable ones
    diagnoses    case number -> how the catalogued mistake its feedback names begins ("Likely mistake: your output
                 equals ...")
    says         case number -> texts that case's output must hold (the feedback a student reads)
    needs_root   holds only with the protections the grader sets up as root
    lost_as_student  problems it may also lose when graded as an ordinary user (a student's own `check`), where
                 the worker runs as the student and an attack on it can only cost the attacker's own cases (which
                 may then end as crashes rather than in `categories`)
    wait         seconds to wait after grading, to catch a process that strikes late
    listen       the test listens on a TCP port while grading (written to port.txt; nothing may arrive)
    budget       the whole-grade time budget (GraderConfig.grade_budget_seconds) this item is graded with
    max_seconds  grading this item must end within this many seconds (the default bound is test_corpus's)
    empty        start from an empty folder instead of a base
    special      name -> what to put there instead of a file: "fifo", "socket", "file" (empty), "sparse:BYTES",
                 "chain:LEVELS" (folders nested that deep), "files:COUNT" (a folder of that many empty files);
                 a name written "hex:..." is those bytes (a name that is not UTF-8)
    link_upload  the submission folder itself is a link to this target ({ROOT} is the repository)
    notes        texts the results' top-level output must hold (what of the upload was not used, and why)
"""

import json
import os
import shutil
import socket

from tests.helpers import ROOT

CORPUS = ROOT / "tests" / "corpus"
SKIPPED = shutil.ignore_patterns("__pycache__", "*.ipynb", "README.md", "notebook_helpers.py", "__init__.py")


def items():
    """name -> expected.json's contents, for every item of the corpus."""
    return {
        folder.name: json.loads((folder / "expected.json").read_text())
        for folder in sorted(CORPUS.iterdir())
        if folder.is_dir()
    }


def write_log(path, edits):
    """The reference's log, edited: set/fill/extra_keys/raw_replace/truncate/prefix_hex/text/size/nested/encoding/
    add_to_first_value."""
    data = json.loads((ROOT / "reference" / "submission_log.json").read_text())
    data.update(edits.get("set", {}))
    data.update({key: [value] * count for key, (value, count) in edits.get("fill", {}).items()})
    data.update({f"extra_{index:06d}": 10 for index in range(edits.get("extra_keys", 0))})
    if "add_to_first_value" in edits:
        data["torch_transformer_value"][0] += edits["add_to_first_value"]
    text = edits.get("text", json.dumps(data).replace('"__1e400__"', "[1e400, 1.0, 2.0]"))
    for old, new in edits.get("raw_replace", []):
        text = text.replace(old, new, 1)
    if "replace" in edits:
        text = text.replace(*edits["replace"])
    if "nested" in edits:
        text = "[" * edits["nested"] + "]" * edits["nested"]
    raw = bytes.fromhex(edits.get("prefix_hex", "")) + text.encode(edits.get("encoding", "utf-8"))
    path.write_bytes(raw[: edits.get("truncate")])
    if "size" in edits:
        with open(path, "ab") as handle:
            handle.truncate(edits["size"])  # sparse: refused for its size before a byte is read


def make_submission(name, parent):
    """Materialise corpus item `name` as a real folder under `parent`; return the folder to grade."""
    spec, source = items()[name], CORPUS / name
    top = parent / name
    folder = top / spec.get("nest", "")
    if spec.get("empty"):
        folder.mkdir(parents=True)
    else:
        shutil.copytree(ROOT / spec.get("base", "reference"), folder, ignore=SKIPPED)
    for file in spec.get("remove", []):
        (folder / file).unlink()
    for file, new_name in spec.get("keep_as", {}).items():
        (folder / file).rename(folder / new_name)
    if "replace_everywhere" in spec:
        old, new = spec["replace_everywhere"]
        for path in folder.glob("*.py"):
            path.write_text(path.read_text().replace(old, new))
    for file, old, new in spec.get("patches", []):
        text = (folder / file).read_text()
        assert text.count(old) == 1, f"corpus item {name}: {old!r} is not in {file} exactly once"
        (folder / file).write_text(text.replace(old, new))
    for origin in [CORPUS / spec["files_from"]] if "files_from" in spec else []:
        for path in origin.iterdir():
            if path.name != "expected.json":
                shutil.copy(path, folder / path.name)
    for path in source.iterdir():
        if path.name != "expected.json":
            shutil.copy(path, folder / path.name)
    if "log" in spec:
        write_log(folder / "submission_log.json", spec["log"])
    for link, target in spec.get("symlinks", {}).items():
        (folder / link).unlink(missing_ok=True)
        os.symlink(target.replace("{ROOT}", str(ROOT)), folder / link)
    for name, what in spec.get("special", {}).items():
        make_special(folder, os.fsdecode(bytes.fromhex(name[4:])) if name.startswith("hex:") else name, what)
    if "link_upload" in spec:
        shutil.rmtree(top)
        os.symlink(spec["link_upload"].replace("{ROOT}", str(ROOT)), top)
    return top


def make_special(folder, name, what):
    """Put at folder/name what `special` asks for (see the docstring), replacing any file of that name."""
    path = folder / name
    path.unlink(missing_ok=True)
    kind, _, count = what.partition(":")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        here = os.getcwd()
        os.chdir(folder)  # a socket's path is limited to about 100 bytes: bind a relative one
        try:
            with socket.socket(socket.AF_UNIX) as server:
                server.bind(name)
        finally:
            os.chdir(here)
    elif kind == "file":
        path.write_bytes(b"")
    elif kind == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(int(count))
    elif kind == "chain":
        make_chain(path, int(count))
    elif kind == "files":
        path.mkdir()
        for index in range(int(count)):
            os.close(os.open(path / str(index), os.O_CREAT | os.O_WRONLY, 0o644))
    else:
        raise ValueError(f"unknown special {what!r}")


def make_chain(path, levels, name="d"):
    """A folder `path` with `levels` folders nested in it, made through descriptors (deeper than PATH_MAX allows)."""
    path.mkdir()
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def remove_chain(path, name="d"):
    """Remove what make_chain made, without the recursion shutil.rmtree would need."""
    fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        while True:
            try:
                fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
            except FileNotFoundError:
                break
        for parent in reversed(fds[:-1]):
            os.rmdir(name, dir_fd=parent)
    finally:
        for fd in fds:
            os.close(fd)
    os.rmdir(path)
