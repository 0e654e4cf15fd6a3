"""Prints the grader's speed and memory, measured in one run: `.venv/bin/python bench/bench.py [--submissions N]`.

- wall time of `grade` on the reference, of `python -c "import torch"`, and their ratio;
- wall time of `regrade --jobs 2` over N copies of the reference mixed with broken submissions;
- peak memory of a single `grade`: the largest sum of resident memory over its process tree;
- the grading process's own work on hostile data: a 1 MiB log of 50,000 keys parsed, weights checked on every sequence.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.corpus import make_submission  # noqa: E402

BROKEN = ["syntax_error", "p2_scaled_by_d", "exits_in_functions", "log_only", "template"]  # one in five submissions


def timed(command):
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def tree_rss_kib(root_pid):
    """Resident memory of a process and all its descendants, in KiB."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            parents[int(entry)] = int(fields["PPid"])
            rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, frontier = 0, {root_pid}
    while frontier:
        total += sum(rss.get(pid, 0) for pid in frontier)
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
    return total


def peak_memory_mib(command):
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_kib(process.pid))
        time.sleep(0.02)
    return peak / 1024


def trusted_side_seconds():
    """Seconds the grading process spends parsing a 1 MiB log of 50,000 keys, and judging weights on 1092 sequences."""
    import json

    import numpy as np

    from autograder.homework import homework_module
    from autograder.log_file import read_log

    problem2 = homework_module("cases.problem2")

    data = json.loads((ROOT / "reference" / "submission_log.json").read_text())
    data.update({f"extra_{index:06d}": 10 for index in range(50_000)})
    path = Path(tempfile.mkdtemp()) / "submission_log.json"
    path.write_text(json.dumps(data))
    started = time.monotonic()
    read_log(path, 1 << 20)
    log_seconds = time.monotonic() - started
    weights = {"Km": np.ones((3, 64)), "Qm": np.ones((3, 64)), "Vm": np.eye(3)}  # the largest qk_dim accepted
    started = time.monotonic()
    problem2.judged_weights(weights, "content")
    return log_seconds, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    args = parser.parse_args()
    python = sys.executable
    results = Path(tempfile.mkdtemp()) / "results.json"
    grade = [python, "-m", "autograder", "grade", "reference", "--results", str(results)]

    timed(grade)  # warm the file cache
    grade_seconds = min(timed(grade) for _ in range(3))
    torch_seconds = min(timed([python, "-c", "import torch"]) for _ in range(3))
    print(f"grade of the reference:        {grade_seconds:6.2f} s")
    print(f"python -c 'import torch':      {torch_seconds:6.2f} s")
    print(f"ratio:                         {grade_seconds / torch_seconds:6.2f} (target, issue 10: at most 1.3)")

    print(f"peak memory of one grade:      {peak_memory_mib(grade):6.0f} MiB (target: under 600)")
    log_seconds, weights_seconds = trusted_side_seconds()
    print(f"1 MiB log of 50,000 keys:      {log_seconds:6.2f} s to parse (was 292 s with a quadratic duplicate check)")
    print(f"weights on 1092 sequences:     {weights_seconds:6.3f} s at qk_dim 64 (vectorised; shapes capped first)")

    batch = Path(tempfile.mkdtemp(prefix="hw9-bench-"))
    made = batch / "made"
    export = batch / "export"
    export.mkdir()
    for index in range(args.submissions):
        item = BROKEN[index // 5 % len(BROKEN)] if index % 5 == 4 else "nested_reference"
        source = make_submission(item, made / str(index))
        shutil.copytree(source, export / f"submission_{index:04d}")
    regrade_seconds = timed(
        [python, "-m", "autograder", "regrade", str(export), "--jobs", "2", "--out", str(batch / "out")]
    )
    print(
        f"regrade --jobs 2, {args.submissions} submissions: {regrade_seconds:6.1f} s in all, "
        f"{regrade_seconds / args.submissions:.2f} s per submission (target, issue 10: at most 20 s for 100)"
    )
    shutil.rmtree(batch)


if __name__ == "__main__":
    main()
