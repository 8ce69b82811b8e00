/**
 * Class (red team 4, finding 4): "a peer row's process listens on a non-loopback address" — the
 * Gatekeeper row's Prometheus exporter bound *:8888 (a second bench's Gatekeeper then died with
 * "address already in use", and anyone on the network could read it). Every row's start() refuses a
 * process with such a listener (bench/peers/listeners.ts); these tests pin the /proc/net/tcp{,6}
 * parsing it depends on: every address family and form that is (or is not) loopback, and non-LISTEN
 * states ignored. The live check runs against this test process's own listening sockets.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import {
  isLoopback,
  listenersOf,
  nonLoopbackListeners,
  parseTcpTable,
  procAddress,
} from '../../bench/peers/listeners.ts';

const HEADER4 = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const row4 = (local: string, st: string, inode: number): string =>
  `   0: ${local} 00000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`;
const HEADER6 =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const row6 = (local: string, st: string, inode: number): string =>
  `   0: ${local} 00000000000000000000000000000000:0000 ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`;

// [hex as /proc prints it, text, loopback?]
const ADDRESSES: readonly (readonly [string, string, boolean])[] = [
  ['0100007F', '127.0.0.1', true],
  ['0101007F', '127.0.1.1', true],
  ['00000000', '0.0.0.0', false], // the reported *:8888
  ['0100000A', '10.0.0.1', false],
  ['00000000000000000000000000000000', '::', false], // Go's ":8888" binds [::]
  ['00000000000000000000000001000000', '::1', true],
  ['0000000000000000FFFF00000100007F', '::ffff:127.0.0.1', true],
  ['0000000000000000FFFF00000100000A', '::ffff:10.0.0.1', false],
  ['000080FE00000000000000000100000A', 'fe80:0:0:0:0:0:a00:1', false],
];

test('procAddress decodes every form of a /proc/net/tcp{,6} local address', () => {
  for (const [hex, text, loop] of ADDRESSES) {
    const got = procAddress(hex);
    assert.equal(got, text, hex);
    assert.equal(isLoopback(got), loop, `${hex} → ${got}`);
  }
  assert.throws(() => procAddress('0100'), /unexpected/);
});

test('parseTcpTable keeps LISTEN rows only, with port and inode', () => {
  const v4 = [
    HEADER4,
    row4('00000000:22B8', '0A', 111),
    row4('0100007F:1F90', '0A', 112),
    row4('0100007F:9C40', '01', 113),
  ];
  assert.deepEqual(parseTcpTable(v4.join('\n') + '\n'), [
    { address: '0.0.0.0', port: 8888, inode: 111 },
    { address: '127.0.0.1', port: 8080, inode: 112 },
  ]);
  const v6 = [
    HEADER6,
    row6('00000000000000000000000000000000:22B8', '0A', 211),
    row6('00000000000000000000000001000000:1F90', '06', 212),
  ];
  assert.deepEqual(parseTcpTable(v6.join('\n')), [{ address: '::', port: 8888, inode: 211 }]);
  assert.deepEqual(parseTcpTable(''), []);
});

const listen = (host: string): Promise<Server> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => resolve(s));
  });

test('a process listening on loopback only passes; the same process listening on 0.0.0.0 is named', async (t) => {
  if (process.platform !== 'linux') return t.skip('reads /proc');
  const local = await listen('127.0.0.1');
  try {
    const port = (local.address() as { port: number }).port;
    assert.ok((await listenersOf(process.pid)).some((l) => l.port === port && l.address === '127.0.0.1'));
    assert.deepEqual(await nonLoopbackListeners(process.pid), []);
    const wide = await listen('0.0.0.0');
    try {
      const widePort = (wide.address() as { port: number }).port;
      assert.deepEqual(await nonLoopbackListeners(process.pid), [`0.0.0.0:${widePort}`]);
    } finally {
      wide.close();
    }
  } finally {
    local.close();
  }
});
