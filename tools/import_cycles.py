"""Count import cycles between modules of src/metricloop (issue 17).

Why: the layering contracts in pyproject.toml forbid new upward imports, but a cycle inside one
layer (two modules of the same stage importing each other) is invisible to them. This script
builds the same import graph lint-imports uses (grimp; every import, including those under
TYPE_CHECKING and inside functions) and prints its strongly connected components.

    python tools/import_cycles.py            # module-level cycles
    python tools/import_cycles.py --packages # cycles between top-level packages (metricloop.X)
"""

from __future__ import annotations

import argparse
import sys

import grimp


def _sccs(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph has ~500 modules; recursion would be fine too)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", action="store_true", help="collapse modules to metricloop.<package>")
    args = parser.parse_args(argv)
    graph = grimp.build_graph("metricloop", cache_dir=None)
    nodes: set[str] = set()
    edges: dict[str, set[str]] = {}
    for mod in graph.modules:
        src = ".".join(mod.split(".")[:2]) if args.packages else mod
        nodes.add(src)
        for imported in graph.find_modules_directly_imported_by(mod):
            dst = ".".join(imported.split(".")[:2]) if args.packages else imported
            if dst != src:
                edges.setdefault(src, set()).add(dst)
    cycles = _sccs(nodes, edges)
    for comp in sorted(cycles, key=len, reverse=True):
        print(f"{len(comp):3d} modules: " + ", ".join(c.removeprefix("metricloop.") for c in comp))
    print(f"{len(cycles)} cycle(s) over {len(nodes)} {'packages' if args.packages else 'modules'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
