"""The closed loop (闭环) of an event as an explicit state machine: states, actions, rules.

Pure: no database. `gridmap.events.lifecycle` asks `transition()` before it changes anything, so
every door (API, CLI, overdue check) obeys the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridmap.errors import IllegalTransition, InvalidInput

# Who acts when no person does: the overdue check, the duplicate search.
SYSTEM_ACTOR = "system"

# States, in the order of the closed loop; the last two leave it.
REPORTED = "reported"  # 问题上报: taken in, maybe not yet placed on the map
REGISTERED = "registered"  # 案卷建立
ASSIGNED = "assigned"  # 任务指派
IN_PROGRESS = "in_progress"  # 调查落实
REPORTED_BACK = "reported_back"  # 反馈结果
CLOSED = "closed"  # 结案
ARCHIVED = "archived"  # 归档
RETURNED = "returned"  # 退回: the team says it is not theirs; waits to be re-assigned
MERGED = "merged"  # merged into another event as its duplicate

STATES = (
    REPORTED,
    REGISTERED,
    ASSIGNED,
    IN_PROGRESS,
    REPORTED_BACK,
    CLOSED,
    ARCHIVED,
    RETURNED,
    MERGED,
)
# Still someone's work: counted as "open" and checked for deadlines.
OPEN_STATES = frozenset({REPORTED, REGISTERED, ASSIGNED, IN_PROGRESS, REPORTED_BACK, RETURNED})
# Waiting for a team to start: the response deadline applies (from receipt, so an
# unregistered report waits too).
AWAITING_RESPONSE = frozenset({REPORTED, REGISTERED, ASSIGNED, RETURNED})

# The four-level cycle (四级循环): where an escalation goes next.
LEVELS = ("grid", "community", "township", "county")

# What an action needs besides the actor: checked before anything is changed.
TEAM = "team"
REASON = "reason"
NOTE = "note"
CO_TEAMS = "co_teams"
TARGET = "target"
SATISFACTION = "satisfaction"


@dataclass(frozen=True, slots=True)
class Rule:
    """One action: the states it is allowed from, the state it leads to, what it needs.

    `to_state` None means the state does not change (a note on the timeline, a visit).
    """

    action: str
    label: str
    from_states: frozenset[str]
    to_state: str | None
    requires: tuple[str, ...] = ()


_WORKING = frozenset({REGISTERED, ASSIGNED, IN_PROGRESS, RETURNED})

RULES: dict[str, Rule] = {
    r.action: r
    for r in (
        Rule("register", "案卷建立", frozenset({REPORTED}), REGISTERED),
        Rule("assign", "任务指派", frozenset({REGISTERED, RETURNED}), ASSIGNED, (TEAM,)),
        Rule("start", "调查落实", frozenset({ASSIGNED}), IN_PROGRESS),
        Rule("report_back", "反馈结果", frozenset({IN_PROGRESS}), REPORTED_BACK, (NOTE,)),
        Rule("close", "结案", frozenset({REPORTED_BACK}), CLOSED),
        Rule("archive", "归档", frozenset({CLOSED}), ARCHIVED),
        Rule("return", "退回", frozenset({ASSIGNED, IN_PROGRESS}), RETURNED, (REASON,)),
        Rule("reopen", "重新办理", frozenset({REPORTED_BACK, CLOSED}), ASSIGNED, (REASON,)),
        # Escalating hands the event to the next level's duty team: it is assigned anew.
        # From an unregistered report too: an emergency nobody registered in time goes
        # up by itself (the overdue check), and a person may send it up at once.
        Rule("escalate", "上报上级", _WORKING | {REPORTED}, ASSIGNED, (REASON,)),
        Rule("joint_dispatch", "联合哨", _WORKING, ASSIGNED, (TEAM, CO_TEAMS)),
        Rule(
            "merge",
            "合并重复",
            frozenset({REPORTED, REGISTERED, ASSIGNED, RETURNED}),
            MERGED,
            (TARGET,),
        ),
        Rule("visit", "回访", frozenset({CLOSED, ARCHIVED}), None, (SATISFACTION,)),
        # A co-handler of a joint dispatch reports back on its part without moving the
        # event: the lead team alone moves it (it "closes only when the lead closes it").
        # A co-handler may report after the lead did: closing waits for every co-handler.
        Rule(
            "co_report_back",
            "协办反馈",
            frozenset({ASSIGNED, IN_PROGRESS, REPORTED_BACK}),
            None,
            (TEAM, NOTE),
        ),
    )
}
ACTIONS = tuple(RULES)

CO_HANDLER_REPORT_FROM = RULES["co_report_back"].from_states
# The one action a co-handling team's own people take on the lead's case.
CO_HANDLER_ACTIONS = frozenset({"co_report_back"})


def rule_for(action: str) -> Rule:
    try:
        return RULES[action]
    except KeyError:
        raise InvalidInput(
            f"unknown action {action!r}; known actions: {', '.join(ACTIONS)}",
            details={"field": "action", "value": action, "allowed": list(ACTIONS)},
        ) from None


def allowed_actions(state: str) -> list[str]:
    """The actions that may be taken from `state`, in table order."""
    return [a for a, r in RULES.items() if state in r.from_states]


def transition(state: str, action: str, *, given: set[str] | frozenset[str] = frozenset()) -> str:
    """The state `action` leads to from `state`; raise if not allowed or something is missing.

    `given` names what the caller supplied (team, reason, note, …).
    """
    rule = rule_for(action)
    if state not in rule.from_states:
        allowed = allowed_actions(state)
        raise IllegalTransition(
            f"cannot {action} an event that is {state}; "
            f"allowed from {state}: {', '.join(allowed) or 'nothing'}",
            details={"current_state": state, "action": action, "allowed_actions": allowed},
            params={"current_state": state, "action": action},
        )
    missing = [need for need in rule.requires if need not in given]
    if missing:
        raise InvalidInput(
            f"{action} needs {', '.join(missing)}",
            details={"action": action, "missing": missing},
            reason="action_needs",
            params={"action": action, "missing": missing},
        )
    return rule.to_state if rule.to_state is not None else state


def check_co_handler_report(state: str) -> None:
    """A co-handler may report back while the event is being worked on."""
    if state not in CO_HANDLER_REPORT_FROM:
        raise IllegalTransition(
            f"a co-handler cannot report back on an event that is {state}",
            details={
                "current_state": state,
                "action": "report_back",
                "allowed_actions": allowed_actions(state),
            },
            params={"current_state": state, "action": "co_report_back"},
        )


def next_level(level: str) -> str | None:
    """The level above `level` in the four-level cycle; None at the county."""
    try:
        i = LEVELS.index(level)
    except ValueError:
        raise InvalidInput(f"unknown escalation level {level!r}; levels: {LEVELS}") from None
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def is_open(state: str) -> bool:
    return state in OPEN_STATES
