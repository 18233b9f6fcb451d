"""The roadmap file format (`roadmap/1`, YAML): parse, validate and write. See store/data/FORMAT.md."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from store.models import STATUSES
from store.sequencing import find_cycle

FORMAT = "roadmap/1"
DEFAULT_ROADMAP = Path(__file__).parent / "data" / "us-belarus.yaml"
_STEP_ID = re.compile(r"^[A-Z][A-Z0-9]{0,11}-\d{1,5}$")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_OWNER = re.compile(r"^[UWS][A-Z0-9]{2,20}$")


class RoadmapFileError(ValueError):
    """The file is not a valid roadmap; `errors` lists every problem found, each with its place."""

    def __init__(self, errors: list[str], path: str | None = None):
        self.errors = errors
        where = f"{path}: " if path else ""
        shown = "\n  ".join(errors[:20]) + (f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else "")
        super().__init__(f"{where}not a valid roadmap file:\n  {shown}")


def load(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RoadmapFileError([f"cannot read it: {exc.strerror or exc}"], str(path)) from exc
    return parse(text, str(path))


def parse(text: str, name: str | None = None) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoadmapFileError([f"not YAML: {exc}"], name) from exc
    errors = validate(data)
    if errors:
        raise RoadmapFileError(errors, name)
    return data


def is_store_document(data: Any) -> bool:
    """A whole-store backup (`roadmaps: [...]`) rather than one roadmap."""
    return isinstance(data, dict) and "roadmaps" in data


def validate(data: Any) -> list[str]:
    """Every problem in a roadmap document or a whole-store document, as readable lines (empty when valid)."""
    if not isinstance(data, dict):
        return ["the file must be a mapping with `format`, `sides`, `clusters` and `developments`"]
    if data.get("format", FORMAT) != FORMAT:
        return [f"format: expected {FORMAT!r}, got {data.get('format')!r}"]
    if not is_store_document(data):
        return _validate_roadmap(data)
    errors: list[str] = []
    seen: set[str] = set()
    for i, roadmap in enumerate(_list(data, "roadmaps", errors)):
        where = f"roadmaps[{i}]"
        if not _mapping(roadmap, where, errors):
            continue
        slug = (roadmap.get("roadmap") or {}).get("slug")
        if not slug:
            errors.append(f"{where}: a roadmap in a whole-store file needs `roadmap: slug:`")
        elif slug in seen:
            errors.append(f"{where}: duplicate roadmap slug {slug!r}")
        seen.add(slug)
        errors += [f"{where} ({slug}): {e}" for e in _validate_roadmap(roadmap)]
    return errors


def _validate_roadmap(data: dict) -> list[str]:
    errors: list[str] = []
    info = data.get("roadmap") or {}
    if not isinstance(info, dict):
        errors.append("roadmap: must be a mapping (slug, title, description, sources)")
    elif info.get("slug") is not None and not (isinstance(info["slug"], str) and _SLUG.match(info["slug"])):
        errors.append(f"roadmap: `slug` must be lower-case letters, digits or '-' (got {info.get('slug')!r})")
    sides = _list(data, "sides", errors)
    clusters = _list(data, "clusters", errors)
    developments = _list(data, "developments", errors, required=False)

    side_codes: set[str] = set()
    for i, side in enumerate(sides):
        where = f"sides[{i}]"
        if not _mapping(side, where, errors):
            continue
        code = side.get("code")
        if not isinstance(code, str) or not code.strip():
            errors.append(f"{where}: `code` is required")
            continue
        if code in side_codes:
            errors.append(f"{where}: duplicate side code {code!r}")
        side_codes.add(code)
        if not isinstance(side.get("name"), str) or not side["name"].strip():
            errors.append(f"{where} ({code}): `name` is required")

    step_side: dict[str, str] = {}
    answers: list[tuple[str, str, str]] = []
    after: dict[str, list[str]] = {}
    rules: list[tuple[str, str, str]] = []
    slugs: set[str] = set()
    prefixes: set[str] = set()
    for i, cluster in enumerate(clusters):
        where = f"clusters[{i}]"
        if not _mapping(cluster, where, errors):
            continue
        slug, prefix = cluster.get("slug"), cluster.get("prefix")
        if not isinstance(slug, str) or not _SLUG.match(slug):
            errors.append(f"{where}: `slug` must be lower-case letters, digits or '-' (got {slug!r})")
        elif slug in slugs:
            errors.append(f"{where}: duplicate cluster slug {slug!r}")
        slugs.add(slug)
        if not isinstance(prefix, str) or not re.match(r"^[A-Z][A-Z0-9]{0,11}$", prefix):
            errors.append(f"{where}: `prefix` must be upper-case letters/digits (got {prefix!r})")
        elif prefix in prefixes:
            errors.append(f"{where}: duplicate prefix {prefix!r}")
        prefixes.add(prefix)
        where = f"cluster {slug}"
        if not isinstance(cluster.get("title"), str) or not cluster["title"].strip():
            errors.append(f"{where}: `title` is required")
        for j, step in enumerate(_list(cluster, "steps", errors, where=where, required=False)):
            swhere = f"{where}, steps[{j}]"
            if not _mapping(step, swhere, errors):
                continue
            key = step.get("id")
            if not isinstance(key, str) or not _STEP_ID.match(key):
                errors.append(f"{swhere}: `id` must look like {prefix or 'SEC'}-1 (got {key!r})")
                continue
            swhere = f"step {key}"
            if isinstance(prefix, str) and not key.startswith(prefix + "-"):
                errors.append(f"{swhere}: id must start with the cluster prefix {prefix}-")
            if key in step_side:
                errors.append(f"{swhere}: duplicate step id")
            if step.get("side") not in side_codes:
                errors.append(f"{swhere}: side {step.get('side')!r} is not one of {sorted(side_codes)}")
            step_side[key] = step.get("side")
            if not isinstance(step.get("title"), str) or not step["title"].strip():
                errors.append(f"{swhere}: `title` is required")
            status = step.get("status", "proposed")
            if status not in STATUSES:
                errors.append(f"{swhere}: status {status!r} is not one of {', '.join(STATUSES)}")
            if step.get("due") is not None and not isinstance(step["due"], date):
                errors.append(f"{swhere}: `due` must be a date (YYYY-MM-DD)")
            for other in step.get("answers") or []:
                answers.append((key, str(other), swhere))
            _check_after(step, swhere, after, errors)
            _check_claims(step, swhere, side_codes, errors)
            owners = step.get("owners")
            if owners is not None and not (
                isinstance(owners, list) and all(isinstance(o, str) and _OWNER.match(o) for o in owners)
            ):
                errors.append(f"{swhere}: `owners` must be a list of Slack user (U…, W…) or user-group (S…) ids")
            rule = step.get("due_after")
            if rule is not None:
                if not (isinstance(rule, dict) and isinstance(rule.get("days"), int) and rule.get("step")):
                    errors.append(f"{swhere}: `due_after` needs `step` (a step id) and `days` (a whole number)")
                else:
                    rules.append((key, str(rule["step"]), swhere))
            for k, h in enumerate(step.get("history") or []):
                if not isinstance(h, dict) or not isinstance(h.get("at"), datetime) or not h.get("field"):
                    errors.append(f"{swhere}, history[{k}]: needs `at` (a timestamp), `field`, `from`, `to`")
    for key, other, where in rules:
        if other not in step_side or other == key:
            errors.append(f"{where}: `due_after` names {other!r}, which is not another step in this file")
    for i, side in enumerate(sides):
        owner = side.get("default_owner") if isinstance(side, dict) else None
        if owner is not None and not (isinstance(owner, str) and _OWNER.match(owner)):
            errors.append(f"sides[{i}]: `default_owner` must be a Slack user (U…) or user-group (S…) id")
    holidays = data.get("holidays")
    if holidays is not None and not (
        isinstance(holidays, list) and all(isinstance(d, date) and not isinstance(d, datetime) for d in holidays)
    ):
        errors.append("holidays: must be a list of dates (YYYY-MM-DD)")
    for key, other, where in answers:
        if other not in step_side:
            errors.append(f"{where}: answers {other!r}, which is not a step in this file")
        elif step_side[other] == step_side[key]:
            errors.append(f"{where}: answers {other}, a step of the same side ({step_side[key]})")

    for key, blockers in after.items():
        for other in blockers:
            if other not in step_side:
                errors.append(f"step {key}: after {other!r}, which is not a step in this file")
    cycle = find_cycle({k: [b for b in v if b in step_side] for k, v in after.items()})
    if cycle:
        errors.append(f"`after` lists form a cycle: {' → '.join(cycle)} (each would wait on the other for ever)")

    for i, dev in enumerate(developments):
        where = f"developments[{i}]"
        if not _mapping(dev, where, errors):
            continue
        if not isinstance(dev.get("date"), date) or isinstance(dev.get("date"), datetime):
            errors.append(f"{where}: `date` must be a date (YYYY-MM-DD)")
        if dev.get("precision", "day") not in ("day", "month"):
            errors.append(f"{where}: `precision` must be day or month")
        if dev.get("cluster") not in slugs:
            errors.append(f"{where}: cluster {dev.get('cluster')!r} is not one of {sorted(slugs)}")
        if dev.get("step") is not None and dev["step"] not in step_side:
            errors.append(f"{where}: step {dev['step']!r} is not a step in this file")
        if not isinstance(dev.get("text"), str) or not dev["text"].strip():
            errors.append(f"{where}: `text` is required")
        slack = dev.get("slack")
        if slack is not None and not (isinstance(slack, dict) and slack.get("channel") and slack.get("ts")):
            errors.append(f"{where}: `slack` needs `channel` and `ts`")
    for i, thread in enumerate(_list(data, "threads", errors, required=False)):
        if not isinstance(thread, dict) or thread.get("cluster") not in slugs or not thread.get("channel"):
            errors.append(f"threads[{i}]: needs `channel`, `ts` and a known `cluster`")
    for i, source in enumerate(_list(data, "watch_sources", errors, required=False)):
        if not isinstance(source, dict) or not source.get("channel") or not source.get("url"):
            errors.append(f"watch_sources[{i}]: needs `channel` and `url`")
        elif source.get("cluster") is not None and source["cluster"] not in slugs:
            errors.append(f"watch_sources[{i}]: cluster {source['cluster']!r} is not one of {sorted(slugs)}")
        elif source.get("status", "active") not in ("active", "paused"):
            errors.append(f"watch_sources[{i}]: `status` is active or paused")
        elif not isinstance(source.get("every", 900), int) or source.get("every", 900) <= 0:
            errors.append(f"watch_sources[{i}]: `every` is a number of seconds")
    return errors


def _check_after(step: dict, where: str, after: dict[str, list[str]], errors: list[str]) -> None:
    """`after: [IDS]`: the steps this one waits on (checked against the whole file once every step is known)."""
    value = step.get("after")
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        errors.append(f"{where}: `after` must be a list of step ids")
        return
    if step["id"] in value:
        errors.append(f"{where}: a step cannot wait on itself (`after` lists {step['id']})")
    after[step["id"]] = [x for x in value if x != step["id"]]


def _check_claims(step: dict, where: str, side_codes: set[str], errors: list[str]) -> None:
    """`claims: [{side, status, source, url?, on, by?}]`: each government's own account of the step."""
    claims = step.get("claims")
    if claims is None:
        return
    if not isinstance(claims, list):
        errors.append(f"{where}: `claims` must be a list")
        return
    seen: set[str] = set()
    for k, c in enumerate(claims):
        cwhere = f"{where}, claims[{k}]"
        if not isinstance(c, dict):
            errors.append(f"{cwhere}: must be a mapping with `side`, `status`, `source` and `on`")
            continue
        if c.get("side") not in side_codes:
            errors.append(f"{cwhere}: side {c.get('side')!r} is not one of {sorted(side_codes)}")
        elif c["side"] in seen:
            errors.append(f"{cwhere}: a second claim of {c['side']} (one claim per side and step)")
        seen.add(c.get("side"))
        if c.get("status") not in STATUSES:
            errors.append(f"{cwhere}: status {c.get('status')!r} is not one of {', '.join(STATUSES)}")
        if not (c.get("source") or c.get("url")):
            errors.append(f"{cwhere}: a claim needs its `source` (or a `url`)")
        if not isinstance(c.get("on"), date) or isinstance(c.get("on"), datetime):
            errors.append(f"{cwhere}: `on` must be a date (YYYY-MM-DD)")


def dump(doc: dict[str, Any]) -> str:
    header = (
        "# Roadmap file (format roadmap/1): see store/data/FORMAT.md.\n"
        "# Load it with `roadmap import FILE`; write one with `roadmap export`.\n"
    )
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    pass


# Characters YAML would read back differently in a plain or literal scalar: it folds NEL and U+2028/2029 as line
# breaks and normalises CR; a backup must give back every byte, so such strings are written double-quoted.
_NEEDS_QUOTES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def _str_representer(dumper: yaml.SafeDumper, value: str):
    style = '"' if _NEEDS_QUOTES.search(value) else ("|" if "\n" in value else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def _list(data: dict, key: str, errors: list[str], where: str = "", required: bool = True) -> list:
    value = data.get(key)
    if value is None:
        if required:
            errors.append(f"{where + ': ' if where else ''}`{key}` is required")
        return []
    if not isinstance(value, list):
        errors.append(f"{where + ': ' if where else ''}`{key}` must be a list")
        return []
    return value


def _mapping(value: Any, where: str, errors: list[str]) -> bool:
    if not isinstance(value, dict):
        errors.append(f"{where}: must be a mapping")
        return False
    return True
