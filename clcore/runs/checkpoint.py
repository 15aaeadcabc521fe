"""Checkpoints: a run saved between two `advance()` calls (at a batch, epoch or task boundary) and resumed to
the same result as a run that never stopped.

    save_checkpoint(run, "run.ckpt")         # atomically: a temporary file renamed over the previous one
    run = resume("run.ckpt")                 # a Run that goes on where the saved one stood

A checkpoint holds the run's config, its strategy with everything the strategy holds (models, optimizers,
the replay buffer, EMA teachers, Fishers and anchors, other generators' states, counters, and whatever
structure grew during the run: PNN columns, DEN units, PackNet masks, HAT embeddings, ...), the run's record
(accuracy matrix, curves), the state of the run's random generator (batch order, buffer sampling,
augmentation) and its position in the stream (clcore.runs.run.Position).

One generic mechanism covers every strategy: the run's object graph is written as plain containers (dicts,
lists, tensors, numbers and strings) tagged with what each node was, so that `torch.load(weights_only=True)`
reads the file without unpickling any object, and is rebuilt node by node. Objects are rebuilt without their
constructors, their attributes restored as saved, which brings back grown structure as it was; only engine
classes are rebuilt (clcore's, torch.nn modules, torch.optim optimizers, from modules already imported).
References shared in the run stay shared (a parameter held by a model, its optimizer and an EMA update), and
the benchmark, rebuilt from the config, is never saved. A strategy holding something this cannot write (a
function, a foreign object) is refused with the path to it, at save time.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections import OrderedDict, defaultdict
from enum import Enum
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from clcore.errors import ConfigError
from clcore.runs.events import EpochEnd, TaskEnd
from clcore.runs.run import Run
from clcore.runs.state import RunState
from clcore.settings.config import config_from_dict
from clcore.settings.declaration import BY_NAME
from clcore.strategies import REGISTRY

FORMAT = "clcore-run-checkpoint"
VERSION = 1
EVERY = ("task", "epoch")  # --checkpoint-every: these boundaries, or a number of batches
_SCALARS = (type(None), bool, int, float, str)
_DICT_KINDS = {dict: "dict", OrderedDict: "ordered", defaultdict: "default"}
_FACTORIES = {f.__name__: f for f in (list, dict, int, float, set)}  # defaultdict factories a graph may hold
_ENGINE_PACKAGES = ("clcore.", "torch.nn.", "torch.optim.")
# the node tags (each rebuilt by _Decoder._<tag>)
_TAGS = frozenset(
    ("external", "ref", "enum", "tuple", "device", "dtype", "tensor", "parameter", "generator", "numpy", "list")
    + ("dict", "set", "namespace", "optimizer", "object")
)


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read; the message is one line for the person at the controls."""


class _Damaged(Exception):
    """Raised while rebuilding a graph that does not hold what a checkpoint writes."""


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _engine_class(name, base: type = object) -> type:
    """The engine class `module:qualname` names, from a module already imported (nothing is imported here)."""
    module_name, _, qualname = str(name).partition(":")
    module = sys.modules.get(module_name)
    if module is None or not module_name.startswith(_ENGINE_PACKAGES):
        raise _Damaged(f"it names {name}, which is no engine class")
    found = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not isinstance(found, type) or not issubclass(found, base):
        raise _Damaged(f"it names {name}, which is no engine class")
    if module_name.startswith("torch.nn.") and not issubclass(found, nn.Module):
        raise _Damaged(f"it names {name}, which is no torch.nn module")
    return found


