"""What a user reads agrees with the code, and cites only documents a user has."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from models import checkins
from remission_watch.protocol_files import builtin_texts

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = re.compile(r"DOMAIN\.md|DESIGN\.md|\bseeds?\b \d{3}|shared/", re.IGNORECASE)


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_protocol_files_and_checkins_cite_only_shipped_documents() -> None:
    cited = {name: strings(yaml.safe_load(text)) for name, text in builtin_texts().items()}
    cited["models/checkins.py SOURCE"] = [checkins.SOURCE]
    wrong = {name: s for name, found in cited.items() for s in found if NOT_SHIPPED.search(s)}
    assert not wrong
    sources = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert "docs/sources.md" in checkins.SOURCE and "## Fear of recurrence" in sources


def test_operations_guide_names_every_health_and_metrics_endpoint() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "no\nhealth endpoint" not in guide and "no health endpoint" not in guide
    for words in ("worker `GET /healthz`", "notifier serves `GET /healthz`", "`/metrics` on 8081"):
        assert words in guide, words
    manifest = (ROOT / "deploy" / "k8s" / "notifier.yaml").read_text(encoding="utf-8")
    assert "no /metrics" not in manifest and 'prometheus.io/port: "8081"' in manifest


def test_dev_mode_names_the_secrets_it_fills() -> None:
    from notifier import settings

    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    paragraph = guide[guide.index("Dev mode (`RW_ALLOW_DEV_KEY=1`") :].split("\n\n")[0]
    names = ("RW_ENCRYPTION_KEYS", "RW_INBOUND_SECRET", "RW_ADMIN_TOKEN", "RW_CALLBACK_NUMBER")
    values = (settings.DEV_INBOUND_SECRET, settings.DEV_ADMIN_TOKEN, settings.DEV_CALLBACK_NUMBER)
    for word in (*names, *values):
        assert f"`{word}`" in paragraph, word
