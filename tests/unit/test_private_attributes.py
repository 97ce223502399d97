"""Runtime code uses its dependencies' public API only: no ``other._private`` in daemon/ or drivers/.

An attribute whose name starts with one underscore belongs to the object's own
class. Reading one of another object (aiomqtt's ``client._client``, aiohttp's
``site._server``, another class's ``feed._connection()``) ties us to a private
detail that a dependency's next release may change without notice (it is why
``aiomqtt`` was once pinned below 3). ``self._x`` and ``cls._x`` are the
object's own; a private helper of one of our own classes, named through that
class (``SerialOptions._standard_baud`` from a subclass's validator), is ours too.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _own_names(tree: ast.Module) -> set[str]:
    """Names the module defines or imports from radsurvey itself (our classes, whose privates are ours)."""
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("radsurvey")):
            names.update(a.asname or a.name for a in node.names)
    return names


def private_accesses(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: expression`` for each access to a private attribute of something other than self/cls/ours."""
    tree = ast.parse(source, filename=filename)
    own = _own_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        base = node.value
        if isinstance(base, ast.Name) and (base.id in ("self", "cls") or base.id in own):
            continue
        found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_code_in_daemon_or_drivers_reads_another_objects_private_attribute() -> None:
    found = []
    for folder in ("daemon", "drivers"):
        for path in sorted((REPO / folder).rglob("*.py")):
            found.extend(private_accesses(path.read_text(), str(path.relative_to(REPO))))
    assert found == []


def test_the_check_finds_what_it_is_for() -> None:
    source = (
        "from radsurvey.config.serial import SerialOptions\n"
        "import aiomqtt\n"
        "class Sink:\n"
        "    def go(self, client: aiomqtt.Client, site):\n"
        "        self._own = client._client\n"  # a dependency's private attribute
        "        port = site._server.sockets\n"
        "        conn = self._feed._connection()\n"  # another object's private method
        "        SerialOptions._standard_baud(9600)\n"  # our own class's helper: allowed
        "        return self.__class__, cls_free._x\n"
    )
    assert [hit.split(": ", 1)[1] for hit in private_accesses(source)] == [
        "client._client",
        "site._server",
        "self._feed._connection",
        "cls_free._x",
    ]
