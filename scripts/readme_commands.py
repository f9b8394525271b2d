#!/usr/bin/env python3
"""Runs every command written in the README files, as written, and fails if one does.

The commands are the lines of the ```sh blocks of README.md and examples/README.md (```text blocks are output
or sketches, not commands). Each line runs with bash from the repository root and must exit 0. A line that
starts the server (`--example serve`) runs in the background until it prints `listening on`; the lines after
it in the same file talk to it, and at the end of the file it gets SIGTERM and must exit 0. A block preceded by
`<!-- readme-commands: skip: REASON -->` is listed with its reason and not run (the GPU machine's steps, a
6 GB download). `scripts/test.sh` is the command that runs this one, so it is not run again.

Usage: scripts/readme_commands.py [--list] [FILE.md ...]
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ["README.md", "examples/README.md"]
TIMEOUT_S = 20 * 60  # a first build on 2 cores
SERVER_START_S = 5 * 60
SKIP = re.compile(r"<!--\s*readme-commands:\s*skip:\s*(.*?)\s*-->")


def blocks(path: Path):
    """(first line number, lines, skip reason or None) of each ```sh block of `path`."""
    lines = path.read_text().splitlines()
    out, i, reason = [], 0, None
    while i < len(lines):
        m = SKIP.search(lines[i])
        if m:
            reason = m.group(1)
        if lines[i].strip() == "```sh":
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            out.append((start + 1, body, reason))
            reason = None
        elif lines[i].strip().startswith("```"):  # another kind of block: skip to its end
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                i += 1
        i += 1
    return out


def commands(path: Path):
    """(line number, command, skip reason or None) for every command line of `path`, continuations joined."""
    out = []
    for first, body, reason in blocks(path):
        cmd, at = "", first
        for n, line in enumerate(body, first):
            if not cmd:
                at = n
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cmd += line.rstrip()
            if cmd.endswith("\\"):
                cmd = cmd[:-1] + " "
                continue
            out.append((at, cmd.strip(), reason))
            cmd = ""
    return out


class Server:
    def __init__(self, cmd: str):
        self.cmd = cmd
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {cmd}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.output: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if "listening on" in line:
                self.ready.set()

    def wait_ready(self) -> bool:
        deadline = time.time() + SERVER_START_S
        while time.time() < deadline and self.proc.poll() is None:
            if self.ready.wait(1):
                return True
        return self.ready.is_set()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--list"]
    listing = "--list" in sys.argv[1:]
    files = args or FILES
    failed, ran, skipped = [], 0, 0
    for f in files:
        path = ROOT / f
        server = None
        for line, cmd, reason in commands(path):
            where = f"{f}:{line}"
            if reason or cmd.split()[0] == "scripts/test.sh":
                why = reason or "it is the command that runs these checks"
                print(f"readme-commands: skip  {where}: {cmd}  ({why})", flush=True)
                skipped += 1
                continue
            if listing:
                print(f"{where}: {cmd}")
                continue
            ran += 1
            if "--example serve" in cmd:
                print(f"readme-commands: start {where}: {cmd}", flush=True)
                server = Server(cmd)
                if not server.wait_ready():
                    server.stop()
                    failed.append(f"{where}: {cmd}: the server did not print `listening on`:\n{''.join(server.output)}")
                    server = None
                continue
            print(f"readme-commands: run   {where}: {cmd}", flush=True)
            t0 = time.time()
            try:
                r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
                code, text = r.returncode, r.stdout + r.stderr
            except subprocess.TimeoutExpired as e:
                code, text = "timeout", f"{e.stdout or ''}{e.stderr or ''}"
            dt = time.time() - t0
            if code != 0:
                failed.append(f"{where}: {cmd}: exit {code} after {dt:.0f} s:\n{text[-4000:]}")
                print(f"readme-commands: FAIL  {where} (exit {code})", flush=True)
            else:
                print(f"readme-commands: ok    {where} ({dt:.0f} s)", flush=True)
        if server is not None:
            code = server.stop()
            if code != 0:
                failed.append(f"{f}: the server ({server.cmd}) exited {code} on SIGTERM:\n{''.join(server.output)}")
    if listing:
        return 0
    print(f"readme-commands: {ran} run, {skipped} skipped, {len(failed)} failed", flush=True)
    for msg in failed:
        print(f"readme-commands: FAILED {msg}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("CARGO_TERM_COLOR", "never")
    sys.exit(main())
