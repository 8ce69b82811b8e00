/**
 * Which TCP sockets a peer's process listens on (red team 4, finding 4: the Gatekeeper row listened
 * on *:8888). Linux only: /proc/<pid>/net/tcp{,6} list every socket of the process's network
 * namespace; /proc/<pid>/fd tells which of them (by inode) the process holds. A row's start() calls
 * nonLoopbackListeners() and fails when it returns anything.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';

/** One LISTEN row of a /proc/net/tcp{,6} table. */
export interface TcpListener {
  /** The local address as text: "127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1", … */
  readonly address: string;
  readonly port: number;
  readonly inode: number;
}

/** TCP state code of LISTEN in /proc/net/tcp (include/net/tcp_states.h TCP_LISTEN = 10). */
const LISTEN = '0A';

/** Little-endian 32-bit hex word (as /proc prints it) to its four bytes in network order. */
function wordBytes(hex: string): number[] {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** /proc's hex address (8 hex digits for IPv4, 32 for IPv6) to text; throws on any other length. */
export function procAddress(hex: string): string {
  if (hex.length === 8) return wordBytes(hex).join('.');
  if (hex.length !== 32) throw new Error(`unexpected /proc/net/tcp address "${hex}"`);
  const bytes = [0, 1, 2, 3].flatMap((i) => wordBytes(hex.slice(i * 8, i * 8 + 8)));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return `::ffff:${bytes.slice(12).join('.')}`;
  const groups = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
    (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)).toString(16),
  );
  const text = groups.join(':');
  if (text === '0:0:0:0:0:0:0:0') return '::';
  if (text === '0:0:0:0:0:0:0:1') return '::1';
  return text;
}

/** The LISTEN rows of a /proc/net/tcp or tcp6 table (the header line and other states skipped). */
export function parseTcpTable(text: string): TcpListener[] {
  const out: TcpListener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    if (local === undefined || f[3] !== LISTEN || f[9] === undefined) continue;
    const [addr = '', port = ''] = local.split(':');
    out.push({ address: procAddress(addr), port: Number.parseInt(port, 16), inode: Number(f[9]) });
  }
  return out;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8: reachable from this host only. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** Socket inodes held open by `pid` (from its fd links "socket:[N]"). */
async function socketInodes(pid: number): Promise<Set<number>> {
  const out = new Set<number>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m !== null) out.add(Number(m[1]));
  }
  return out;
}

/** Every TCP socket `pid` listens on; throws when /proc cannot be read (fail closed). */
export async function listenersOf(pid: number): Promise<TcpListener[]> {
  const inodes = await socketInodes(pid);
  const tables = await Promise.all(
    ['tcp', 'tcp6'].map((t) => readFile(`/proc/${pid}/net/${t}`, 'utf8').catch(() => '')),
  );
  return tables.flatMap(parseTcpTable).filter((l) => inodes.has(l.inode));
}

/** `pid`'s listeners outside loopback as "address:port" strings (empty: it listens on loopback only or not at all). */
export async function nonLoopbackListeners(pid: number): Promise<string[]> {
  return (await listenersOf(pid)).filter((l) => !isLoopback(l.address)).map((l) => `${l.address}:${l.port}`);
}

/** Throws naming the process and its sockets when `pid` listens on anything but loopback. */
export async function assertLoopbackOnly(name: string, pid: number): Promise<void> {
  const open = await nonLoopbackListeners(pid);
  if (open.length > 0) throw new Error(`${name} (pid ${pid}) listens outside loopback: ${open.join(', ')}`);
}
