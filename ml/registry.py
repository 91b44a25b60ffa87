"""The only place that knows every method. The CLI, the web engine and the benchmarks ask it.

Method packages are imported lazily, so listing methods never builds a network, and a method
whose package is not written yet is simply absent from `available()`.
"""
from __future__ import annotations

import importlib
import importlib.util

from ml.methods.base import Method

# name -> module that defines METHOD; order is the order the editor shows them in.
KNOWN_METHODS = {
    "elegant": "ml.methods.elegant",
    "homointerp": "ml.methods.homointerp",
    "psp": "ml.methods.psp",
    "tlgan": "ml.methods.tlgan",
    "tpgan": "ml.methods.tpgan",
}


class UnknownMethod(KeyError):
    def __str__(self) -> str:
        return f"unknown method {self.args[0]!r}; available: {', '.join(available()) or 'none'}"


def _module_exists(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # a parent package is not written yet
        return False


def get(name: str) -> Method:
    module_name = KNOWN_METHODS.get(name)
    if module_name is None:
        raise UnknownMethod(name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            raise UnknownMethod(name) from None
        raise
    return module.METHOD


def available() -> list[str]:
    """Names of the methods whose packages exist in this checkout."""
    names = []
    for name, module_name in KNOWN_METHODS.items():
        if _module_exists(module_name):
            names.append(name)
    return names
