"""docker-compose.yml, deploy/ and docs/operations.md agree with the settings the code reads.

No Docker engine or cluster runs here, so these are static checks: the files are parsed with
yaml.safe_load(_all) and compared with `StreamsSettings` / `NotifierSettings` (env names are
computed from `model_fields` + `env_prefix`/aliases, never listed by hand). The one dynamic check
runs deploy/create_topics.py against the embedded broker.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import secrets
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from ingest.settings import IngestSettings
from models.templates import MessageContext
from notifier.settings import (
    DEV_ADMIN_TOKEN,
    DEV_ENCRYPTION_KEY,
    DEV_INBOUND_SECRET,
    NotifierSettings,
)
from remission_watch.logs import LogSettings
from streams.settings import StreamsSettings
from streams.topics import TopicNames, changelog_topics, topic_plan

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
EXAMPLE_ENV = DEPLOY / "example.env"
OPERATIONS = ROOT / "docs" / "operations.md"

CLASSES: dict[str, type[BaseSettings]] = {
    "streams": StreamsSettings,
    "notifier": NotifierSettings,
    "ingest": IngestSettings,
    "every command": LogSettings,
}
# Which settings class a `remission-watch` subcommand (or deploy script) builds.
ROLE_CLASS = {
    "worker": "streams",
    "ticker": "streams",
    "topics": "streams",
    "notifier": "notifier",
    "ingest": "ingest",
}
# URL settings that are public by nature; every other *_url(s) setting may carry credentials
# (database password, SMTP login, SMS provider token) and is treated as a secret.
PUBLIC_URL_FIELDS = {"portal_url"}
ONE_SHOT = "service_completed_successfully"


# ---------------------------------------------------------------------------- settings


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """{ENV_NAME: field name} as pydantic-settings reads them."""
    prefix = cls.model_config.get("env_prefix", "") or ""
    names = {}
    for field, info in cls.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        names[(alias or f"{prefix}{field}").upper()] = field
    return names


ENV = {service: env_names(cls) for service, cls in CLASSES.items()}
ALL_ENV = {name for names in ENV.values() for name in names}


def _is_secret_field(cls: type[BaseSettings], field: str) -> bool:
    info = cls.model_fields[field]
    secret_type = info.annotation is SecretStr or "SecretStr" in repr(info.annotation)
    url = re.search(r"_urls?$", field) is not None and field not in PUBLIC_URL_FIELDS
    return secret_type or url


SECRET_ENV = {
    name for service, cls in CLASSES.items() for name, f in ENV[service].items()
    if _is_secret_field(cls, f)
}  # fmt: skip
SECRETSTR_ENV = {
    name for service, cls in CLASSES.items() for name, f in ENV[service].items()
    if "SecretStr" in repr(cls.model_fields[f].annotation)
}  # fmt: skip


def test_settings_classes_give_env_names() -> None:
    assert {"RW_KAFKA_BOOTSTRAP", "RW_PARTITIONS"} <= set(ENV["streams"])
    assert {"RW_DATABASE_URL", "RW_ENCRYPTION_KEYS"} <= set(ENV["notifier"])
    assert SECRETSTR_ENV and SECRETSTR_ENV <= SECRET_ENV


# ---------------------------------------------------------------------------- compose helpers

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> str:
    """Compose-style `${VAR}`, `${VAR:-default}`, `${VAR:?message}` substitution."""

    def sub(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        if op in (":-", "-"):
            return current if current or (op == "-" and current is not None) else arg
        if op in (":?", "?"):
            if not current:
                raise KeyError(f"{name} is required: {arg}")
            return current
        return current or ""

    return _VAR.sub(sub, str(value))


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return load_compose()["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def argv(value: Any) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def role(service: dict[str, Any]) -> str | None:
    """worker / ticker / notifier / topics, from the service's command or entrypoint."""
    words = argv(service.get("entrypoint")) + argv(service.get("command"))
    if any(w.endswith("create_topics.py") for w in words):
        return "topics"
    return next((w for w in words if w in ROLE_CLASS), None)


