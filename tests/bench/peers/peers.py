#!/usr/bin/env python3
"""peers.py — what `lepton-bench --scenario peers` compares Lepton with: the same empty remote call
through a system users would pick instead, between two processes on loopback.

    python3 peers.py MODE CALLS      MODE: grpc (grpcio, an empty unary call), ray (an empty actor
                                     method, ray.get of .remote()), zmq (pyzmq REQ/REP, empty message)

Prints exactly one line on stdout, which lepton-bench reads:
    ok P50_US P99_US CALLS           the figures, in microseconds, over CALLS timed calls
    skipped REASON                   the dependency is not importable, or it failed (REASON says why)
Always exits 0 unless called wrongly: a missing or broken optional dependency is not an error.
Everything else (Ray's own logs) goes to stderr. The whole run is bounded by a 150 s alarm.
"""
import os
import signal
import subprocess
import sys
import time

WARMUP = 50


def pct(sorted_values, p):
    i = int(p * (len(sorted_values) - 1) + 0.5)
    return sorted_values[min(max(i, 0), len(sorted_values) - 1)]


def time_calls(call, calls):
    for _ in range(WARMUP):
        call()
    lat = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        call()
        lat.append((time.perf_counter_ns() - t0) / 1e3)
    lat.sort()
    return pct(lat, 0.50), pct(lat, 0.99)


def start_server(mode):
    """The serving side in its own process (like a worker): returns (process, the port it printed)."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-" + mode],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        proc.wait()
        raise RuntimeError("the %s server process did not start (printed %r)" % (mode, line))
    return proc, int(line)


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- gRPC: a generic handler on raw bytes, so no generated stubs or protoc are needed ----------
METHOD = "/lepton.bench.Peer/Call"


def serve_grpc():
    import grpc
    from concurrent import futures

    handler = grpc.method_handlers_generic_handler(
        "lepton.bench.Peer", {"Call": grpc.unary_unary_rpc_method_handler(lambda req, ctx: b"")})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


def bench_grpc(calls):
    import grpc

    proc, port = start_server("grpc")
    try:
        with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
            stub = ch.unary_unary(METHOD)
            return time_calls(lambda: stub(b"", timeout=30), calls)
    finally:
        stop_server(proc)


# ---- ZeroMQ through pyzmq (lepton-bench uses libzmq from C when it was built with it) ------------
def serve_zmq():
    import zmq

    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    print(port, flush=True)
    while True:
        rep.recv()
        rep.send(b"")


def bench_zmq(calls):
    import zmq

    proc, port = start_server("zmq")
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, 30000)
    req.setsockopt(zmq.LINGER, 0)
    req.connect("tcp://127.0.0.1:%d" % port)

    def call():
        req.send(b"")
        req.recv()

    try:
        return time_calls(call, calls)
    finally:
        req.close()
        ctx.term()
        stop_server(proc)


# ---- Ray: an actor (its own worker process) and an empty method -------------------------------
def bench_ray(calls):
    import logging

    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             configure_logging=False)
    try:
        @ray.remote
        class Peer:
            def call(self):
                return None

        actor = Peer.remote()
        ray.get(actor.call.remote(), timeout=120)
        return time_calls(lambda: ray.get(actor.call.remote(), timeout=30), calls)
    finally:
        ray.shutdown()


MODES = {"grpc": ("grpc", bench_grpc), "zmq": ("zmq", bench_zmq), "ray": ("ray", bench_ray)}
INSTALL = {"grpc": "pip install grpcio", "zmq": "pip install pyzmq (or apt-get install libzmq3-dev and "
                                                "rebuild lepton-bench)", "ray": "pip install ray"}


def main(argv):
    if len(argv) == 2 and argv[1] in ("--serve-grpc", "--serve-zmq"):
        (serve_grpc if argv[1] == "--serve-grpc" else serve_zmq)()
        return 0
    if len(argv) != 3 or argv[1] not in MODES or not argv[2].isdigit() or int(argv[2]) < 1:
        print("usage: peers.py grpc|zmq|ray CALLS", file=sys.stderr)
        return 2
    mode, calls = argv[1], int(argv[2])
    module, bench = MODES[mode]
    try:
        __import__(module)
    except Exception as e:  # ImportError, or a broken install that fails on import
        print("skipped %s is not importable by %s (%s); %s and point LEPTON_BENCH_PYTHON at that "
              "interpreter" % (module, sys.executable, type(e).__name__, INSTALL[mode]), flush=True)
        return 0

    def on_alarm(signum, frame):
        raise TimeoutError("no result after 150 s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(150)
    try:
        p50, p99 = bench(calls)
    except Exception as e:
        msg = ("%s: %s" % (type(e).__name__, e)).replace("\n", " ")[:300]
        print("skipped %s is installed but the run failed: %s" % (module, msg), flush=True)
        return 0
    finally:
        signal.alarm(0)
    print("ok %.3f %.3f %d" % (p50, p99, calls), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
