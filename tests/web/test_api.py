"""The API: session or token auth, and an OpenAPI schema that covers every endpoint."""
import re

import pytest
import yaml
from django.urls import get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def grace(django_user_model):
    return django_user_model.objects.create_user("grace", password="a long pass phrase 42")


def test_anonymous_requests_are_refused():
    assert APIClient().get("/api/me/").status_code == 401


def test_a_token_from_the_password_authenticates_later_requests(grace):
    token = APIClient().post("/api/auth/token/", {"username": "grace", "password": "a long pass phrase 42"}).json()["token"]
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/me/").json()["username"] == "grace"
    assert APIClient(HTTP_AUTHORIZATION="Token wrong").get("/api/me/").status_code == 401


def test_session_auth_works_for_the_pages_javascript(client, grace):
    client.force_login(grace)
    assert client.get("/api/me/").json()["username"] == "grace"


def test_methods_lists_what_the_registry_has(client, grace):
    from ml import registry

    client.force_login(grace)
    names = [method["name"] for method in client.get("/api/methods/").json()]
    assert names == registry.available()


def api_routes():
    routes = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                routes.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns)
    return [r for r in routes if r.startswith("api/") and not r.startswith(("api/schema", "api/docs"))]


def as_openapi_path(route: str) -> str | None:
    """'api/recipes/^(?P<id>[^/.]+)/fork/$' or 'api/photos/<str:id>/image/' -> '/api/recipes/{id}/fork/'."""
    if "format>" in route or route.endswith("api/"):
        return None  # format-suffix twins and the router's root view are not endpoints of their own
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    return "/" + route.replace("{pk}", "{id}")  # drf-spectacular names a primary key "id"


def test_the_openapi_schema_covers_every_api_endpoint(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    documented = set(schema["paths"])
    paths = [p for p in map(as_openapi_path, api_routes()) if p]
    assert "/api/recipes/{id}/fork/" in paths and "/api/photos/{id}/image/" in paths
    for path in paths:
        assert path in documented, f"{path} is missing from the OpenAPI schema"


def test_the_docs_page_works_offline(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page and "cdn" not in page.lower()
