import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import { freePort } from '../../src/dev/processes.ts';

/**
 * The class (a cluster-tier flake, 30 November): a port picked free for a child server (etcd, the
 * API server, kwok) is taken before the child binds it, and the child dies with "address already in
 * use". Bind-to-0 picks from the kernel's ephemeral range, where every outgoing connection on the
 * machine also takes its source port. freePort now picks below that range, checks the bind, and
 * never hands a port out twice; these tests hold it to that with real sockets.
 */
const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

test('200 ports: each below the ephemeral range, above 1023, distinct, and bindable on loopback', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 200; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length, 'never the same port twice');
  for (const port of ports) {
    assert.ok(port >= 1024 && port < ephemeralStart, `${String(port)} is below ${String(ephemeralStart)}`);
  }
  for (const port of ports.slice(0, 20)) {
    const server = createServer();
    server.listen({ port, host: '127.0.0.1', exclusive: true });
    await once(server, 'listening');
    server.close();
  }
});

test('outgoing connections (their source ports from the ephemeral range) never take a port it hands out', async () => {
  // 100 live client connections, as a busy API server or a parallel test has; their source ports.
  const sink: Server = createServer((s) => s.on('error', () => undefined));
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const address = sink.address();
  assert.ok(typeof address === 'object' && address !== null);
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 100; i++) {
      const c = connect(address.port, '127.0.0.1');
      await once(c, 'connect');
      clients.push(c);
    }
    const sources = new Set(clients.map((c) => c.localPort));
    for (let i = 0; i < 100; i++) {
      const port = await freePort();
      assert.ok(!sources.has(port), `${String(port)} is a live connection's source port`);
      assert.ok(port < ephemeralStart);
    }
    for (const source of sources)
      assert.ok(source !== undefined && source >= ephemeralStart, 'the kernel took them from its ephemeral range');
  } finally {
    for (const c of clients) c.destroy();
    sink.close();
  }
});

test('a port some listener holds is never handed out', async () => {
  // Hold 300 ports of the range freePort picks from (every 10th of the lowest 3,000), then ask 300 times.
  const held: Server[] = [];
  const heldPorts = new Set<number>();
  try {
    for (let port = 10000; port < 13000; port += 10) {
      const s = createServer();
      const ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(true));
      });
      if (ok) {
        held.push(s);
        heldPorts.add(port);
      }
    }
    assert.ok(heldPorts.size > 250);
    for (let i = 0; i < 300; i++) {
      const port = await freePort();
      assert.ok(!heldPorts.has(port), `${String(port)} is held`);
    }
  } finally {
    for (const s of held) s.close();
  }
});
