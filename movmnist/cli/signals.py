"""Signals as the command line takes them: SIGTERM (what kill, Slurm and docker send) as Ctrl-C.

`as_interrupt(SIGTERM)` makes the signal raise KeyboardInterrupt, so that every cleanup
written for Ctrl-C (a build's temporaries, its lock, its workers) runs for it too. `leave`
then prints the one line and exits with the conventional status of the signal taken: 128
plus its number, 130 for Ctrl-C (SIGINT), 143 for SIGTERM. Standard library only: `main`
imports it before anything else, so that a signal at start-up is one line too.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

_taken: list[int] = []  # the signals turned into KeyboardInterrupt, in the order they came
_leaving: list[int] = []  # the status `leave` exits with


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _taken.append(signum)
    raise KeyboardInterrupt


def as_interrupt(signum: int) -> None:
    """From now on, `signum` raises KeyboardInterrupt in the main thread, as Ctrl-C does."""
    signal.signal(signum, _interrupt)
    atexit.register(_exit_as_said)  # registered first, so it runs last


def _exit_as_said() -> None:
    """The last thing at exit, after `leave`: exit with its status. CPython kills itself with
    SIGINT at the end of its exit once a KeyboardInterrupt has left code run by exec() (a
    dataclass's generated methods, while importing), even if it was caught; this comes first."""
    if _leaving:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_leaving[-1])


def leave(message: str | None = None) -> NoReturn:
    """Exit after an interruption: `message` (default: 'interrupted', naming the signal if not
    Ctrl-C) on stderr, and status 128 + the signal (SIGINT when none was taken here)."""
    signum = _taken[-1] if _taken else signal.SIGINT
    if message is None:
        message = "interrupted" if signum == signal.SIGINT else f"interrupted by {signal.Signals(signum).name}"
    print(message, file=sys.stderr, flush=True)
    _leaving.append(128 + signum)
    sys.exit(128 + signum)
