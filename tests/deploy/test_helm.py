"""deploy/helm/salesfloor: `helm lint`, `helm template` with several sets of values, every rendered object
validated against the Kubernetes schemas kubernetes-validate ships (offline), and what the chart promises:
the worker's probes, the web token from a Secret (kept across upgrades), settings the worker accepts,
and prometheus-operator objects built from deploy/prometheus's rules file.

helm is installed by `bash deploy/helm/install-helm.sh` (var/tools/bin); a missing helm FAILS, never skips.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.settings import Settings, load_settings
from tests.deploy.conftest import REPO, load_yaml, run_tool

CHART = "deploy/helm/salesfloor"
RULES = "deploy/prometheus/rules/salesfloor.rules.yml"
RELEASE, NAMESPACE = "floor", "sales"
FULLNAME = "floor-salesfloor"
TOKEN_SECRET = f"{FULLNAME}-web-token"  # noqa: S105 - a Secret's name
# Chart.yaml's kubeVersion floor, and the newest Kubernetes kubernetes-validate has schemas for.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
INSTALL_SCRIPT = (REPO / "deploy/helm/install-helm.sh").read_text(encoding="utf-8")
HELM_VERSION = re.search(r"^HELM_VERSION=(\S+)$", INSTALL_SCRIPT, re.M)[1]  # type: ignore[index]
CRDS = {"ServiceMonitor", "PrometheusRule"}  # prometheus-operator's: no schema offline, checked by hand below
DURATION = re.compile(r"^([0-9]+(ms|s|m|h))+$")

ALL_CONFIG: dict[str, Any] = {
    "topicPrefix": "floor-a.",
    "timezone": "Europe/Berlin",
    "currency": "CHF",
    "leadSlaSeconds": 300,
    "alertThresholds": [300, 1800, 3600],
    "goalMilestones": [0.5, 1, 1.5],
    "dealStages": ["discovery", "proposal"],
    "maxFutureSeconds": 120,
    "maxReps": 1000000,  # a float64 in helm: must reach the worker as 1000000, not 1e+06
    "partitions": 12,
    "replicationFactor": 3,
    "retentionDays": 45,
    "historyDays": 400.5,
    "flushIntervalSeconds": 0.1,
    "expiryIntervalSeconds": 600,
    "sessionTimeoutSeconds": 30,
    "appId": "floor-a.kpis",
}
SASL: dict[str, Any] = {
    "bootstrap": "b-1.kafka:9096,b-2.kafka:9096,b-3.kafka:9096",
    "securityProtocol": "SASL_SSL",
    "saslMechanism": "SCRAM-SHA-512",
    "user": "salesfloor",
    "password": {"existingSecret": "kafka-salesfloor", "key": "password"},
    "ca": {"existingConfigMap": "kafka-ca", "key": "ca.pem"},
}
MONITORING: dict[str, Any] = {
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}, "interval": "30s"},
    "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "existing-secret": {"webToken": {"existingSecret": "floor-web", "key": "bearer"}},
    "anonymous": {"webToken": {"allowAnonymous": True}, "metrics": {"serviceMonitor": {"enabled": True}}},
    "monitoring": {"metrics": MONITORING},
    "replicas": {"replicaCount": 3, "config": {"topicPrefix": "floor-a.", "partitions": 8}},
    "sasl": {"kafka": SASL},
    "everything": {
        "replicaCount": 4,
        "image": {"repository": "registry.example.com/salesfloor", "tag": "0.1.0", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "logLevel": "warning",
        "kafka": {**SASL, "ca": {"existingSecret": "kafka-ca", "key": "ca.crt"}},
        "config": ALL_CONFIG,
        "webToken": {"existingSecret": "floor-web", "key": "token"},
        "alerts": {
            "webhookUrl": {"existingSecret": "slack", "key": "url"},
            "routes": {"existingSecret": "alert-routes", "key": "routes.json"},
        },
        "extraEnv": {
            "PYTHONFAULTHANDLER": 1,
            "OTEL_EXPORTER_OTLP_HEADERS": {"valueFrom": {"secretKeyRef": {"name": "otel", "key": "headers"}}},
        },
        "dataDir": {"sizeLimit": "1Gi"},
        "strategy": {"type": "Recreate"},
        "podAnnotations": {"example.com/team": "sales-ops"},
        "podLabels": {"example.com/floor": "a"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "sales", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": RELEASE}},
            }
        ],
        "priorityClassName": "business-critical",
        "service": {"annotations": {"example.com/scrape": "false"}},
        "metrics": MONITORING,
    },
}


def helm_run(helm: str, *args: str, values: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> str:
    """Run helm on the chart with `values` on stdin; its stdout (helm warns on stderr about the symlink)."""
    command = [helm, *args] + (["--values", "-"] if values is not None else [])
    done = subprocess.run(  # noqa: S603 - fixed command, no shell
        command,
        cwd=REPO,
        input=yaml.safe_dump(values) if values is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` exited {done.returncode}:\n{done.stdout}{done.stderr}", pytrace=False)
    return done.stdout


def helm_refuses(helm: str, *args: str, values: dict[str, Any]) -> str:
    """helm's error output for values it must refuse; fails the test if helm accepts them."""
    done = subprocess.run(  # noqa: S603 - fixed command, no shell
        [helm, *args, "--values", "-"],
        cwd=REPO,
        input=yaml.safe_dump(values),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0, f"helm {args[0]} accepted {values}"
    return done.stdout + done.stderr  # `helm lint` reports on stdout


def template_args(*extra: str) -> tuple[str, ...]:
    return ("template", RELEASE, CHART, "--namespace", NAMESPACE, "--kube-version", KUBERNETES_VERSIONS[-1], *extra)


@cache
def rendered(helm: str, variant: str) -> tuple[dict[str, Any], ...]:
    output = helm_run(helm, *template_args(), values=VARIANTS[variant])
    return tuple(doc for doc in yaml.safe_load_all(output) if doc)


def by_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    (doc,) = by_kind(docs, kind)
    return doc


def worker(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """EnvVar name → its value (a string) or its valueFrom (a dict); names must be unique."""
    names = [var["name"] for var in container["env"]]
    assert len(names) == len(set(names)), f"duplicate environment variables: {names}"
    return {var["name"]: var["value"] if "value" in var else var["valueFrom"] for var in container["env"]}


def mounted_file(docs: tuple[dict[str, Any], ...], path: str) -> dict[str, Any]:
    """The volume source holding the file at `path` in the worker, checked to be mounted there."""
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    for mount in worker(docs)["volumeMounts"]:
        directory = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(directory):
            (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
            assert mount.get("readOnly") is True, f"{path} should be mounted read-only"
            source = volume.get("secret") or volume.get("configMap")
            assert source is not None, f"{path} is on {volume}, not a Secret or ConfigMap"
            assert path[len(directory) :] in {item["path"] for item in source["items"]}, f"no {path} in {volume}"
            return dict(source)
    raise AssertionError(f"nothing is mounted at {path}")


def setting_names() -> set[str]:
    return {f"SALESFLOOR_{field.upper()}" for field in Settings.model_fields}


# -- the tool and the chart -----------------------------------------------------------------------------------


def test_helm_is_the_pinned_version(helm: str) -> None:
    assert helm_run(helm, "version", "--template", "{{.Version}}").strip() == HELM_VERSION


def test_chart_metadata() -> None:
    chart = load_yaml(f"{CHART}/Chart.yaml")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2" and chart["name"] == "salesfloor" and chart["type"] == "application"
    assert chart["appVersion"] == pyproject["project"]["version"]
    assert chart["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}-0"
    for name in (".helmignore", "values.schema.json", "README.md", "templates/NOTES.txt"):
        assert (REPO / CHART / name).is_file(), name


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
def test_helm_lint(helm: str, strict: bool) -> None:
    output = run_tool(helm, "lint", *(["--strict"] if strict else []), CHART)
    assert "1 chart(s) linted, 0 chart(s) failed" in output


@pytest.mark.parametrize("variant", [name for name in VARIANTS if name != "default"])
def test_helm_lint_strict_with_values(helm: str, variant: str) -> None:
    output = helm_run(helm, "lint", "--strict", CHART, values=VARIANTS[variant])
    assert "1 chart(s) linted, 0 chart(s) failed" in output


def test_kubernetes_version_floor(helm: str) -> None:
    helm_run(helm, "template", RELEASE, CHART, "--kube-version", KUBERNETES_VERSIONS[0])
    error = helm_refuses(helm, "template", RELEASE, CHART, "--kube-version", "1.28.0", values={})
    assert "incompatible with Kubernetes v1.28.0" in error


# -- every object is valid Kubernetes ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rendered_objects_are_valid(helm: str, variant: str, version: str) -> None:
    docs = rendered(helm, variant)
    for doc in docs:
        assert doc["metadata"]["name"].startswith(FULLNAME), doc["metadata"]
        assert "namespace" not in doc["metadata"], "helm sets the namespace"
        if doc["kind"] in CRDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(part) for part in exc.absolute_path)
            pytest.fail(f"{variant}: {doc['kind']} {doc['metadata']['name']} at /{path}: {exc.message}", pytrace=False)
    # The schemas let a volume's source be null (`emptyDir:` with nothing under it); the API server does not.
    for volume in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]:
        sources = [key for key, value in volume.items() if key != "name" and value is not None]
        assert len(sources) == 1, f"{variant}: volume {volume}"
    kinds = sorted(doc["kind"] for doc in docs)
    token_secret = [] if variant in {"existing-secret", "anonymous", "everything"} else ["Secret"]
    crds = {"anonymous": ["ServiceMonitor"], "monitoring": sorted(CRDS), "everything": sorted(CRDS)}.get(variant, [])
    assert kinds == sorted(["Deployment", "Service", *token_secret, *crds])


# -- the worker -------------------------------------------------------------------------------------------------


def test_the_worker_deployment(helm: str) -> None:
    docs = rendered(helm, "default")
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = worker(docs)
    compose = load_yaml("docker-compose.yml")["services"]["worker"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")

    assert deployment["spec"]["replicas"] == 1
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert container["image"] == compose["image"] == "salesfloor:local"
    assert re.search(r'^ENTRYPOINT \["salesfloor"\]$', dockerfile, re.M)
    assert container["args"] == compose["command"] == ["worker"]
    assert "command" not in container, "keep the image's ENTRYPOINT"
    assert container["ports"] == [{"name": "http", "containerPort": 6066, "protocol": "TCP"}]
    env = env_of(container)
    assert (env["SALESFLOOR_WEB_HOST"], env["SALESFLOOR_WEB_PORT"]) == ("0.0.0.0", "6066")  # noqa: S104
    # replicas forward API calls for keys another one owns to its pod IP, not to 0.0.0.0
    assert env["SALESFLOOR_WEB_ADVERTISED_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert "SALESFLOOR_WEB_ALLOW_ANONYMOUS" not in env

    # State on an emptyDir (rebuilt from the changelogs), a writable /tmp under a read-only root.
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert volumes[mounts[env["SALESFLOOR_DATA_DIR"]]]["emptyDir"] == {}
    assert volumes[mounts["/tmp"]]["emptyDir"]  # noqa: S108 - the container's /tmp

    # Non-root: the image's user (Kubernetes checks runAsNonRoot only against a numeric id).
    uid = int(re.search(r"useradd .*--uid (\d+) .* salesfloor\b", dockerfile)[1])  # type: ignore[index]
    assert re.findall(r"^USER (\S+)$", dockerfile, re.M)[-1] == "salesfloor"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False

    assert pod["terminationGracePeriodSeconds"] >= 30, "time for a clean Faust stop"
    assert {"requests", "limits"} <= container["resources"].keys()


def test_probes(helm: str) -> None:
    """Ready = caught up (/api/health 200, open without the token); alive = the web port accepts connections:
    /api/health answers 503 during a long catch-up, and a liveness restart would start it over."""
    container = worker(rendered(helm, "default"))
    readiness, liveness, startup = (container[probe] for probe in ("readinessProbe", "livenessProbe", "startupProbe"))
    assert readiness["httpGet"] == {"path": "/api/health", "port": "http"}
    assert liveness["tcpSocket"] == {"port": "http"} and "httpGet" not in liveness and "exec" not in liveness
    assert startup["tcpSocket"] == {"port": "http"} and "httpGet" not in startup
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "a start-up allowance"
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 30


def test_the_service(helm: str) -> None:
    docs = rendered(helm, "default")
    service = one(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 6066, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_default_env_names_match_docker_compose(helm: str) -> None:
    """The worker gets what docker-compose's worker and the Dockerfile give it, under the same names."""
    env = env_of(worker(rendered(helm, "default")))
    compose = load_yaml("docker-compose.yml")["services"]["worker"]["environment"]
    assert compose.keys() <= env.keys()
    assert env["SALESFLOOR_KAFKA_BOOTSTRAP"] == compose["SALESFLOOR_KAFKA_BOOTSTRAP"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    instructions = "\n".join(line for line in dockerfile.splitlines() if not line.lstrip().startswith("#"))
    image_env = dict(re.findall(r"\b(SALESFLOOR_\w+)=(\S+)", instructions))
    assert {"SALESFLOOR_WEB_HOST", "SALESFLOOR_DATA_DIR"} <= image_env.keys()
    for name, value in image_env.items():
        assert env[name] == value, name
    assert set(env) <= setting_names(), "every variable is a worker setting"


def test_replicas_are_one_consumer_group(helm: str) -> None:
    docs = rendered(helm, "replicas")
    assert len(by_kind(docs, "Deployment")) == 1, "one pod template: every replica has the same environment"
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    env = env_of(worker(docs))
    assert (env["SALESFLOOR_TOPIC_PREFIX"], env["SALESFLOOR_PARTITIONS"]) == ("floor-a.", "8")
    assert "SALESFLOOR_APP_ID" not in env, "the group is named after the prefix"


# -- the web token ----------------------------------------------------------------------------------------------


def helm_template_fresh(helm: str) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(helm_run(helm, *template_args(), values={})) if doc)


def test_the_chart_makes_a_random_token_secret(helm: str) -> None:
    docs = rendered(helm, "default")
    secret = one(docs, "Secret")
    assert secret["metadata"]["name"] == TOKEN_SECRET and secret["type"] == "Opaque"
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{48}", token)
    again = base64.b64decode(one(helm_template_fresh(helm), "Secret")["data"]["token"]).decode()
    assert again != token, "a fresh install gets a fresh token"
    env = env_of(worker(docs))
    source = mounted_file(docs, env["SALESFLOOR_WEB_TOKEN_FILE"])
    assert source["secretName"] == TOKEN_SECRET
    assert source["items"] == [{"key": "token", "path": "token"}]


def test_an_existing_token_secret(helm: str) -> None:
    docs = rendered(helm, "existing-secret")
    assert by_kind(docs, "Secret") == []
    env = env_of(worker(docs))
    source = mounted_file(docs, env["SALESFLOOR_WEB_TOKEN_FILE"])
    assert source["secretName"] == "floor-web"  # noqa: S105 - a Secret's name
    assert source["items"] == [{"key": "bearer", "path": "token"}]


def test_allow_anonymous(helm: str) -> None:
    docs = rendered(helm, "anonymous")
    env = env_of(worker(docs))
    assert env["SALESFLOOR_WEB_ALLOW_ANONYMOUS"] == "1"
    assert "SALESFLOOR_WEB_TOKEN_FILE" not in env and "SALESFLOOR_WEB_TOKEN" not in env
    assert by_kind(docs, "Secret") == []
    assert all("secret" not in volume for volume in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"])
    (endpoint,) = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    assert "authorization" not in endpoint
    error = helm_refuses(
        helm, *template_args(), values={"webToken": {"allowAnonymous": True, "existingSecret": "floor-web"}}
    )
    assert "webToken.allowAnonymous and webToken.existingSecret exclude each other" in error


class FakeKubernetes(BaseHTTPRequestHandler):
    """Just enough of a Kubernetes API for helm: discovery, and GET of the objects in `objects`."""

    objects: dict[str, dict[str, Any]] = {}
    requests: list[str] = []

    @staticmethod
    def resource(name: str, kind: str) -> dict[str, Any]:
        return {"name": name, "singularName": "", "namespaced": True, "kind": kind, "verbs": ["get", "list"]}

    def discovery(self, path: str) -> dict[str, Any] | None:
        apps = {"groupVersion": "apps/v1", "version": "v1"}
        monitoring = {"groupVersion": "monitoring.coreos.com/v1", "version": "v1"}
        return {
            "/version": {"major": "1", "minor": "37", "gitVersion": "v1.37.0"},
            "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
            "/apis": {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {"name": "apps", "versions": [apps], "preferredVersion": apps},
                    {"name": "monitoring.coreos.com", "versions": [monitoring], "preferredVersion": monitoring},
                ],
            },
            "/api/v1": {
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [self.resource("secrets", "Secret"), self.resource("services", "Service")],
            },
            "/apis/apps/v1": {
                "kind": "APIResourceList",
                "groupVersion": "apps/v1",
                "resources": [self.resource("deployments", "Deployment")],
            },
            "/apis/monitoring.coreos.com/v1": {
                "kind": "APIResourceList",
                "groupVersion": "monitoring.coreos.com/v1",
                "resources": [
                    self.resource("servicemonitors", "ServiceMonitor"),
                    self.resource("prometheusrules", "PrometheusRule"),
                ],
            },
        }.get(path)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        self.requests.append(path)
        body = self.discovery(path) or self.objects.get(path)
        status = 200 if body else 404
        body = body or {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_kubernetes(tmp_path: Path) -> Iterator[tuple[type[FakeKubernetes], dict[str, str]]]:
    """A fake API server on loopback and the environment that points helm at it (and nowhere else)."""

    class Handler(FakeKubernetes):
        objects: dict[str, dict[str, Any]] = {}
        requests: list[str] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "fake", "user": {}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": NAMESPACE}}],
        "current-context": "fake",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    env = {
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "NO_PROXY": "*",
    }
    try:
        yield Handler, env
    finally:
        server.shutdown()
        server.server_close()


def test_the_token_is_kept_across_upgrades(
    helm: str, fake_kubernetes: tuple[type[FakeKubernetes], dict[str, str]]
) -> None:
    """`lookup` finds the Secret of the installed release and keeps its token; without one, a new token."""
    api, env = fake_kubernetes
    path = f"/api/v1/namespaces/{NAMESPACE}/secrets/{TOKEN_SECRET}"
    args = template_args("--dry-run=server", "--show-only", "templates/secret.yaml")

    fresh = yaml.safe_load(helm_run(helm, *args, values={}, env=env))
    assert path in api.requests, "helm did not look the Secret up"
    assert re.fullmatch(r"[A-Za-z0-9]{48}", base64.b64decode(fresh["data"]["token"]).decode())

    kept = base64.b64encode(b"k" * 48).decode()
    api.objects[path] = {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": {"name": TOKEN_SECRET, "namespace": NAMESPACE},
        "data": {"token": kept},
    }
    upgraded = yaml.safe_load(helm_run(helm, *args, values={"replicaCount": 2}, env=env))
    assert upgraded["data"] == {"token": kept}


# -- NOTES.txt --------------------------------------------------------------------------------------------------


def notes(helm: str, env: dict[str, str], values: dict[str, Any]) -> str:
    """NOTES.txt as `helm install` prints it (helm needs an API server for that, even with --dry-run)."""
    output = helm_run(
        helm,
        "install",
        RELEASE,
        CHART,
        "--namespace",
        NAMESPACE,
        "--dry-run=client",
        "--disable-openapi-validation",
        values=values,
        env=env,
    )
    return output.split("NOTES:\n", 1)[1]


def test_notes_tell_how_to_get_the_token_and_the_board(
    helm: str, fake_kubernetes: tuple[type[FakeKubernetes], dict[str, str]]
) -> None:
    _, env = fake_kubernetes
    text = notes(helm, env, {})
    get_token = f"kubectl -n {NAMESPACE} get secret {TOKEN_SECRET} -o jsonpath='{{.data.token}}' | base64 -d"
    assert get_token in text
    assert f"kubectl -n {NAMESPACE} port-forward service/{FULLNAME} 6066:6066" in text
    assert 'http://127.0.0.1:6066/?token=$TOKEN"' in text
    assert "WARNING" not in text

    text = notes(helm, env, {"webToken": {"existingSecret": "floor-web", "key": "web.token"}})
    assert "get secret floor-web -o jsonpath='{.data.web\\.token}' | base64 -d" in text

    text = notes(helm, env, {"webToken": {"allowAnonymous": True}, "replicaCount": 6})
    assert "get secret" not in text and "WARNING: webToken.allowAnonymous" in text
    assert "replicaCount 6 > 4 partitions: 2 worker(s) will stay idle" in text

    text = notes(helm, env, {"metrics": {"prometheusRule": {"enabled": True}}, "config": {"leadSlaSeconds": 600}})
    assert "WARNING: config.leadSlaSeconds is 600 but the alert rules' SLA" in text


# -- settings ---------------------------------------------------------------------------------------------------


def test_every_setting_is_reachable_through_values(helm: str) -> None:
    """Each SPEC §7 setting has a value (the two plain-text secrets only as files), and the chart sets
    nothing the worker does not read."""
    names: set[str] = set()
    for variant in VARIANTS:
        env = env_of(worker(rendered(helm, variant)))
        names |= {name for name in env if name.startswith("SALESFLOOR_")}
    file_only = {"SALESFLOOR_KAFKA_PASSWORD", "SALESFLOOR_WEB_TOKEN"}
    assert setting_names() - file_only - names == set(), "settings the chart cannot set"
    assert names - setting_names() == set(), "variables the worker does not read"

    values = load_yaml(f"{CHART}/values.yaml")["config"]
    schema = json.loads((REPO / CHART / "values.schema.json").read_text(encoding="utf-8"))
    assert list(values) == list(schema["properties"]["config"]["properties"]), "values.yaml and schema differ"
    assert all(value is None for value in values.values()), "config defaults are the worker's own"
    assert set(ALL_CONFIG) == set(values)


def test_rendered_settings_are_accepted_by_the_worker(helm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's own settings parser takes what the chart renders: whole numbers without an exponent,
    lists joined with commas."""
    env = env_of(worker(rendered(helm, "everything")))
    for name in [name for name in os.environ if name.startswith("SALESFLOOR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        # Files the pod mounts are not here; the webhook URL comes from a Secret.
        if name.startswith("SALESFLOOR_") and isinstance(value, str) and not name.endswith("_FILE"):
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.max_reps == 1_000_000 and settings.partitions == 12 and settings.replication_factor == 3
    assert settings.thresholds == (300, 1800, 3600) and settings.milestones == (0.5, 1.0, 1.5)
    assert settings.stages == ("discovery", "proposal")
    assert (settings.history_days, settings.flush_interval_seconds) == (400.5, 0.1)
    assert (settings.timezone, settings.currency, settings.faust_id) == ("Europe/Berlin", "CHF", "floor-a.kpis")
    assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert settings.web_host == "0.0.0.0"  # noqa: S104


def test_everything_variant(helm: str) -> None:
    docs = rendered(helm, "everything")
    container = worker(docs)
    env = env_of(container)
    assert container["image"] == "registry.example.com/salesfloor:0.1.0"
    assert container["args"] == ["worker", "--loglevel", "warning"]
    assert env["SALESFLOOR_ALERT_WEBHOOK_URL"] == {"secretKeyRef": {"name": "slack", "key": "url"}}
    assert mounted_file(docs, env["SALESFLOOR_ALERT_ROUTES_FILE"])["secretName"] == "alert-routes"
    assert mounted_file(docs, env["SALESFLOOR_KAFKA_CA_FILE"])["secretName"] == "kafka-ca"
    assert env["PYTHONFAULTHANDLER"] == "1"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == {"secretKeyRef": {"name": "otel", "key": "headers"}}
    data = [v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
    assert data[0]["emptyDir"] == {"sizeLimit": "1Gi"}


def test_extra_env_cannot_shadow_the_charts_own(helm: str) -> None:
    error = helm_refuses(helm, *template_args(), values={"extraEnv": {"SALESFLOOR_WEB_HOST": "127.0.0.1"}})
    assert "extraEnv.SALESFLOOR_WEB_HOST: the chart sets SALESFLOOR_WEB_HOST itself" in error


def test_kafka_sasl(helm: str) -> None:
    docs = rendered(helm, "sasl")
    env = env_of(worker(docs))
    assert env["SALESFLOOR_KAFKA_BOOTSTRAP"] == SASL["bootstrap"]
    assert (env["SALESFLOOR_KAFKA_SECURITY_PROTOCOL"], env["SALESFLOOR_KAFKA_SASL_MECHANISM"]) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert env["SALESFLOOR_KAFKA_USER"] == "salesfloor"
    assert "SALESFLOOR_KAFKA_PASSWORD" not in env, "the password only as a file"
    password = mounted_file(docs, env["SALESFLOOR_KAFKA_PASSWORD_FILE"])
    assert password["secretName"] == "kafka-salesfloor"
    assert password["items"] == [{"key": "password", "path": "password"}]
    ca = mounted_file(docs, env["SALESFLOOR_KAFKA_CA_FILE"])
    assert ca["name"] == "kafka-ca" and ca["items"] == [{"key": "ca.pem", "path": "ca.crt"}]

    without_password = {"kafka": {"securityProtocol": "SASL_SSL", "user": "salesfloor"}}
    error = helm_refuses(helm, *template_args(), values=without_password)
    assert "kafka.securityProtocol=SASL_SSL needs kafka.user and kafka.password.existingSecret" in error
    both = {"kafka": {"ca": {"existingSecret": "a", "existingConfigMap": "b"}}}
    assert "existingSecret or existingConfigMap, not both" in helm_refuses(helm, *template_args(), values=both)


BAD_VALUES = {
    "replicas-as-text": {"replicaCount": "three"},
    "partitions-as-text": {"config": {"partitions": "8"}},
    "unknown-setting": {"config": {"partition": 8}},
    "unknown-top-level-key": {"replicas": 3},
    "anonymous-as-text": {"webToken": {"allowAnonymous": "yes"}},
    "security-protocol": {"kafka": {"securityProtocol": "TLS"}},
    "currency": {"config": {"currency": "euro"}},
    "bootstrap-without-port": {"kafka": {"bootstrap": "kafka"}},
    "service-monitor-as-text": {"metrics": {"serviceMonitor": {"enabled": "true"}}},
    "extra-env-list": {"extraEnv": [{"name": "A", "value": "b"}]},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=list(BAD_VALUES))
def test_the_schema_refuses_bad_values(helm: str, values: dict[str, Any]) -> None:
    for command in (template_args(), ("lint", CHART)):
        error = helm_refuses(helm, *command, values=values)
        assert "values don't meet the specifications of the schema" in error, error


# -- prometheus-operator ----------------------------------------------------------------------------------------


def rules_job() -> str:
    (job,) = set(re.findall(r'job="([^"]+)"', (REPO / RULES).read_text(encoding="utf-8")))
    return job


@pytest.mark.parametrize("variant", ["monitoring", "everything"])
def test_service_monitor(helm: str, variant: str) -> None:
    docs = rendered(helm, variant)
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service")
    assert (monitor["apiVersion"], monitor["metadata"]["name"]) == ("monitoring.coreos.com/v1", FULLNAME)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(monitor["spec"]) == {"selector", "namespaceSelector", "endpoints"}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "authorization", "relabelings"}
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]} and endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics" and DURATION.match(endpoint["interval"])
    secret, key = ("floor-web", "token") if variant == "everything" else (TOKEN_SECRET, "token")
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": {"name": secret, "key": key}}
    if variant == "monitoring":
        assert one(docs, "Secret")["metadata"]["name"] == secret and key in one(docs, "Secret")["data"]
    # The rules select the workers by job: the scrape must carry that job, whatever the Service's name.
    assert endpoint["relabelings"] == [{"action": "replace", "targetLabel": "job", "replacement": rules_job()}]


@pytest.mark.parametrize("variant", ["monitoring", "everything"])
def test_prometheus_rule_has_the_rules_files_groups(helm: str, variant: str) -> None:
    rule = one(rendered(helm, variant), "PrometheusRule")
    assert (rule["apiVersion"], rule["metadata"]["name"]) == ("monitoring.coreos.com/v1", FULLNAME)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(rule["spec"]) == {"groups"}
    assert rule["spec"]["groups"] == load_yaml(RULES)["groups"]
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for item in group["rules"]:
            assert len({"alert", "record"} & item.keys()) == 1 and item["expr"]


def test_the_chart_reads_the_rules_file_itself() -> None:
    """No copy to drift: the chart's file is a relative symlink to deploy/prometheus's."""
    link = REPO / CHART / "files" / "salesfloor.rules.yml"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == (REPO / RULES).resolve()


def test_monitoring_objects_are_off_by_default(helm: str) -> None:
    kinds = {doc["kind"] for doc in rendered(helm, "default")}
    assert kinds.isdisjoint(CRDS)
    values = load_yaml(f"{CHART}/values.yaml")["metrics"]
    assert values["serviceMonitor"]["enabled"] is False and values["prometheusRule"]["enabled"] is False


def test_the_packaged_chart_carries_the_rules(helm: str, tmp_path: Path) -> None:
    """`helm package` stores the symlink's content: a chart installed from the .tgz has the same rules."""
    helm_run(helm, "package", CHART, "--destination", str(tmp_path))
    (package,) = tmp_path.glob("salesfloor-*.tgz")
    output = helm_run(
        helm,
        "template",
        RELEASE,
        str(package),
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--show-only",
        "templates/prometheusrule.yaml",
    )
    assert yaml.safe_load(output)["spec"]["groups"] == load_yaml(RULES)["groups"]
