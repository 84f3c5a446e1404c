"""swapd's TOML config as frozen pydantic models: the single source of truth for defaults.

Relative paths are resolved against the config file's directory. `llama_server = "bundled"` and
`model = "bundled:tiny"` (and `chat_template_file = "bundled:<family>"`) name the development pieces
that `make setup` installs; production configs give real paths. A `[[companions]]` entry is a small
model (a fill-in-the-middle code model, typically) that runs beside whichever tier is loaded. Secrets
are never values here: each entry of `api_key_files` and `admin_token_file` is a path (it contains a
`/`) or the name of a systemd credential read from `$CREDENTIALS_DIRECTORY`.
"""

import ipaddress
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from swapd import bundled
from swapd.errors import ConfigError, UnknownTier

BUNDLED = "bundled"
BUNDLED_PREFIX = "bundled:"
# Flags swapd sets itself, from the tier's own fields; a tier's `args` may not repeat them.
OWNED_FLAGS = {
    "-m": "model",
    "--model": "model",
    "-c": "ctx_size",
    "--ctx-size": "ctx_size",
    "-np": "parallel",
    "--parallel": "parallel",
    "--host": "(swapd picks a loopback address)",
    "--port": "(swapd picks a free loopback port)",
    "--api-key": "(llama-server listens on loopback only; swapd checks keys)",
    "--api-key-file": "(llama-server listens on loopback only; swapd checks keys)",
    "--chat-template-file": "chat_template_file",
    "--slot-save-path": "prompt_cache_max_mib (swapd keeps slots under state_dir)",
}
# A companion has no chat template or prompt cache of swapd's, so only these are swapd's to set.
COMPANION_OWNED_FLAGS = {
    flag: field
    for flag, field in OWNED_FLAGS.items()
    if flag not in ("--chat-template-file", "--slot-save-path")
}
TIER_NAME = r"^[a-z][a-z0-9_.-]*$"


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base")
    return value if value.is_absolute() or base is None else Path(os.path.normpath(Path(base) / value))


