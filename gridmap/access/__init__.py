"""Who may do what, where: accounts and tokens (`accounts`), passwords, login limits and
browser sessions (`logins`), the role × action table and
jurisdictions (`permissions`), the areas a jurisdiction sees (`scope`), the accounts it
may manage (`account_scope`), bearer-token checks (`token_gate`), the audit log, and the
boundary write check (`boundary_access`).

This module is the package's entry point: api/, geodata/, gridmap_cli/ and
web_map/ use only what `__all__` lists (tests/test_foundation.py checks it).
"""

from gridmap.access import account_scope, accounts, audit, boundary_access, logins, scope
from gridmap.access.accounts import create_demo_users
from gridmap.access.audit import record
from gridmap.access.permissions import (
    EVERYWHERE,
    GRID_WORKER,
    INTEGRATION,
    SYSTEM,
    TEAM_MEMBER,
    TOKEN_ROLES,
    WORKFLOW_ACTIONS,
    Jurisdiction,
    Principal,
    check_token_role,
)
from gridmap.access.scope import AreaScope
from gridmap.access.token_gate import TokenGate

__all__ = [
    "EVERYWHERE",
    "GRID_WORKER",
    "INTEGRATION",
    "SYSTEM",
    "TEAM_MEMBER",
    "TOKEN_ROLES",
    "WORKFLOW_ACTIONS",
    "AreaScope",
    "Jurisdiction",
    "Principal",
    "TokenGate",
    "account_scope",
    "accounts",
    "audit",
    "boundary_access",
    "check_token_role",
    "create_demo_users",
    "logins",
    "record",
    "scope",
]
