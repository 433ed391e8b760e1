"""agentrl environments: gymnasium-style agent tasks (tools, code, planning), their registry and checker.

    import environments
    env = environments.make("tools-calculator-easy")
    obs, info = env.reset(seed=0)

Importing the package registers the built-in env configs and the plugins of the `agentrl.environments`
entry-point group, and mirrors them all into gymnasium's registry as `agentrl/<id>`.
"""

from environments.base import Action, AgentEnv, Call, Outcome, tool_result, user
from environments.checker import CheckReport, check
from environments.registry import (
    EnvSpec,
    UnknownEnvError,
    families,
    list_envs,
    load_env_modules,
    load_plugins,
    make,
    register,
    resolve_ids,
    spec,
    unregister,
)
from environments.tool_env import Tool, ToolEnv, params

__all__ = [
    "Action",
    "AgentEnv",
    "Call",
    "CheckReport",
    "EnvSpec",
    "Outcome",
    "Tool",
    "ToolEnv",
    "UnknownEnvError",
    "check",
    "families",
    "list_envs",
    "load_env_modules",
    "load_plugins",
    "make",
    "params",
    "register",
    "resolve_ids",
    "spec",
    "tool_result",
    "unregister",
    "user",
]

# Register the built-in env configs and the plugins now, so `gymnasium.make("agentrl/<id>")` works after import.
from environments.registry import _ensure_loaded  # noqa: E402

_ensure_loaded()
