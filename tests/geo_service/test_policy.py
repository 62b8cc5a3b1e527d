"""The one policy table: every action a route can ask about has its roles, and a refusal
names the action and the roles that may do it."""

from __future__ import annotations

import pytest

from geo_service.auth import POLICY, Action, Principal, Role
from geo_service.errors import Forbidden


def test_every_action_has_an_entry_so_no_check_can_fail_with_a_500() -> None:
    assert set(POLICY) == set(Action)
    assert all(POLICY[action] for action in Action), "an action no role may do is dead code"


def test_only_stewards_touch_the_audit_trail_export_and_deletion() -> None:
    for action in (Action.READ_AUDIT, Action.EXPORT_PROGRAM, Action.DELETE_PROGRAM):
        assert POLICY[action] == {Role.STEWARD}
    assert Role.PEER not in POLICY[Action.READ_EVENTS]
    assert Role.PLANNER not in POLICY[Action.SUBMIT_EVENTS]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_check_refuses_exactly_the_roles_the_table_leaves_out(role: Role, action: Action) -> None:
    principal = Principal(key_id=1, role=role, program="town", program_id=1)
    assert principal.may(action) == (role in POLICY[action])
    if principal.may(action):
        principal.check(action)
        return
    with pytest.raises(Forbidden) as refused:
        principal.check(action)
    allowed = ", ".join(sorted(r.value for r in POLICY[action]))
    assert str(refused.value.detail) == f"{action.value} needs one of the roles: {allowed}"
