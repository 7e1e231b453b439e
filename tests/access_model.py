"""The example application's access rules (issue 16, item 8), written plainly in Python.

This is the independent side of tests/test_access_property.py: it knows nothing of the engine's
rule language, paths or SQL. A `World` holds users, teams (with their owner), memberships
(role, active or pending), agents (with their owner) and shares; each question below is the
sentence of the issue it answers.

- agents: the owner reads and changes them; (active) members of a team the agent is shared with
  read them without `system_prompt`; owners and admins of such a team also read `system_prompt`.
- users: each user reads their own row; co-members of a team (active memberships) read each
  other's `id` and `name` only; admins read all.
- teams: (active) members read; the owner and team admins update and manage members; only the
  owner deletes; a membership with role `owner` belongs to the team's `owner_id` alone, and an
  admin can grant only member or admin, and cannot change or remove the owner's membership.
- a row the caller cannot see is a 404; one they can see but not change is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ADMIN = "admin"  # the caller with the admin role
MANAGERS = ("owner", "admin")
USER_FIELDS = {
    "id",
    "email",
    "name",
    "google_id",
    "tutorial_completed",
    "tutorial_progress",
    "created_at",
    "updated_at",
}
CO_MEMBER_FIELDS = {"id", "name"}


@dataclass
class Membership:
    role: str  # owner | admin | member
    active: bool


@dataclass
class World:
    users: list[str]
    team_owner: dict[str, str] = field(default_factory=dict)  # team id -> owner user id
    members: dict[tuple[str, str], Membership] = field(default_factory=dict)  # (team, user) -> membership
    agent_owner: dict[str, str] = field(default_factory=dict)  # agent id -> owner user id
    shares: set[tuple[str, str]] = field(default_factory=set)  # (team, agent)

    # --- teams -------------------------------------------------------------------------------------

    def active_role(self, team: str, user: str) -> str | None:
        membership = self.members.get((team, user))
        return membership.role if membership is not None and membership.active else None

    def reads_team(self, caller: str, team: str) -> bool:
        return caller == ADMIN or caller == self.team_owner[team] or self.active_role(team, caller) is not None

    def manages_team(self, caller: str, team: str) -> bool:
        return caller == ADMIN or caller == self.team_owner[team] or self.active_role(team, caller) in MANAGERS

    def deletes_team(self, caller: str, team: str) -> bool:
        return caller == ADMIN or caller == self.team_owner[team]

    def active_members(self, team: str) -> set[str]:
        return {user for (t, user), m in self.members.items() if t == team and m.active}

    # --- agents ------------------------------------------------------------------------------------

    def sharing_teams(self, agent: str) -> set[str]:
        return {team for team, a in self.shares if a == agent}

    def reads_agent(self, caller: str, agent: str) -> bool:
        if caller == ADMIN or caller == self.agent_owner[agent]:
            return True
        return any(self.active_role(team, caller) is not None for team in self.sharing_teams(agent))

    def reads_prompt(self, caller: str, agent: str) -> bool:
        if caller == ADMIN or caller == self.agent_owner[agent]:
            return True
        return any(self.active_role(team, caller) in MANAGERS for team in self.sharing_teams(agent))

    def changes_agent(self, caller: str, agent: str) -> bool:
        return caller == ADMIN or caller == self.agent_owner[agent]

    # --- users -------------------------------------------------------------------------------------

    def co_members(self, a: str, b: str) -> bool:
        return any(a in self.active_members(team) and b in self.active_members(team) for team in self.team_owner)

    def user_fields(self, caller: str, user: str) -> set[str] | None:
        """The fields of `user`'s row the caller reads; None when the row is hidden."""
        if caller == ADMIN or caller == user:
            return USER_FIELDS
        return CO_MEMBER_FIELDS if self.co_members(caller, user) else None

    # --- answers -----------------------------------------------------------------------------------

    def read_status(self, visible: bool) -> int:
        return 200 if visible else 404

    def write_status(self, visible: bool, allowed: bool, success: int) -> int:
        """Hidden -> 404; visible but not allowed -> 403."""
        if not visible:
            return 404
        return success if allowed else 403

    def member_patch(self, caller: str, team: str, target: str, role: str) -> int:
        """PATCH /api/teams/{team}/members/{target} {"role": role}."""
        if not self.manages_team(caller, team):
            return self.write_status(self.reads_team(caller, team), False, 200)
        current = self.members.get((team, target))
        if current is None or not current.active:
            return 404
        if current.role == "owner" and caller != self.team_owner[team]:
            return 403  # an admin cannot change the owner's membership
        if role == "owner" and not (target == caller == self.team_owner[team]):
            return 403  # role owner belongs to the team's owner alone
        return 200

    def member_delete(self, caller: str, team: str, target: str) -> int:
        """DELETE /api/teams/{team}/members/{target}: no link or a pending one answer alike (204)."""
        if not self.manages_team(caller, team):
            return self.write_status(self.reads_team(caller, team), False, 204)
        current = self.members.get((team, target))
        if current is not None and current.active and current.role == "owner" and caller != self.team_owner[team]:
            return 403
        return 204

    def member_invite(self, caller: str, team: str, target: str, role: str) -> int:
        """POST /api/teams/{team}/members {"user_id": target, "role": role}: a pending invitation."""
        if not self.manages_team(caller, team):
            return self.write_status(self.reads_team(caller, team), False, 202)
        if role == "owner" and not (target == caller == self.team_owner[team]):
            return 403  # the value is refused first, whether the user exists, is invited or is a member
        current = self.members.get((team, target))
        return 409 if current is not None and current.active else 202

    def apply_member_write(self, kind: str, team: str, target: str, role: str) -> None:
        """What a successful membership write changed."""
        if kind == "patch":
            self.members[(team, target)].role = role
        elif kind == "delete":
            self.members.pop((team, target), None)
        elif target in self.users:  # an invitation, new or refreshed: pending until accepted
            self.members[(team, target)] = Membership(role, False)
