"""Permissions come from the user and their groups, as Django's ModelBackend gives them, in
one query."""

import pytest
from django.contrib.auth.models import Group as Role
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_a_users_own_and_group_permissions_are_read_in_one_query(django_user_model):
    user = django_user_model.objects.create_user("pat")
    user.groups.add(Role.objects.get(name="shifter"))
    user.user_permissions.add(Permission.objects.get(codename="operate_campaign"))
    user = django_user_model.objects.get(pk=user.pk)
    with CaptureQueriesContext(connection) as read:
        assert user.has_perm("campaigns.acknowledge_alarm")  # from the shifter group
        assert user.has_perm("campaigns.operate_campaign")  # given to the user
        assert not user.has_perm("campaigns.delete_campaign")
    assert len(read) == 1


def test_superusers_have_every_permission_and_inactive_users_none(django_user_model):
    boss = django_user_model.objects.create_superuser("boss", password="x-long-password-1")
    assert boss.has_perm("campaigns.delete_campaign")
    gone = django_user_model.objects.create_user("gone", is_active=False)
    gone.groups.add(Role.objects.get(name="operator"))
    gone = django_user_model.objects.get(pk=gone.pk)
    assert not gone.has_perm("campaigns.operate_campaign") and gone.get_all_permissions() == set()
