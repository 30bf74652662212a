# heavy_light.py PORT PID - a light client beside a heavy one, on a framed
# server (steps 07-10), and where the server's CPU time goes meanwhile.
#
# The light client does 200 round trips of one 16-byte message, alone and
# then while tests/bench/load runs a heavy load (8 connections, 16 messages
# of 16 KiB in flight each). Prints the light client's median round trip in
# both cases and, for the heavy period, the CPU time of each server thread
# in cores (1.00 = one core busy all the time).
import os, socket, statistics, struct, subprocess, sys, time

port, pid = int(sys.argv[1]), int(sys.argv[2])
load = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "bench", "load")
tick = os.sysconf("SC_CLK_TCK")


def round_trips(n=200):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(struct.pack("!I", 16) + b"x" * 16)
        size, = struct.unpack("!I", f.read(4))
        f.read(size)
        times.append(time.perf_counter() - t)
        time.sleep(0.005)
    s.close()
    return statistics.median(times) * 1000


def thread_cpu():
    """{thread name: CPU seconds} for every thread of the server."""
    cpu = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        cpu[name] = cpu.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick
    return cpu


alone = round_trips()
heavy = subprocess.Popen([load, "127.0.0.1", str(port), "-c", "8", "-k", "16",
                          "-s", "16K", "-d", "4"], stdout=subprocess.DEVNULL)
time.sleep(0.5)
before, t0 = thread_cpu(), time.time()
beside = round_trips()
after, t1 = thread_cpu(), time.time()
heavy.wait()

print("threads: %d" % len(after))
print("light client alone:             median round trip %.2f ms" % alone)
print("light client beside the heavy:  median round trip %.2f ms" % beside)
print("  %s" % ("at least 3 times slower" if beside >= 3 * alone
                else "%.1f times as slow" % (beside / alone)))
for name in sorted(after):
    print("CPU of %-8s %.2f cores" % (name, (after[name] - before.get(name, 0)) / (t1 - t0)))
