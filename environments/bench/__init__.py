"""Real benchmarks as agentrl envs, from data shipped inside PyPI packages (nothing is downloaded at run time).

- `humaneval`: HumanEval's 164 problems judged by their own tests in the sandbox (bench-humaneval, -repair).
- `bfcl`: BFCL v4 function-calling categories judged by BFCL's AST checker (bench-bfcl-*).
- `reasoning`: reasoning-gym datasets scored by their own `score_answer` (bench-rg-*).

Importing this package registers the env configs of every benchmark package that is installed; a missing
package registers nothing (logged at debug level). Data is read on the first `make`, then cached per process.
See docs/benchmarks.md for versions, case counts, licenses and what is simplified.
"""

from environments.bench import bfcl as bfcl  # noqa: F401  (registers bench-bfcl-*)
from environments.bench import humaneval as humaneval  # noqa: F401  (registers bench-humaneval*)
from environments.bench import reasoning as reasoning  # noqa: F401  (registers bench-rg-*)
from environments.bench.bfcl import BFCLEnv
from environments.bench.humaneval import HumanEvalEnv, HumanEvalRepairEnv
from environments.bench.reasoning import ReasoningGymEnv

__all__ = ["BFCLEnv", "HumanEvalEnv", "HumanEvalRepairEnv", "ReasoningGymEnv"]
