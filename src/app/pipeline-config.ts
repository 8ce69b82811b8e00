import type { Config } from '../config/schema.ts';
import type { PipelineConfig } from '../pipeline/deps.ts';

/**
 * The pipeline's view of the parsed config (seconds stay seconds; the audience is the runner's
 * name). The only place a PipelineConfig is made: `serve`, the demo and every test derive theirs
 * from a Config that came through the schema (`parseConfig`), so they all run with the schema's
 * defaults and none has defaults of its own.
 */
export function pipelineConfigOf(config: Config): PipelineConfig {
  const { runner, controlPlane, egress, audit } = config;
  const { workflow, security, storage } = runner;
  return Object.freeze({
    runner: runner.name,
    namespace: workflow.namespace,
    serviceAccount: workflow.serviceAccount,
    defaultTimeoutSeconds: workflow.defaultTimeout,
    maxConcurrent: workflow.maxConcurrent,
    failFastGraceSeconds: workflow.failFastGrace,
    ttlAfterFinishedSeconds: workflow.ttlAfterFinished,
    retainFinishedSeconds: workflow.retainFinished,
    egressMode: egress.mode,
    dnsNamespace: egress.dnsNamespace,
    storageClass: storage.storageClass,
    workspaceSize: storage.workspaceSize,
    defaultResources: workflow.defaultResources,
    receive: { maxTokenBytes: controlPlane.maxTokenBytes },
    verify: {
      algorithms: controlPlane.algorithms,
      issuer: controlPlane.issuer,
      audience: runner.name,
      maxTokenAgeSeconds: controlPlane.maxTokenAge,
      clockToleranceSeconds: controlPlane.clockTolerance,
    },
    refusals: { perCode: audit.refusals.perCode, windowSeconds: audit.refusals.window },
    profile: {
      runAsUser: security.runAsUser,
      runAsGroup: security.runAsUser,
      fsGroup: security.runAsUser,
      allowNetBindService: security.allowNetBindService,
      readOnlyRootFilesystem: security.readOnlyRootFilesystem,
      tmpSize: storage.tmpSize,
    },
  });
}
