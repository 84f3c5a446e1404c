"""GPU probe: per-GPU memory, utilisation, temperature and processes, from NVML, a JSON file, or nothing.

The JSON file backend ("fake") serves tests and the Nix VM tests that stub the GPU; its format is
the `Gpu` fields below, under `{"gpus": [...]}` (see tests/fakes/gpu-2x3060.json).
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pynvml

from swapd.config import Config, GpuConfig
from swapd.errors import GpuProbeFailed, NotEnoughVram
from swapd.logs import line

log = logging.getLogger(__name__)
MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    used_mib: int


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    used_mib: int
    total_mib: int
    util_pct: int
    temp_c: int
    processes: tuple[GpuProcess, ...] = ()

    @property
    def free_mib(self) -> int:
        return self.total_mib - self.used_mib

    def report(self) -> dict[str, object]:
        """The fields of the control API's `gpus` entries."""
        return {
            "index": self.index,
            "name": self.name,
            "used_mib": self.used_mib,
            "total_mib": self.total_mib,
            "util_pct": self.util_pct,
            "temp_c": self.temp_c,
        }


class GpuProbe(Protocol):
    async def snapshot(self) -> tuple[Gpu, ...]: ...


class NoGpu:
    """No probe: VRAM checks pass and status shows no GPUs (CPU-only hosts, the demo)."""

    async def snapshot(self) -> tuple[Gpu, ...]:
        return ()


class FileGpu:
    """Reads the GPU state from a JSON file on every call, so a test can change it between calls."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def snapshot(self) -> tuple[Gpu, ...]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            return tuple(
                Gpu(
                    index=int(g["index"]),
                    name=str(g["name"]),
                    used_mib=int(g["used_mib"]),
                    total_mib=int(g["total_mib"]),
                    util_pct=int(g.get("util_pct", 0)),
                    temp_c=int(g.get("temp_c", 0)),
                    processes=tuple(
                        GpuProcess(int(p["pid"]), int(p["used_mib"])) for p in g.get("processes", [])
                    ),
                )
                for g in data["gpus"]
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GpuProbeFailed(f"fake GPU file {self._path}: {exc}") from exc


class NvmlGpu:
    """pynvml, called off the event loop; every NVMLError becomes GpuProbeFailed."""

    def __init__(self) -> None:
        self._ready = False

    async def snapshot(self) -> tuple[Gpu, ...]:
        return await asyncio.to_thread(self._read)

    def _read(self) -> tuple[Gpu, ...]:
        try:
            if not self._ready:
                pynvml.nvmlInit()
                self._ready = True
            return tuple(self._device(i) for i in range(pynvml.nvmlDeviceGetCount()))
        except pynvml.NVMLError as exc:
            raise GpuProbeFailed(f"NVML: {exc} (is the NVIDIA driver loaded?)") from exc

    @staticmethod
    def _device(index: int) -> Gpu:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        name = pynvml.nvmlDeviceGetName(handle)
        processes = tuple(
            GpuProcess(p.pid, (p.usedGpuMemory or 0) // MIB)
            for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
        )
        return Gpu(
            index=index,
            name=name.decode() if isinstance(name, bytes) else str(name),
            used_mib=int(memory.used) // MIB,
            total_mib=int(memory.total) // MIB,
            util_pct=int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
            temp_c=int(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)),
            processes=processes,
        )

    def close(self) -> None:
        if self._ready:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError as exc:
                log.warning(line("gpu.shutdown_failed", error=exc))
            self._ready = False


def open_probe(config: GpuConfig) -> GpuProbe:
    if config.backend == "nvml":
        return NvmlGpu()
    if config.backend == "fake" and config.fake_file is not None:
        return FileGpu(config.fake_file)
    return NoGpu()


async def read_once(config: GpuConfig) -> tuple[Gpu, ...]:
    """One snapshot from the configured backend, closing NVML after (for `swapd check-config`)."""
    probe = open_probe(config)
    try:
        return await probe.snapshot()
    finally:
        if isinstance(probe, NvmlGpu):
            probe.close()


@dataclass(frozen=True)
class Hold:
    """VRAM kept free for a companion that is not loaded right now (starting or restarting), so that it
    still fits when it comes back. A loaded companion holds nothing here: the probe already counts it."""

    companion: str
    mib: int


def shortfall(
    gpus: tuple[Gpu, ...], tier: str, need_mib: int, margin_mib: int, holds: tuple[Hold, ...]
) -> str:
    """Why a tier does not fit in the free VRAM less the companions' holds and the margin; '' if it fits."""
    if not gpus or need_mib == 0:
        return ""
    free = sum(g.free_mib for g in gpus)
    held = sum(h.mib for h in holds)
    if free - held >= need_mib + margin_mib:
        return ""
    names = ", ".join(repr(h.companion) for h in holds)
    kept = f", of which {held} MiB is kept for companion {names} (not loaded yet)" if held else ""
    return (
        f"tier {tier!r} needs {need_mib} MiB + {margin_mib} MiB margin but only {free} MiB of VRAM is "
        f"free{kept}; stop other GPU processes or lower the tier's vram_mib"
    )


async def check_fits(
    probe: GpuProbe, tier: str, need_mib: int, margin_mib: int, holds: tuple[Hold, ...] = ()
) -> None:
    """Refuse a load when the GPUs' free VRAM, less the companions' holds, is below the tier's need plus
    the margin."""
    if need_mib == 0:
        return
    if why := shortfall(await probe.snapshot(), tier, need_mib, margin_mib, holds):
        raise NotEnoughVram(why)


def overcommitted(config: Config, gpus: tuple[Gpu, ...]) -> list[str]:
    """What cannot fit on these GPUs by their total memory: a tier beside all companions, a companion on
    GPUs that do not exist or are too small. One line each, for `swapd check-config` and the start-up log."""
    if not gpus:
        return []
    total = sum(g.total_mib for g in gpus)
    margin = config.gpu.margin_mib
    companions = sum(c.vram_mib for c in config.companions)
    lines = []
    for tier in config.tiers:
        if tier.vram_mib and tier.vram_mib + companions + margin > total:
            lines.append(
                f"tier {tier.name!r} ({tier.vram_mib} MiB) + companions ({companions} MiB) + margin "
                f"({margin} MiB) = {tier.vram_mib + companions + margin} MiB is more than the GPUs' "
                f"{total} MiB; swapd will refuse to load it"
            )
    by_index = {g.index: g for g in gpus}
    for companion in config.companions:
        missing = [i for i in companion.gpus if i not in by_index]
        if missing:
            lines.append(
                f"companion {companion.name!r}: gpus lists {missing}, but the GPUs are {sorted(by_index)}"
            )
            continue
        placed = sum(by_index[i].total_mib for i in companion.gpus) if companion.gpus else total
        if companion.vram_mib > placed:
            lines.append(
                f"companion {companion.name!r} ({companion.vram_mib} MiB) is more than its GPUs' {placed} MiB"
            )
    return lines


async def wait_released(probe: GpuProbe, pid: int, timeout_s: float, interval_s: float) -> bool:
    """Poll until no GPU lists the stopped process (CUDA frees memory after exit); False at the deadline."""
    deadline = time.monotonic() + timeout_s
    while any(p.pid == pid for g in await probe.snapshot() for p in g.processes):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval_s)
    return True
