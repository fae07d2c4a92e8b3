"""Keeps a user's WGSL from taking the process down: limits checked in Python, then a trial compile
in a child process with a time limit, before the shader is compiled in this process.

wgpu's shader compiler (naga, then the driver) recurses over the expression tree and has no
limits of its own beyond brace nesting: a 6 KB shader nesting 3000 parentheses, 2500 calls or
template types, a flat chain of 20,000 terms or 20,000 ``else if`` branches overflows the native
stack and the process dies with SIGSEGV, a signal no ``except`` can catch; a 2 MB shader compiles
for minutes inside one native call that Ctrl-C cannot interrupt. So a user's shader goes through:

1. :func:`check_limits`, pure Python, no GPU: size, bracket nesting, operators chained in one
   expression and ``else if`` chains, each with a limit far above real shaders (gpurender's own
   shaders nest at most 8 deep and chain at most 9 operators) and several times below the depth
   where the compiler crashes on a 1-2 MB thread stack (measured with wgpu 0.32; see the
   constants), and a one-line SceneError naming the file, the line and the limit.
2. :func:`trial_compile`: ``python -m gpurender.render.shadercheck`` compiles the shader module and
   its render pipeline on its own device, on a thread with a deliberately small stack
   (:data:`CHILD_STACK_BYTES`), and reports ok or the compiler's message. The parent waits in
   short slices, kills the child at the deadline (``GPURENDER_SHADER_TIMEOUT`` seconds, default
   30) or on Ctrl-C, and turns a child killed by a signal into one line. The verdict is cached per
   shader text for the life of the process, so chunks and re-renders pay it once.

Only a shader the child compiled is then compiled in this process. Near its limit the crash is
not deterministic (a 5000-term chain crashed 1 run in 3 on a 2 MB stack), which is why the child
uses a stack a quarter of this process's 8 MB and the limits sit far below. That compile here is
not interruptible, but the child has just shown it ends within the time limit. The child costs one
Python start and one device per distinct shader: 0.6 s on an idle 2-core machine with the
software adapter, 1.2-1.6 s with both cores busy; a cached verdict costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from ..errors import RenderError, SceneError

#: Largest user shader accepted, in bytes. Real shaders are a few KB (the biggest Shadertoy
#: demos about 100 KB); on the software adapter a 70 KB shader already takes seconds to compile.
MAX_SOURCE_BYTES = 256 * 1024
#: Deepest nesting of ( ), [ ], { } and template < > (array<...>, vec4<...>). naga itself stops
#: braces at 127; it crashed at ~280 nested calls, ~350 parentheses or ~350 nested array<> types
#: on a 1 MB thread stack, at 2000-3000 on the 8 MB main thread.
MAX_NESTING = 128
#: Most operators chained along one expression (summed over the enclosing brackets). A flat chain
#: of ~1700 terms crashed on a 1 MB stack, of 5000-6000 on 2 MB, 10,000-20,000 on 8 MB; a real
#: expression has tens.
MAX_CHAIN = 1000
#: Longest ``else if`` chain (each branch nests inside the previous one in the compiler's tree);
#: ~750 crashed on a 1 MB stack.
MAX_ELSE_IF = 500
#: The child compiles on a thread with this stack, smaller than the 8 MB this process's threads
#: get on Linux, so that a shader the child compiled does not overflow the stack here either.
CHILD_STACK_BYTES = 2 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
#: Seconds between checks of the child while waiting.
SLICE_S = 0.05

_TEMPLATED = frozenset({"array", "vec2", "vec3", "vec4", "ptr", "atomic", "bitcast", "binding_array"}
                       | {f"mat{c}x{r}" for c in (2, 3, 4) for r in (2, 3, 4)})
_TOKEN = re.compile(r"""
    (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>0[xX][0-9a-fA-F.]+(?:[pP][+-]?\d+)?[a-z]?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-z]?)
  | (?P<op>&&|\|\||<<=|>>=|<<|>>|<=|>=|==|!=|->|\+\+|--|[-+*/%&|^]=|[-+*/%&|^!~<>=])
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<sep>[;,])
  | (?P<ws>\s+)
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)
# Assignments and the return arrow start or end a chain; they are not links in it.
_NOT_CHAINED = frozenset({"=", "->", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="})
_CLOSER = {"(": ")", "[": "]", "{": "}", "<": ">"}


def strip_comments(text: str) -> str:
    """``text`` with its comments blanked (newlines kept); WGSL block comments nest."""
    out, pos, n = [], 0, len(text)
    opener = re.compile(r"//|/\*")
    inner = re.compile(r"/\*|\*/")
    while pos < n:
        m = opener.search(text, pos)
        if m is None:
            out.append(text[pos:])
            break
        out.append(text[pos:m.start()])
        if m.group() == "//":
            end = text.find("\n", m.end())
            pos = n if end < 0 else end
            out.append(" ")
            continue
        depth, scan = 1, m.end()
        while depth:
            k = inner.search(text, scan)
            if k is None:  # unterminated: the compiler reports it
                scan = n
                break
            depth += 1 if k.group() == "/*" else -1
            scan = k.end()
        out.append(" " + "\n" * text.count("\n", m.start(), scan))
        pos = scan
    return "".join(out)


def check_limits(code: str, name: str) -> None:
    """Raise SceneError when ``code`` is larger or nests deeper than the compiler safely takes.

    Syntax errors are left to the compiler, which reports them with the line; this only measures.
    """
    size = len(code.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        raise SceneError(f"{name}: the shader is {size / 1024:.0f} KB; gpurender accepts shaders up to "
                         f"{MAX_SOURCE_BYTES // 1024} KB (larger ones take minutes to compile); shorten it")
    line = 1
    # One frame per open bracket: [closer, operators chained at this level, else-ifs at this level]
    stack: list[list] = [[None, 0, 0]]
    chain = else_ifs = 0  # sums over the stack
    prev = ""

    def too_deep(what: str) -> SceneError:
        return SceneError(f"{name}:{line}: the shader {what}, over gpurender's limit (deeper code can crash "
                          f"the WGSL compiler); split it into `let` steps or helper functions")

    def push(closer: str) -> None:
        stack.append([closer, 0, 0])
        if len(stack) - 1 > MAX_NESTING:
            raise too_deep(f"nests brackets more than {MAX_NESTING} deep")

    def pop() -> None:
        nonlocal chain, else_ifs
        if len(stack) > 1:
            frame = stack.pop()
            chain -= frame[1]
            else_ifs -= frame[2]

    def end_chain() -> None:
        nonlocal chain
        chain -= stack[-1][1]
        stack[-1][1] = 0

    for m in _TOKEN.finditer(strip_comments(code)):
        kind, tok = m.lastgroup, m.group()
        if kind == "ws":
            line += tok.count("\n")
            continue
        if kind == "open":
            if tok == "{":  # braces only delimit blocks in WGSL: a statement boundary
                end_chain()
            push(_CLOSER[tok])
        elif kind == "close":
            while stack[-1][0] == ">" and tok != ">":
                pop()
            pop()
            if tok == "}":
                end_chain()
        elif kind == "sep":
            end_chain()
            if tok == ";":
                else_ifs -= stack[-1][2]
                stack[-1][2] = 0
        elif kind == "op":
            if tok == "<" and (prev in _TEMPLATED or prev.startswith("texture_")):
                push(">")
            elif tok in (">", ">>") and stack[-1][0] == ">":
                for _ in tok:
                    if stack[-1][0] == ">":
                        pop()
            elif tok not in _NOT_CHAINED:
                stack[-1][1] += 1
                chain += 1
                if chain > MAX_CHAIN:
                    raise too_deep(f"chains more than {MAX_CHAIN} operators in one expression")
        elif tok == "if":
            if prev == "else":
                stack[-1][2] += 1
                else_ifs += 1
                if else_ifs > MAX_ELSE_IF:
                    raise too_deep(f"chains more than {MAX_ELSE_IF} `else if` branches")
            else:
                else_ifs -= stack[-1][2]
                stack[-1][2] = 0
        prev = tok


def timeout_s() -> float:
    """The time limit for the trial compile, from ``GPURENDER_SHADER_TIMEOUT`` (seconds)."""
    from .waits import env_seconds

    return env_seconds("GPURENDER_SHADER_TIMEOUT", DEFAULT_TIMEOUT_S)


class CompileFailure(Exception):
    """The compiler refused a shader: at ``stage`` "module" (WGSL) or "pipeline", with its message."""

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage
        self.message = message


# sha256 of (target format, composed source) -> None (compiles), ("module" or "pipeline", the
# compiler's message) or ("crash", the signal's name).
_verdicts: dict[str, tuple[str, str] | None] = {}
_verdicts_lock = threading.Lock()


def _child_command() -> list[str]:
    return [sys.executable, "-m", "gpurender.render.shadercheck"]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def trial_compile(code: str, target_format: str, name: str) -> CompileFailure | None:
    """Compile ``code`` (a complete WGSL source) in a child process first.

    Returns None when it compiles, or the compiler's refusal. Raises SceneError when the child
    crashes or runs past the time limit, RenderError when the child cannot run at all, and lets
    Ctrl-C through after killing the child.
    """
    key = hashlib.sha256(f"{target_format}\0{code}".encode("utf-8")).hexdigest()
    with _verdicts_lock:
        known = key in _verdicts
        verdict = _verdicts.get(key)
    if not known:
        verdict = _run_child(code, target_format, name)
        with _verdicts_lock:
            _verdicts[key] = verdict
    if verdict is None:
        return None
    stage, message = verdict
    if stage == "crash":
        raise SceneError(f"{name}: the WGSL compiler crashed on this shader ({message}), most likely from "
                         f"very deep nesting or very long expressions; split them into `let` steps or "
                         f"helper functions")
    return CompileFailure(stage, message)


def _run_child(code: str, target_format: str, name: str) -> tuple[str, str] | None:
    limit = timeout_s()
    request = json.dumps({"code": code, "format": target_format, "label": name, "timeout": limit})
    started = time.monotonic()
    try:
        child = subprocess.Popen(_child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RenderError(f"{name}: cannot start the process that checks the shader ({exc}); "
                          f"check that {sys.executable} runs") from None
    out = err = ""
    with child:  # closes the pipes and reaps the child on every way out
        try:
            pending = request
            while True:
                try:
                    out, err = child.communicate(pending, timeout=SLICE_S)
                    break
                except subprocess.TimeoutExpired:
                    pending = None  # communicate keeps what it has sent and read across retries
                    if time.monotonic() - started >= limit:
                        raise SceneError(
                            f"{name}: the shader did not compile within {limit:g} s (the limit); simplify "
                            f"it, or raise GPURENDER_SHADER_TIMEOUT if it is meant to be this large") from None
        finally:
            if child.poll() is None:  # a deadline, Ctrl-C or any other way out of the wait
                child.kill()
                child.wait()  # Popen's exit does not wait after a KeyboardInterrupt
    reply = None
    for text in reversed(out.splitlines()):
        try:
            reply = json.loads(text)
            break
        except ValueError:
            continue
    if child.returncode < 0 and not isinstance(reply, dict):
        return ("crash", _signal_name(-child.returncode))
    if not isinstance(reply, dict) or "ok" not in reply:
        last = next((ln.strip() for ln in reversed(err.splitlines()) if ln.strip()), "no output")
        if isinstance(reply, dict) and reply.get("fatal"):
            last = reply["fatal"]
        raise RenderError(f"{name}: the process that checks the shader failed (exit {child.returncode}): "
                          f"{last}")
    if reply["ok"]:
        return None
    return (str(reply.get("stage", "module")), str(reply.get("message", "")))


def _watch_parent(deadline: float) -> None:
    """End the child when its parent is gone or the time limit (plus a margin) has passed."""
    parent = os.getppid()
    while True:
        time.sleep(0.25)
        if os.getppid() != parent or time.monotonic() > deadline:
            os._exit(3)


def main() -> int:
    """The child: read a request on stdin, compile it, write one JSON line on stdout."""
    request = json.loads(sys.stdin.read())
    # The verdict goes to the real stdout; anything the driver prints goes to stderr.
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    threading.Thread(target=_watch_parent, args=(time.monotonic() + float(request["timeout"]) + 5,),
                     daemon=True).start()

    def reply(**fields) -> int:
        result.write(json.dumps(fields) + "\n")
        result.flush()
        return 0

    try:
        from .device import get_device
        from .layers.shader import build_pipeline

        device = get_device()
    except Exception as exc:  # reported by the parent as a RenderError
        return reply(fatal=str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__)

    box: dict = {}

    def compile_it():
        try:
            build_pipeline(device, request["code"], request["label"], request["format"])
            box["ok"] = True
        except CompileFailure as exc:
            box.update(ok=False, stage=exc.stage, message=exc.message)

    threading.stack_size(CHILD_STACK_BYTES)
    worker = threading.Thread(target=compile_it)
    worker.start()
    worker.join()
    if "ok" not in box:
        return reply(fatal="the trial compile ended without a result")
    return reply(**box)


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy's: CompileFailure must be one class.
    from gpurender.render.shadercheck import main as _main

    sys.exit(_main())
