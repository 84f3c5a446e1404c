"""The GPU probe: the JSON file backend, NVML errors translated, the VRAM checks of a load."""

import json
from pathlib import Path

import pynvml
import pytest

from swapd.errors import GpuProbeFailed, NotEnoughVram
from swapd.gpu import FileGpu, Gpu, GpuProcess, NvmlGpu, check_fits, wait_released

pytestmark = pytest.mark.anyio
SAMPLE = Path(__file__).resolve().parents[2] / "fakes" / "gpu-2x3060.json"


async def test_file_backend_reads_the_sample_two_3060s() -> None:
    gpus = await FileGpu(SAMPLE).snapshot()
    assert [(g.index, g.total_mib, g.free_mib) for g in gpus] == [(0, 12288, 11978), (1, 12288, 12283)]
    assert gpus[0].report()["name"] == "NVIDIA GeForce RTX 3060"


async def test_broken_file_is_a_probe_error(tmp_path: Path) -> None:
    (tmp_path / "gpus.json").write_text('{"gpus": [{"index": 0}]}')
    with pytest.raises(GpuProbeFailed, match=r"gpus\.json"):
        await FileGpu(tmp_path / "gpus.json").snapshot()


async def test_nvml_errors_become_probe_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_driver() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    with pytest.raises(GpuProbeFailed, match=r"NVML: .*driver"):
        await NvmlGpu().snapshot()


async def test_load_is_refused_below_expected_vram_plus_margin() -> None:
    probe = FileGpu(SAMPLE)
    await check_fits(probe, "fast", 23_000, 512)
    with pytest.raises(
        NotEnoughVram, match=r"tier 'deep' needs 24000 MiB \+ 512 MiB margin but only 24261 MiB"
    ):
        await check_fits(probe, "deep", 24_000, 512)


class Releasing:
    """A probe whose listed process disappears after a few reads, as CUDA frees memory after exit."""

    def __init__(self, pid: int, reads: int) -> None:
        self.pid, self.reads = pid, reads

    async def snapshot(self) -> tuple[Gpu, ...]:
        self.reads -= 1
        procs = (GpuProcess(self.pid, 9000),) if self.reads > 0 else ()
        return (Gpu(0, "RTX 3060", 9000 if procs else 0, 12288, 0, 40, procs),)


async def test_wait_released_returns_once_the_old_process_is_gone_or_at_the_deadline(tmp_path: Path) -> None:
    probe = Releasing(pid=4242, reads=3)
    assert await wait_released(probe, 4242, timeout_s=5, interval_s=0.001)
    assert probe.reads == 0
    stuck = tmp_path / "gpus.json"
    data = json.loads(SAMPLE.read_text())
    data["gpus"][0]["processes"] = [{"pid": 4242, "used_mib": 9000}]
    stuck.write_text(json.dumps(data))
    assert not await wait_released(FileGpu(stuck), 4242, timeout_s=0.05, interval_s=0.01)
