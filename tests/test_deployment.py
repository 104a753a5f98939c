"""The Docker deployment: compose.yaml parses and names only variables the service reads.

No Docker daemon is needed for these, except for the image build, which runs where one answers.
"""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import Settings

ROOT = Path(__file__).parent.parent
SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_runs_two_workers_with_postgres_and_redis_behind_one_port() -> None:
    services = compose()["services"]
    assert {"app", "postgres", "redis", "proxy"} <= set(services)
    app = services["app"]
    assert app["build"] == "." and app["deploy"]["replicas"] == 2
    assert (
        app["environment"]["DATABASE_URL"].startswith("postgresql://")
        and "@postgres:5432/" in (app["environment"]["DATABASE_URL"])
    )
    assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert {"postgres", "redis"} <= set(app["depends_on"])
    assert services["proxy"]["ports"] == ["${BACKEND_PORT:-8000}:8080"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server app:8000" in nginx and "proxy_buffering off" in nginx


def test_compose_keeps_the_database_and_the_uploads_in_volumes() -> None:
    document = compose()
    assert {"pgdata", "uploads"} <= set(document["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in document["services"]["postgres"]["volumes"]
    app = document["services"]["app"]
    assert f"uploads:{app['environment']['UPLOAD_DIR']}" in app["volumes"]


def test_compose_sets_only_variables_the_service_reads() -> None:
    environment = compose()["services"]["app"]["environment"]
    unknown = set(environment) - SETTINGS_VARIABLES
    assert not unknown, f"compose.yaml sets variables no Settings field reads: {unknown}"


def test_the_image_runs_as_a_user_with_a_health_check_on_the_configured_port() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    health = re.search(r"^HEALTHCHECK .*(?:\n\s+.*)*", dockerfile, re.M)
    assert health and "/health" in health.group() and "BACKEND_PORT" in health.group()
    assert {"BACKEND_PORT", "BACKEND_HOST", "UPLOAD_DIR"} <= set(re.findall(r"\b([A-Z_]+)=", dockerfile))
    assert {"BACKEND_PORT", "BACKEND_HOST", "UPLOAD_DIR"} <= SETTINGS_VARIABLES


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.mark.timeout(900)
def test_the_image_builds_where_a_docker_daemon_answers() -> None:
    if not _docker_answers():
        pytest.skip("no Docker daemon answers here")
    built = subprocess.run(
        ["docker", "build", "--quiet", "-t", "lite-llm-chat:test", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=880,
    )
    assert built.returncode == 0, built.stderr[-2000:]
