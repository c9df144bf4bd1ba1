"""IsolatedParser: a file that hangs, eats memory or crashes costs that file, never the caller.

The parsers below are module-level so that the child process can unpickle them; `ScriptedParser` does what the
file name says (``sleep``, ``greedy``, ``segv``...), so one warm child serves many cases.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.adapters.isolated_parser import IsolatedParser
from app.core.domain import Element, ParsedDocument
from app.core.errors import ModelError, RejectedFileError
from app.core.ports import Parser

_MIB = 1024 * 1024


class BadArgsError(Exception):
    """Cannot be rebuilt by pickle (its constructor needs two arguments, `args` holds one)."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")


class ScriptedParser:
    """Echoes the file's text; the file's stem picks a misbehaviour instead."""

    def parse(self, path: str, filename: str) -> list[ParsedDocument]:
        action = Path(filename).stem
        if action == "sleep":
            time.sleep(3600)
        elif action == "spin":
            while True:
                pass
        elif action == "greedy":
            hog = [bytearray(64 * _MIB) for _ in range(1000)]  # 64 GB: well past any test limit
            del hog
        elif action == "greedy-wrapped":  # what unstructured does to most errors
            try:
                bytearray(64 * 1024 * _MIB)
            except MemoryError as e:
                raise RejectedFileError(filename, "could not be parsed: MemoryError", code="corrupt") from e
        elif action == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif action == "exit":
            os._exit(3)
        elif action == "sys-exit":
            sys.exit(4)
        elif action == "reject":
            raise RejectedFileError(filename, "file is password-protected", code="encrypted", permanent=False)
        elif action == "boom":
            raise ValueError("boom")
        elif action == "odd-error":
            raise BadArgsError("odd", "error")
        elif action == "nap":
            time.sleep(0.3)
        text = Path(path).read_text()
        return [ParsedDocument(filename, filename, (Element(text),), "txt", {"pid": os.getpid()})]


class WarmUpFailsParser:
    def warm_up(self) -> None:
        raise ModelError("spaCy model missing")

    def parse(self, path: str, filename: str) -> list[ParsedDocument]:
        return []


@pytest.fixture
def sample(tmp_path: Path) -> str:
    path = tmp_path / "upload"
    path.write_text("hello from the child")
    return str(path)


@pytest.fixture(scope="module")
def isolated() -> IsolatedParser:
    parser = IsolatedParser(ScriptedParser(), timeout_s=2, memory_mb=256, workers=2)
    parser.warm_up()
    yield parser
    parser.close()


def _pid(parser: IsolatedParser, path: str) -> int:
    return parser.parse(path, "echo.txt")[0].metadata["pid"]


class TestConstruction:
    def test_implements_the_port(self) -> None:
        parser = IsolatedParser(ScriptedParser())
        assert isinstance(parser, Parser)
        assert (parser.timeout_s, parser.memory_mb, parser.workers) == (120.0, 2048, 2)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"timeout_s": 0},
            {"timeout_s": -1},
            {"timeout_s": "60"},
            {"memory_mb": 0},
            {"memory_mb": 1.5},
            {"workers": 0},
        ],
    )
    def test_invalid_limits(self, kwargs: dict) -> None:
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            IsolatedParser(ScriptedParser(), **kwargs)

    def test_inner_must_be_a_parser(self) -> None:
        with pytest.raises(ValueError, match="Parser port"):
            IsolatedParser(object())  # type: ignore[arg-type]

    def test_inner_must_be_picklable(self) -> None:
        class Local(ScriptedParser):
            pass

        with pytest.raises(ValueError, match="picklable"):
            IsolatedParser(Local())


