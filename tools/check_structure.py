"""Check the house rules of ``ioc/`` that ruff does not: ``python -m tools.check_structure``.

* no import cycle between the IOC's modules (module-level imports, as Python runs them;
  ``if TYPE_CHECKING:`` blocks left out);
* no ``parent.parent`` look-up;
* no access to another object's private member (``x._name`` where ``x`` is not ``self`` or
  ``cls``), except where listed below with the reason;
* caproto's private modules imported only in ``ioc/server/caproto_internals.py``; no write
  into another object's ``_data`` (caproto's channel state) and no ``__class__`` assignment;
* no module over 500 lines.

Prints each finding and exits 1 if there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ioc"
MAX_LINES = 500
INTERNALS = PACKAGE / "server" / "caproto_internals.py"
# (module, expression, member): a private member read on an object that is not self, and why it is fine.
ALLOWED_PRIVATE = {
    # Another circuit of the same class (Circuit._reply_after_monitors waits for its FIFO).
    ("ioc/server/circuit.py", "circuit", "_ticket"),
    # caproto's VirtualCircuit._on_disconnect, called past asyncio's override (listed in caproto_internals).
    ("ioc/server/circuit.py", "_CommonCircuit", "_on_disconnect"),
    # The record type a field group declares, caproto's convention (listed in caproto_internals).
    ("ioc/records/channels.py", "self._record_class", "_record_type"),
}
# Public names with an underscore: namedtuple's and ctypes' own.
PUBLIC_UNDERSCORED = {"_replace", "_asdict", "_fields", "_make", "_fields_"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, tree: ast.Module) -> set[str]:
    """The ``ioc`` modules ``path`` imports when it is imported (its module-level imports)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body) -> None:
        for node in body:
            if isinstance(node, ast.If) and _type_checking(node):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "ioc")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "ioc":
                    continue
                found.add(target)
                for alias in node.names:  # "from . import x" imports the module x
                    found.add(f"{target}.{alias.name}")

    visit(tree.body)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in graph:
                continue
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def check_file(path: Path, tree: ast.Module, text: str) -> list[str]:
    rel = str(path.relative_to(ROOT))
    problems = []
    lines = text.count("\n")
    if lines > MAX_LINES:
        problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            value = node.value
            if node.attr == "parent" and isinstance(value, ast.Attribute) and value.attr == "parent":
                problems.append(f"{rel}:{node.lineno}: parent.parent")
            if node.attr.startswith("_") and not node.attr.startswith("__") and node.attr not in PUBLIC_UNDERSCORED:
                owner = ast.unparse(value)
                if owner not in ("self", "cls", "super()") and (rel, owner, node.attr) not in ALLOWED_PRIVATE \
                        and path != INTERNALS:
                    problems.append(f"{rel}:{node.lineno}: private member {owner}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("caproto") and path != INTERNALS:
            if any(part.startswith("_") for part in (node.module or "").split(".")):
                problems.append(f"{rel}:{node.lineno}: private caproto module {node.module}")
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                text_target = ast.unparse(target)
                private_data = "._data[" in text_target and not text_target.startswith("self._data[")
                if text_target.endswith("__class__") or private_data:
                    problems.append(f"{rel}:{node.lineno}: assignment to {text_target}")
    return problems


def main() -> int:
    graph: dict[str, set[str]] = {}
    problems: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        tree = ast.parse(text, str(path))
        graph[module_name(path)] = imports(path, tree)
        problems += check_file(path, tree, text)
    for name, deps in graph.items():
        deps.discard(name)
        deps.intersection_update(graph)
    problems += [f"import cycle: {' -> '.join(component)}" for component in cycles(graph)]
    for problem in problems:
        print(problem)
    print(f"{len(graph)} modules, {sum(len(d) for d in graph.values())} imports between them: "
          + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