def app_services() -> dict[str, tuple[str, dict[str, Any]]]:
    found = {}
    for name, service in services().items():
        r = role(service)
        if r is not None:
            found[name] = (r, service)
    return found


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def required_vars() -> set[str]:
    """Every `${VAR:?}` in the compose file's values (not its comments)."""
    return {
        m["name"] for text in _strings(load_compose()) for m in _VAR.finditer(text)
        if m["op"] in (":?", "?")
    }  # fmt: skip


def fake_env() -> dict[str, str]:
    """A value for every `${VAR:?}` compose requires, of the shape the setting wants."""
    fields = {name: f for names in ENV.values() for name, f in names.items()}
    values = {}
    for var in required_vars():
        field = fields.get(var)
        if field == "encryption_keys":
            values[var] = Fernet.generate_key().decode()
        elif field == "callback_number":
            values[var] = "+1 555 0199"
        else:
            values[var] = secrets.token_hex(16)
    return values


def kafka_internal_listener() -> str:
    """host:port of the listener the other containers use (the inter-broker one)."""
    env = environment(services()["kafka"])
    name = env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")
    for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        scheme, _, address = listener.strip().partition("://")
        if scheme == name:
            return address
    raise AssertionError(f"no advertised listener named {name}")


def image_tag(image: str, defaults: dict[str, str] | None = None) -> tuple[str, str]:
    resolved = interpolate(image, defaults or {})
    if "@sha256:" in resolved:
        return resolved.split("@", 1)[0], "digest"
    repo, _, tag = resolved.rpartition(":")
    if "/" in tag or not repo:
        return resolved, ""
    return repo, tag


# ---------------------------------------------------------------------------- compose tests


def test_compose_has_the_production_services() -> None:
    svc = services()
    roles = {r for r, _ in app_services().values()}
    assert {"kafka", "postgres", "mailpit"} <= set(svc)
    assert roles == {"topics", "worker", "ticker", "notifier", "ingest"}
    assert not any(
        "zookeeper" in name or "zookeeper" in str(s.get("image")) for name, s in svc.items()
    )


def test_kafka_runs_kraft_with_auto_create_off() -> None:
    kafka = services()["kafka"]
    env = environment(kafka)
    assert kafka["image"].startswith(("apache/kafka:", "bitnami/kafka:"))
    roles = env.get("KAFKA_PROCESS_ROLES") or env.get("KAFKA_CFG_PROCESS_ROLES", "")
    assert "controller" in roles and "broker" in roles
    assert not any("ZOOKEEPER" in key for key in env)
    auto = {v for k, v in env.items() if k.endswith("AUTO_CREATE_TOPICS_ENABLE")}
    assert auto == {"false"}, "topics must be created explicitly, never by a first producer"


