import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import fc from 'fast-check';
import { freePort, portRangeOf } from '../../src/dev/ports.ts';

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

/**
 * Red team 9, finding 3: the range is read from the kernel's, and a tuned ephemeral range (ports
 * from 1024 or 2000 up, as some hosts set for many outgoing connections) made the fallback
 * (49152–65535) lie inside it, where an outgoing connection can take the port again. The class:
 * every ephemeral range the kernel accepts, the range chosen is outside it whenever a port outside
 * it exists.
 */
test('portRangeOf: outside the ephemeral range for every range the kernel accepts', () => {
  const table: [string | undefined, readonly [number, number]][] = [
    ['32768\t60999\n', [10000, 32767]], // Linux's default
    [undefined, [10000, 32767]], // no /proc
    ['garbage', [10000, 32767]],
    ['40000 60999', [10000, 39999]],
    ['11000 60999', [9975, 10999]],
    ['1024 65000', [65001, 65535]], // was [49152, 65535]: inside the range
    ['2000 65535', [1024, 1999]], // was [49152, 65535]: inside the range
    ['1024 65535', [1024, 65535]], // no port outside it: any
    ['5000 5100', [3975, 4999]],
  ];
  for (const [text, expected] of table) assert.deepEqual(portRangeOf(text), expected, String(text));
  fc.assert(
    fc.property(
      fc.integer({ min: 1024, max: 65535 }).chain((a) => fc.tuple(fc.constant(a), fc.integer({ min: a, max: 65535 }))),
      fc.constantFrom(' ', '\t', '   '),
      ([first, last], sep) => {
        const [lo, hi] = portRangeOf(`${String(first)}${sep}${String(last)}\n`);
        assert.ok(lo >= 1024 && lo <= hi && hi <= 65535, `${String(lo)}-${String(hi)}`);
        const outside = Math.max(first - 1024, 65535 - last); // the wider gap outside it
        if (outside >= 256)
          assert.ok(hi < first || lo > last, `${String(lo)}-${String(hi)} meets ${String(first)}-${String(last)}`);
      },
    ),
    { numRuns: 2000 },
  );
});
