"""The house rules, checked: which layer may import which, module and template sizes, and the one development
path's rules holding at every door (here: the import, which used to skip them)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from bot.app import create_app
from bot.web import SlackWSGI
from store.errors import Invalid
from tests.slack_requests import answer

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("bot", "handlers", "store", "templates")
# Which of our own packages each layer may import.
ALLOWED = {
    "handlers": {"handlers", "store", "templates"},
    "store": {"store"},
    "templates": {"templates"},
    "bot": {"bot", "handlers", "store", "templates"},
}


def _modules(layer: str) -> list[Path]:
    return [p for p in (ROOT / layer).rglob("*.py") if "versions" not in p.parts]


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_the_layers_below_it(layer):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_packages(p) - ALLOWED[layer])
        for p in _modules(layer)
        if _imported_packages(p) - ALLOWED[layer]
    }
    assert offenders == {}


def test_no_module_is_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for layer in LAYERS
        for p in _modules(layer)
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def test_no_template_line_is_over_120_characters():
    wide = [
        f"{p.name}:{i}"
        for p in (ROOT / "templates").rglob("*.j2")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
        if len(line) > 120
    ]
    assert wide == []


def test_nothing_cites_a_file_outside_the_repository():
    marks = ("PIT" + "FALLS", "../" + "shared")  # spelled apart, so that this file does not cite them itself
    outside = [
        str(p.relative_to(ROOT))
        for layer in (*LAYERS, "tests", "bench", "docs")
        for p in (ROOT / layer).rglob("*")
        if p.is_file() and p.suffix in (".py", ".md", ".j2", ".yaml")
        if any(mark in p.read_text(encoding="utf-8") for mark in marks)
    ]
    assert outside == []


def test_a_scheduled_digest_names_its_channel_as_a_link(settings, store, fake_slack):
    web = SlackWSGI(create_app(dataclasses.replace(settings, editors=("U0EDITOR",)), store), store)
    message = answer(web, "digest schedule mon 09:00", user="U0EDITOR", channel="C0TEAM")
    text = message["blocks"][0]["text"]["text"]
    assert "<#C0TEAM>" in text and "&lt;#" not in text


def test_an_imported_development_obeys_the_same_rules_as_a_logged_one(empty_store, seed_doc):
    doc = dict(seed_doc, developments=[dict(seed_doc["developments"][0], text="x" * 4001)])
    with pytest.raises(Invalid, match="limit is 4,000"):
        empty_store.transfer.import_doc(doc)
    assert empty_store.transfer.is_empty()  # nothing half-written: the import is one transaction
    doc = dict(seed_doc, developments=[dict(seed_doc["developments"][0], text="Minsk\x00 spoke\x1b[2J")])
    empty_store.transfer.import_doc(doc)
    (dev,) = [d for d in empty_store.transfer.export_doc()["developments"]]
    assert dev["text"] == "Minsk spoke[2J"


def test_a_development_filed_under_the_wrong_cluster_is_refused_at_the_store(store):
    with pytest.raises(Invalid, match="belongs to the security cluster"):
        store.developments.record(text="Zzwrongcluster talks", author="U1", cluster="economic", step="SEC-1")
    assert store.search("Zzwrongcluster").developments == []
