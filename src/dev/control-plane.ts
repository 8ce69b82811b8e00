import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ControlPlaneEvent } from '../adapters/control-plane-event.ts';
import { controlPlaneHandler, type ControlPlaneFault, type ControlPlaneState } from './control-plane-routes.ts';
import { newSigningKey, signAssignment, signCancellation, type SigningKey } from './sign.ts';

/** The events a runner posts: the protocol's own type (src/adapters/control-plane-event.ts). */
export type StepEvent = ControlPlaneEvent;

export interface ReferenceControlPlane {
  readonly url: string;
  readonly issuer: string;
  /** Signs a workflow for a runner and queues it for that runner's long-poll. */
  assign(runner: string, workflow: { id: string } & Record<string, unknown>): Promise<string>;
  /** Signs a cancellation of the run of an assignment (by its jti) and queues it for that runner's long-poll. */
  cancel(runner: string, assignmentJti: string): Promise<string>;
  /** Adds a new signing key (published in the JWKS); new assignments are signed with it. */
  rotate(): Promise<string>;
  readonly events: StepEvent[];
  readonly registered: Map<string, unknown>;
  readonly heartbeats: Map<string, number>;
  /** Fault injection for tests: answer 503, hang, or send garbage. */
  fault: ControlPlaneFault;
  close(): Promise<void>;
}

/**
 * The reference control plane (development, tests, demo): serves its JWKS, signs assignments,
 * hands them out by long-poll, and records the runner's registration, heartbeats and step events
 * (routes in src/dev/control-plane-routes.ts). Runners authenticate with
 * `Authorization: Bearer <runner token>`. Listens on `host` (127.0.0.1) and `port` (0: any free one).
 */
export async function startControlPlane(o: {
  token: string;
  port?: number;
  host?: string;
  pollMs?: number;
}): Promise<ReferenceControlPlane> {
  const state: ControlPlaneState = {
    keys: [await newSigningKey()],
    queues: new Map(),
    cancels: new Map(),
    waiters: new Map(),
    events: [],
    seen: new Set(),
    registered: new Map(),
    heartbeats: new Map(),
    fault: 'none',
  };
  const server = createServer(controlPlaneHandler(state, o.token));
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signer = (): SigningKey => state.keys.at(-1) as SigningKey;
  /** Queues a signed token for the runner and wakes its long-polls. */
  const enqueue = (queues: Map<string, string[]>, runner: string, token: string): string => {
    queues.set(runner, [...(queues.get(runner) ?? []), token]);
    state.waiters.get(runner)?.forEach((w) => w());
    return token;
  };
  return {
    url,
    issuer: url,
    events: state.events,
    registered: state.registered,
    heartbeats: state.heartbeats,
    get fault() {
      return state.fault;
    },
    set fault(f) {
      state.fault = f;
    },
    assign: async (runner, workflow) =>
      enqueue(state.queues, runner, await signAssignment(signer(), { issuer: url, audience: runner, workflow })),
    cancel: async (runner, assignmentJti) =>
      enqueue(
        state.cancels,
        runner,
        await signCancellation(signer(), { issuer: url, audience: runner, run: assignmentJti }),
      ),
    rotate: async () => {
      const key = await newSigningKey();
      state.keys.push(key);
      return key.kid;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
