"""Prometheus metrics: swaps and their phases, the queue, in-flight requests, requests by status,
the GPUs, llama-server's own token rates, and the companions (up, restarts, requests).

Counters and histograms are updated where things happen (the driver, the relay); gauges that
describe a state (queue, in flight, GPUs, token rates) are set right before each scrape.
"""

import logging

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from swapd.gpu import Gpu
from swapd.logs import line

log = logging.getLogger(__name__)
SWAP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
REQUEST_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# llama-server's /metrics (with --metrics) -> our gauge for the same rate.
LLAMA_RATES = {
    "llamacpp:prompt_tokens_seconds": "prompt",
    "llamacpp:predicted_tokens_seconds": "generation",
}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.swaps = Counter(
            "swapd_swaps", "Swaps that ended, by target tier and outcome.", ["tier", "ok"], registry=r
        )
        self.swap_seconds = Histogram(
            "swapd_swap_seconds", "Whole swap duration.", ["tier"], buckets=SWAP_BUCKETS, registry=r
        )
        self.phase_seconds = Histogram(
            "swapd_swap_phase_seconds",
            "Swap duration by phase (drain, stop, vram_release, load, health).",
            ["phase"],
            buckets=SWAP_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "swapd_requests",
            "Proxied requests by serving tier and HTTP status.",
            ["tier", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "swapd_request_seconds",
            "Proxied request duration, queueing included.",
            ["tier"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.queued = Gauge("swapd_queue_depth", "Requests waiting in swapd's queue.", registry=r)
        self.in_flight = Gauge("swapd_in_flight", "Requests being served, by tier.", ["tier"], registry=r)
        self.ready = Gauge("swapd_tier_ready", "1 for the tier that is ready, else 0.", ["tier"], registry=r)
        self.gpu_used = Gauge("swapd_gpu_memory_used_mib", "GPU memory in use.", ["gpu", "name"], registry=r)
        self.gpu_total = Gauge(
            "swapd_gpu_memory_total_mib", "GPU memory in all.", ["gpu", "name"], registry=r
        )
        self.gpu_util = Gauge(
            "swapd_gpu_utilization_percent", "GPU utilisation.", ["gpu", "name"], registry=r
        )
        self.gpu_temp = Gauge(
            "swapd_gpu_temperature_celsius", "GPU temperature.", ["gpu", "name"], registry=r
        )
        self.companion_ready = Gauge(
            "swapd_companion_ready",
            "1 while the companion is loaded and serving, else 0.",
            ["companion"],
            registry=r,
        )
        self.companion_restarts = Counter(
            "swapd_companion_restarts", "Companion crashes and failed loads.", ["companion"], registry=r
        )
        self.companion_in_flight = Gauge(
            "swapd_companion_in_flight", "Requests being served, by companion.", ["companion"], registry=r
        )
        self.companion_requests = Counter(
            "swapd_companion_requests",
            "Proxied requests by companion and HTTP status.",
            ["companion", "status"],
            registry=r,
        )
        self.companion_request_seconds = Histogram(
            "swapd_companion_request_seconds",
            "Proxied companion request duration.",
            ["companion"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.token_rate = Gauge(
            "swapd_llama_tokens_per_second",
            "llama-server's own prompt and generation rates (tiers started with --metrics).",
            ["tier", "kind"],
            registry=r,
        )

    def swap_ended(self, tier: str, ok: bool, took_s: float, phases: dict[str, float]) -> None:
        self.swaps.labels(tier=tier, ok=str(ok).lower()).inc()
        if ok:
            self.swap_seconds.labels(tier=tier).observe(took_s)
            for phase, seconds in phases.items():
                self.phase_seconds.labels(phase=phase).observe(seconds)

    def request_done(self, tier: str, status: int, seconds: float, companion: bool = False) -> None:
        if companion:
            self.companion_requests.labels(companion=tier, status=str(status)).inc()
            self.companion_request_seconds.labels(companion=tier).observe(seconds)
            return
        self.requests.labels(tier=tier, status=str(status)).inc()
        self.request_seconds.labels(tier=tier).observe(seconds)

    def companion_state(self, name: str, *, ready: bool, restarting: bool) -> None:
        self.companion_ready.labels(companion=name).set(1 if ready else 0)
        self.companion_restarts.labels(companion=name)  # a series from the start, at 0
        if restarting:
            self.companion_restarts.labels(companion=name).inc()

    def set_companions(self, in_flight: dict[str, int]) -> None:
        for name, count in in_flight.items():
            self.companion_in_flight.labels(companion=name).set(count)

    def set_state(
        self, tiers: tuple[str, ...], ready: str | None, in_flight: dict[str, int], queued: int
    ) -> None:
        self.queued.set(queued)
        for tier in tiers:
            self.in_flight.labels(tier=tier).set(in_flight.get(tier, 0))
            self.ready.labels(tier=tier).set(1 if tier == ready else 0)

    def set_gpus(self, gpus: tuple[Gpu, ...]) -> None:
        for gpu in gpus:
            labels = {"gpu": str(gpu.index), "name": gpu.name}
            self.gpu_used.labels(**labels).set(gpu.used_mib)
            self.gpu_total.labels(**labels).set(gpu.total_mib)
            self.gpu_util.labels(**labels).set(gpu.util_pct)
            self.gpu_temp.labels(**labels).set(gpu.temp_c)

    async def scrape_llama(self, client: httpx.AsyncClient, tier: str, upstream: str) -> None:
        """Copy llama-server's token rates, when it exposes /metrics; silently skipped when not."""
        try:
            reply = await client.get(f"{upstream}/metrics", timeout=1.0)
        except httpx.HTTPError as exc:
            log.debug(line("metrics.llama_unreachable", tier=tier, error=type(exc).__name__))
            return
        if reply.status_code != 200:
            return
        for family in text_string_to_metric_families(reply.text):
            for sample in family.samples:
                if (kind := LLAMA_RATES.get(sample.name)) is not None:
                    self.token_rate.labels(tier=tier, kind=kind).set(sample.value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
