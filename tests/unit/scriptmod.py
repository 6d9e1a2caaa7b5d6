"""Import a script of scripts/ (no .py suffix) as a module, for unit tests of
its functions. The scripts stay plain executables run by make and workflows."""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str):
    modname = "script_" + name.replace("-", "_")
    if modname in sys.modules:
        return sys.modules[modname]
    loader = importlib.machinery.SourceFileLoader(modname, str(SCRIPTS / name))
    spec = importlib.util.spec_from_loader(modname, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # dataclasses look their module up here
    loader.exec_module(module)
    return module
