"""Typed task-end reports: each strategy that reports declares a frozen dataclass (its `report_type`) and
returns one from task_end_report(). A run's JSON result keeps them as plain data (clcore.runs.results.jsonable
walks dataclasses), and `read_report` rebuilds one from that data, so a stored result reads like a live one.

A field typed `torch.Tensor` comes back as a tensor; one the JSON dropped (clcore.runs.results keeps only
small tensors) must default to None and comes back as None."""

from __future__ import annotations

import dataclasses
import types
import typing

import torch


def read_report(report_type: type, data: dict):
    """An instance of the dataclass `report_type` from its JSON form (nested dataclasses, lists and dicts
    of them, tensors and optional fields rebuilt from their annotations)."""
    hints = typing.get_type_hints(report_type)
    return report_type(
        **{f.name: _read_value(hints[f.name], data[f.name]) for f in dataclasses.fields(report_type) if f.name in data}
    )


def _read_value(annotation, value):
    if value is None:
        return None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):  # X | None: the one non-None type
        (inner,) = [a for a in args if a is not type(None)]
        return _read_value(inner, value)
    if origin is list:
        return [_read_value(args[0], v) for v in value]
    if origin is dict:
        return {k: _read_value(args[1], v) for k, v in value.items()}
    if annotation is torch.Tensor:
        return torch.tensor(value)
    if dataclasses.is_dataclass(annotation):
        return read_report(annotation, value)
    return value
