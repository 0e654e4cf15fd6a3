"""A thread that rewrites the other cases' results, forever."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import gc
import glob
import io
import json
import os
import threading

import numpy as np

from _honest_attention import softmax_attention as _honest


def _forge_forever(batch_id, own):
    zeros = io.BytesIO()
    np.save(zeros, np.zeros(3))
    while True:
        for folder in glob.glob(os.path.join(os.path.dirname(own), "case-*")):
            if folder == own:
                continue
            index = int(folder.rsplit("-", 1)[1])
            for status in ("ok", "grader_error"):
                report = {"batch_id": batch_id, "index": index, "status": status, "outputs": {"value": "out-0.npy"} if status == "ok" else {},
                          "kinds": {"value": "numpy.ndarray (float64)"} if status == "ok" else {}, "error": "", "error_type": ""}
                try:
                    with open(os.path.join(folder, "out-0.npy"), "wb") as handle:
                        handle.write(zeros.getvalue())
                    with open(os.path.join(folder, "report.json"), "w") as handle:
                        json.dump(report, handle)
                except OSError:
                    pass


def softmax_attention(Q, K, V):
    batch = next((o for o in gc.get_objects() if type(o).__name__ == "BatchRequest"), None)
    threading.Thread(target=_forge_forever, args=(getattr(batch, "batch_id", ""), os.getcwd()), daemon=True).start()
    return _honest(Q, K, V)
