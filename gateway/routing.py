"""Which vendor targets a request's `model` names: `provider/model`, or an alias and its fallbacks."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from config import Settings, alias_targets
from gateway.errors import GatewayError


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"


def parse_target(text: str, where: str) -> Target:
    """`deepseek/deepseek-chat` as a Target; the model part may hold slashes (`openrouter/openai/gpt-4o`)."""
    provider, _, model = text.partition("/")
    if not provider or not model:
        raise ValueError(f"{where}: '{text}' is not provider/model")
    return Target(provider, model)


def load_aliases(settings: Settings) -> dict[str, tuple[Target, ...]]:
    """MODEL_ALIASES_FILE's aliases, then MODEL_ALIASES's over them; a malformed one stops start-up."""
    declared: dict[str, list[str]] = {}
    if settings.model_aliases_file is not None:
        declared.update(_alias_file(settings.model_aliases_file))
    declared.update(settings.model_aliases)
    return {
        alias: tuple(parse_target(target, f"MODEL_ALIASES alias '{alias}'") for target in targets)
        for alias, targets in declared.items()
    }


def _alias_file(path: Path) -> dict[str, list[str]]:
    loaded = alias_targets(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    if not isinstance(loaded, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in loaded.values()
    ):
        raise ValueError(f"MODEL_ALIASES_FILE {path}: each alias must name a list of provider/model targets")
    return loaded


class Routes:
    """Model names as the front door takes them; `known` are the provider ids this service has."""

    def __init__(self, aliases: dict[str, tuple[Target, ...]], known: list[str]) -> None:
        self.aliases = aliases
        self.known = known

    def targets(self, model: str) -> tuple[Target, ...]:
        if model in self.aliases:
            return self.aliases[model]
        provider, _, name = model.partition("/")
        if provider in self.known and name:
            return (Target(provider, name),)
        aliases = ", ".join(sorted(self.aliases)) or "none configured"
        raise GatewayError(
            f"The model '{model}' does not exist: name it as provider/model (providers: "
            f"{', '.join(self.known)}) or by an alias (aliases: {aliases})",
            status=404,
            param="model",
            code="model_not_found",
        )
