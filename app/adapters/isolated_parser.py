"""The `Parser` port behind a process wall: every file is parsed in a child process, under a time and memory limit.

unstructured hands arbitrary bytes to lxml, pdfminer, pandas and spaCy. A file that makes one of them loop, eat
memory or crash must cost that file, not the API process or the worker that parses it. `IsolatedParser` keeps a
small pool of warm child processes (forked by a forkserver, never from the threaded parent), hands each file to an
idle child and waits for its answer; a child that overruns, runs out of memory or dies is killed and replaced.

A persistent child was chosen over one fork per file: the inner parser loads its models once per child (spaCy
takes seconds), so the cost per file is one round trip through a pipe (~1 ms), and only a failed file pays for a
fresh child.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import resource
import signal
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

from app.core.domain import ParsedDocument
from app.core.errors import RejectedFileError
from app.core.ports import Parser

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 300.0  # a fresh child imports unstructured and loads spaCy: seconds, more on a busy machine
_MIB = 1024 * 1024


class IsolatedParser:
    """Runs another `Parser` in child processes, so that no file can hang, exhaust or crash the caller.

    Every failure is a `RejectedFileError` with ``permanent=True`` (the same file fails the same way again):
    ``timeout`` past `timeout_s`, ``too_complex`` past `memory_mb`, ``parser_crashed`` when the child dies (a
    segfault, a kill). A `RejectedFileError` of the inner parser arrives unchanged; any other exception of the
    inner parser is re-raised in the caller with the child's traceback as a note. Safe to call from many threads:
    each call takes an idle child, and at most `workers` children exist.

    Usage::

        parser = IsolatedParser(UnstructuredParser(), timeout_s=120, memory_mb=2048)
        parser.warm_up()  # starts a child and loads the inner parser's models there
        [doc] = parser.parse("/tmp/uploads/7f3a", "handbook.docx")
        parser.close()
    """

    def __init__(self, inner: Parser, timeout_s: float = 120, memory_mb: int = 2048, workers: int = 2) -> None:
        """Args: `inner`, a module-level class (the child unpickles it); `timeout_s`, wall-clock seconds per file;
        `memory_mb`, what one parse may add to the loaded inner parser (the child's address-space limit is its
        size after warm-up plus this); `workers`, the most children at once (one per concurrent caller)."""
        if not isinstance(inner, Parser):
            raise ValueError(f"inner must implement the Parser port (a parse(path, filename) method), got {inner!r}")
        try:
            pickle.dumps(inner)
        except Exception as e:
            raise ValueError(f"inner must be picklable (a module-level class) to run in a child process: {e}") from e
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        for name, value, low in (("memory_mb", memory_mb, 16), ("workers", workers, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.inner, self.timeout_s, self.memory_mb, self.workers = inner, float(timeout_s), memory_mb, workers
        self._cond = threading.Condition()
        self._idle: list[_Child] = []
        self._alive = 0  # children running or starting
        self._closed = False

    def warm_up(self) -> None:
        """Start one child now, so that the first file does not wait for the inner parser's models."""
        self._checkin(self._checkout(), healthy=True)

    def parse(self, path: str, filename: str) -> list[ParsedDocument]:
        """Parse one file in a child process; arguments, result and errors as the inner parser's.

        Raises:
            RejectedFileError: the inner parser's, or ``timeout``, ``too_complex`` or ``parser_crashed``.
        """
        child = self._checkout()
        healthy = False
        try:
            kind, payload, healthy = child.call((path, filename), self.timeout_s)
        finally:
            self._checkin(child, healthy)
        if kind == "ok":
            return payload
        if kind == "rejected":
            raise RejectedFileError(*payload)
        if kind == "error":
            raise _rebuild(*payload)
        reason = {
            "timeout": f"parsing took longer than {self.timeout_s:g} s; the file was skipped",
            "memory": f"parsing needed more than the {self.memory_mb} MB memory limit; the file was skipped",
            "died": f"the parser crashed on this file ({_death(payload)}); the file was skipped",
        }[kind]
        code = {"timeout": "timeout", "memory": "too_complex", "died": "parser_crashed"}[kind]
        logger.warning("file rejected by the isolated parser", extra={"file": filename, "code": code})
        raise RejectedFileError(filename, reason, code=code, permanent=True)

    def close(self) -> None:
        """Stop every child; children still parsing stop when their file is done. Further parses are refused."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._alive -= len(idle)
            self._cond.notify_all()
        for child in idle:
            child.stop()

    def _checkout(self) -> _Child:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("IsolatedParser is closed")
                if self._idle:
                    return self._idle.pop()
                if self._alive < self.workers:
                    self._alive += 1
                    break
                self._cond.wait()
        try:
            return _Child(self.inner, self.memory_mb)  # seconds: outside the lock, and outside any file's timeout
        except BaseException:
            with self._cond:
                self._alive -= 1
                self._cond.notify()
            raise

    def _checkin(self, child: _Child, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed and child.process.is_alive():
                self._idle.append(child)
                self._cond.notify()
                return
        child.stop()  # before its slot is given back: never more than `workers` children, dying ones included
        with self._cond:
            self._alive -= 1
            self._cond.notify()


class _Child:
    """One child process and the parent's end of its pipe. Used by one thread at a time."""

    def __init__(self, inner: Parser, memory_mb: int) -> None:
        ctx = mp.get_context("forkserver")
        # Only takes effect when this starts the forkserver: children then fork with these modules imported.
        ctx.set_forkserver_preload([m for m in (__name__, type(inner).__module__) if m != "__main__"])
        self.conn, child_end = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child_end, inner, memory_mb), name="parser", daemon=True)
        self.process.start()
        child_end.close()  # so that the child's death reads as EOF here
        kind, payload, _ = self._answer(_START_TIMEOUT_S)
        if kind != "ready":
            self.stop()
            if kind == "error":
                raise _rebuild(*payload)
            why = f"not ready after {_START_TIMEOUT_S:g} s" if kind == "timeout" else _death(payload)
            raise RuntimeError(f"the parser's child process did not start: {why}")

    def call(self, request: tuple[str, str], timeout_s: float) -> tuple[str, Any, bool]:
        """Send one file; returns (kind, payload, healthy), kind one of ok, rejected, error, memory, timeout, died."""
        try:
            self.conn.send(request)
        except OSError:  # the child died while idle (e.g. the system's out-of-memory killer)
            return self._died()
        return self._answer(timeout_s)

    def _answer(self, timeout_s: float) -> tuple[str, Any, bool]:
        if not self.conn.poll(timeout_s):
            self.process.kill()
            return "timeout", None, False
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return self._died()

    def _died(self) -> tuple[str, Any, bool]:
        self.process.join(5)
        return "died", self.process.exitcode, False

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


