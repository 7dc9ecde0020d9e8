"""The teams of the assessment's rows: a team is grouped by its id, then shown by its code
and name, and its grid workers' row by their key and names (see figures.GROUPS)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


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
    rows = session.execute(
        text(
            """
            WITH wanted AS (SELECT unnest(string_to_array(:ids, ',')::int[]) AS id)
            SELECT t.id, t.code, t.name, gw.key, gw.name
            FROM wanted w
            JOIN team t ON t.id = w.id
            LEFT JOIN (
                SELECT m.team_id, string_agg(m.id::text, '+' ORDER BY m.id) AS key,
                       string_agg(m.name, '、' ORDER BY m.id) AS name
                FROM member m JOIN wanted w ON w.id = m.team_id
                WHERE m.role = 'grid_worker'
                GROUP BY m.team_id
            ) gw ON gw.team_id = t.id
            """
        ),
        # One text, not an array of thousands of parameters to adapt one by one; joined
        # (a hash join), not `= ANY(…)` (each row compared with every id).
        {"ids": ",".join(map(str, wanted))},
    ).all()
    return {str(r[0]): Team(r[1], r[2], r[3], r[4]) for r in rows}


def team_key(teams: dict[str, Team], team_id: str | None, by: str) -> str | None:
    """A team's row key: its code (`by` team) or its grid workers' key (`by`
    grid_worker; None for a team with none); None for no team."""
    team = teams.get(team_id) if team_id is not None else None
    if team is None:
        return None
    return team.code if by == "team" else team.grid_workers_key
