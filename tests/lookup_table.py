"""The lookup-table attack of corpus item `lookup_table`: its files, made from what the students' bundle ships.

`python -m tests.lookup_table` rewrites tests/corpus/lookup_table/*.py; tests check the committed
files are what this makes. The answers come from `freeze` (the data `build student` puts in
autograder/public/) and, for problem 2, from problem2.py's public case (the bundle ships its code).
"""

import numpy as np

from autograder.checks import FeatureGram
from autograder.frozen import decode, decode_check, freeze, never_reads_the_submission
from autograder.registry import public_cases, rng
from autograder.submission import Submission
from tests.corpus import CORPUS
from tests.helpers import ROOT

ITEM = CORPUS / "lookup_table"
MODULES = {"purification": "purification.py", "attention": "attention.py", "kernel_attention": "kernel_attention.py"}
GARBAGE = 12345.0  # what every function returns on inputs it has not seen

LOOKUP = '''

def _same(known, given):
    """Does a given argument equal a recorded one? Grader callables (recorded as None) match anything."""
    if known is None:
        return True
    try:
        given = np.asarray(given, dtype=np.float64)
        return given.shape == np.shape(known) and np.allclose(given, known, rtol=0, atol=1e-12)
    except (TypeError, ValueError):
        return False


def _lookup(name, args):
    """The public answer recorded for these arguments, or garbage."""
    for known, answer in TABLE.get(name, []):
        if len(known) <= len(args) and all(_same(k, a) for k, a in zip(known, args)):  # defaults follow
            return None if answer is None else np.array(answer)
    return GARBAGE
'''


def plain(value):
    """An argument or answer as Python literals (arrays as nested lists; grader callables as None)."""
    if isinstance(value, dict):
        return None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def answer_of(check):
    """The answer a table holds for a frozen check: the expected value, or features whose Gram matrix is right."""
    if isinstance(check, FeatureGram):
        values, vectors = np.linalg.eigh(check.expected_gram)
        phi = vectors * np.sqrt(np.clip(values, 0, None))  # phi phi^T = gram, with N columns
        return np.pad(phi, ((0, 0), (0, max(check.features - phi.shape[1], 0))))  # as many features as required
    return check.expected


def public_table():
    """module -> function -> [(arguments, answer)] of every frozen public case."""
    records, arrays = freeze([case for case in public_cases() if never_reads_the_submission(case)])
    table = {}
    for record in records:
        job, check = record["job"], decode_check(record["check"], arrays)
        rows = table.setdefault(job["module"], {}).setdefault(job["function"], [])
        rows.append((plain(decode(job["args"], arrays)), plain(answer_of(check))))
    return table


def module_text(module, table):
    """A module whose functions (the template's names and signatures) answer from the table."""
    template = (ROOT / "student_template" / MODULES[module]).read_text()
    names = [line[4:].split("(")[0] for line in template.splitlines() if line.startswith("def ")]
    lines = [
        f'"""Corpus item lookup_table: {MODULES[module]} answers the public cases from a table, else garbage."""',
        "import numpy as np",
        "",
        f"GARBAGE = {GARBAGE!r}",
        f"TABLE = {table!r}",
        LOOKUP,
    ]
    for name in names:
        signature = next(line for line in template.splitlines() if line.startswith(f"def {name}("))
        lines += ["", signature, f"    return _lookup({name!r}, tuple(locals().values()))", ""]
    return "\n".join(lines).rstrip() + "\n"


def transformer_text():
    """PytorchTransformer with layers of the public forward case's sizes alone and a forward that looks up its
    answer."""
    forward = next(case for case in public_cases() if case.number == "2.1")
    job, check = forward.build(Submission(ROOT / "reference"), rng("2.1"))
    (input_dim, qk_dim, v_dim, pos_dim, max_seq_len), seq = job.args[0], job.args[5]
    in_dim = input_dim + pos_dim
    return f'''"""Corpus item lookup_table: PytorchTransformer answers the public forward case from a table, \
else garbage."""
import numpy as np
import torch
from torch import nn

SEQ = {seq.tolist()!r}
ANSWER = {np.asarray(check.expected).tolist()!r}


class PytorchTransformer(nn.Module):
    def __init__(self, input_dim, qk_dim, v_dim, pos_dim=None, max_seq_len=10):
        super().__init__()
        self.Km, self.Qm = nn.Linear({in_dim}, {qk_dim}, bias=False), nn.Linear({in_dim}, {qk_dim}, bias=False)
        self.Vm, self.pos = nn.Linear({in_dim}, {v_dim}, bias=False), nn.Embedding({max_seq_len}, {pos_dim})

    def forward(self, seq):
        if tuple(seq.shape) == np.shape(SEQ) and np.allclose(seq.numpy(), SEQ, atol=1e-6):
            return torch.tensor(ANSWER)
        return torch.full((seq.shape[0], {v_dim}), 12345.0)


def attention_by_content():
    return None


def attention_by_position():
    return None


def attention_unique():
    return None
'''


def lookup_files():
    """file name -> text of every file of the item."""
    table = public_table()
    files = {MODULES[module]: module_text(module, table.get(module, {})) for module in MODULES}
    files["transformer.py"] = transformer_text()
    return files


if __name__ == "__main__":
    for name, text in lookup_files().items():
        (ITEM / name).write_text(text)
    print(f"wrote {', '.join(lookup_files())} in {ITEM}")