class TestIsolation:
    def test_result_comes_back(self, isolated: IsolatedParser, sample: str) -> None:
        [doc] = isolated.parse(sample, "echo.txt")
        assert doc.text == "hello from the child"
        assert doc.metadata["pid"] != os.getpid()

    def test_child_is_reused(self, isolated: IsolatedParser, sample: str) -> None:
        assert len({_pid(isolated, sample) for _ in range(5)}) <= 2

    @pytest.mark.parametrize("name", ["sleep.txt", "spin.txt"])
    def test_timeout_kills_the_child(self, isolated: IsolatedParser, sample: str, name: str) -> None:
        t = time.perf_counter()
        with pytest.raises(RejectedFileError) as info:
            isolated.parse(sample, name)
        assert time.perf_counter() - t < 10
        err = info.value
        assert (err.code, err.permanent, err.filename) == ("timeout", True, name)
        assert err.reason == "parsing took longer than 2 s; the file was skipped"
        assert isolated.parse(sample, "echo.txt")[0].text == "hello from the child"  # a fresh child took over

    @pytest.mark.parametrize("name", ["greedy.txt", "greedy-wrapped.txt"])
    def test_memory_limit(self, isolated: IsolatedParser, sample: str, name: str) -> None:
        with pytest.raises(RejectedFileError) as info:
            isolated.parse(sample, name)
        err = info.value
        assert (err.code, err.permanent) == ("too_complex", True)
        assert "256 MB memory limit" in err.reason
        assert isolated.parse(sample, "echo.txt")[0].text == "hello from the child"

    def test_segfault(self, isolated: IsolatedParser, sample: str) -> None:
        with pytest.raises(RejectedFileError) as info:
            isolated.parse(sample, "segv.txt")
        assert (info.value.code, info.value.permanent) == ("parser_crashed", True)
        assert "SIGSEGV" in info.value.reason
        assert isolated.parse(sample, "echo.txt")[0].text == "hello from the child"

    @pytest.mark.parametrize(("name", "status"), [("exit.txt", 3), ("sys-exit.txt", 4)])
    def test_exit(self, isolated: IsolatedParser, sample: str, name: str, status: int) -> None:
        with pytest.raises(RejectedFileError) as info:
            isolated.parse(sample, name)
        assert info.value.code == "parser_crashed"
        expected = f"the parser crashed on this file (exited with status {status}); the file was skipped"
        assert info.value.reason == expected

    def test_rejection_passes_through_unchanged(self, isolated: IsolatedParser, sample: str) -> None:
        with pytest.raises(RejectedFileError) as info:
            isolated.parse(sample, "reject.txt")
        err = info.value
        assert (err.filename, err.reason, err.code, err.permanent) == (
            "reject.txt",
            "file is password-protected",
            "encrypted",
            False,
        )

    def test_other_errors_are_reraised_and_keep_the_child(self, isolated: IsolatedParser, sample: str) -> None:
        before = _pid(isolated, sample)
        with pytest.raises(ValueError, match="boom") as info:
            isolated.parse(sample, "boom.txt")
        assert any("child process" in note for note in info.value.__notes__)
        with pytest.raises(RuntimeError, match="BadArgsError: odd: error"):
            isolated.parse(sample, "odd-error.txt")
        assert before in {_pid(isolated, sample) for _ in range(4)}

    def test_concurrent_callers(self, isolated: IsolatedParser, tmp_path: Path) -> None:
        paths = []
        for i in range(8):
            paths.append(tmp_path / f"f{i}")
            paths[-1].write_text(f"file {i}")
        names = ["nap.txt"] * 6 + ["segv.txt", "sleep.txt"]
        running: list[int] = []
        stop = threading.Event()

        def watch() -> None:  # how many children exist at once, sampled
            while not stop.wait(0.01):
                running.append(sum(p.name == "parser" for p in multiprocessing.active_children()))

        watcher = threading.Thread(target=watch)
        watcher.start()
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(isolated.parse, str(p), n) for p, n in zip(paths, names, strict=True)]
        stop.set()
        watcher.join()
        results = []
        for future, name in zip(futures, names, strict=True):
            if name == "nap.txt":
                results.append(future.result()[0])
            else:
                assert future.exception().code in {"parser_crashed", "timeout"}
        assert sorted(d.text for d in results) == [f"file {i}" for i in range(6)]
        assert max(running) <= 2  # never more children than workers, replacements included
        assert time.perf_counter() - t < 30

    def test_warm_up_failure_is_raised(self) -> None:
        parser = IsolatedParser(WarmUpFailsParser(), workers=1)
        for _ in range(2):  # the failed start gives its slot back: no hang on the second try
            with pytest.raises(ModelError, match="spaCy model missing"):
                parser.warm_up()
        parser.close()

    def test_close(self, sample: str) -> None:
        parser = IsolatedParser(ScriptedParser(), workers=1)
        parser.warm_up()
        [child] = parser._idle
        parser.close()
        parser.close()
        assert not child.process.is_alive()
        with pytest.raises(RuntimeError, match="closed"):
            parser.parse(sample, "echo.txt")

    def test_thread_waits_for_a_busy_child(self, sample: str) -> None:
        parser = IsolatedParser(ScriptedParser(), workers=1)
        try:
            done: list[str] = []
            threads = [threading.Thread(target=lambda: done.append(parser.parse(sample, "nap.txt")[0].text))]
            threads.append(threading.Thread(target=lambda: done.append(parser.parse(sample, "echo.txt")[0].text)))
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert done and len(done) == 2
            assert len(parser._idle) == 1
        finally:
            parser.close()


@pytest.mark.slow
class TestWithUnstructured:
    def test_round_trip(self, tmp_path: Path) -> None:
        from app.adapters.unstructured_parser import UnstructuredParser

        page = tmp_path / "page"
        page.write_text("<html><body><h1>Vacation policy</h1><p>Employees get 25 days of paid leave a year.</p>")
        inner = UnstructuredParser()
        parser = IsolatedParser(UnstructuredParser(), workers=1)
        try:
            [doc] = parser.parse(str(page), "policy.html")
            [local] = inner.parse(str(page), "policy.html")
            assert doc.elements == local.elements
            assert (doc.title, doc.file_type, doc.external_id) == (local.title, local.file_type, "policy.html")
            assert doc.elements[1].section_path == ("Vacation policy",)
            blank = tmp_path / "blank"
            blank.write_text("   \n\n ")
            with pytest.raises(RejectedFileError) as info:
                parser.parse(str(blank), "blank.txt")
            assert (info.value.code, info.value.reason) == ("empty", "file contains only whitespace")
        finally:
            parser.close()