class _Encoder:
    """Writes an object graph as tagged plain containers. Mutable nodes carry an id; a node met again is a
    reference to it. `externals` ({id(object): name}) are rebuilt by the reader, never written."""

    def __init__(self, externals: dict[int, str]):
        self.externals = externals
        self.ids: dict[int, int] = {}
        self.kept: list = []  # every object given an id stays alive while encoding, so no id is reused

    def _new(self, tag: str, value) -> dict:
        self.ids[id(value)] = len(self.ids)
        self.kept.append(value)
        return {"#": tag, "id": self.ids[id(value)]}

    def encode(self, value, where: str):
        if isinstance(value, Enum):  # before the scalars: a RunState is also a str
            return {"#": "enum", "class": _class_name(type(value)), "value": value.value}
        if type(value) in _SCALARS:
            return value
        if isinstance(value, np.generic):
            return value.item()
        if id(value) in self.externals:
            return {"#": "external", "name": self.externals[id(value)]}
        if id(value) in self.ids:
            return {"#": "ref", "id": self.ids[id(value)]}
        if type(value) in (tuple, torch.Size):
            return {"#": "tuple", "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, torch.device):
            return {"#": "device", "name": str(value)}
        if isinstance(value, torch.dtype):
            return {"#": "dtype", "name": str(value).removeprefix("torch.")}
        if isinstance(value, torch.Tensor):
            return self._tensor(value, where)
        if isinstance(value, torch.Generator):
            return {**self._new("generator", value), "device": str(value.device), "state": value.get_state()}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise CheckpointError(f"{where} is a numpy array of Python objects, which a checkpoint cannot hold")
            return {**self._new("numpy", value), "data": torch.from_numpy(value.copy())}
        if type(value) is list:
            node = self._new("list", value)
            node["items"] = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return node
        if type(value) in _DICT_KINDS:
            return self.encode_dict(value, where)
        if type(value) in (set, frozenset):
            items = [self.encode(v, f"{where} item") for v in value]
            return {**self._new("set", value), "frozen": type(value) is frozenset, "items": items}
        if type(value) is SimpleNamespace:
            node = self._new("namespace", value)
            node["attrs"] = self.encode_dict(vars(value), where, attributes=True)
            return node
        if isinstance(value, torch.optim.Optimizer):
            return self._optimizer(value, where)
        return self._object(value, where)

    def _tensor(self, value: torch.Tensor, where: str) -> dict:
        if isinstance(value, nn.Parameter):
            node = self._new("parameter", value)
            node.update(data=value.detach(), requires_grad=value.requires_grad)
            node["grad"] = self.encode(value.grad, f"{where}.grad")
            return node
        if type(value) is not torch.Tensor:
            raise CheckpointError(f"{where} is a {type(value).__name__}, a tensor type a checkpoint cannot hold")
        # a detached view: torch.save keeps the storage it shares with other tensors
        return {**self._new("tensor", value), "data": value.detach(), "requires_grad": value.requires_grad}

    def encode_dict(self, value: dict, where: str, attributes: bool = False) -> dict:
        """A dict node; `attributes`: its keys are an object's attributes (named so in error messages)."""
        node = self._new("dict", value)
        node["kind"] = _DICT_KINDS[type(value)]
        if isinstance(value, defaultdict):
            factory = getattr(value.default_factory, "__name__", None)
            if _FACTORIES.get(factory) is not value.default_factory:
                raise CheckpointError(f"{where} is a defaultdict of {value.default_factory!r}, which cannot be saved")
            node["factory"] = factory
        node["keys"] = [self.encode(k, f"{where} key") for k in value]
        node["values"] = [self.encode(v, f"{where}.{k}" if attributes else f"{where}[{k!r}]") for k, v in value.items()]
        return node

    def _optimizer(self, value: torch.optim.Optimizer, where: str) -> dict:
        """An optimizer as its class, settings, parameter groups and per-parameter state (momentum, Adam's
        moments), rebuilt over the same parameter objects."""
        node = self._new("optimizer", value)
        node["class"] = _class_name(type(value))
        node["defaults"] = self.encode(value.defaults, f"{where}.defaults")
        node["groups"] = [self.encode(group, f"{where}.param_groups") for group in value.param_groups]
        node["state"] = self.encode(dict(value.state), f"{where}.state")
        return node

    def _object(self, value, where: str) -> dict:
        cls = type(value)
        engine = cls.__module__.startswith(_ENGINE_PACKAGES[0]) or (
            isinstance(value, nn.Module) and cls.__module__.startswith(_ENGINE_PACKAGES[1])
        )
        if not engine or not hasattr(value, "__dict__") or isinstance(value, type) or "<locals>" in cls.__qualname__:
            raise CheckpointError(
                f"{where} holds {cls.__module__}.{cls.__qualname__} {value!r:.60}, which a checkpoint cannot hold"
            )
        node = self._new("object", value)
        node["class"] = _class_name(cls)
        node["state"] = self.encode_dict(vars(value), where, attributes=True)
        return node


class _Decoder:
    """Rebuilds what _Encoder wrote; `externals`: {name: object} for the nodes written as external."""

    def __init__(self, externals: dict):
        self.externals = externals
        self.objects: dict[int, object] = {}

    def _keep(self, node: dict, value):
        self.objects[node["id"]] = value
        return value

    def decode(self, node):
        if type(node) in _SCALARS:
            return node
        if not isinstance(node, dict) or "#" not in node:
            raise _Damaged(f"it holds an untagged {type(node).__name__}")
        if node["#"] not in _TAGS:
            raise _Damaged(f"it holds an unknown node {node['#']!r}")
        return getattr(self, f"_{node['#']}")(node)

    def _external(self, node):
        return self.externals[node["name"]]

    def _ref(self, node):
        return self.objects[node["id"]]

    def _enum(self, node):
        return _engine_class(node["class"], Enum)(node["value"])

    def _tuple(self, node):
        return tuple(self.decode(v) for v in node["items"])

    def _device(self, node):
        return torch.device(node["name"])

    def _dtype(self, node):
        dtype = getattr(torch, node["name"], None)
        if not isinstance(dtype, torch.dtype):
            raise _Damaged(f"it names an unknown dtype {node['name']!r}")
        return dtype

    def _tensor(self, node):
        data = node["data"]
        if not isinstance(data, torch.Tensor):
            raise _Damaged("a tensor node holds no tensor")
        return self._keep(node, data.requires_grad_(True) if node["requires_grad"] else data)

    def _parameter(self, node):
        parameter = self._keep(node, nn.Parameter(node["data"], requires_grad=node["requires_grad"]))
        parameter.grad = self.decode(node["grad"])
        return parameter

    def _generator(self, node):
        generator = torch.Generator(device=node["device"])
        generator.set_state(node["state"])
        return self._keep(node, generator)

    def _numpy(self, node):
        return self._keep(node, node["data"].numpy())

    def _list(self, node):
        items = self._keep(node, [])
        items.extend(self.decode(v) for v in node["items"])
        return items

    def _dict(self, node):
        kind = node["kind"]
        empty = {"dict": dict, "ordered": OrderedDict, "default": lambda: defaultdict(_FACTORIES[node["factory"]])}
        value = self._keep(node, empty[kind]())
        for k, v in zip(node["keys"], node["values"], strict=True):
            value[self.decode(k)] = self.decode(v)
        return value

    def _set(self, node):
        items = [self.decode(v) for v in node["items"]]
        return self._keep(node, frozenset(items) if node["frozen"] else set(items))

    def _namespace(self, node):
        namespace = self._keep(node, SimpleNamespace())
        vars(namespace).update(self.decode(node["attrs"]))
        return namespace

    def _optimizer(self, node):
        cls = _engine_class(node["class"], torch.optim.Optimizer)
        optimizer = cls([self.decode(group) for group in node["groups"]], **self.decode(node["defaults"]))
        optimizer.state.update(self.decode(node["state"]))
        return self._keep(node, optimizer)

    def _object(self, node):
        cls = _engine_class(node["class"])
        value = self._keep(node, cls.__new__(cls))  # kept first: its attributes may refer back to it
        state = self.decode(node["state"])
        if isinstance(value, nn.Module):
            value.__setstate__(state)  # also fills in hook tables a newer torch may add
        else:
            vars(value).update(state)
        return value


def _run_graph(run) -> dict:
    """What a checkpoint rebuilds besides the config and the run's generator state."""
    return {"strategy": run.strategy, "record": run.record, "position": run.position, "window": run._window}


def checkpoint_data(run) -> dict:
    """The run as plain containers, what save_checkpoint writes."""
    if run.advancing:
        raise CheckpointError("a run is checkpointed between advance() calls, not from inside one (an event listener)")
    encoder = _Encoder({id(run.benchmark): "benchmark", id(run.generator): "generator"})
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": run.config.to_dict(),
        "validation": run.validation,
        "generator": run.generator.get_state(),
        "progress": {
            "status": run.status.value,
            "message": run.message,
            "step": run.step,
            "task": run.task,
            "epoch": run.epoch,
            "train_samples": run.train_samples,
            "active_s": run.active_s,
            "train_s": run.train_s,
        },
        "graph": encoder.encode_dict(_run_graph(run), "run", attributes=True),
    }


