#!/usr/bin/env python3
"""check-structure.py — the architecture's rules, checked over the source (run by `make test`).

1. Includes point down. Every C file lives in a room (server/<room>/, api/, db/); a room may
   include its own headers and those of rooms ranked below it, never a room of its rank or
   above (docs/ARCHITECTURE.md, "Rooms"). server/main.c, the composition root, ranks top.
2. No include cycle between headers.
3. No function longer than MAX_LINES lines (signature to closing brace) outside tests and
   generated code.

Exit status 1 and one line per violation on failure. `--list` prints every function's length.
"""
import glob
import os
import re
import sys

MAX_LINES = 80

# Rank of each room: an include must go to the same room or to a lower rank.
RANKS = {
    "base": 0,
    "db": 1, "planner": 1, "http": 1, "kafka": 1,
    "sinks": 2, "coord": 2,
    "runtime": 3,
    "app": 4, "cli": 4,
    "api": 5,
    "main": 6,
}

# Functions still longer than MAX_LINES, each to be split; the list only shrinks.
LONG_ALLOWED = set(
    line.split("#")[0].strip()
    for line in """
""".splitlines()
    if line.split("#")[0].strip()
)


# Upward includes still to be removed (issue 13: the app layer); the list only shrinks.
INCLUDE_ALLOWED = set()


def room_of(path):
    parts = path.split("/")
    if parts[0] in ("api", "db"):
        return parts[0]
    if parts[0] == "server":
        return "main" if len(parts) == 2 else parts[1]
    return None


def sources():
    files = sorted(glob.glob("server/**/*.[ch]", recursive=True) + glob.glob("api/*.[ch]") + glob.glob("db/*.[ch]"))
    return [f for f in files if room_of(f) is not None]


def resolve(inc, src):
    """The repository path an include names: room-qualified, or next to its includer."""
    for cand in (os.path.join("server", inc), inc, os.path.join(os.path.dirname(src), inc)):
        if os.path.isfile(cand):
            return os.path.normpath(cand)
    return None


def check_includes(files):
    errors, graph = [], {}
    for f in files:
        src_room = room_of(f)
        graph[f] = []
        for n, line in enumerate(open(f, encoding="utf-8"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            target = resolve(m.group(1), f)
            if target is None:
                continue  # generated (build/gen) or system header
            graph[f].append(target)
            dst_room = room_of(target)
            if dst_room is None or dst_room == src_room or (f, target) in INCLUDE_ALLOWED:
                continue
            if src_room not in RANKS or dst_room not in RANKS:
                errors.append(f"{f}:{n}: room '{src_room}' or '{dst_room}' has no rank in scripts/check-structure.py")
            elif RANKS[dst_room] >= RANKS[src_room]:
                errors.append(f"{f}:{n}: {src_room}/ (rank {RANKS[src_room]}) includes {target} "
                              f"({dst_room}/, rank {RANKS[dst_room]}): includes must point down")
    # header cycles
    state = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, []):
            if not nxt.endswith(".h"):
                continue
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                errors.append("include cycle: " + " -> ".join(cyc))
            elif state.get(nxt) is None:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for f in files:
        if f.endswith(".h") and state.get(f) is None:
            visit(f, [f])
    return errors


def functions(path):
    """(name, lines) of each function definition in a clang-formatted C file."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i, out = 0, []
    while i < len(lines):
        line = lines[i]
        starts = line == "{" or (re.match(r"^[A-Za-z_].*\)\s*\{$", line)
                                 and not re.match(r"^(struct|union|enum|typedef)\b", line))
        if starts:
            j = i
            while j > 0 and "(" not in lines[j]:
                j -= 1
            m = re.search(r"(\w+)\s*\(", lines[j])
            k = i + 1
            while k < len(lines) and not lines[k].startswith("}"):
                k += 1
            if k < len(lines) and lines[k] == "}" and m:
                out.append((m.group(1), k - j + 1))
            i = k
        i += 1
    return out


def check_functions(files, listing):
    errors = []
    for f in files:
        if not f.endswith(".c"):
            continue
        for name, n in functions(f):
            if listing:
                print(f"{n}\t{f}\t{name}")
            key = f"{f}:{name}"
            if n > MAX_LINES and key not in LONG_ALLOWED:
                errors.append(f"{f}: {name} is {n} lines (at most {MAX_LINES}): split it into named steps")
            if n <= MAX_LINES and key in LONG_ALLOWED:
                errors.append(f"{f}: {name} is {n} lines now: drop it from LONG_ALLOWED")
    return errors


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    files = sources()
    errors = check_includes(files) + check_functions(files, "--list" in sys.argv)
    for e in errors:
        print("check-structure: " + e)
    if errors:
        return 1
    print(f"check-structure: {len(files)} files; includes point down, no header cycle, "
          f"no function over {MAX_LINES} lines ({len(LONG_ALLOWED)} still allowed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
