"""A cache of compiled gadgets: `espia run x.bpf.c` pays for clang once per distinct input.

clang spends most of a gadget's build parsing vmlinux.h (seconds on a busy
machine), for an object that depends only on what the compiler read.  So
the object is kept, keyed by a digest of all of that:

    /var/cache/espia/             (ESPIA_COMPILE_CACHE or --compile-cache elsewhere)
        manifests/<key>.json      the headers the last build of <key> read
        objects/<key>-<digest>.bpf.o   an object, by <key> and those headers' contents
        objects/<key>-<digest>.pch     espia/gadget.bpf.h precompiled (below)
        tmp/                      where files are made before they are renamed in place

<key> digests the source's content and folder (quoted includes are found
next to it), the compiler's command line (flags, include folders), the
compiler itself (its resolved path, size and modification time: any
upgrade changes them; ccache's default check) and the environment
variables that add include folders.  The headers are those clang lists
with -MD on a miss: vmlinux.h (so this kernel's BTF), libbpf's, espia's and
the gadget's own; a hit hashes each one again, so a changed header misses.
A header clang did not read, and would now find first (a new file that
shadows one in a later include folder), is not noticed:
`--no-compile-cache` builds afresh.

A miss still parses vmlinux.h, unless the source starts by including
espia/gadget.bpf.h (as the guide's example does): that header (vmlinux.h,
libbpf's and espia's) is then precompiled once, cached as above, and given
to clang with -include-pch, which takes about 40% off a miss's compile
(bench/run/clang.py; the object's code and BTF are the same).  It is made beside the cache's second
compile, not its first, so a gadget built once never pays for it.

Writes go through tmp/ and a rename, so two espia building the same gadget
at once each see a whole object; a hit refreshes the object's time and the
oldest objects beyond MAX_OBJECTS are removed (with what a killed espia left
in tmp/ an hour before).  The cache holds code that
root will load, so a folder that another user could write is not used (a
warning says so, and the gadget is compiled as without a cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from espia.ebpf.compile import INCLUDE_DIR, clang_command, clang_flags, run_clang, vmlinux_header
from espia.errors import BuildError

log = logging.getLogger("espia")

DEFAULT_CACHE = Path("/var/cache/espia")
CACHE_ENV = "ESPIA_COMPILE_CACHE"
# Objects kept (a gadget's object is about 0.7 MiB with its debug information).
MAX_OBJECTS = 64
# Precompiled prefixes kept (each about 15 MiB: vmlinux.h parsed).
MAX_PREFIXES = 2
# The prefix: what a gadget's first line includes (docs/writing-a-gadget.md).
PREFIX = INCLUDE_DIR / "espia" / "gadget.bpf.h"
_PREFIX_SUFFIX = ".pch"
# A source whose first directive includes PREFIX, after nothing but comments: for it,
# clang's -include-pch of PREFIX is the same as that #include (PREFIX has an include
# guard, so the #include itself then reads nothing).  A line comment ending in a
# backslash goes on over the next line, so it does not count as one that ends.
_STARTS_WITH_PREFIX = re.compile(
    rb"(?:\s+|//[^\n]*(?<!\\)\n|/\*.*?\*/)*#[ \t]*include[ \t]*<espia/gadget\.bpf\.h>", re.S
)
# A file of tmp/ this old was left by an espia that was killed while it built.
_ABANDONED_S = 3600
# Bumped when what a key covers changes, so older entries are never read.
FORMAT = 2
_INCLUDE_ENV = ("CPATH", "C_INCLUDE_PATH")
# How far a file's time may lag the clock (the kernel stamps files with a clock
# that ticks once per jiffy): a file this recent may have changed during a build.
_CLOCK_SLACK_NS = 100_000_000


def cache_path(given: str | os.PathLike[str] | None = None) -> Path:
    """--compile-cache, else $ESPIA_COMPILE_CACHE, else /var/cache/espia."""
    if given:
        return Path(given)
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def _file_digest(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _compiler(path: str) -> list[object]:
    real = os.path.realpath(path)
    status = os.stat(real)
    return [real, status.st_size, status.st_mtime_ns]


def parse_depfile(text: str) -> list[str]:
    """The prerequisites of a make rule as clang -MD writes it (one target, `\\ ` for a
    space, `$$` for a dollar, backslash-newline between lines)."""
    _, sep, rest = text.replace("\\\n", " ").partition(": ")
    if not sep:
        return []
    paths: list[str] = []
    word: list[str] = []
    chars = iter(rest.replace("$$", "$"))
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            word.append(following if following in " #\\" else "\\" + following)
        elif char.isspace():
            if word:
                paths.append("".join(word))
                word = []
        else:
            word.append(char)
    if word:
        paths.append("".join(word))
    return paths


def leads_with_prefix(text: bytes) -> bool:
    """Whether the source `text` may be compiled with PREFIX precompiled."""
    return _STARTS_WITH_PREFIX.match(text) is not None


def _listing(depfile: Path) -> list[str]:
    """clang's flags to list the files it reads, in `depfile`."""
    return ["-MD", "-MF", str(depfile), "-MT", "object"]


