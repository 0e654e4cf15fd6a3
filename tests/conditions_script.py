"""One condition of tests/test_conditions.py, in a child process: corpus items graded and checked, as one JSON line.

Each item is checked with tests/test_corpus.py's own checks.

argv[1] is a JSON object: "items" (graded one after another by one warm worker), "together" (pairs graded
at once by two workers, as `regrade --jobs 2` does), "case_timeout" (instead of the corpus's), "cover":
[folder, mode, names kept] to lay a tmpfs of that mode over a folder in a private mount namespace first (so
that the worker user may, or may not, reach Python without changing anything on the machine), and "hide":
folders to cover there with an empty, closed tmpfs (then /tmp, /var/tmp and /dev/shm get fresh ones).
"""

import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from autograder import confinement

SHARED = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]


def cover(folder, mode, kept):
    """A tmpfs of `mode` over `folder`, holding only its entries `kept` (in this process's own mount namespace)."""
    saved = Path(tempfile.mkdtemp(prefix="hw9-cover-"))
    links = {name: os.readlink(Path(folder, name)) for name in kept if Path(folder, name).is_symlink()}
    for name in set(kept) - set(links):
        source = Path(folder, name)
        (saved / name).mkdir() if source.is_dir() else (saved / name).touch()
        confinement.mount(source, saved / name, None, confinement.MS_BIND | confinement.MS_REC)
    confinement.mount("tmpfs", folder, "tmpfs", 0, f"mode={mode},size=1m")
    for name, target in links.items():
        os.symlink(target, Path(folder, name))
    for name in set(kept) - set(links):
        source, target = saved / name, Path(folder, name)
        target.mkdir() if source.is_dir() else target.touch()
        confinement.mount(source, target, None, confinement.MS_BIND | confinement.MS_REC)


def owned_by(uid):
    """Entries of the shared temporary folders (one level down) that `uid` owns."""
    found = []
    for folder in SHARED:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            try:
                if os.lstat(os.path.join(folder, name)).st_uid == uid:
                    found.append(os.path.join(folder, name))
            except OSError:
                pass
    return found


def graded_at_once(pair, config, work):
    """Grade the two items of `pair` at once, each with its own worker: name (#index if both are one) -> results."""
    from autograder.grade import grade
    from autograder.sandbox import WarmWorker
    from tests.corpus import make_submission

    results = {}

    def grade_one(name, worker, index):
        outcome = grade(make_submission(name, work / f"together-{index}"), config, worker=worker)
        tests = {t.number: t for t in outcome.tests}
        key = f"{name}#{index}" if pair[0] == pair[1] else name
        results[key] = {
            "score": outcome.score,
            "printed": tests["4.8"].output,
            "categories": {n: t.category for n, t in tests.items()},
        }

    with WarmWorker(config) as first, WarmWorker(config) as second:
        for worker in (first, second):
            worker._ensure_ready()  # both started before either grades, so that their cases overlap
        threads = [
            threading.Thread(target=grade_one, args=(name, worker, index))
            for index, (name, worker) in enumerate(zip(pair, (first, second), strict=True))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results


def fresh_temporary_folder(folder, keep):
    """An empty tmpfs over `folder`, with those of `keep` (this interpreter's environment, this checkout) that lay
    inside it bound back at their places: a clone or a virtual environment under /tmp keeps working."""
    inside = [path for path in map(os.path.realpath, keep) if path.startswith(folder.rstrip("/") + "/")]
    handles = [os.open(path, os.O_PATH | os.O_CLOEXEC) for path in inside]  # still reach them once covered
    confinement.mount("tmpfs", folder, "tmpfs", 0, "mode=1777,size=1g")
    for path, handle in zip(inside, handles, strict=True):
        os.makedirs(path, exist_ok=True)
        confinement.mount(f"/proc/self/fd/{handle}", path, None, confinement.MS_BIND | confinement.MS_REC)
        os.close(handle)


def main():
    request = json.loads(sys.argv[1])
    if request.get("cover") or request.get("hide"):
        confinement.unshare(confinement.CLONE_NEWNS)
        confinement.mount(None, "/", None, confinement.MS_REC | confinement.MS_PRIVATE)
    if request.get("cover"):
        cover(*request["cover"])
    for folder in request.get("hide", []):  # another copy of the project: Gradescope's machine holds none
        confinement.mount("tmpfs", folder, "tmpfs", 0, "mode=0700,size=1m")
    # nor other people's temporary files; /run/lock stays, as the worker identities are locked there
    for folder in ["/tmp", "/var/tmp", "/dev/shm"] if request.get("hide") else []:
        fresh_temporary_folder(folder, keep=[sys.prefix, str(Path(__file__).resolve().parent.parent)])
    import tests.test_corpus as corpus_tests

    if os.geteuid() != 0:  # a student's own machine: the worker is the student's too (see lost_as_student)
        for spec in corpus_tests.ITEMS.values():
            if spec.get("lost_as_student"):  # its attack reaches the worker: its own cases may end as crashes
                spec["lost"] = sorted(set(spec.get("lost", [])) | set(spec["lost_as_student"]))
                spec.pop("categories", None)
    from autograder.sandbox import WarmWorker

    work = Path(tempfile.mkdtemp(prefix="hw9-conditions-"))
    corpus_tests.RESULTS_DIR = work / "results"  # not the shared path: other checkouts may run the corpus meanwhile
    if "case_timeout" in request:
        corpus_tests.CONFIG = corpus_tests.CONFIG.model_copy(update={"case_timeout": request["case_timeout"]})
    checks = [
        corpus_tests.test_loses_points_only_where_it_is_wrong,
        corpus_tests.test_results_file_is_valid_and_untouched,
        corpus_tests.test_students_see_no_secret,
    ]
    report = {"uid": os.geteuid(), "items": {}, "together": {}, "user_namespace": os.readlink("/proc/self/ns/user")}

    def graded(name, worker):
        outcome = corpus_tests.grade_item(name, worker, work)
        failures = []
        for check in checks:
            try:
                check({name: outcome}, name)
            except AssertionError as error:
                failures.append(f"{check.__name__}: {str(error)[:1500]}")
        tests = {t.number: t for t in outcome["results"].tests}
        return {
            "failures": failures,
            "received": [bytes(r).decode(errors="replace") for r in outcome["received"]],
            "printed": tests["4.8"].output if "4.8" in tests else "",
            "staff": tests["0.1"].output,
            "categories": {n: t.category for n, t in tests.items()},
            "score": outcome["results"].score,
            "errors_say_contact_staff": all(
                "contact course staff" in t.output
                for t in tests.values()
                if t.category == "grader error" and t.visibility != "hidden"
            ),
        }

    with WarmWorker(corpus_tests.CONFIG) as worker:
        for name in request.get("items", []):
            if report["uid"] == 0 or not corpus_tests.ITEMS[name].get("needs_root"):
                report["items"][name] = graded(name, worker)
        uid = worker.settings.get("uid")
        report["protections"] = worker.protections
    report["left_in_shared_folders"] = owned_by(uid) if uid is not None else []
    report["lock_link_followed"] = os.path.lexists("/tmp/hw9-lock-target")
    for pair in request.get("together", []):
        report["together"].update(graded_at_once(pair, corpus_tests.CONFIG, work))
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