def save_checkpoint(run, path) -> None:
    """Write `run` to `path` atomically: a temporary file in the same folder, renamed over `path` once
    complete, so that a crash or kill mid-write leaves the previous checkpoint whole."""
    data = checkpoint_data(run)
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            torch.save(data, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise CheckpointError(f"cannot write the checkpoint {path}: {error.strerror or error}") from None
    finally:
        temporary.unlink(missing_ok=True)


def read_checkpoint(path) -> dict:
    """The plain data of a checkpoint, read with torch.load(weights_only=True); anything else is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        data = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:
        if "safe_globals" in str(error):  # weights_only met a class or function: a pickle of objects
            raise CheckpointError(
                f"{path} holds Python objects, which a clcore checkpoint never does; refused, nothing loaded"
            ) from None
        raise CheckpointError(f"{path} is truncated or not a checkpoint file; nothing loaded") from None
    except RuntimeError as error:
        if "cuda" in str(error).lower():
            raise CheckpointError(f"{path} was written on a CUDA device, which this machine does not have") from None
        raise CheckpointError(f"{path} is truncated or not a checkpoint file; nothing loaded") from None
    except Exception:  # zip, EOF or unpickling errors of a file that is no torch.save output
        raise CheckpointError(f"{path} is truncated or not a checkpoint file; nothing loaded") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a clcore run checkpoint (python -m clcore run --checkpoint PATH writes them)"
        )
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path} is a checkpoint of format version {data.get('version')}; this engine reads version {VERSION}"
        )
    return data


def _conflict(config, settings: dict) -> str | None:
    """The first of `settings` (make_config keywords) that differs from the checkpointed run's config."""
    for name, given in settings.items():
        if name == "params":
            params = REGISTRY[config.strategy].resolve_params({**config.params, **given})
            changed = [k for k in given if params[k] != config.params[k]]
            if changed:
                return f"params.{changed[0]} is {config.params[changed[0]]}, not {given[changed[0]]}"
            continue
        if name not in BY_NAME:
            return f"{name} is not a setting"
        value = BY_NAME[name].parse(given)
        saved = getattr(config, name)
        if name == "device" and value == "auto":
            continue  # resolved when the run was built: whatever it resolved to is this run's device
        if (list(value) if isinstance(value, tuple) else value) != (list(saved) if isinstance(saved, tuple) else saved):
            return f"{name} is {saved}, not {given}"
    return None


def resume(path, **settings):
    """The run checkpointed at `path`, ready to advance from where it was saved. `settings` (make_config
    keywords, e.g. the options given beside --resume) must agree with the checkpoint's config: a checkpoint
    of another strategy or config is refused."""
    data = read_checkpoint(path)
    try:
        config = config_from_dict(data["config"])
        conflict = _conflict(config, {k: v for k, v in settings.items() if v not in (None, {})})
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from None
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path} is damaged ({type(error).__name__}: {error})") from None
    if conflict:
        raise CheckpointError(
            f"{path} checkpoints a run of {config.strategy} on {config.benchmark}: its {conflict}; "
            "leave that option out (a resumed run keeps its settings) or start a new run"
        )
    try:
        run = Run(config, validation=bool(data["validation"]))
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from None
    if run.config.to_dict() != data["config"]:
        raise CheckpointError(f"{path} was written by another version of the engine: its config resolves differently")
    try:
        _restore(run, data)
    except (_Damaged, KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise CheckpointError(f"{path} is damaged or from another engine version ({error})") from None
    return run


def _restore(run, data: dict) -> None:
    graph = _Decoder({"benchmark": run.benchmark, "generator": run.generator}).decode(data["graph"])
    if type(graph["strategy"]) is not REGISTRY[run.config.strategy]:
        raise _Damaged(f"its strategy is not {run.config.strategy}")
    run.strategy, run.record, run.position, run._window = (
        graph["strategy"],
        graph["record"],
        graph["position"],
        graph["window"],
    )
    run.generator.set_state(data["generator"])
    progress = data["progress"]
    for name in ("message", "step", "task", "epoch", "train_samples", "active_s", "train_s"):
        setattr(run, name, progress[name])
    status = RunState(progress["status"])
    run.status = status if status.terminal else RunState.READY
    run._steps = run._training()  # starts at run.position


def parse_every(text: str) -> str | int:
    """--checkpoint-every: "task", "epoch" or a positive number of batches."""
    text = str(text).strip()
    if text in EVERY:
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise CheckpointError(f"--checkpoint-every '{text}' must be task, epoch or a number of batches (e.g. 500)")


class Checkpointer:
    """Advances a run and saves it to `path` at every `every` boundary: each task end, each epoch end, or
    every that many batches."""

    def __init__(self, run, path, every: str | int = "task"):
        self.run, self.path, self.every = run, Path(path), every
        if not self.path.parent.is_dir():
            raise CheckpointError(f"cannot write the checkpoint {path}: its folder {self.path.parent} does not exist")
        self.saved_step = run.step

    def advance(self, seconds: float) -> list:
        run, every = self.run, self.every
        if isinstance(every, int):
            events = run.advance(batches=every - run.step % every, seconds=seconds)
            due = run.step % every == 0 and run.step != self.saved_step
        else:
            events = run.advance(seconds=seconds, until=every)
            # the run stopped right after the event that ends the boundary: it stands exactly there
            due = bool(events) and isinstance(events[-1], (TaskEnd, EpochEnd) if every == "epoch" else TaskEnd)
        if due and not run.done:
            save_checkpoint(run, self.path)
            self.saved_step = run.step
        return events