class CompileCache:
    """The objects of one cache folder (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _usable(self) -> bool:
        """Whether the folder and its parts exist (made if not) and only this user can
        write them (each one is checked before anything is made in it)."""
        for folder in (self.root, *(self.root / sub for sub in ("manifests", "objects", "tmp"))):
            try:
                folder.mkdir(mode=0o700, parents=folder == self.root, exist_ok=True)
                status = folder.stat()
            except OSError as exc:
                log.warning("compile cache %s: %s; compiling without it", folder, exc.strerror)
                return False
            if status.st_uid != os.geteuid() or status.st_mode & 0o022:
                log.warning(
                    "compile cache %s: writable by another user, so not used (code from it "
                    "would be loaded as root); compiling without it",
                    folder,
                )
                return False
        return True

    def _entry(self, key: str, headers: list[str], suffix: str) -> Path:
        """Where what `key` built against the headers' current contents is kept."""
        contents = [[header, _file_digest(Path(header))] for header in headers]
        return self.root / "objects" / f"{key}-{_digest(contents)}{suffix}"

    def _lookup(self, key: str, suffix: str) -> Path | None:
        manifest = self.root / "manifests" / f"{key}.json"
        try:
            headers = json.loads(manifest.read_text())
            found = self._entry(key, [str(h) for h in headers], suffix)
            os.utime(found)  # recently used: evicted last
        except (OSError, ValueError, TypeError):
            return None  # never built, a header gone, an entry half-removed: a miss
        return found

    def _put(self, path: Path, data: bytes) -> None:
        fd, partial = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise

    def _store(
        self, key: str, built: Path, suffix: str, depfile: Path, started: int, exclude: str = ""
    ) -> None:
        """Keeps `built` with the headers `depfile` lists (but `exclude`, the source, whose
        content is in `key`), unless one of them changed while clang read it (then its
        content is not known to be what was compiled)."""
        # Absolute, but not resolved: a symbolic link pointed elsewhere must miss.
        read = [os.path.abspath(h) for h in parse_depfile(depfile.read_text())]
        if any(Path(h).stat().st_mtime_ns >= started for h in read):
            return
        # Sorted: clang lists them in another order when the prefix is precompiled.
        headers = sorted({h for h in read if h != exclude})
        self._put(self._entry(key, headers, suffix), built.read_bytes())
        self._put(self.root / "manifests" / f"{key}.json", json.dumps(headers).encode())
        self._evict(suffix, MAX_PREFIXES if suffix == _PREFIX_SUFFIX else MAX_OBJECTS)

    def _evict(self, suffix: str, keep: int) -> None:
        """Removes the least recently used entries ending in `suffix` beyond `keep`, the
        manifests no entry is left for, and files abandoned in tmp/."""
        entries = []
        for path in (self.root / "objects").glob(f"*{suffix}"):
            with contextlib.suppress(OSError):  # another espia may be evicting too
                entries.append((path.stat().st_mtime_ns, path))
        entries.sort()
        for _, old in entries[: max(0, len(entries) - keep)]:
            with contextlib.suppress(OSError):
                old.unlink()
        # What a killed espia was making (a SIGTERM while it compiled runs no cleanup).
        for made in (self.root / "tmp").iterdir():
            with contextlib.suppress(OSError):
                if made.lstat().st_mtime >= time.time() - _ABANDONED_S:
                    continue
                if made.is_dir():
                    shutil.rmtree(made)
                else:
                    made.unlink()
        kept = {path.name.partition("-")[0] for path in (self.root / "objects").iterdir()}
        for manifest in (self.root / "manifests").glob("*.json"):
            if manifest.stem not in kept:
                with contextlib.suppress(OSError):
                    manifest.unlink()

    def _key(self, flags: list[str], compiler: str, **inputs: str) -> str:
        return _digest(
            {
                "format": FORMAT,
                "compiler": _compiler(compiler),
                "flags": flags,
                "environment": {name: os.environ.get(name) for name in _INCLUDE_ENV},
                **inputs,
            }
        )

    def build(self, source: Path, output: Path, vmlinux_dir: Path) -> Path:
        """Writes the object of `source` to `output`: from the cache, else compiled (and
        kept); a BuildError carries the compiler's message."""
        header = vmlinux_header(vmlinux_dir)
        source = Path(os.path.abspath(source))
        command = clang_command(source, output, header.parent)
        if not self._usable():
            run_clang(command, source)
            return output
        started = time.time_ns() - _CLOCK_SLACK_NS
        text = source.read_bytes()
        flags = clang_flags(header.parent)
        key = self._key(
            flags,
            command[0],
            folder=str(source.parent),
            source=hashlib.sha256(text).hexdigest(),
        )
        found = self._lookup(key, ".bpf.o")
        if found is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(found, output)
                return output
        depfile = output.with_name(output.name + ".d")
        command += _listing(depfile)
        try:
            if leads_with_prefix(text):
                self._compile_with_prefix(command, source, flags, started)
            else:
                run_clang(command, source)
            try:
                self._store(key, output, ".bpf.o", depfile, started, exclude=str(source))
            except OSError as exc:
                log.warning("compile cache %s: %s; the object is not kept", self.root, exc)
        finally:
            depfile.unlink(missing_ok=True)
        return output

    def _compile_with_prefix(
        self, command: list[str], source: Path, flags: list[str], started: int
    ) -> None:
        """Runs `command` with the precompiled PREFIX; without one yet, runs it as it is,
        and precompiles the prefix beside it for the next builds if this is not the
        cache's first (a gadget built once never pays for it: on two busy cores the
        two side by side take longer than the compile alone)."""
        key = self._key(flags, command[0], prefix=str(PREFIX))
        found = self._lookup(key, _PREFIX_SUFFIX)
        if found is not None:
            try:
                run_clang([*command, "-include-pch", str(found)], source)
                return
            except BuildError as exc:
                if str(found) not in str(exc):
                    raise  # the source's own error
                # clang refuses a prefix whose headers' times changed (not their contents,
                # or the key would differ): it goes, and is made again.
                with contextlib.suppress(OSError):
                    found.unlink()
        if not any((self.root / "objects").glob("*.bpf.o")):
            run_clang(command, source)
            return
        partial = Path(tempfile.mkdtemp(dir=self.root / "tmp"))
        pch, depfile = partial / f"prefix{_PREFIX_SUFFIX}", partial / "prefix.d"
        precompile = subprocess.Popen(
            [command[0], *flags, "-x", "c-header", str(PREFIX), "-o", str(pch), *_listing(depfile)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            run_clang(command, source)
            if precompile.wait() == 0:
                self._store(key, pch, _PREFIX_SUFFIX, depfile, started)
        except OSError as exc:
            log.warning("compile cache %s: %s; the prefix is not kept", self.root, exc)
        finally:
            if precompile.poll() is None:  # the build failed, or Ctrl-C
                precompile.kill()
                precompile.wait()
            shutil.rmtree(partial, ignore_errors=True)
