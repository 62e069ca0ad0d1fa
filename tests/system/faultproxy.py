#!/usr/bin/python3
"""A fault-injecting TCP proxy (asyncio) for the links between daemons.

Each Proxy listens on a loopback port and forwards every connection to a
target port. It works below ZeroMQ: the CURVE handshake and the encrypted
frames pass through untouched, so a fault looks to both ends as it would on
a real network. Modes (Proxy.set):

    pass             forward (the default)
    cut              reset (RST) every open connection and every new one
    delay SECONDS    hold each chunk SECONDS before forwarding it (both ways)
    drop FRACTION    discard that fraction of chunks: the stream is corrupted,
                     which the receiver must detect (CURVE fails, the
                     connection is closed) and recover from by reconnecting
    halfopen         every open connection goes silent: bytes are accepted
                     and discarded, no FIN, no RST. Such a connection stays
                     dead after the mode changes back (as after a middlebox
                     or peer reboot): only new connections forward again, so
                     an end that never notices the silence is stuck for good.

ProxySet runs the proxies on one event loop in a background thread:

    ps = ProxySet(); p = ps.add("billingd<-orderd", lambda: port); ...
    p.endpoint -> "tcp://127.0.0.1:N"; ps.set_all("cut"); ps.close()

Used by tests/system/test_netfault.py.
"""

import asyncio
import random
import socket
import struct
import threading


class _Conn:
    def __init__(self):
        self.writers = []
        self.frozen = False


class Proxy:
    def __init__(self, ps, name, target_port):
        self.ps = ps
        self.name = name
        self.target_port = target_port      # callable: the port now
        self.mode = "pass"
        self.arg = 0.0
        self.conns = set()
        self.server = None
        self.port = None
        self.stats = {"connections": 0, "bytes": 0, "dropped_chunks": 0, "resets": 0,
                      "frozen": 0}

    @property
    def endpoint(self):
        return "tcp://127.0.0.1:%d" % self.port

    def set(self, mode, arg=0.0):
        """Change the mode (from any thread); returns when it is in force."""
        assert mode in ("pass", "cut", "delay", "drop", "halfopen"), mode
        fut = asyncio.run_coroutine_threadsafe(self._set(mode, float(arg)), self.ps.loop)
        fut.result(10)

    async def _set(self, mode, arg):
        self.mode, self.arg = mode, arg
        if mode == "cut":
            for c in list(self.conns):
                self._reset(c)
        elif mode == "halfopen":
            for c in self.conns:
                if not c.frozen:
                    c.frozen = True
                    self.stats["frozen"] += 1

    def _reset(self, c):
        for w in c.writers:
            sock = w.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            w.transport.abort()
        self.conns.discard(c)
        self.stats["resets"] += 1

    async def _start(self):
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, creader, cwriter):
        self.stats["connections"] += 1
        c = _Conn()
        c.writers.append(cwriter)
        if self.mode == "cut":
            self._reset(c)
            return
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1", self.target_port())
        except OSError:
            self._reset(c)      # the target is down: the client sees a reset, as direct
            return
        c.writers.append(swriter)
        self.conns.add(c)
        if self.mode == "halfopen":
            c.frozen = True
            self.stats["frozen"] += 1
        await asyncio.gather(self._pump(c, creader, swriter), self._pump(c, sreader, cwriter),
                             return_exceptions=True)
        if c in self.conns:
            self.conns.discard(c)
            for w in c.writers:
                w.transport.abort()

    async def _pump(self, c, reader, writer):
        while True:
            data = await reader.read(65536)
            if not data:
                if not c.frozen:   # a frozen link sends no FIN either
                    writer.write_eof() if writer.can_write_eof() else writer.close()
                    return
                await asyncio.sleep(3600)
                return
            if c.frozen:
                continue
            if self.mode == "drop" and random.random() < self.arg:
                self.stats["dropped_chunks"] += 1
                continue
            if self.mode == "delay" and self.arg > 0:
                await asyncio.sleep(self.arg)
                if c.frozen or c not in self.conns:
                    continue
            self.stats["bytes"] += len(data)
            writer.write(data)
            await writer.drain()


class ProxySet:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.proxies = []
        self.thread = threading.Thread(target=self.loop.run_forever, name="faultproxy",
                                       daemon=True)
        self.thread.start()

    def add(self, name, target_port):
        p = Proxy(self, name, target_port)
        asyncio.run_coroutine_threadsafe(p._start(), self.loop).result(10)
        self.proxies.append(p)
        return p

    def set_all(self, mode, arg=0.0):
        for p in self.proxies:
            p.set(mode, arg)

    def stats(self):
        tot = {}
        for p in self.proxies:
            for k, v in p.stats.items():
                tot[k] = tot.get(k, 0) + v
        return tot

    def close(self):
        async def _close():
            for p in self.proxies:
                p.server.close()
                for c in list(p.conns):
                    p._reset(c)
            me = asyncio.current_task()
            for t in asyncio.all_tasks():
                if t is not me:
                    t.cancel()
        try:
            asyncio.run_coroutine_threadsafe(_close(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
