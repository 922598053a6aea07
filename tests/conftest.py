"""Shared fixtures: every test gets its own archive and launching area."""

import shutil

import pytest
from django.contrib.auth.models import Group as Role

pytest_plugins = ["tests.browser", "tests.butler_fixtures", "tests.scripted_wms"]


@pytest.fixture(autouse=True)
def cm_dirs(settings, tmp_path):
    """Point the YAML archive, PanDA archive and launching area at a fresh temporary directory."""
    settings.CM_YAML_ARCHIVE_DIR = tmp_path / "archive" / "yaml"
    settings.CM_PANDA_ARCHIVE_DIR = tmp_path / "archive" / "panda"
    settings.CM_LAUNCH_DIR = tmp_path / "launch"
    return tmp_path


@pytest.fixture
def operator(django_user_model):
    """A person allowed to act on campaigns."""
    return django_user_model.objects.create_user("olivia", password="operator-pass-123")


@pytest.fixture
def shifter(django_user_model):
    """A person with the shifter role: reads everything, acknowledges alarms."""
    user = django_user_model.objects.create_user("sam", password="shifter-pass-123")
    user.groups.add(Role.objects.get(name="shifter"))
    return user


@pytest.fixture
def operator_role(operator):
    """``operator`` given the operator role: launches, retries, validates, invalidates."""
    operator.groups.add(Role.objects.get(name="operator"))
    return operator


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("ada", "ada@example.org", "admin-pass-123")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests make users; full-strength hashing would cost half a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def demo_butler(settings, demo_repo_template, tmp_path):
    """The label ``demo`` (the examples' butler_repo) names this test's copy of the demo repo."""
    from campaigns.butler import adapter

    copy = shutil.copytree(demo_repo_template, tmp_path / "demo-repo")
    settings.CM_BUTLER_REPOSITORIES = {"demo": str(copy)}
    yield copy
    adapter.forget()
