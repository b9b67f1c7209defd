"""Stand-in for get-pip.py that needs no download of the bootstrap script itself.

ansible-test (2.19) bootstraps pip into each venv it manages (created with
``--without-pip``) by running ``~/.ansible/test/cache/get_pip_<ver>.py`` (e.g.
``get_pip_24_2.py``; otherwise it downloads it from ci-files.testing.ansible.com).
It runs it in-process via runpy from its ``quiet_pip.py`` wrapper as::

    GET_PIP=<this file> PIP_BREAK_SYSTEM_PACKAGES=1 <venv>/bin/python quiet_pip.py \
        --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel

This script keeps get-pip.py's interface: ``--no-setuptools`` / ``--no-wheel``
(or PIP_NO_SETUPTOOLS / PIP_NO_WHEEL) are consumed here, everything else is
passed on to ``pip install --upgrade --force-reinstall``. pip itself comes from
the interpreter's bundled ``ensurepip`` wheel; the requested pip version (and
any other packages) are then installed by that pip from the configured index.

Set GET_PIP_ALLOW_BUNDLED=1 to accept ensurepip's pip when that last install
fails (e.g. no index reachable at all).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys


def _run(cmd: list[str]) -> int:
    print("get_pip_offline: " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.call(cmd)


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _names_pip(arg: str) -> bool:
    name = arg.split(";")[0].strip().lower()
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", " ", "@"):
        name = name.split(sep)[0]
    return name == "pip"


def main(argv: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--no-setuptools", action="store_true")
    pre.add_argument("--no-wheel", action="store_true")
    opts, args = pre.parse_known_args(argv)

    # 1. a pip from the interpreter's bundled wheel (no network); run in a
    #    subprocess because ensurepip scrubs PIP_* from os.environ in-process.
    if not _have("pip"):
        if not _have("ensurepip"):
            print(
                "get_pip_offline: this Python has no ensurepip module "
                "(Debian: apt-get install python3-venv)",
                file=sys.stderr,
            )
            return 1
        rc = _run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
        if rc:
            return rc

    # 2. what get-pip.py would do:
    #    pip install --upgrade --force-reinstall <args> pip [setuptools] [wheel]
    if not any(_names_pip(a) for a in args if not a.startswith("-")):
        args.append("pip")
    if not (opts.no_setuptools or os.environ.get("PIP_NO_SETUPTOOLS") or _have("setuptools")):
        args.append("setuptools")
    if not (opts.no_wheel or os.environ.get("PIP_NO_WHEEL") or _have("wheel")):
        args.append("wheel")

    rc = _run([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall", *args])
    if rc and os.environ.get("GET_PIP_ALLOW_BUNDLED") == "1":
        print(
            "get_pip_offline: install failed; keeping the ensurepip-bundled pip "
            "(GET_PIP_ALLOW_BUNDLED=1)",
            file=sys.stderr,
        )
        return 0
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