def _resolve_ref(value: str, info: ValidationInfo) -> str:
    """A path-or-bundled reference: bundled names pass through, relative paths become absolute."""
    if value == BUNDLED or value.startswith(BUNDLED_PREFIX) or "/" not in value:
        return value
    return str(_resolve_path(Path(value), info))


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
FileRef = Annotated[str, Field(min_length=1), AfterValidator(_resolve_ref)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Policy(StrEnum):
    """How a request's `model` field picks the tier."""

    ON_DEMAND = "on_demand"
    PINNED = "pinned"


class GpuConfig(Frozen):
    backend: Literal["nvml", "fake", "none"] = "nvml"
    fake_file: ConfigPath | None = None
    margin_mib: int = Field(512, ge=0)
    release_timeout_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _fake_needs_file(self) -> "GpuConfig":
        if self.backend == "fake" and self.fake_file is None:
            raise ValueError("backend 'fake' needs fake_file (a JSON file, see tests/fakes/gpu-2x3060.json)")
        return self


def _check_args(args: tuple[str, ...], owned: dict[str, str]) -> None:
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in owned:
            raise ValueError(f"args: {flag} is set by swapd; use {owned[flag]}")


class Tier(Frozen):
    name: str = Field(pattern=TIER_NAME)
    aliases: tuple[str, ...] = ()
    model: FileRef
    ctx_size: int = Field(gt=0)
    parallel: int = Field(1, ge=1, le=256)
    max_in_flight: int | None = Field(None, ge=1)
    args: tuple[str, ...] = ()
    vram_mib: int = Field(0, ge=0)
    load_timeout_s: float = Field(300.0, gt=0)
    chat_template_file: FileRef | None = None

    @model_validator(mode="after")
    def _args_do_not_repeat_owned_flags(self) -> "Tier":
        _check_args(self.args, OWNED_FLAGS)
        if self.name == "auto" or "auto" in self.aliases:
            raise ValueError("'auto' is reserved for the active tier")
        return self

    @property
    def in_flight_limit(self) -> int:
        """Admission limit: by default llama-server's parallel slots."""
        return self.max_in_flight or self.parallel


class Companion(Frozen):
    """A llama-server that runs beside every tier: started with swapd, never swapped, never queued."""

    name: str = Field(pattern=TIER_NAME)
    aliases: tuple[str, ...] = ()
    model: FileRef
    ctx_size: int = Field(gt=0)
    parallel: int = Field(1, ge=1, le=256)
    args: tuple[str, ...] = ()
    # The GPUs it may use, as NVML numbers them (set as CUDA_VISIBLE_DEVICES); empty: all of them.
    gpus: tuple[Annotated[int, Field(ge=0)], ...] = ()
    # What it holds once loaded (weights, KV cache, compute buffers), summed over its GPUs.
    vram_mib: int = Field(0, ge=0)
    load_timeout_s: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _valid(self) -> "Companion":
        _check_args(self.args, COMPANION_OWNED_FLAGS)
        if self.name == "auto" or "auto" in self.aliases:
            raise ValueError("'auto' is reserved for the active tier")
        if len(set(self.gpus)) != len(self.gpus):
            raise ValueError(f"gpus: {list(self.gpus)} lists a GPU twice")
        return self


class Config(Frozen):
    listen: str = "0.0.0.0"  # noqa: S104 - the LAN port is the point of swapd
    port: int = Field(8080, ge=1, le=65535)
    api_key_files: tuple[FileRef, ...] = ()
    admin_token_file: FileRef | None = None
    control_socket: ConfigPath = Path("/run/swapd/control.sock")
    control_socket_group: str | None = None
    state_dir: ConfigPath = Path("/var/lib/swapd")
    llama_server: FileRef
    default_tier: str | None = None
    policy: Policy = Policy.ON_DEMAND
    # Unset: a swap waits for every request in flight on the old tier to end on its own. Set: requests
    # still running this long after the drain began are cancelled (as `swapctl --force` does at once).
    drain_grace_s: float | None = Field(None, ge=0)
    stop_timeout_s: float = Field(10.0, gt=0)
    max_queue: int = Field(64, ge=0)
    # Anti-thrash: requests for the active tier that may go ahead of an older request for another tier
    # (0: strict FIFO), and how long a freshly loaded tier stays before a request may swap it away.
    batch_limit: int = Field(8, ge=0)
    min_residency_s: float = Field(0.0, ge=0)
    # After a swap, read the previous tier's model file into the page cache if MemAvailable stays
    # above this many MiB afterwards (None: never on its own; `swapctl prewarm` always works).
    prewarm_margin_mib: int | None = Field(None, ge=0)
    # Slots' KV caches saved before a tier stops and restored when it is back (0: off), in state_dir.
    prompt_cache_max_mib: int = Field(4096, ge=0)
    retry_after_s: int = Field(5, ge=1)
    max_body_mib: float = Field(16.0, gt=0)
    health_interval_s: float = Field(0.05, gt=0, le=0.1)
    restart_backoff_s: float = Field(1.0, gt=0)
    restart_backoff_max_s: float = Field(60.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    gpu: GpuConfig = GpuConfig()
    tiers: tuple[Tier, ...] = Field(min_length=1)
    companions: tuple[Companion, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "Config":
        try:
            address = ipaddress.ip_address(self.listen)
        except ValueError as exc:
            raise ValueError(f"listen: {self.listen!r} is not an IP address") from exc
        if not self.api_key_files and not address.is_loopback:
            raise ValueError("api_key_files: required unless listen is a loopback address")
        seen: dict[str, str] = {}
        for tier in self.tiers:
            for name in (tier.name, *tier.aliases):
                if name in seen:
                    raise ValueError(f"tiers: {name!r} names both {seen[name]!r} and {tier.name!r}")
                seen[name] = tier.name
        for companion in self.companions:
            for name in (companion.name, *companion.aliases):
                if name in seen:
                    raise ValueError(
                        f"companions: {name!r} names both {seen[name]!r} and companion {companion.name!r}"
                    )
                seen[name] = companion.name
        if self.default_tier is not None and self.default_tier not in self.tier_names:
            raise ValueError(f"default_tier: unknown tier {self.default_tier!r} (known: {self.known})")
        return self

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)

    @property
    def known(self) -> str:
        return ", ".join(self.tier_names)

    @property
    def default(self) -> str:
        return self.default_tier or self.tiers[0].name

    def tier(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise UnknownTier(f"unknown tier {name!r} (known: {self.known})")

    def resolve(self, model: str | None) -> str | None:
        """A request's `model` field to a tier name; None (or 'auto') means the active tier."""
        if model is None or model == "auto":
            return None
        for tier in self.tiers:
            if model == tier.name or model in tier.aliases:
                return tier.name
        companions = "".join(f", {c.name}" for c in self.companions)
        raise UnknownTier(f"unknown model {model!r} (known: {self.known}{companions}, or 'auto')")

    def companion_for(self, model: str | None) -> "Companion | None":
        """The companion a request's `model` field names (by name or alias), if any."""
        for companion in self.companions:
            if model == companion.name or model in companion.aliases:
                return companion
        return None

    def slot_dir(self, tier: str) -> Path:
        return self.state_dir / "slots" / tier

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mib * 1024 * 1024)


def _bundled_path(ref: str, field: str) -> Path:
    if ref == BUNDLED and field == "llama_server":
        return bundled.llama_server()
    if ref == f"{BUNDLED_PREFIX}tiny" and field == "model":
        return bundled.tiny_model()
    if ref.startswith(BUNDLED_PREFIX) and field == "chat_template_file":
        return bundled.chat_template(ref.removeprefix(BUNDLED_PREFIX))
    if ref == BUNDLED or ref.startswith(BUNDLED_PREFIX):
        raise ConfigError(
            f"{field}: {ref!r} is not a bundled piece (use 'bundled', 'bundled:tiny' or a path)"
        )
    return Path(ref)


def model_path(unit: Tier | Companion) -> Path:
    """The GGUF file a tier or companion loads (bundled references resolved)."""
    return _bundled_path(unit.model, "model")


def _server_argv(config: Config, unit: Tier | Companion, port: int | str) -> list[str]:
    """The flags swapd owns (OWNED_FLAGS), the same for a tier and a companion."""
    return [
        str(_bundled_path(config.llama_server, "llama_server")),
        "--model", str(model_path(unit)),
        "--ctx-size", str(unit.ctx_size),
        "--parallel", str(unit.parallel),
        "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip


def command(config: Config, tier: Tier, port: int | str) -> list[str]:
    """The llama-server command line for a tier on a loopback port."""
    argv = _server_argv(config, tier, port)
    if config.prompt_cache_max_mib > 0:
        argv += ["--slot-save-path", str(config.slot_dir(tier.name))]
    if tier.chat_template_file is not None:
        argv += [
            "--jinja",
            "--chat-template-file",
            str(_bundled_path(tier.chat_template_file, "chat_template_file")),
        ]
    return [*argv, *tier.args]


def companion_command(config: Config, companion: Companion, port: int | str) -> list[str]:
    """The llama-server command line for a companion on a loopback port."""
    return [*_server_argv(config, companion, port), *companion.args]


def companion_env(companion: Companion) -> dict[str, str]:
    """Environment for a companion's llama-server: its GPUs, numbered as NVML numbers them."""
    if not companion.gpus:
        return {}
    return {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in companion.gpus),
    }


def _field(loc: tuple[int | str, ...], data: object) -> str:
    """A readable field path: `tiers[1].ctx_size`, or `tiers[deep].ctx_size` when the tier has a name."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            name = node[part].get("name") if isinstance(node, list) and isinstance(node[part], dict) else None
            out += f"[{name}]" if isinstance(name, str) else f"[{part}]"
            node = node[part] if isinstance(node, list) else None
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _lines(exc: ValidationError, data: object) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        where = _field(loc, data)
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{where}: {msg}" if where else msg)
    return lines


def parse(data: dict[str, object], base: Path | None = None) -> Config:
    try:
        return Config.model_validate(data, context={"base": base})
    except ValidationError as exc:
        raise ConfigError("\n".join(_lines(exc, data))) from exc


def load(path: Path) -> Config:
    """Read and validate a config file; ConfigError lists one line per bad field, prefixed by the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return parse(data, base=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError("\n".join(f"{path}: {line}" for line in str(exc).splitlines())) from exc
