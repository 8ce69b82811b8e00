/**
 * `serve`'s pipeline step: the parts' pipeline deps with the observer `serve` records through
 * (logs, metrics, and the control-plane events once a client is linked), gated on the workflows
 * namespace enforcing PodSecurity restricted.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { RunnerParts } from './compose.ts';
import { forwardingObserver, type ControlPlaneLink } from './control-plane-link.ts';
import { pipelineObserver } from './observer.ts';
import { podSecurityGate, quietGateProblems, type PodSecurityGate } from './pod-security-gate.ts';

/**
 * The PodSecurity gate (not yet started: its first probe is start-up's, its periodic ones follow;
 * `undo` gets its stop) and the deps every path of `serve` runs with: step pods gated on it
 * (pod-security-gate.ts), records observed by the logs, the metrics and, through `link`, the
 * control plane.
 */
export function servedDeps(
  config: Config,
  log: Logger,
  metrics: Metrics,
  parts: RunnerParts,
  link: ControlPlaneLink,
  undo: (() => unknown)[],
): { podSecurity: PodSecurityGate; deps: PipelineDeps } {
  // The workflows namespace must enforce PodSecurity restricted: probed before ready and then
  // periodically; step pods are gated on it (pod-security-gate.ts).
  const podSecurity = podSecurityGate(config, parts.kc, log);
  undo.push(() => podSecurity.stop());
  const deps: PipelineDeps = podSecurity.gated({
    ...parts.deps,
    observer: forwardingObserver(quietGateProblems(pipelineObserver(log, metrics)), link, config.runner.name, log),
  });
  return { podSecurity, deps };
}
