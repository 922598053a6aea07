"""Shared fixtures: every test gets its own archive and launching area."""

import pytest


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
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("ada", "ada@example.org", "admin-pass-123")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests make users; full-strength hashing would cost half a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
