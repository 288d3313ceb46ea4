"""Users: password hashing, roles, scopes, audit."""

import pytest
import sqlalchemy as sa

from data.read import Scope
from data.schema import AuditLog, User
from data.users import authenticate, create_user, get_user, hash_password, seed_demo_users, verify_password


def test_password_hash_roundtrip():
    h = hash_password("s3cret")
    assert "s3cret" not in h
    assert verify_password("s3cret", h)
    assert not verify_password("S3cret", h)
    assert hash_password("s3cret") != h  # salted
    assert not verify_password("x", "garbage")


def test_regional_head_scope_and_audit(engine):
    with engine.begin() as c:
        create_user(c, "gd", "GD head", "pw", "regional_head", ["440000", "450000"])
        create_user(c, "boss", "Boss", "pw", "manager")
        assert authenticate(c, "gd", "wrong") is None
        u = authenticate(c, "gd", "pw")
        assert u.scope == Scope.of(["440000", "450000"]) and u.role == "regional_head"
        assert get_user(c, "boss").scope == Scope.all()
        assert get_user(c, "nobody") is None
        actions = c.execute(sa.select(AuditLog.action).order_by(AuditLog.audit_id)).scalars().all()
    assert actions == ["login_failed", "login"]


def test_bad_roles_rejected(engine):
    with engine.begin() as c:
        with pytest.raises(ValueError, match="unknown role"):
            create_user(c, "x", "X", "pw", "king")
        with pytest.raises(ValueError, match="at least one region"):
            create_user(c, "x", "X", "pw", "regional_head", [])


def test_demo_users_seeded_once(engine):
    with engine.begin() as c:
        seed_demo_users(c)
        seed_demo_users(c)
        assert c.execute(sa.select(sa.func.count()).select_from(User)).scalar() == 5
        assert get_user(c, "northeast").scope == Scope.of(["210000", "220000", "230000"])
