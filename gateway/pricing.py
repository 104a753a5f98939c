"""What a reply cost: its token usage times the price table (USD per million tokens).

The table ships as gateway/prices.yaml; PRICE_TABLE_FILE names a file in the same form whose
entries replace or add to it. A model with no entry has no cost (None), never a guessed one.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).with_name("prices.yaml")
PER = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = dict(prices)

    @classmethod
    def load(cls, override: Path | None = None) -> "PriceTable":
        prices = read_prices(SHIPPED)
        if override is not None:
            prices.update(read_prices(override))
        return cls(prices)

    def price(self, provider: str, model: str) -> Price | None:
        return self.prices.get(f"{provider}/{model}")

    def cost(self, provider: str, model: str, usage: Mapping[str, Any]) -> float | None:
        price = self.price(provider, model)
        if price is None:
            return None
        prompt, completion = tokens(usage, "prompt_tokens"), tokens(usage, "completion_tokens")
        return round((prompt * price.input + completion * price.output) / PER, 10)


def tokens(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def read_prices(path: Path) -> dict[str, Price]:
    """`provider/model: {input: X, output: Y}` entries; a malformed one stops start-up, named."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: a price table maps provider/model to {{input, output}}")
    prices = {}
    for name, entry in loaded.items():
        try:
            prices[str(name)] = Price(float(entry["input"]), float(entry["output"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: the price of '{name}' needs numbers input and output") from exc
    return prices
