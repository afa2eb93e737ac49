"""Driving ``wrk``: Lua scripts for the requests, ``--latency`` output parsing."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx responses
    non2xx: int
    duration_s: float


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return path


def _lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(
    path: Path,
    requests: list[tuple[str, str, dict[str, str], str | None]],
    delay_ms: float = 0.0,
) -> Path:
    """A Lua script whose every request is one of ``requests`` (method, path, headers, body),
    picked at random per request; ``delay_ms`` paces each connection (soak mode)."""
    # The requests are formatted in init(), after wrk has set its Host header.
    lines = ["local specs = {}"]
    for method, url, headers, body in requests:
        hdrs = "{" + ", ".join(f"[{_lua_str(k)}] = {_lua_str(v)}" for k, v in headers.items()) + "}"
        b = _lua_str(body) if body is not None else "nil"
        lines.append(f"specs[#specs + 1] = {{{_lua_str(method)}, {_lua_str(url)}, {hdrs}, {b}}}")
    lines += [
        "local reqs = {}",
        "local n = #specs",
        "local counter = 0",
        "setup = function(thread) counter = counter + 1; thread:set('seed', counter) end",
        "init = function(args)",
        "  math.randomseed(os.time() * 1000 + (seed or 0))",
        "  for i, s in ipairs(specs) do reqs[i] = wrk.format(s[1], s[2], s[3], s[4]) end",
        "end",
        "request = function() return reqs[math.random(n)] end",
    ]
    if delay_ms > 0:
        lines.append(f"delay = function() return {delay_ms:.3f} end")
    path.write_text("\n".join(lines) + "\n")
    return path


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not m:
        raise ValueError(f"unparsable wrk duration {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(output: str) -> WrkResult:
    def grab(pattern: str, default: str | None = None) -> str:
        m = re.search(pattern, output)
        if m is None:
            if default is None:
                raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
            return default
        return m.group(1)

    rps = float(grab(r"Requests/sec:\s+([\d.]+)"))
    p50 = _ms(grab(r"\s50%\s+([\d.]+\w+)"))
    p99 = _ms(grab(r"\s99%\s+([\d.]+\w+)"))
    m = re.search(r"(\d+) requests in ([\d.]+\w+),", output)
    if m is None:
        raise ValueError(f"wrk output lacks the request count:\n{output}")
    requests = int(m.group(1))
    duration = _ms(m.group(2)) / 1000.0
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(x) for x in sock.groups()) if sock else 0
    non2xx = int(grab(r"Non-2xx or 3xx responses: (\d+)", "0"))
    return WrkResult(rps, p50, p99, requests, socket_errors + non2xx, non2xx, duration)


def run(url: str, script: Path, connections: int, duration_s: float, threads: int = 2) -> WrkResult:
    threads = max(1, min(threads, connections))
    cmd = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration_s + 60)
    return parse(out.stdout)


def run_parallel(
    jobs: list[tuple[str, Path, int]], duration_s: float, threads: int = 1
) -> list[WrkResult]:
    """Several wrk processes at once (one per node in soak mode): (url, script, connections)."""
    procs = []
    for url, script, connections in jobs:
        cmd = [
            wrk_binary(),
            f"-t{max(1, min(threads, connections))}",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=duration_s + 60)[0] for p in procs]
    return [parse(o) for o in outs]
