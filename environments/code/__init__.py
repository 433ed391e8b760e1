"""code family: write or repair Python functions, checked by hidden unit tests run in a sandbox.

Importing this package registers the code env configs (code-fn-easy/medium/hard, code-repair-easy/medium/hard).
"""

from environments.code import envs as envs  # noqa: F401  (registers the env configs)
from environments.code.envs import CodeFunctionEnv, CodeRepairEnv, extract_code
from environments.code.sandbox import RunResult, Sandbox, SandboxConfig, SandboxUnavailableError
from environments.code.tasks import CodeTask, make_task

__all__ = [
    "CodeFunctionEnv",
    "CodeRepairEnv",
    "CodeTask",
    "RunResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxUnavailableError",
    "extract_code",
    "make_task",
]
