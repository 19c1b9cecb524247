"""Every bake's Kubernetes manifests render with kustomize and are valid
against the API schemas of a current Kubernetes release (offline:
kubernetes-validate ships them). Validated only: no cluster runs here."""

import re
import shutil

import kubernetes_validate
import pytest
import yaml

from harness.bakery import load_compose, require, run

OVERLAY = "deploy/kubernetes/overlays/production"
# The oldest release whose schemas the manifests must meet; the newest the
# validator knows is checked too.
KUBERNETES_VERSIONS = ["1.33.0", kubernetes_validate.latest_version()]


@pytest.fixture(params=["flask-app", "shop_api"])
def manifests(request, bake) -> dict[str, dict]:
    """The production overlay, rendered, by kind."""
    if not shutil.which("kustomize"):
        require("lint", "kustomize is not installed (.ci/docker-up.sh installs it)")
    project = bake(project=request.param)
    overlay = project / OVERLAY
    shutil.copy(overlay / "web.env.example", overlay / "web.env")
    result = run(["kustomize", "build", str(overlay)], project)
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    by_kind = {document["kind"]: document for document in documents}
    assert len(by_kind) == len(documents), "one resource of each kind"
    return by_kind


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(manifests, version):
    assert set(manifests) == {"Secret", "Service", "Deployment", "PodDisruptionBudget", "Job"}
    for document in manifests.values():
        # strict: an unknown or misplaced field is an error, not ignored.
        kubernetes_validate.validate(document, version, strict=True)


def container(document: dict) -> dict:
    (only,) = document["spec"]["template"]["spec"]["containers"]
    return only


def env(document: dict) -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container(document)["env"]}


def test_the_web_replicas_leave_migrations_to_the_release_job(manifests):
    assert env(manifests["Deployment"])["SKIP_MIGRATIONS"] == "1"
    assert env(manifests["Job"])["SKIP_MIGRATIONS"] == "0"
    assert container(manifests["Job"])["image"] == container(manifests["Deployment"])["image"]
    assert manifests["Job"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_probes_resources_and_a_locked_down_container(manifests):
    for kind in ("Deployment", "Job"):
        pod = manifests[kind]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        web = container(manifests[kind])
        assert web["securityContext"]["readOnlyRootFilesystem"] is True
        assert web["securityContext"]["allowPrivilegeEscalation"] is False
        assert web["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(web["resources"]["requests"])
    web = container(manifests["Deployment"])
    assert web["readinessProbe"]["httpGet"]["path"] == "/health"
    assert web["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert manifests["Deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_service_and_the_budget_select_the_web_pods(manifests):
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        manifests["Service"]["spec"]["selector"],
        manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items() and selector
    budget = manifests["PodDisruptionBudget"]["spec"]["minAvailable"]
    assert budget < manifests["Deployment"]["spec"]["replicas"]


def test_the_secret_holds_the_web_variables_and_never_the_root_password(manifests, bake):
    compose = load_compose(bake())
    web_variables = set(compose["services"]["web"]["environment"])
    keys = set(manifests["Secret"]["data"])
    assert {"SECRET_KEY", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE", "DB_HOST"} <= keys
    assert keys <= web_variables, keys - web_variables
    assert "MYSQL_ROOT_PASSWORD" not in keys
    secret_name = manifests["Secret"]["metadata"]["name"]
    for kind in ("Deployment", "Job"):
        assert container(manifests[kind])["envFrom"] == [{"secretRef": {"name": secret_name}}]


def test_the_pods_run_as_the_images_own_user(bake):
    project = bake()
    uid = re.search(r"useradd .*--uid (\d+)", (project / "Dockerfile").read_text())
    assert uid, "the Dockerfile gives its user a fixed uid"
    for name in ("deployment.yaml", "migrate-job.yaml"):
        manifest = yaml.safe_load((project / "deploy/kubernetes/base" / name).read_text())
        security = manifest["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsUser"] == security["runAsGroup"] == int(uid.group(1)), name
