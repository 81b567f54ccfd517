"""People: the owner, plus named users of a shared hub. Each user has their own API keys
(`api_keys.owner` = `user:<id>`), so messages, changes and audit entries say who. A removed
user is disabled, not deleted: what they said still names them."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from neurocache.access.records import UserRecord
from neurocache.errors import Conflict, InvalidInput, NotFound
from neurocache.store import audit
from neurocache.store.audit import Actor
from neurocache.store.database import Database, get_or_not_found
from neurocache.store.paging import newest_first
from neurocache.store.tables import User
from neurocache.store.types import isoformat, utcnow

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")  # what @mentions address


def person_of(user_id: str) -> str:
    return f"user:{user_id}"


def user_view(user: User) -> UserRecord:
    return UserRecord(
        id=user.id,
        name=user.name,
        display_name=user.display_name,
        person=person_of(user.id),
        created_at=isoformat(user.created_at) or "",
        disabled_at=isoformat(user.disabled_at),
    )


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, actor: Actor, display_name: str | None = None) -> UserRecord:
        if not USER_NAME.match(name):
            raise InvalidInput(
                "a user name is 1 to 100 of a-z 0-9 _ . - (lower case, as @mentions write it)",
                details={"field": "name"},
            )
        taken = Conflict(f"a user named {name!r} exists", details={"field": "name"})
        try:
            with self.db.session() as session:
                if session.scalar(select(User.id).where(User.name == name)) or name == "owner":
                    raise taken
                user = User(name=name, display_name=(display_name or name).strip() or name)
                session.add(user)
                session.flush()
                view = user_view(user)
                audit.record(session, actor, "user.create", ("user", user.id), None, view)
        except IntegrityError as exc:  # the same name made at the same moment
            raise taken from exc
        return view

    def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[builtins.list[UserRecord], str | None]:
        with self.db.session() as session:
            return newest_first(session, select(User), User, limit, cursor, user_view)

    def get(self, user_id_or_name: str) -> UserRecord:
        with self.db.session() as session:
            user = session.get(User, user_id_or_name) or session.scalar(
                select(User).where(User.name == user_id_or_name)
            )
            if user is None:
                raise NotFound(f"no user {user_id_or_name}")
            return user_view(user)

    def disable(
        self, user_id: str, actor: Actor, revoke_keys: Callable[..., int]
    ) -> tuple[UserRecord, int]:
        """The user can no longer sign in: disabled with every key revoked, in one
        transaction (`revoke_keys` is `Keys.revoke_all_of`). (The user, how many keys.)"""
        user = self.get(user_id)

        def disable_row(session: Session) -> None:
            row = get_or_not_found(session, User, user.id, "user")
            before = user_view(row)
            row.disabled_at = row.disabled_at or utcnow()
            session.flush()
            audit.record(session, actor, "user.disable", ("user", row.id), before, user_view(row))

        revoked = revoke_keys(user.person, actor, along=disable_row)
        return self.get(user.id), revoked

    def person_for_new_key(self, user_id_or_name: str) -> str:
        """`user:<id>` of a live user (a disabled one gets no new key: 409)."""
        user = self.get(user_id_or_name)
        if user.disabled_at is not None:
            raise Conflict(f"user {user.name} is disabled")
        return user.person
