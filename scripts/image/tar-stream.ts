// A reproducible tar writer: entries sorted by path, fixed mtime, numeric owners, no atime/ctime,
// no user or group names, pax headers only for what ustar cannot hold (long paths). The `tar`
// package's Pack reads owners and times from the file system; a layer needs them chosen, so the
// headers are built here with the package's own Header and Pax encoders.
import { createReadStream } from 'node:fs';
import { Header, Pax } from 'tar';

/** Where a file's bytes come from: a host file (read when written) or bytes in memory. */
export type Content = { file: string; size: number } | { bytes: Buffer };

/** One entry of a layer. Paths are relative, without a leading "/" ("usr/local/bin/node"). */
export type TarEntry =
  | { type: 'file'; path: string; mode: number; uid: number; gid: number; content: Content }
  | { type: 'dir'; path: string; mode: number; uid: number; gid: number }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;

function sizeOf(entry: TarEntry): number {
  if (entry.type !== 'file') return 0;
  return 'bytes' in entry.content ? entry.content.bytes.length : entry.content.size;
}

/** The header block(s) of an entry: a pax extended header first when ustar cannot hold the path. */
function headerBlocks(entry: TarEntry, mtime: Date): Buffer[] {
  const path = entry.type === 'dir' ? `${entry.path}/` : entry.path;
  const owner = entry.type === 'symlink' ? { mode: 0o777, uid: 0, gid: 0 } : entry;
  const data = {
    path,
    mode: owner.mode,
    uid: owner.uid,
    gid: owner.gid,
    size: sizeOf(entry),
    mtime,
    type: entry.type === 'file' ? 'File' : entry.type === 'dir' ? 'Directory' : 'SymbolicLink',
    linkpath: entry.type === 'symlink' ? entry.target : '',
    uname: '',
    gname: '',
  } as const;
  const block = Buffer.alloc(BLOCK);
  const needPax = new Header(data).encode(block);
  // ustar's prefix/name split spells a 100-byte name without a "/" as "./name": past 99 bytes the
  // path (and link target) always go in a pax header, which readers take over the ustar fields.
  const long = Buffer.byteLength(path) > 99 || Buffer.byteLength(data.linkpath) > 99;
  if (!needPax && !long) return [block];
  const pax = new Pax({
    path,
    ...(entry.type === 'symlink' ? { linkpath: entry.target } : {}),
    mtime,
    uid: owner.uid,
    gid: owner.gid,
  }).encode();
  return [pax, block];
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/**
 * The bytes of a tar archive of `entries`, in path order (byte-wise), each stamped with `mtime`.
 * Host files are streamed and must keep the size recorded in their entry (else an Error).
 */
export async function* tarStream(entries: readonly TarEntry[], mtime: Date): AsyncGenerator<Buffer> {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  sorted.forEach((entry, i) => {
    if (i > 0 && sorted[i - 1]!.path === entry.path) throw new Error(`two layer entries for ${entry.path}`);
  });
  for (const entry of sorted) {
    yield* headerBlocks(entry, mtime);
    if (entry.type !== 'file') continue;
    if ('bytes' in entry.content) {
      yield entry.content.bytes;
    } else {
      let read = 0;
      for await (const chunk of createReadStream(entry.content.file) as AsyncIterable<Buffer>) {
        read += chunk.length;
        yield chunk;
      }
      if (read !== entry.content.size) throw new Error(`${entry.content.file} changed size while being archived`);
    }
    yield padding(sizeOf(entry));
  }
  yield Buffer.alloc(BLOCK * 2);
}
