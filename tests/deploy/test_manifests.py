"""The deployment files are checked by machine, not by eye: Kubernetes schemas (strict, the
same JSON schemas kubeconform uses, shipped offline by kubernetes-validate), cross-references
between objects, and every command against the real CLI parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from leadwire.cli import build_parser
from leadwire.platform.queues import QUEUE_NAMES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.33.0"


def _docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


DOCS = _docs()
BY_KIND: dict[str, list[dict[str, Any]]] = {}
for _doc in DOCS:
    BY_KIND.setdefault(_doc["kind"], []).append(_doc)


@pytest.mark.parametrize(
    "doc",
    [d for d in DOCS if d["apiVersion"] != "keda.sh/v1alpha1"],
    ids=lambda d: f"{d['kind']}/{d['metadata']['name']}",
)
def test_core_objects_match_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def test_every_command_is_a_real_cli_command() -> None:
    parser = build_parser()
    commands = [
        c["command"]
        for kind in ("Deployment", "Job")
        for d in BY_KIND[kind]
        for c in _containers(d)
    ]
    assert commands
    for command in commands:
        assert command[0] == "leadwire"
        parser.parse_args(command[1:])  # exits (fails the test) on an unknown command or flag


def test_roles_probes_and_resources() -> None:
    deployments = {d["metadata"]["name"]: d for d in BY_KIND["Deployment"]}
    assert set(deployments) == {"leadwire-api", "leadwire-worker", "leadwire-scheduler"}
    api = _containers(deployments["leadwire-api"])[0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for deployment in deployments.values():
        for container in _containers(deployment):
            assert container["resources"]["requests"]["cpu"]
            assert container["resources"]["requests"]["memory"]
            assert {"configMapRef": {"name": "leadwire-config"}} in container["envFrom"]
    assert BY_KIND["Job"][0]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "leadwire",
        "migrate",
    ]


def test_every_process_with_metrics_is_scraped_where_it_serves_them() -> None:
    """The API serves /metrics on its HTTP port; workers and the scheduler on their own metrics
    port (LEADWIRE_WORKER_METRICS_PORT), bound to every interface so the scrape reaches it."""
    for deployment in BY_KIND["Deployment"]:
        name = deployment["metadata"]["name"]
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations["prometheus.io/path"] == "/metrics"
        port = int(annotations["prometheus.io/port"])
        [container] = _containers(deployment)
        assert port in {p["containerPort"] for p in container["ports"]}, name
        if container["command"][1] == "worker":
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert env["LEADWIRE_WORKER_METRICS_PORT"] == str(port), name
            assert env["LEADWIRE_WORKER_METRICS_HOST"] == "0.0.0.0", name


def test_disruption_budgets_select_a_deployment() -> None:
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in BY_KIND["Deployment"]]
    budgets = BY_KIND["PodDisruptionBudget"]
    assert len(budgets) == 3
    for pdb in budgets:
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= lab.items() for lab in labels), pdb["metadata"]["name"]


def test_keda_scales_workers_on_our_real_queue_lists() -> None:
    (scaled,) = BY_KIND["ScaledObject"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "leadwire-worker"
    lists = {t["metadata"]["listName"] for t in scaled["spec"]["triggers"]}
    # SAQ's Redis queue keeps waiting job ids in the list saq:<queue name>:queued.
    assert lists == {f"saq:leadwire:{q}:queued" for q in QUEUE_NAMES if q != "maintenance"}
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["type"] == "redis"
        assert int(trigger["metadata"]["listLength"]) > 0
    env = {
        e["name"]
        for c in _containers(
            next(d for d in BY_KIND["Deployment"] if d["metadata"]["name"] == "leadwire-worker")
        )
        for e in c.get("env", [])
    }
    assert "LEADWIRE_REDIS_ADDRESS" in env


def test_prometheus_alerts_cover_the_slos() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {
        "LeadwireSpeedToLeadSLO",
        "LeadwireDeadLettersGrowing",
        "LeadwireEmergencyModeOn",
        "LeadwireNotReady",
    } <= set(alerts)
    for alert in alerts.values():
        assert alert["expr"].strip()
        assert alert["labels"]["severity"] in {"page", "ticket"}
        assert alert["annotations"]["summary"]


def test_grafana_dashboard_is_valid_json_with_prometheus_targets() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "leadwire-dashboard.json").read_text())
    assert dashboard["uid"] == "leadwire-overview"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"]
        assert all("leadwire_" in t["expr"] for t in panel["targets"])


def test_compose_services_run_real_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    parser = build_parser()
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "worker", "scheduler"} <= set(services)
    for name in ("migrate", "api", "worker", "scheduler"):
        command = services[name]["command"]
        assert command[0] == "leadwire"
        parser.parse_args(command[1:])
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


async def test_every_metric_the_alerts_and_dashboard_use_is_exported(client) -> None:  # type: ignore[no-untyped-def]
    """Alerts and panels on a metric the app does not export would never fire or draw."""
    import re

    exported = {
        line.split()[2]
        for line in (await client.get("/metrics")).text.splitlines()
        if line.startswith("# TYPE leadwire_")
    }
    texts = [(ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()]
    texts.append((ROOT / "deploy" / "grafana" / "leadwire-dashboard.json").read_text())
    used = {m for text in texts for m in re.findall(r"leadwire_[a-z_]+", text)}
    suffixes = ("_bucket", "_count", "_sum", "_total", "_created")
    for name in used:
        base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)
        assert name in exported or base in exported, f"{name} is not exported by /metrics"
