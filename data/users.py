"""Users, their roles and the regions they may see; password checks; the audit log.

Roles: ``admin`` (everything, imports), ``manager`` (all regions, read), ``risk_committee``
(all regions, stress scenarios), ``regional_head`` (only the regions in ``user_regions``).
Passwords are stored as scrypt hashes (``scrypt$n$r$p$salt$hash``, hex), never in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from data.read import Scope
from data.schema import AuditLog, User, UserRegion

__all__ = [
    "ROLES",
    "AppUser",
    "hash_password",
    "verify_password",
    "create_user",
    "authenticate",
    "get_user",
    "audit",
    "DEMO_USERS",
    "seed_demo_users",
]

ROLES: tuple[str, ...] = ("admin", "manager", "risk_committee", "regional_head")
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class AppUser:
    """A signed-in user and the scope every read is made in."""

    username: str
    display_name: str
    role: str
    scope: Scope


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got.hex(), digest)


def create_user(
    conn: sa.Connection,
    username: str,
    display_name: str,
    password: str,
    role: str,
    regions: list[str] | None = None,
) -> None:
    """Create (or replace) a user. A regional head must be given at least one region."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {ROLES}")
    if role == "regional_head" and not regions:
        raise ValueError("a regional head needs at least one region")
    conn.execute(sa.delete(UserRegion).where(UserRegion.username == username))
    conn.execute(sa.delete(User).where(User.username == username))
    conn.execute(
        sa.insert(User).values(
            username=username,
            display_name=display_name,
            password_hash=hash_password(password),
            role=role,
            all_regions=role != "regional_head",
        )
    )
    if role == "regional_head":
        conn.execute(sa.insert(UserRegion), [{"username": username, "region_code": c} for c in sorted(set(regions))])


def get_user(conn: sa.Connection, username: str) -> AppUser | None:
    """The user with their scope, or ``None``."""
    row = conn.execute(
        sa.select(User.username, User.display_name, User.role, User.all_regions).where(User.username == username)
    ).first()
    if row is None:
        return None
    if row.all_regions:
        scope = Scope.all()
    else:
        codes = conn.execute(sa.select(UserRegion.region_code).where(UserRegion.username == username)).scalars()
        scope = Scope.of(codes)
    return AppUser(row.username, row.display_name, row.role, scope)


def authenticate(conn: sa.Connection, username: str, password: str) -> AppUser | None:
    """The user when the password matches, else ``None``. Both outcomes are audited."""
    stored = conn.execute(sa.select(User.password_hash).where(User.username == username)).scalar_one_or_none()
    ok = stored is not None and verify_password(password, stored)
    audit(conn, username, "login" if ok else "login_failed")
    return get_user(conn, username) if ok else None


def audit(conn: sa.Connection, username: str | None, action: str, detail: dict | None = None) -> None:
    """Append a line to the audit log."""
    conn.execute(
        sa.insert(AuditLog).values(
            occurred_at=dt.datetime.now(),
            username=username,
            action=action,
            detail=json.dumps(detail, ensure_ascii=False) if detail else None,
        )
    )


DEMO_USERS: tuple[tuple[str, str, str, list[str] | None], ...] = (
    ("admin", "Administrator 管理员", "admin", None),
    ("manager", "Portfolio manager 行长", "manager", None),
    ("risk", "Risk committee 风险委员会", "risk_committee", None),
    ("guangdong", "Guangdong head 广东分行", "regional_head", ["440000"]),
    ("northeast", "Northeast head 东北区域", "regional_head", ["210000", "220000", "230000"]),
)
"""Demo users (password ``daihou`` for all), created with the demo portfolio only."""


def seed_demo_users(conn: sa.Connection, password: str = "daihou") -> None:
    """Create the demo users unless any user exists."""
    if conn.execute(sa.select(User.username).limit(1)).first() is not None:
        return
    for username, name, role, regions in DEMO_USERS:
        create_user(conn, username, name, password, role, regions)