def test_compose_runs_the_kafka_version_the_tests_run() -> None:
    """The broker compose deploys is the one the integration tests start (tests/kafka/pom.xml)."""
    pom = (ROOT / "tests" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    found = re.search(r"<artifactId>kafka_2\.13</artifactId>\s*<version>([^<]+)</version>", pom)
    assert found, "tests/kafka/pom.xml names no kafka_2.13 version"
    image, tag = image_tag(services()["kafka"]["image"])
    assert (image, tag) == ("apache/kafka", found.group(1))


def test_compose_images_are_pinned() -> None:
    for name, service in services().items():
        image = service.get("image")
        assert image, f"{name} has no image"
        _, tag = image_tag(image)
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        assert "latest" not in image


def test_compose_rw_variables_are_settings_of_that_service() -> None:
    for name, (r, service) in app_services().items():
        names = ENV[ROLE_CLASS[r]]
        for var in environment(service):
            if var.startswith("RW_"):
                assert var in names, f"{name}: {var} is not a field of {CLASSES[ROLE_CLASS[r]]}"


@pytest.mark.parametrize(
    "service_name", ["topics", "worker", "ticker", "notifier", "ingest", "ingest-fhir"]
)
def test_compose_environment_builds_the_settings(
    service_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every required setting is present: the service's settings class accepts its env."""
    r, service = app_services()[service_name]
    cls = CLASSES[ROLE_CLASS[r]]
    for var in list(os.environ):
        if var.startswith("RW_"):
            monkeypatch.delenv(var)
    fake = fake_env()
    resolved = {k: interpolate(v, fake) for k, v in environment(service).items()}
    for var, value in resolved.items():
        monkeypatch.setenv(var, value)
    required = {n for n, f in env_names(cls).items() if cls.model_fields[f].is_required()}
    assert required <= set(resolved), f"{service_name} misses {required - set(resolved)}"
    settings = cls()
    if isinstance(settings, NotifierSettings):
        assert not settings.allow_dev_key, "production shape never runs on the dev key"
        assert settings.encryption_keys and settings.inbound_secret and settings.admin_token
        # What the notifier builds at start-up from these (clinic name, call-back, portal).
        MessageContext(settings.clinic_name, settings.callback_number or "", settings.portal_url)
    elif isinstance(settings, IngestSettings):
        assert settings.ingest_pseudonym_key and settings.ingest_quarantine_key
        assert "fhir" not in service_name or settings.fhir_token
    else:
        assert isinstance(settings, StreamsSettings)
        assert not settings.local_timeouts, "short embedded-broker timeouts are not for Kafka"


def test_compose_bootstrap_is_the_kafka_internal_listener() -> None:
    internal = kafka_internal_listener()
    assert internal.split(":")[0] == "kafka"
    for name, (_, service) in app_services().items():
        bootstrap = environment(service).get("RW_KAFKA_BOOTSTRAP")
        assert bootstrap, f"{name} would use the default {StreamsSettings().kafka_bootstrap}"
        assert [s.strip() for s in bootstrap.split(",")] == [internal], name


def test_compose_database_url_points_at_postgres() -> None:
    svc = services()
    pg = environment(svc["postgres"])
    url = environment(svc["notifier"])["RW_DATABASE_URL"]
    parts = urlsplit(_VAR.sub("substituted", url))
    assert url.startswith("postgresql")
    assert parts.hostname == "postgres" and (parts.port or 5432) == 5432
    assert parts.path.lstrip("/") == pg["POSTGRES_DB"]
    assert parts.username == pg["POSTGRES_USER"]
    password = re.search(r":(\$\{[^}]*\})@", url)
    assert password, "the database password must come from a ${VAR:?} substitution"
    pg_password = _VAR.fullmatch(pg["POSTGRES_PASSWORD"])
    url_password = _VAR.fullmatch(password.group(1))
    assert pg_password and url_password and pg_password["name"] == url_password["name"]


def test_compose_secrets_are_never_literal() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for literal in (DEV_ENCRYPTION_KEY, DEV_INBOUND_SECRET, DEV_ADMIN_TOKEN):
        assert literal not in text
    assert not re.search(r"[A-Za-z0-9_-]{43}=", text), "something that looks like a Fernet key"
    for name, (_, service) in app_services().items():
        env = environment(service)
        assert env.get("RW_ALLOW_DEV_KEY", "false").lower() in ("", "0", "false"), name
        for var, value in env.items():
            if var in SECRETSTR_ENV:
                match = _VAR.fullmatch(value)
                assert match and match["op"] == ":?", f"{name}: {var} must be ${{{var}:?...}}"
            elif var in SECRET_ENV:
                # A URL may be literal only without credentials in it.
                literal = urlsplit(_VAR.sub("", value))
                assert not literal.password, f"{name}: {var} has a literal password"


def test_compose_every_long_running_service_has_a_healthcheck() -> None:
    svc = services()
    one_shots = {
        dep for s in svc.values() for dep, cond in (s.get("depends_on") or {}).items()
        if isinstance(cond, dict) and cond.get("condition") == ONE_SHOT
    }  # fmt: skip
    assert one_shots == {"topics"}
    for name, service in svc.items():
        if name in one_shots:
            assert service.get("restart") == "no"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
    assert "kafka-broker-api-versions" in " ".join(argv(svc["kafka"]["healthcheck"]["test"]))
    assert "pg_isready" in argv(svc["postgres"]["healthcheck"]["test"])
    for name, (r, service) in app_services().items():
        if r != "topics":
            test = argv(service["healthcheck"]["test"])
            assert "/opt/remission-watch/healthcheck.py" in test and r in test, name


def test_notifier_health_endpoint_exists() -> None:
    """The healthcheck's /healthz is a route of the notifier's app, on RW_HTTP_PORT."""
    source = (ROOT / "notifier" / "http_api.py").read_text(encoding="utf-8")
    assert '@app.get("/healthz")' in source
    assert "/healthz" in (DEPLOY / "healthcheck.py").read_text(encoding="utf-8")
    env = environment(services()["notifier"])
    assert env["RW_HTTP_HOST"] == "0.0.0.0"
    assert any(p.endswith(f":{env['RW_HTTP_PORT']}") for p in services()["notifier"]["ports"])


def test_compose_worker_is_scalable_and_ticker_single() -> None:
    svc = services()
    apps = app_services()
    worker = next(s for r, s in apps.values() if r == "worker")
    ticker = next(s for r, s in apps.values() if r == "ticker")
    assert "container_name" not in worker
    assert not worker.get("ports"), "a published port clashes between worker replicas"
    partitions = int(interpolate(environment(worker)["RW_PARTITIONS"], {}))
    assert 1 <= worker["deploy"]["replicas"] <= partitions
    assert ticker.get("deploy", {}).get("replicas", 1) == 1
    assert "container_name" not in ticker or ticker.get("deploy", {}).get("replicas", 1) == 1
    assert svc["kafka"].get("ports") is None, "Kafka's advertised listener is internal only"


def test_compose_topics_are_created_before_anything_produces() -> None:
    apps = app_services()
    topics = next(name for name, (r, _) in apps.items() if r == "topics")
    assert services()[topics]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, (r, service) in apps.items():
        if r in ("worker", "ticker", "notifier"):
            assert service["depends_on"][topics]["condition"] == ONE_SHOT, name
            assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name
    assert services()["notifier"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_streams_services_agree_on_topics() -> None:
    """Co-partitioning: one partition count, prefix and app id for topics, workers, ticker."""
    apps = app_services()
    streams = [environment(s) for r, s in apps.values() if ROLE_CLASS[r] == "streams"]
    for key in ("RW_PARTITIONS", "RW_TOPIC_PREFIX", "RW_APP_ID"):
        assert len({env.get(key) for env in streams}) == 1, key
    prefixes = {environment(s).get("RW_TOPIC_PREFIX") for _, s in apps.values()}
    assert len(prefixes) == 1, "the notifier must read the topics the workers write"


# ---------------------------------------------------------------------------- example.env


def dotenv(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_example_env_is_complete_and_holds_no_secret() -> None:
    env = dotenv(EXAMPLE_ENV)
    for key in env:
        assert not key.startswith("RW_") or key in ALL_ENV, f"{key} is not a setting"
    assert required_vars() <= set(env), f"missing: {required_vars() - set(env)}"
    for key, value in env.items():
        if key in SECRET_ENV or "PASSWORD" in key:
            assert value == "", f"{key} must be empty in the example"


# ---------------------------------------------------------------------------- k8s helpers


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                doc["__file__"] = path.name
                docs.append(doc)
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d.get("kind") == kind]


def workload(component: str) -> dict[str, Any]:
    found = [
        d for d in manifests()
        if d.get("kind") in ("Deployment", "StatefulSet", "Job")
        and d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]  # fmt: skip
    assert len(found) == 1, component
    return found[0]


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in manifests():
        if doc.get("kind") in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def config_map() -> dict[str, str]:
    """The shared settings ConfigMap (ingest's feed file is a ConfigMap of its own)."""
    (cm,) = [d for d in of_kind("ConfigMap") if d["metadata"]["name"] == "remission-watch-config"]
    return {k: str(v) for k, v in cm["data"].items()}


# ---------------------------------------------------------------------------- k8s tests


def test_k8s_manifests_parse_and_kustomization_lists_them() -> None:
    kinds = {d["kind"] for d in manifests()}
    assert {"ConfigMap", "Secret", "Job", "Deployment", "Service", "Kustomization"} <= kinds
    (kustomization,) = of_kind("Kustomization")
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    secret_files = {d["__file__"] for d in of_kind("Secret")}
    assert not secret_files & set(kustomization["resources"]), "never apply the template"


def test_k8s_rw_names_are_settings() -> None:
    used = set(config_map())
    for secret in of_kind("Secret"):
        used |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for _, spec in pod_specs():
        for c in containers(spec):
            used |= {e["name"] for e in c.get("env", [])}
    rw = {name for name in used if name.startswith("RW_")}
    assert rw and rw <= ALL_ENV, f"not settings: {rw - ALL_ENV}"


def test_k8s_secrets_are_referenced_never_inline() -> None:
    cm = config_map()
    assert not SECRET_ENV & set(cm), f"secrets in the ConfigMap: {SECRET_ENV & set(cm)}"
    for name, spec in pod_specs():
        for c in containers(spec):
            for e in c.get("env", []):
                if e["name"] in SECRET_ENV:
                    assert "value" not in e and "secretKeyRef" in e.get("valueFrom", {}), name
    notifier = workload("notifier")["spec"]["template"]["spec"]["containers"][0]
    secret_refs = [s["secretRef"]["name"] for s in notifier.get("envFrom", []) if "secretRef" in s]
    key_refs = {
        e["name"] for e in notifier.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
    }
    (secret,) = of_kind("Secret")
    assert secret["metadata"]["name"] in secret_refs or key_refs
    needed = SECRETSTR_ENV & set(ENV["notifier"])
    missing = needed - set(secret["stringData"])
    assert not missing, f"the Secret template lacks {missing}"


def test_k8s_secret_template_holds_placeholders_the_notifier_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (secret,) = of_kind("Secret")
    for key, value in secret["stringData"].items():
        assert "<" in value and ">" in value, f"{key} is not a placeholder"
    for var in list(os.environ):
        if var.startswith("RW_"):
            monkeypatch.delenv(var)
    for key, value in {**config_map(), **secret["stringData"]}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        NotifierSettings()


def test_k8s_ticker_is_single_and_recreated() -> None:
    ticker = workload("ticker")
    assert ticker["kind"] == "Deployment"
    assert ticker["spec"]["replicas"] == 1
    assert ticker["spec"]["strategy"]["type"] == "Recreate"


def test_k8s_worker_replicas_fit_the_partitions() -> None:
    worker = workload("worker")
    partitions = int(config_map()["RW_PARTITIONS"])
    assert 1 <= worker["spec"]["replicas"] <= partitions
    strategy = worker["spec"].get("strategy", {}).get("rollingUpdate", {})
    assert worker["kind"] == "StatefulSet" or strategy.get("maxSurge") == 0


def test_k8s_topics_job_runs_first() -> None:
    job = workload("topics")
    assert job["kind"] == "Job"
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert any(part.endswith("create_topics.py") for part in c["command"])
    assert "--check" not in c["command"] + c.get("args", [])
    for component in ("worker", "ticker", "notifier"):
        spec = workload(component)["spec"]["template"]["spec"]
        commands = [i["command"] for i in spec.get("initContainers", [])]
        assert any("--check" in cmd and cmd[-2].endswith("create_topics.py") for cmd in commands)


def test_k8s_containers_are_non_root_and_bounded() -> None:
    for name, spec in pod_specs():
        pod = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, name
        for c in containers(spec):
            sc = {**pod, **c.get("securityContext", {})}
            where = f"{name}/{c['name']}"
            assert sc.get("runAsNonRoot") is True, where
            assert sc.get("runAsUser", 1) != 0, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
            assert set(c["resources"]) == {"requests", "limits"}, where
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), where
            _, tag = image_tag(c["image"])
            assert tag and tag != "latest", where


def test_k8s_probes_and_metrics() -> None:
    cm = config_map()
    notifier = workload("notifier")["spec"]["template"]["spec"]["containers"][0]
    port = {p["name"]: p["containerPort"] for p in notifier["ports"]}["http"]
    assert str(port) == cm["RW_HTTP_PORT"] and cm["RW_HTTP_HOST"] == "0.0.0.0"
    for probe in ("readinessProbe", "livenessProbe"):
        assert notifier[probe]["httpGet"]["path"] == "/healthz", probe

    worker = workload("worker")
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    metrics_port = {e["name"]: e.get("value") for e in container["env"]}["RW_METRICS_PORT"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == metrics_port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert cm["RW_METRICS_HOST"] == "0.0.0.0"
    assert cm["RW_LOCAL_TIMEOUTS"] == "false"


# ---------------------------------------------------------------------------- Dockerfile


def dockerfile_stages() -> list[list[str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    stages: list[list[str]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if (
            line.upper().startswith("FROM ")
            and stages[-1]
            and any(x.upper().startswith("FROM ") for x in stages[-1])
        ):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_is_small_non_root_and_pinned() -> None:
    stages = dockerfile_stages()
    lines = [line for stage in stages for line in stage]
    args = dict(
        re.match(r"ARG (\w+)=(\S+)", line).groups()  # type: ignore[union-attr]
        for line in lines
        if re.match(r"ARG \w+=", line)
    )
    froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert len(froms) >= 2, "multi-stage: build wheels, install them in a clean stage"
    for image in froms:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        _, tag = image_tag(resolved)
        assert tag and "latest" not in resolved, resolved
        assert resolved.startswith("python:3.11") and "slim" in resolved
    final = stages[-1]
    assert not any("build-essential" in x or "gcc" in x for x in final), "no compilers at runtime"
    installs = [x for x in final if re.search(r"\bpip install\b", x)]
    assert installs and all("--no-cache-dir" in x for x in installs)
    users = [x.split()[1] for x in final if x.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(x.upper().startswith("HEALTHCHECK ") for x in final)
    (entrypoint,) = [x for x in final if x.upper().startswith("ENTRYPOINT ")]
    assert entrypoint == 'ENTRYPOINT ["remission-watch"]'
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^remission-watch = "', pyproject, re.M), "the console script's name"
    for line in final:
        if line.upper().startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
        for name in re.findall(r"\b(RW_\w+)=", line):
            assert name in ALL_ENV, name


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".git", "var", "tests"):
        assert entry in ignored, entry


# ---------------------------------------------------------------------------- docs


def load_script(name: str) -> ModuleType:
    path = DEPLOY / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_operations_doc_lists_every_setting_and_is_current() -> None:
    table = load_script("settings_table")
    doc = OPERATIONS.read_text(encoding="utf-8")
    missing = sorted(name for name in ALL_ENV if f"`{name}`" not in doc)
    assert not missing, f"docs/operations.md lacks {missing}"
    assert table.replace_table(doc, table.markdown_table()) == doc, (
        "stale: run python deploy/settings_table.py --write docs/operations.md"
    )
    assert all(s.meaning for s in table.settings()), "a setting without a meaning"
    assert {s.env for s in table.settings()} == ALL_ENV


def test_operations_doc_commands_exist() -> None:
    """Every `remission-watch ...` command the guide and manifests name parses."""
    from remission_watch.cli import build_parser

    texts = [OPERATIONS.read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in K8S.glob("*.yaml")]
    commands = set()
    for text in texts:
        # In backticks, or after `exec ... --` in a manifest's comment.
        for match in re.finditer(
            r"(?:`|-- )remission-watch ((?:[a-z][\w-]*)(?: [a-z][\w-]*)*)", text
        ):
            commands.add(match.group(1))
    assert "notifier-admin recipients rotate-keys" in commands
    assert "rebuild" in commands
    parser = build_parser()
    for command in commands:
        words = command.split()
        if words[0] == "timeline":
            words.append("events.jsonl")
        args = parser.parse_args(words)
        assert getattr(args, "handler", None), command


# ---------------------------------------------------------------------------- topics script


def test_topic_plan_keeps_the_source_log_and_compacts_derived_state() -> None:
    settings = StreamsSettings()
    names = TopicNames(settings.topic_prefix)
    _, configs = topic_plan(settings)
    for topic in names.events:
        assert configs[topic] == {"retention.ms": "-1", "retention.bytes": "-1"}, topic
    for topic in (*changelog_topics(settings.app_id), names.patient_state):
        assert configs[topic] == {"cleanup.policy": "compact"}, topic
    # ticks, reminders, alerts and dead letters keep the broker's retention
    assert not {names.ticks, names.reminders, names.alerts, names.deadletter} & set(configs)


def test_compose_and_k8s_create_topics_from_the_plan() -> None:
    """Both run deploy/create_topics.py (configs from topic_plan), creating, not only checking."""
    topics = next(s for r, s in app_services().values() if r == "topics")
    assert "/opt/remission-watch/create_topics.py" in topics["entrypoint"]
    assert "--check" not in (topics.get("command") or [])
    (job,) = of_kind("Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "/opt/remission-watch/create_topics.py" in container["command"]
    assert "--check" not in container.get("args", [])


@pytest.mark.integration
def test_create_topics_against_the_embedded_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.embedded import EmbeddedBroker

    create_topics = load_script("create_topics")
    with EmbeddedBroker() as broker:
        monkeypatch.setenv("RW_KAFKA_BOOTSTRAP", broker.bootstrap)
        monkeypatch.setenv("RW_PARTITIONS", "3")
        assert create_topics.main(["--check", "--wait", "0"]) == 1
        assert create_topics.main(["--wait", "5"]) == 0
        assert create_topics.main(["--check"]) == 0
        expected, _ = topic_plan(StreamsSettings())
        assert set(expected) <= set(capsys.readouterr().out.split('"'))
        monkeypatch.setenv("RW_PARTITIONS", "4")
        assert create_topics.main(["--check"]) == 1


@pytest.mark.integration
def test_topics_are_created_with_their_configs_and_drift_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read back from the broker (tansu stores topic configs): source topics keep
    everything, changelogs and the state topic are compacted; a source topic created
    earlier with the broker's default retention is reported with the command that fixes it."""
    from aiokafka.admin import AIOKafkaAdminClient

    from streams.embedded import EmbeddedBroker, ensure_topics, topic_configs

    create_topics = load_script("create_topics")
    with EmbeddedBroker() as broker:
        monkeypatch.setenv("RW_KAFKA_BOOTSTRAP", broker.bootstrap)
        settings = StreamsSettings()
        labs = TopicNames(settings.topic_prefix).labs
        asyncio.run(ensure_topics(broker.bootstrap, {labs: settings.partitions}))  # no configs
        assert create_topics.main(["--wait", "5"]) == 1
        out, err = capsys.readouterr()
        report = json.loads(out)
        assert report["wrong_or_missing"] == {}
        assert report["wrong_configs"] == {
            labs: {
                "retention.ms": {"found": None, "want": "-1"},
                "retention.bytes": {"found": None, "want": "-1"},
            }
        }
        assert f"--entity-name {labs} --add-config retention.ms=-1,retention.bytes=-1" in err

        async def read_back() -> dict[str, dict[str, str | None]]:
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                keys = ("retention.ms", "cleanup.policy")
                return await topic_configs(admin, {t: dict.fromkeys(keys, "") for t in plan})
            finally:
                await admin.close()

        plan, _ = topic_plan(settings)
        configs = asyncio.run(read_back())
    names = TopicNames(settings.topic_prefix)
    for topic in names.events:
        if topic != labs:  # created by the script
            assert configs[topic]["retention.ms"] == "-1", topic
    for topic in (*changelog_topics(settings.app_id), names.patient_state):
        assert configs[topic]["cleanup.policy"] == "compact", topic