def _serve(conn: Connection, inner: Parser, memory_mb: int) -> None:
    """The child's loop: warm up, cap the address space, then parse files until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops its children
    try:
        warm_up = getattr(inner, "warm_up", None)
        if callable(warm_up):
            warm_up()
        base_kb = _vm_size_kb()
        if base_kb:
            limit = base_kb * 1024 + memory_mb * _MIB
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except BaseException as e:
        conn.send(("error", _describe(e), False))
        return
    conn.send(("ready", None, True))
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent is gone
            return
        if request is None:
            return
        try:
            reply: tuple[str, Any, bool] = ("ok", inner.parse(*request), True)
        except BaseException as e:
            reply = _failure(e)
        # A heap grown past half the budget stays grown: retire this child so that the next file gets it all.
        healthy = reply[2] and not (base_kb and _vm_size_kb() > base_kb + memory_mb * 1024 // 2)
        try:
            conn.send((*reply[:2], healthy))
        except MemoryError:
            conn.send(("memory", None, False))
        except Exception as e:  # a result that cannot be pickled
            conn.send(("error", _describe(e), healthy))


def _failure(e: BaseException) -> tuple[str, Any, bool]:
    cause: BaseException | None = e
    for _ in range(20):  # unstructured may wrap the MemoryError of the address-space limit
        if cause is None:
            break
        if isinstance(cause, MemoryError):
            return "memory", None, False
        cause = cause.__cause__ or cause.__context__
    if isinstance(e, RejectedFileError):
        return "rejected", (e.filename, e.reason, e.code, e.permanent), True
    if isinstance(e, SystemExit):  # the inner parser called sys.exit(): a crash, not an exception for the caller
        return "died", e.code if isinstance(e.code, int) else 1, False
    return "error", _describe(e), True


def _describe(e: BaseException) -> tuple[bytes | None, str, str]:
    """An exception as (pickle or None, 'Type: message', child traceback): not every exception unpickles."""
    data: bytes | None = None
    try:
        pickle.loads(blob := pickle.dumps(e))
        data = blob
    except Exception:
        pass
    return data, f"{type(e).__name__}: {e}", "".join(traceback.format_exception(e))


def _rebuild(data: bytes | None, summary: str, child_traceback: str) -> BaseException:
    exc = pickle.loads(data) if data is not None else RuntimeError(f"parser failed in its child process: {summary}")
    exc.add_note(f"raised in the parser's child process:\n{child_traceback}")
    return exc


def _death(exitcode: int | None) -> str:
    if exitcode is None:
        return "did not exit"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = ", possibly by the system's out-of-memory killer" if -exitcode == signal.SIGKILL else ""
        return f"killed by signal {name}{hint}"
    return f"exited with status {exitcode}"


def _vm_size_kb() -> int:
    """The process's address-space size in KiB (Linux), or 0 where /proc is missing and no limit is set."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return 0
