"""Command line: ``fusion run | simulate | alerts | demo``; ``fusion COMMAND --help`` for each."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fusion.sim.scenario import ScenarioConfig

from fusion.config import BrokerAddress, ConfigError, ServiceConfig, load_config
from fusion.topics import Topics
from fusion.transport import ReconnectingTransport, TransportError, aiomqtt_factory

log = logging.getLogger("fusion")

EPILOG = "Units: distances in NM and ft at the edges, SI inside; times are UTC data time."


def _add_broker(p: argparse.ArgumentParser, default: str | None = "mqtt://127.0.0.1:1883") -> None:
    p.add_argument(
        "--broker",
        default=default,
        metavar="mqtt://HOST:PORT",
        help="MQTT broker to use (default: "
        + (default or "the config file's broker, else mqtt://127.0.0.1:1883")
        + ")",
    )
    p.add_argument(
        "--root", default=None, help="topic root prefix (default: 'airspace', or the config file's)"
    )
    _add_log_level(p)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _add_log_level(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,  # --log-level debug works too
        choices=LOG_LEVELS,
        help="log verbosity on stderr: DEBUG, INFO (every alert event), WARNING (dead "
        "letters, broker trouble) or ERROR (default: WARNING)",
    )


def _add_scenario(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario")
    g.add_argument("--seed", type=int, default=1, help="random seed of the scenario (default 1)")
    g.add_argument(
        "--duration-s",
        type=float,
        default=600.0,
        help="scenario length in data seconds (default 600)",
    )
    g.add_argument(
        "--aircraft",
        type=int,
        default=30,
        help="background aircraft besides the planted pairs (default 30)",
    )
    g.add_argument(
        "--conflicts",
        type=int,
        default=6,
        help="planted conflicts, losses of separation at known times (default 6)",
    )
    g.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="data time per wall time: 1 real time, 10 ten times faster, "
        "0 as fast as possible (default 1)",
    )


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError("port must be 0..65535")
    return v


def _speed(text: str) -> float:
    v = float(text)
    if not v >= 0:
        raise argparse.ArgumentTypeError("speed must be >= 0")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fusion",
        description="Real-time airspace deconfliction: radar and ADS-B track reports in over "
        "MQTT, near-miss alerts out.",
        epilog=EPILOG,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the service against a broker",
        description="Run the service: subscribe to {root}/v1/reports/+, fuse "
        "tracks, publish alerts on {root}/v1/alerts/..., status and dead "
        "letters. Stops cleanly on Ctrl-C or SIGTERM.",
        epilog=EPILOG,
    )
    _add_broker(run, default=None)
    run.add_argument("--config", metavar="FILE", help="TOML configuration (see docs/operations.md)")
    run.add_argument("--service", default=None, help="service name in the status topic")
    run.add_argument(
        "--airspace",
        metavar="FILE",
        default=None,
        help="airspace volumes file, TOML (see docs/volumes.md): minima per volume, "
        "inhibition volumes, eligibility rules (default: the config file's 'airspace', "
        "else none)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics; 0 turns it off "
        "(default: the config file's [metrics] port, else 0)",
    )
    run.add_argument(
        "--metrics-host",
        default=None,
        metavar="HOST",
        help="address the metrics endpoint listens on, 0.0.0.0 for every interface "
        "(default: the config file's [metrics] host, else 127.0.0.1)",
    )

    sim = sub.add_parser(
        "simulate",
        help="publish a simulated radar + ADS-B scenario",
        description="Publish a scenario's radar and ADS-B sensor tracks with "
        "conflicts planted at known times and safe near-pairs beside them; "
        "write the truth as JSON.",
        epilog=EPILOG,
    )
    _add_broker(sim)
    _add_scenario(sim)
    sim.add_argument(
        "--truth",
        metavar="FILE",
        default="sim-truth.json",
        help="where to write the truth file (default sim-truth.json)",
    )
    sim.add_argument(
        "--start",
        type=float,
        default=None,
        metavar="EPOCH_S",
        help="data time of the scenario start, UTC epoch seconds (default: now)",
    )
    sim.add_argument(
        "--loop",
        action="store_true",
        help="repeat the scenario (new seed each pass, data time continuing)",
    )
    sim.add_argument(
        "--sensors",
        choices=["default", "fusion"],
        default="default",
        help="sensor suite (docs/operations.md, 'Simulated sensors'): 'default', an ADS-B "
        "feeder and two Mode S radars; 'fusion', Mode S radars whose track numbers break, "
        "a primary 3-D radar without identity, three overlapping ADS-B receivers with "
        "latency, drop-outs, duplicates and out-of-order delivery, and GNSS-interference "
        "zones; it also writes the per-report truth next to --truth, as "
        "NAME.reports.npz (default: default)",
    )

    al = sub.add_parser(
        "alerts",
        help="print alerts as they come, one line each",
        description="Subscribe to the alert topics: first every open alert "
        "(retained), then live new/update/end events.",
        epilog=EPILOG,
    )
    _add_broker(al)
    al.add_argument("--json", action="store_true", help="one JSON object per line")
    al.add_argument(
        "--no-open", action="store_true", help="do not show the alerts already open when connecting"
    )

    demo = sub.add_parser(
        "demo",
        help="local broker + simulator + service + alert view",
        description="Start a private Mosquitto on a free loopback port, "
        "the simulator (looping), the service and the alert view. Ctrl-C "
        "stops all of them.",
        epilog=EPILOG,
    )
    _add_log_level(demo)
    demo.add_argument("--json", action="store_true", help="print alerts as JSON lines")
    demo.add_argument(
        "--once",
        action="store_true",
        help="play the scenario once and stop (default: loop until Ctrl-C)",
    )
    _add_scenario(demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    commands: dict[str, Callable[[argparse.Namespace, asyncio.Event], Awaitable[int]]] = {
        "run": _run,
        "simulate": _simulate,
        "alerts": _alerts,
        "demo": _demo,
    }
    try:
        return asyncio.run(_with_signals(commands[args.command], args))
    except ConfigError as exc:
        print(f"fusion: configuration error: {exc}", file=sys.stderr)
        return 2
    except TransportError as exc:
        print(f"fusion: broker: {exc}", file=sys.stderr)
        return 1


async def _with_signals(
    fn: Callable[[argparse.Namespace, asyncio.Event], Awaitable[int]], args: argparse.Namespace
) -> int:
    """Run a command; the first SIGINT or SIGTERM asks it to stop cleanly (``stop``), a
    second one cuts the clean stop short (exit code 1): a stop waiting on a broker that
    does not answer can take the aiomqtt timeout, 10 s, per step."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(fn(args, stop))

    def on_signal(name: str) -> None:
        if not stop.is_set():
            log.info("%s: stopping", name)
            stop.set()
        else:
            log.warning("%s again: stopping at once", name)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        print("fusion: stopped at once on a second signal", file=sys.stderr)
        return 1


