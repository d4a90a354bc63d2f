"""A tenant's daily token and cost budgets, reserved per model call across instances.

Before each model call a turn reserves the call's worst case — the prompt's
size as an upper bound on its tokens (a token is at least one byte of UTF-8)
plus the output cap, priced at the dearest candidate — from the tenant's
counter for the UTC day (`common.chat.leases`: blocks leased in one
transaction, spent from memory). After the call it settles the real figure
and the difference goes back to the instance's block. Every recorded token
was reserved first and the leases never sum past the budget, so the day's
recorded total stays within it (the one gap: a provider that reports more
tokens than the bound, which no tokenizer does). A call whose reservation
fails is refused with 429 until midnight UTC.

A model with no output cap (neither the assistant's nor the model's
`max_output_tokens`) is reserved up to its context window: set a cap to let
more turns run side by side under a small budget.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.chat.candidates import Route
from common.chat.leases import LeasedLimit
from common.config.effective import TenantConfig
from common.config.models import Assistant, Tenant
from common.errors import RateLimited
from common.providers.base import ProviderRequest
from common.providers.resilience import Candidate
from common.settings import get_settings

PER_MESSAGE_OVERHEAD = 8  # role markers and separators a provider adds per message


def _path(kind: str) -> LeasedLimit:
    def path_of(key: str) -> str:
        tenant, day = key.split("/", 1)
        return f"tenants/{tenant}/budgets/{day}_{kind}"

    return LeasedLimit(path_of, None, recheck_s=get_settings().budget_cache_s)


_tokens: LeasedLimit | None = None
_cost: LeasedLimit | None = None


def _counters() -> tuple[LeasedLimit, LeasedLimit]:
    global _tokens, _cost
    if _tokens is None or _cost is None:
        _tokens, _cost = _path("tokens"), _path("cost")
    return _tokens, _cost


def seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


def prompt_bound(request: ProviderRequest) -> int:
    """An upper bound on the request's input tokens: its UTF-8 size plus per-message overhead."""
    size = len((request.system or "").encode())
    for m in request.messages:
        size += len(m.content.encode()) + PER_MESSAGE_OVERHEAD
        size += sum(len(c.name.encode()) + len(c.arguments.encode()) for c in m.tool_calls)
    if request.tools:
        size += len(json.dumps([[t.name, t.description, t.parameters] for t in request.tools]).encode())
    return size + PER_MESSAGE_OVERHEAD


def _spent(kind: str) -> RateLimited:
    return RateLimited(f"the tenant's daily {kind} budget is spent", retry_after=seconds_to_midnight())


def has_budget(tenant: Tenant | None) -> bool:
    return tenant is not None and (
        tenant.daily_token_budget is not None or tenant.daily_cost_budget is not None
    )


@dataclass
class Reservation:
    tokens: float
    cost: float


class TurnBudget:
    """The budget checks of one turn; None from `for_turn` when the tenant has no budget."""

    def __init__(self, tenant_id: str, tenant: Tenant, routes: Sequence[Route]) -> None:
        self.tenant_id, self.tenant, self.routes = tenant_id, tenant, list(routes)
        self.day = datetime.now(UTC).strftime("%Y-%m-%d")

    @classmethod
    def for_turn(cls, tenant_id: str, tenant: Tenant | None, routes: Sequence[Route]) -> TurnBudget | None:
        return cls(tenant_id, tenant, routes) if tenant is not None and has_budget(tenant) else None

    def _worst(self, batch: Sequence[Candidate]) -> Reservation:
        tokens, cost = 0.0, 0.0
        for cand, route in zip(batch, self.routes, strict=False):
            prompt = prompt_bound(cand.request)
            out = cand.request.max_output_tokens or max(1, route.model.max_tokens - prompt)
            tokens = max(tokens, float(prompt + out))
            cost = max(
                cost,
                (prompt * route.model.input_cost_per_million + out * route.model.output_cost_per_million)
                / 1_000_000,
            )
        return Reservation(tokens, cost)

    async def reserve(self, batch: Sequence[Candidate]) -> Reservation:
        """Reserve the worst case of the next call, or raise RateLimited."""
        tokens_limit, cost_limit = self.tenant.daily_token_budget, self.tenant.daily_cost_budget
        worst = self._worst(batch)
        key = f"{self.tenant_id}/{self.day}"
        tokens, cost = _counters()
        held = Reservation(0.0, 0.0)
        if tokens_limit is not None:
            if await tokens.take(key, worst.tokens, float(tokens_limit)) > 0:
                raise RateLimited(
                    "the tenant's daily token budget is spent", retry_after=seconds_to_midnight()
                )
            held.tokens = worst.tokens
        if cost_limit is not None:
            if await cost.take(key, worst.cost, float(cost_limit)) > 0:
                tokens.settle(key, held.tokens)
                raise RateLimited(
                    "the tenant's daily cost budget is spent", retry_after=seconds_to_midnight()
                )
            held.cost = worst.cost
        return held

    def settle(self, held: Reservation, index: int, input_tokens: int, output_tokens: int) -> None:
        """Give back what the call did not use (candidate `index` answered)."""
        key = f"{self.tenant_id}/{self.day}"
        tokens, cost = _counters()
        route = self.routes[min(index, len(self.routes) - 1)]
        if held.tokens:
            tokens.settle(key, held.tokens - (input_tokens + output_tokens))
        if held.cost:
            used = (
                input_tokens * route.model.input_cost_per_million
                + output_tokens * route.model.output_cost_per_million
            ) / 1_000_000
            cost.settle(key, held.cost - used)


async def admit(tenant_id: str, cfg: TenantConfig, assistant: Assistant, text: str) -> None:
    """Refuse a turn before anything is stored when the budget cannot cover its smallest call.

    The smallest call is the system prompt, the user's message and the output
    cap; the history can only add to it, so a turn admitted here is refused
    later (in the tool loop, after the user message is stored) only when its
    history tips it over.
    """
    turn = TurnBudget.for_turn(tenant_id, cfg.tenant, ())
    model = cfg.models.get(assistant.model_id)
    if turn is None or model is None:
        return
    size = len((assistant.system_prompt or "").encode()) + len(text.encode()) + 3 * PER_MESSAGE_OVERHEAD
    out = assistant.max_output_tokens or model.max_output_tokens or 0
    need = Reservation(
        float(size + out),
        (size * model.input_cost_per_million + out * model.output_cost_per_million) / 1_000_000,
    )
    key = f"{tenant_id}/{turn.day}"
    tokens, cost = _counters()
    for counter, units, limit, kind in (
        (tokens, need.tokens, turn.tenant.daily_token_budget, "token"),
        (cost, need.cost, turn.tenant.daily_cost_budget, "cost"),
    ):
        if limit is None:
            continue
        if await counter.take(key, units, float(limit)) > 0:
            raise _spent(kind)
        counter.settle(key, units)  # only a check: the loop reserves the real call


def spent_today(tenant_id: str) -> bool:
    """Whether this instance already knows the budget is spent (no I/O): refuse before storing."""
    key = f"{tenant_id}/{datetime.now(UTC).strftime('%Y-%m-%d')}"
    tokens, cost = _counters()
    return tokens.known_exhausted(key) or cost.known_exhausted(key)
