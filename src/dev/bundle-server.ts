import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, sep } from 'node:path';

/** A running development bundle server. */
export interface BundleServer {
  /** Its base URL (loopback only): `${url}/<file>` serves `<dir>/<file>`. */
  readonly url: string;
  /** Requests served so far, by status (for tests and the demo). */
  readonly served: Readonly<Record<number, number>>;
  close(): Promise<void>;
}

/** Options of startBundleServer. */
export interface BundleServerOptions {
  /** Require `Authorization: Bearer <token>` on every request (401 otherwise), as a protected bundle service does. */
  readonly bearerToken?: string;
}

/** Whether an Authorization header is exactly the expected one (compared in constant time). */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const given = Buffer.from(header ?? '');
  return given.byteLength === expected.byteLength && timingSafeEqual(given, expected);
}

/**
 * The bytes of `<dir>/<name>` when its real path (symlinks resolved) is a regular file inside the
 * real `dir`; else undefined. A symlink in the served directory pointing out of it (`pw ->
 * /etc/passwd`) is not served (red-team round 3: the server followed it).
 */
async function servedFile(dir: string, name: string): Promise<Buffer | undefined> {
  try {
    const root = await realpath(dir);
    const real = await realpath(join(dir, name));
    if (!real.startsWith(root + sep) || !(await stat(real)).isFile()) return undefined;
    return await readFile(real);
  } catch {
    return undefined;
  }
}

/**
 * `kubiya-runner dev bundle-server <dir>`: serves the bundles in a directory over HTTP the way an
 * OPA bundle service does, for tests and the demo — GET `/<name>` answers the file with a strong
 * `ETag` (its SHA-256), `304 Not Modified` when `If-None-Match` names the current one, 404 for
 * anything else (only plain file names in `dir`, no paths; only regular files whose real path is
 * inside `dir`: a symlink out of it is 404). Files are read on every request, so
 * replacing one (atomically) publishes a new revision. Listens on 127.0.0.1 only. With
 * `options.bearerToken`, a request without that bearer token is answered 401 before anything else.
 */
export async function startBundleServer(
  dir: string,
  port = 0,
  options: BundleServerOptions = {},
): Promise<BundleServer> {
  const expected = options.bearerToken === undefined ? undefined : Buffer.from(`Bearer ${options.bearerToken}`);
  const served: Record<number, number> = {};
  const answer = (status: number): number => {
    served[status] = (served[status] ?? 0) + 1;
    return status;
  };
  const server: Server = createServer((req, res) => {
    if (expected !== undefined && !authorized(req.headers.authorization, expected)) {
      res.writeHead(answer(401), { 'www-authenticate': 'Bearer' }).end();
      return;
    }
    let name = '';
    try {
      name = decodeURIComponent((req.url ?? '/').split('?')[0]!.slice(1));
    } catch {
      // malformed percent-encoding: not a file name
    }
    if (req.method !== 'GET' || name === '' || name !== basename(name) || name.startsWith('.')) {
      res.writeHead(answer(404)).end();
      return;
    }
    void servedFile(dir, name).then((body) => {
      if (body === undefined) {
        res.writeHead(answer(404)).end();
        return;
      }
      const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
      if (req.headers['if-none-match'] === etag) res.writeHead(answer(304), { etag }).end();
      else
        res
          .writeHead(answer(200), { etag, 'content-type': 'application/gzip', 'content-length': body.byteLength })
          .end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    served,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
