/**
 * The descriptors this process holds when this module is first evaluated, with what each one was
 * (device and inode): those its parent gave it, and the Node runtime's own (epoll, io_uring,
 * eventfd, libuv's pipes), which are there before any code of ours runs. The CLI's entry point
 * imports this module first, so that no descriptor the command opens itself (an audit segment, a
 * pipe to opa) is among them. An output named by descriptor (`/dev/fd/N`) is written only to one
 * of these (red team 20, finding 6); descriptor-output.ts tells the runtime's own apart.
 */
import { fstatSync, readdirSync } from 'node:fs';

const identity = (fd: number): string | undefined => {
  try {
    const st = fstatSync(fd);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined; // closed meanwhile (the directory listing's own descriptor)
  }
};

const atStart = new Map<number, string>();
try {
  for (const name of readdirSync('/proc/self/fd')) {
    const id = identity(Number(name));
    if (id !== undefined) atStart.set(Number(name), id);
  }
} catch {
  // no /proc: no path can name a descriptor either
}

/** Was descriptor `fd` open when this process started, and is it still the same file, pipe or device? */
export function givenAtStart(fd: number): boolean {
  return atStart.get(fd) !== undefined && atStart.get(fd) === identity(fd);
}
