"""The teams of the assessment's rows: a team is grouped by its id, then shown by its code
and name, and its grid workers' row by their key and names (see figures.GROUPS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gridmap.db_columns import read_rows


@dataclass(frozen=True, slots=True)
class Team:
    code: str
    name: str
    # Its grid workers' row: the members' ids joined by '+' and their names by '、';
    # None for a team with no grid worker.
    grid_workers_key: str | None
    grid_workers_name: str | None


def teams_by_id(session: Session, ids: Iterable[str]) -> dict[str, Team]:
    """The teams of these ids (as text), with their grid workers' row, in one query."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    rows = read_rows(
        session,
        """
        SELECT t.id, t.code, t.name, m.id, m.name
        FROM unnest(string_to_array(:ids, ',')::int[]) AS w(id)
        JOIN team t ON t.id = w.id
        LEFT JOIN member m ON m.team_id = t.id AND m.role = 'grid_worker'
        ORDER BY t.id, m.id
        """,
        # One text, not an array of thousands of parameters to adapt one by one; joined
        # (a hash join), not `= ANY(…)` (each row compared with every id). Never
        # prepared (`read_rows`): planned for its thousands of ids.
        {"ids": ",".join(map(str, wanted))},
    )
    # A team's grid workers joined here, in the order of their ids: string_agg(… ORDER
    # BY id) per team sorted each team's few rows apart, 9 ms of the query's 23 for a
    # county's 4,000 teams.
    found: dict[int, tuple[str, str, list[str], list[str]]] = {}
    for team_id, code, name, member_id, member_name in rows:
        team = found.get(team_id)
        if team is None:
            team = found[team_id] = (code, name, [], [])
        if member_id is not None:
            team[2].append(str(member_id))
            team[3].append(member_name)
    return {
        str(team_id): (
            Team(code, name, "+".join(keys), "、".join(names))
            if keys
            else Team(code, name, None, None)
        )
        for team_id, (code, name, keys, names) in found.items()
    }


def team_keys(teams: dict[str, Team], by: str) -> dict[str, str | None]:
    """Each team's row key by its id: its code (`by` team) or its grid workers' key (`by`
    grid_worker; None for a team with none)."""
    if by == "team":
        return {team_id: t.code for team_id, t in teams.items()}
    return {team_id: t.grid_workers_key for team_id, t in teams.items()}
