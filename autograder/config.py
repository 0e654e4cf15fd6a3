"""Every tunable default of the grader in one place, each with a description."""

import os

from pydantic import BaseModel, Field


class GraderConfig(BaseModel):
    """Limits and sizes. Defaults are sized for Gradescope's default container (0.5 vCPU, 768 MB)."""

    case_timeout: float = Field(10.0, description="wall-clock seconds a case may run, unless the case sets its own")
    memory_mb: int = Field(
        512, description="address space a case may add to the warm worker's (RLIMIT_AS headroom), in MiB"
    )
    cpu_margin: float = Field(2.0, description="CPU seconds allowed beyond the case's wall-clock timeout (RLIMIT_CPU)")
    file_mb: int = Field(16, description="largest file a case may write (RLIMIT_FSIZE), in MiB")
    processes: int = Field(32, description="processes and threads a case may add (RLIMIT_NPROC; ignored for root)")
    output_cap_kb: int = Field(64, description="student stdout and stderr kept per case, in KiB")
    output_file_cap_mb: int = Field(
        16, description="largest single output (an .npy array) of a case the trusted side reads back, in MiB"
    )
    case_output_cap_mb: int = Field(
        64, description="all outputs of one case together, in MiB; more and the case is unsupported"
    )
    output_count_cap: int = Field(64, description="most outputs (returned values, dict items) one case may give back")
    submission_file_cap_mb: int = Field(5, description="larger files in a submission are not copied to the worker")
    log_cap_kb: int = Field(1024, description="largest submission_log.json read, in KiB")
    worker_start_timeout: float = Field(120.0, description="seconds the warm worker may take to import numpy and torch")
    hidden_paths: list[str] = Field(
        default_factory=list,
        description=(
            "more folders of the project's own that workers must not read (covered in the worker's mount namespace, "
            "or closed by their modes for the grade only); reference/, autograder/ and tests/ always are"
        ),
    )
    process_per_case: bool = Field(
        False,
        description=(
            "run every case in its own child (slower); by default the visible cases share one child and the hidden "
            "cases another, a fresh one after any case that crashes, hangs or leaves a process behind"
        ),
    )
    namespaces: bool = Field(
        default_factory=lambda: os.environ.get("HW9_NAMESPACES", "1") != "0",
        description="use mount, network and other namespaces when the machine allows them; HW9_NAMESPACES=0 turns "
        "them off, so tests can grade as on a Gradescope image without user namespaces",
    )
    grade_budget_seconds: float = Field(
        540.0,
        description="wall-clock seconds one `grade` may spend on a submission; "
        "cases that no longer fit are failed as not run, so results.json is written within "
        "Gradescope's 10 minutes (run_autograder also stops the grader at 570 s)",
    )
    min_case_seconds: float = Field(
        1.0, description="the shortest time a case is given when the budget runs low; below it, the case is not run"
    )
    worker_grace: float = Field(
        10.0, description="seconds the parent waits past a case's timeout before it declares the warm worker dead"
    )

    def limits(self, timeout: float) -> dict:
        """The per-case resource limits a worker child applies."""
        return {
            "memory_mb": self.memory_mb,
            "cpu_seconds": int(timeout + self.cpu_margin) + 1,
            "file_mb": self.file_mb,
            "processes": self.processes,
        }
