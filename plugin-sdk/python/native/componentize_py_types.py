"""Stand-in for the `componentize_py_types` module that componentize-py builds into every
component, so that generated bindings and plugins import natively (pytest). Only on the path of
native runs: never pass this directory to `componentize-py componentize`."""

from dataclasses import dataclass
from typing import Generic, TypeVar, Union

T = TypeVar("T")
E = TypeVar("E")


@dataclass
class Some(Generic[T]):
    value: T


@dataclass
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True)
class Err(Generic[E], Exception):
    value: E


Result = Union[Ok[T], Err[E]]
