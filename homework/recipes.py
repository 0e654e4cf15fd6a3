"""Problem 2's recipes, run by the worker on the student's PytorchTransformer: loaded by path
(case_runner.load_homework).

Standard library, numpy and torch only. The class comes from transformer.py or is rebuilt from the
log's source text; the logged run's seed and sizes come in the job's arguments (the manifest's log constants).
"""

import importlib
import math
import textwrap

import numpy as np
import torch


def transformer_class(job):
    """PytorchTransformer: from the submitted transformer.py, or rebuilt from the log's source text."""
    source = job.class_source
    if source is None:
        return importlib.import_module("transformer").PytorchTransformer
    body = (
        textwrap.indent(textwrap.dedent(source["init"]), "    ")
        + "\n"
        + textwrap.indent(textwrap.dedent(source["forward"]), "    ")
    )
    namespace = {"torch": torch, "nn": torch.nn, "math": math, "np": np, "__name__": "submission_log"}
    exec(
        compile("class PytorchTransformer(nn.Module):\n" + body, "submission_log.json", "exec"), namespace
    )  # student code, in this child only
    return namespace["PytorchTransformer"]


def recipe_torch_forward(job, args):
    """Build PytorchTransformer(*dims), copy in Km, Qm, Vm (and pos), run forward on seq."""
    dims, Km, Qm, Vm, pos, seq = args
    model = transformer_class(job)(*dims)
    with torch.no_grad():
        for name, matrix in (("Km", Km.T), ("Qm", Qm.T), ("Vm", Vm.T), ("pos", pos)):
            if matrix is None:
                continue
            weight = getattr(model, name).weight
            if tuple(weight.shape) != matrix.shape:
                raise ValueError(f"{name}.weight has shape {tuple(weight.shape)}, expected {matrix.shape}")
            weight.copy_(torch.as_tensor(matrix))
    return {"value": model(torch.as_tensor(seq, dtype=torch.float32))}


def recipe_torch_attributes(job, args):
    """Facts about fresh models PytorchTransformer(*dims), one per dims in args[0].

    Key "i:layer" holds [is the spec's type, has a bias, *weight shape]; [-1] when the
    attribute is None and [0] when it is missing or of another type.
    """
    facts = {}
    for index, dims in enumerate(args[0]):
        model = transformer_class(job)(*dims)
        for name, layer_type in (
            ("Km", torch.nn.Linear),
            ("Qm", torch.nn.Linear),
            ("Vm", torch.nn.Linear),
            ("pos", torch.nn.Embedding),
        ):
            layer = getattr(model, name, "missing")
            if layer is None:
                facts[f"{index}:{name}"] = np.array([-1.0])
            elif not isinstance(layer, layer_type):
                facts[f"{index}:{name}"] = np.array([0.0])
            else:
                has_bias = float(getattr(layer, "bias", None) is not None)
                facts[f"{index}:{name}"] = np.array([1.0, has_bias, *layer.weight.shape], dtype=np.float64)
    return facts


def recipes(engine):
    """name -> recipe, for case_runner.RECIPES; `engine` is case_runner (its seed_all)."""

    def recipe_torch_seeded(job, args):
        """The notebook's logged run: seed, PytorchTransformer(*dims) on torch.randn(*input_shape),
        out.reshape(-1)[start:stop]."""
        seed, dims, input_shape, (start, stop) = args
        engine.seed_all(int(seed))
        out = transformer_class(job)(*dims)(torch.randn(*input_shape))
        return {"shape": np.array(list(out.shape), dtype=np.float64), "value": out.reshape(-1)[start:stop]}

    return {
        "torch_forward": recipe_torch_forward,
        "torch_attributes": recipe_torch_attributes,
        "torch_seeded": recipe_torch_seeded,
    }
