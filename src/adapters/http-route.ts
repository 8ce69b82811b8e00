/** The endpoints of the runner's HTTP server, and `unknown` for any other request target. */
export type Route = 'healthz' | 'ready' | 'metrics' | 'assignments' | 'cancellations' | 'unknown';

const ROUTES: Readonly<Record<string, Route>> = {
  '/healthz': 'healthz',
  '/ready': 'ready',
  '/metrics': 'metrics',
  '/v1/assignments': 'assignments',
  '/v1/cancellations': 'cancellations',
};

/**
 * The path of a request target (RFC 9112 §3.2), the query left out, or undefined when it has none:
 * origin-form (`/ready?x`) as sent; absolute-form (`http://runner:8080/ready`), which a server MUST
 * accept (§3.2.2), by the path after its authority (a host and port, not empty, no userinfo; `/`
 * when the path is empty), taken as sent like
 * origin-form's — no dot-segment removal, no percent-decoding, no case folding, so
 * `http://h/x/../ready` is no more `/ready` than `/x/../ready` is; authority-form (CONNECT) and
 * asterisk-form (`OPTIONS *`) have no path.
 */
export function targetPath(target: string): string | undefined {
  // A request never carries a fragment (RFC 9112 §3.2): a target with one names no endpoint, in
  // either form (red team 16, finding 7: absolute-form dropped it and routed, origin-form did not).
  if (target.includes('#')) return undefined;
  if (target.startsWith('/')) return target.split('?', 1)[0];
  const absolute = /^https?:\/\/([^/?]*)([^?]*)/i.exec(target);
  if (absolute === null || !validAuthority(absolute[1]!)) return undefined;
  return absolute[2] === '' ? '/' : absolute[2];
}

/**
 * An authority of an http(s) URI (RFC 9110 §4.2.1: the host must not be empty; RFC 3986 §3.2):
 * what the WHATWG URL parser accepts as a host and port, without userinfo.
 */
function validAuthority(authority: string): boolean {
  if (authority === '' || authority.includes('@')) return false;
  try {
    return new URL(`http://${authority}/`).host !== '';
  } catch {
    return false;
  }
}

/** The endpoint a request target names (targetPath, matched exactly), else `unknown`. */
export function routeOf(target: string | undefined): Route {
  const path = targetPath(target ?? '/');
  return (path !== undefined && Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined) ?? 'unknown';
}
