/**
 * An output written to one of this command's descriptors (`/dev/stdout`, `/dev/fd/N`: see
 * output-target.ts), from memory: no temporary copy, so no dependency on TMPDIR (red team 20,
 * finding 5). Only to a descriptor the command was given as an output (finding 6: `/dev/fd/N`
 * naming one of the Node runtime's own descriptors crashed or hung the command, and a failed write
 * closed the descriptor):
 *
 * - 1 and 2: through process.stdout and process.stderr, in order with the command's own lines;
 * - any other N: only one that was open when the process started (given-descriptors.ts) and is
 *   open for writing, and not a pipe whose reading end this process also holds (libuv's own
 *   pipes). A regular file is written at its offset, as `>&N` would (a `3>>log` keeps what it
 *   held, and the parent's later writes come after ours). Anything else is opened anew by its
 *   `/proc/self/fd/N` path, non-blocking: a pipe, FIFO or terminal opens (a pipe nobody reads
 *   gives ENXIO at once, never a hang), the runtime's epoll, io_uring and eventfd objects and
 *   sockets give ENXIO.
 *
 * A descriptor this module did not open is never closed. Every failure is an OutputWriteFailed.
 */
import { constants, fstatSync, readdirSync, readFileSync, write } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { givenAtStart } from './given-descriptors.ts';
import { errno, failed, OutputWriteFailed } from './output-target.ts';

const writeAt = promisify(write);

/** The access mode (O_RDONLY, O_WRONLY, O_RDWR) descriptor `fd` of this process was opened with. */
function accessMode(fd: number): number | undefined {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    return flags === undefined ? undefined : parseInt(flags, 8) & 3;
  } catch {
    return undefined;
  }
}

/** Does this process hold the reading end of the pipe whose inode is `ino`? */
function readsPipe(ino: number): boolean {
  return readdirSync('/proc/self/fd').some((name) => {
    try {
      const st = fstatSync(Number(name));
      return st.isFIFO() && st.ino === ino && accessMode(Number(name)) === constants.O_RDONLY;
    } catch {
      return false;
    }
  });
}

/** All of `data` to `fd`; a full non-blocking pipe (EAGAIN) is waited for, as a blocking write would. */
async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  let waited = 1;
  for (let done = 0; done < data.length;) {
    try {
      done += (await writeAt(fd, data, done, data.length - done, null)).bytesWritten;
      waited = 1;
    } catch (e) {
      if (errno(e) !== 'EAGAIN') throw e;
      await sleep(waited);
      waited = Math.min(waited * 2, 50);
    }
  }
}

const toStream = (stream: NodeJS.WriteStream, data: Uint8Array): Promise<void> =>
  new Promise((resolve, reject) => stream.write(data, (e) => (e ? reject(e) : resolve())));

/** Why descriptor `fd` is not one to write an output to, or undefined when it is. */
function notAnOutput(fd: number): string | undefined {
  if (!givenAtStart(fd)) return `descriptor ${fd} was not open when the command started (it is one the command opened)`;
  const mode = accessMode(fd);
  if (mode !== constants.O_WRONLY && mode !== constants.O_RDWR) return `descriptor ${fd} is not open for writing`;
  const st = fstatSync(fd);
  if (st.isFIFO() && readsPipe(st.ino))
    return `descriptor ${fd} is a pipe this process reads itself (one of the runtime's own)`;
  return undefined;
}

/** `data` written to this process's descriptor `fd`, which `path` names (see the module's comment). */
export async function toDescriptor(path: string, fd: number, data: Uint8Array): Promise<void> {
  try {
    if (fd === 1 || fd === 2) return await toStream(fd === 1 ? process.stdout : process.stderr, data);
    const why = notAnOutput(fd);
    if (why !== undefined) throw new OutputWriteFailed(`cannot write ${path}: ${why}`);
    if (fstatSync(fd).isFile()) return await writeAll(fd, data);
    const { O_WRONLY, O_NONBLOCK, O_NOCTTY } = constants; // libuv adds O_CLOEXEC
    const own = await open(`/proc/self/fd/${fd}`, O_WRONLY | O_NONBLOCK | O_NOCTTY).catch((e: unknown) => {
      if (errno(e) !== 'ENXIO') throw e;
      throw new OutputWriteFailed(
        `cannot write ${path}: ENXIO (descriptor ${fd} is a socket, one of the runtime's event objects, or a pipe nobody reads)`,
      );
    });
    try {
      await writeAll(own.fd, data);
    } finally {
      await own.close();
    }
  } catch (e) {
    throw e instanceof OutputWriteFailed ? e : failed(path, e);
  }
}