def _service_config(args: argparse.Namespace) -> ServiceConfig:
    cfg = load_config(args.config).with_broker(args.broker)
    changes: dict[str, str] = {}
    if args.root:
        changes["root"] = args.root
    if args.service:
        changes["service"] = args.service
    if getattr(args, "airspace", None):
        changes["airspace"] = args.airspace  # relative to the working directory
    if changes:
        cfg = ServiceConfig(**{**cfg.__dict__, **changes})
    metrics: dict[str, Any] = {}
    if args.metrics_port is not None:
        metrics["port"] = args.metrics_port
    if args.metrics_host is not None:
        metrics["host"] = args.metrics_host
    if metrics:
        cfg = replace(cfg, metrics=replace(cfg.metrics, **metrics))
    return cfg


async def _run(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from fusion.service import Service

    cfg = _service_config(args)
    addr = cfg.broker_address
    m = cfg.metrics
    metrics = f"; metrics on http://{m.host}:{m.port}/metrics" if m.port else ""
    # Read the airspace file before anything starts: a bad one is a configuration error.
    airspace = cfg.load_airspace()
    volumes = f"; airspace {cfg.airspace} ({len(airspace.volumes)} volumes)" if airspace else ""
    print(
        f"fusion: service {cfg.service} on {addr.url()} root {cfg.root!r}{metrics}{volumes}",
        file=sys.stderr,
    )
    # A persistent session (clean_session=False) under the service's fixed client id: reports
    # published while only our link is down are queued for us (docs/operations.md, "Faults").
    factory = aiomqtt_factory(addr.host, addr.port, clean_session=False)
    await Service(cfg, factory, airspace=airspace).run(stop)
    return 0


def _scenario_cfg(args: argparse.Namespace, t0: float, seed: int) -> ScenarioConfig:
    from fusion.sim.scenario import ScenarioConfig

    return ScenarioConfig(
        seed=seed,
        t0=t0,
        duration_s=args.duration_s,
        n_background=args.aircraft,
        n_conflicts=args.conflicts,
    )


async def _play(
    args: argparse.Namespace,
    stop: asyncio.Event,
    broker: BrokerAddress,
    root: str,
    truth_path: Path | None,
    loop_forever: bool,
) -> int:
    from fusion.sim.presets import SENSOR_PRESETS
    from fusion.sim.publisher import publish_messages
    from fusion.sim.reporttruth import report_truth_path, write_report_truth
    from fusion.sim.scenario import build_scenario, write_truth
    from fusion.sim.sensors import build_messages, build_messages_with_truth

    preset = getattr(args, "sensors", "default")
    sensors = SENSOR_PRESETS[preset]

    t0 = float(int(args.start if getattr(args, "start", None) is not None else time.time()))
    seed = args.seed
    total = 0
    factory = aiomqtt_factory(broker.host, broker.port)
    # A feeder that outlives broker restarts: a message that cannot go out waits, with the
    # ones behind it, until the connection is back, then they all go in order (at least
    # once). Only ``stop`` ends the wait.
    async with ReconnectingTransport(factory, f"fusion-sim-{seed}-{int(t0)}", stop=stop) as tr:
        while not stop.is_set():
            try:
                scenario = build_scenario(_scenario_cfg(args, t0, seed))
            except ValueError as exc:
                raise ConfigError(f"scenario: {exc}") from None
            if preset == "default":
                messages = build_messages(scenario, sensors)
            else:
                messages, report_truth = build_messages_with_truth(scenario, sensors)
                if truth_path is not None:
                    write_report_truth(report_truth_path(truth_path), report_truth)
            if truth_path is not None:
                write_truth(truth_path, scenario)
                log.warning("truth of seed %d written to %s", seed, truth_path)
            try:
                total += await publish_messages(tr, Topics(root), messages, args.speed, stop)
            except TransportError:
                if not stop.is_set():
                    raise
                return 0  # stopped while the broker was away: not a failure
            if not loop_forever:
                break
            t0 += args.duration_s
            seed += 1
    return 0 if total else 1


async def _simulate(args: argparse.Namespace, stop: asyncio.Event) -> int:
    broker = BrokerAddress.parse(args.broker)
    print(f"fusion: simulating to {broker.url()} at speed {args.speed}", file=sys.stderr)
    return await _play(args, stop, broker, args.root or "airspace", Path(args.truth), args.loop)


async def _alerts(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from fusion.alertview import view_alerts

    broker = BrokerAddress.parse(args.broker)
    factory = aiomqtt_factory(broker.host, broker.port)
    # The view survives broker restarts too (it shows the open alerts again after one).
    client_id = f"fusion-alerts-{int(time.time() * 1000)}"
    async with ReconnectingTransport(factory, client_id, stop=stop) as tr:
        view = asyncio.create_task(
            view_alerts(
                tr, Topics(args.root or "airspace"), sys.stdout, args.json, not args.no_open
            )
        )
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([view, waiter], return_when=asyncio.FIRST_COMPLETED)
        for t in (view, waiter):
            t.cancel()
        await asyncio.gather(view, waiter, return_exceptions=True)
        if view.done() and not view.cancelled() and view.exception() is not None:
            raise view.exception()  # type: ignore[misc]
    return 0


async def _demo(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from fusion.alertview import view_alerts
    from fusion.broker import LocalBroker
    from fusion.service import Service

    with LocalBroker() as broker, tempfile.TemporaryDirectory(prefix="fusion-demo-") as tmp:
        addr = BrokerAddress(broker.host, broker.port)
        truth = Path(tmp) / "truth.json"
        print(
            f"demo: Mosquitto on {broker.url}; watch the raw topics with\n"
            f"      mosquitto_sub -h 127.0.0.1 -p {broker.port} -t 'airspace/v1/#' -v\n"
            f"demo: simulator at speed {args.speed}, {args.aircraft} background aircraft, "
            f"{args.conflicts} planted conflicts per pass; Ctrl-C stops everything.",
            flush=True,
        )
        cfg = ServiceConfig(broker=addr.url(), service="demo")
        service = Service(cfg, aiomqtt_factory(addr.host, addr.port, clean_session=False))
        svc_task = asyncio.create_task(service.run(stop), name="service")
        await _first([svc_task], service.connected.wait())
        factory = aiomqtt_factory(addr.host, addr.port)
        async with factory("fusion-demo-view", None) as view_tr:
            view_task = asyncio.create_task(
                view_alerts(view_tr, Topics(cfg.root), sys.stdout, args.json), name="view"
            )
            await asyncio.sleep(0.2)  # let the view's subscriptions reach the broker
            sim_task = asyncio.create_task(
                _play(args, stop, addr, cfg.root, truth, not args.once), name="simulator"
            )
            await _first([svc_task, view_task, sim_task], stop.wait())
            if sim_task.done() and args.once:
                # Give the last cycles time to publish before stopping.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 3.0)
            stop.set()
            await asyncio.gather(svc_task, sim_task, return_exceptions=True)
            view_task.cancel()
            await asyncio.gather(view_task, return_exceptions=True)
        for t in (svc_task, sim_task):
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    print("demo: stopped; broker, simulator and service are down.", flush=True)
    return 0


async def _first(
    tasks: Sequence[asyncio.Future[Any]],
    other: Awaitable[object],
) -> None:
    """Wait for ``other`` or for any of ``tasks`` to finish (e.g. fail)."""
    waiter = asyncio.ensure_future(other)
    await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)


if __name__ == "__main__":
    sys.exit(main())
